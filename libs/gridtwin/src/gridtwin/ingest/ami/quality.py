"""Quality checks and gap filling of one (feeder, month) partition, vectorised over meters.

Rows are put on each meter's interval grid (sorted by meter, then time), so every check is a segment
operation on flat arrays: duplicates by comparing neighbours, gaps and flat lines as runs of a mask,
per-meter medians and profiles by ``bincount``/``lexsort``. No Python loop runs per row or per meter.

Order: resolve ambiguous local times (first occurrence = daylight time) -> drop exact duplicates, keep
the last of conflicting ones -> merge with the stored partition (new reads win) -> absurd values and
spikes removed (original kept in ``kwh_raw``) -> negatives and flat lines flagged -> gaps filled (short
runs linearly, long runs from the meter's mean weekday/weekend interval-of-day profile of the month).

Bounded memory: meters are independent, so a partition is checked in blocks of consecutive meters (in
meter id order) of about ``block_rows`` reads each; only the staged columns of the whole partition are held
(about 40 bytes a read), each block's grid and output come and go. Issue lines come out in the order of a
check of the whole partition (by check, then meter and time), so the capped list keeps the same first lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _pc

from gridtwin.errors import ErrorDetail
from gridtwin.ingest.ami.options import AmiOptions
from gridtwin.ingest.ami.quality_ops import (
    codes_in,
    dict_chunks,
    medians,
    month_bounds,
    np_col,
    nullable,
    order_rows,
    pick,
    ramp,
    runs,
    scatter,
    segment_first,
    std_offset_s,
    step_of_meter,
    transitions,
)
from gridtwin.ingest.ami.report import Issues
from gridtwin.store.ami import AMI_READ_SCHEMA, QualityFlag

# The pyarrow.compute stubs overload on exact array types; the kernels take any array here.
pc: Any = _pc

__all__ = [
    "STAT_COLUMNS", "PartitionResult", "check_partition", "check_partition_blocks", "month_bounds", "runs",
    "step_of_meter",
]  # fmt: skip

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
F = QualityFlag
_KEEP_ON_MERGE = int(F.DUPLICATE_CONFLICT | F.DST_RESOLVED)  # provenance flags that survive a re-check
_FILLED = int(F.FILLED_LINEAR | F.FILLED_PROFILE)
_REPLACED = int(F.SPIKE | F.ABSURD)
_SLOTS = 288  # 5-minute slots per day: the finest interval allowed
BLOCK_ROWS = 250_000  # reads (staged + stored) per block of meters
_BLOCK_CODES = ("duplicate_conflict", "off_grid", "spike")  # the issue lines a block adds, in check order

STAT_COLUMNS = (
    "reads", "expected", "missing", "filled_linear", "filled_profile", "duplicates", "conflicting_duplicates",
    "spikes", "absurd", "negatives", "flatline_reads", "dst_resolved",
)  # fmt: skip


@dataclass
class PartitionResult:
    table: pa.Table  # AMI_READ_SCHEMA, sorted by (meter_id, ts_utc); empty when written block by block
    stats: pd.DataFrame  # one row per meter of this import: STAT_COLUMNS + first/last/interval/dst evidence
    hour_sum: F64  # meters x 24: sum of good kWh by UTC hour (the TZ check)
    hour_n: F64
    replaced: int  # stored reads replaced by new ones


@dataclass
class _Staged:
    """The staged reads of a partition as compact numpy columns (meter codes into the sorted ids)."""

    code: npt.NDArray[np.int32]
    ts: I64
    amb: npt.NDArray[np.int32] | None  # None: no ambiguous local times
    src: npt.NDArray[np.int32]
    srow: npt.NDArray[np.int32] | I64  # int32 when the line numbers fit
    kwh: F64
    kvarh: F64 | None  # None: no values at all
    volt: F64 | None
    step_min: npt.NDArray[np.int16]


@dataclass
class _Held:
    """Issue lines of one check over the blocks (at most the cap) and how many there were."""

    lines: list[ErrorDetail] = field(default_factory=list)
    total: int = 0


def _optional(parts: list[F64 | None], sizes: list[int]) -> F64 | None:
    if all(p is None for p in parts):
        return None
    return np.concatenate([np.full(n, np.nan) if p is None else p for p, n in zip(parts, sizes, strict=True)])


def _load(staged: Iterable[pa.Table], stored: pa.Table | None) -> tuple[_Staged, pa.Array[Any], B]:
    """Staged tables (converted one at a time) -> compact columns, the sorted distinct meter ids of the
    partition (staged and stored) and which of them this import touches."""
    chunks: list[tuple[npt.NDArray[np.int32], pa.Array[Any]]] = []
    cols: dict[str, list[Any]] = {k: [] for k in ("ts", "amb", "src", "srow", "kwh", "kvarh", "volt", "step")}
    sizes: list[int] = []
    for t in staged:
        chunks.extend((i.astype(np.int32), d) for i, d in dict_chunks(t.column("meter_id")))
        sizes.append(t.num_rows)
        cols["ts"].append(np_col(t.column("ts_utc"), np.int64))
        amb = np_col(t.column("amb_s"), np.int32)
        cols["amb"].append(amb if amb.any() else None)
        cols["src"].append(np_col(t.column("src"), np.int32))
        srow = np_col(t.column("src_row"), np.int64)
        cols["srow"].append(srow.astype(np.int32) if len(srow) and srow.max() < 2**31 else srow)
        cols["kwh"].append(np_col(t.column("kwh"), np.float64))
        for name, out in (("kvarh", "kvarh"), ("voltage_v", "volt")):
            c = t.column(name)
            cols[out].append(None if c.null_count == len(c) else np_col(c, np.float64))
        cols["step"].append(np_col(t.column("interval_min"), np.int16))
        del t, amb, srow
    parts = [d.take(np.flatnonzero(np.bincount(i, minlength=len(d)) > 0)) for i, d in chunks]
    meters_new = pc.unique(pa.concat_arrays(parts)) if parts else pa.array([], pa.string())
    all_ids = [meters_new] + ([pc.unique(stored.column("meter_id"))] if stored is not None else [])
    uniq = pc.unique(pa.concat_arrays([p.cast(pa.string()) for p in all_ids]))
    uniq = uniq.take(pc.sort_indices(uniq))
    touched = np.zeros(len(uniq), bool)
    touched[codes_in(meters_new, uniq)] = True
    # Codes through each chunk's dictionary: distinct ids are looked up, rows only gathered.
    code = (
        np.concatenate([codes_in(d, uniq).astype(np.int32)[i] if len(d) else i for i, d in chunks])
        if chunks
        else np.zeros(0, np.int32)
    )

    def cat(name: str, dtype: type) -> Any:
        return np.concatenate(cols.pop(name)) if sizes else np.zeros(0, dtype)

    amb_parts = cols.pop("amb")
    amb_all = (
        None
        if all(a is None for a in amb_parts)
        else np.concatenate(
            [np.zeros(n, np.int32) if a is None else a for a, n in zip(amb_parts, sizes, strict=True)]
        )
    )
    rows = _Staged(
        code=code, ts=cat("ts", np.int64), amb=amb_all, src=cat("src", np.int32),
        srow=cat("srow", np.int64), kwh=cat("kwh", np.float64), kvarh=_optional(cols.pop("kvarh"), sizes),
        volt=_optional(cols.pop("volt"), sizes), step_min=cat("step", np.int16),
    )  # fmt: skip
    return rows, uniq, touched


def _groups(keys: npt.NDArray[Any], bounds: I64) -> tuple[I64 | None, I64]:
    """Rows of each block [bounds[b], bounds[b+1]) of codes: (None: the rows are in code order, else the
    row order grouping them, stable) and the offsets of each block's rows in that order."""
    if len(keys) < 2 or bool((keys[1:] >= keys[:-1]).all()):
        return None, np.searchsorted(keys, bounds).astype(np.int64)
    block = np.searchsorted(bounds, keys, side="right") - 1
    order = np.argsort(block, kind="stable").astype(np.int64)
    offs = np.concatenate(([0], np.cumsum(np.bincount(block, minlength=len(bounds) - 1))))
    return order, offs.astype(np.int64)


def check_partition_blocks(
    staged: Iterable[pa.Table],
    stored: pa.Table | None,
    *,
    month: str,
    period: tuple[int, int],
    generating: pd.Series,
    options: AmiOptions,
    issues: Issues,
    source_names: list[str],
    write: Callable[[pa.Table], None],
    heads: pa.Array[Any] | None = None,
    block_rows: int | None = None,
) -> PartitionResult:
    """``check_partition`` block by block: each block's part of the partition (in meter id order) goes to
    ``write``; the result's table is empty. ``block_rows``: default ``BLOCK_ROWS``. ``staged``: the partition's staged tables, read once."""
    rows, uniq, touched = _load(staged, stored)
    nm = len(uniq)
    s_code = (
        np.asarray(
            pc.fill_null(pc.index_in(stored.column("meter_id"), value_set=uniq), -1).to_numpy(), np.int64
        )
        if stored is not None and stored.num_rows
        else np.zeros(0, np.int64)
    )
    weight = np.bincount(rows.code, minlength=nm) + np.bincount(s_code, minlength=nm)
    cum = np.cumsum(weight)
    size = block_rows or BLOCK_ROWS
    cuts = np.searchsorted(cum, np.arange(size, int(cum[-1]) if nm else 0, size), side="right")
    bounds = np.unique(np.concatenate(([0], cuts, [nm]))).astype(np.int64)
    if len(bounds) < 2:
        bounds = np.array([0, nm], np.int64)
    r_order, r_offs = _groups(rows.code, bounds)
    s_order, s_offs = _groups(s_code, bounds)
    held = {c: _Held() for c in _BLOCK_CODES}
    stats: list[pd.DataFrame] = []
    hour_sum: list[F64] = []
    hour_n: list[F64] = []
    replaced = 0
    for b in range(len(bounds) - 1):
        c0, c1 = int(bounds[b]), int(bounds[b + 1])
        ra, rb = int(r_offs[b]), int(r_offs[b + 1])
        sel: Any = slice(ra, rb) if r_order is None else r_order[ra:rb]
        sa, sb = int(s_offs[b]), int(s_offs[b + 1])
        part = None
        if stored is not None and stored.num_rows:
            part = stored.slice(sa, sb - sa) if s_order is None else stored.take(s_order[sa:sb])
        mine = Issues(issues.max_lines)
        res = _check_block(
            rows, sel, c0, part, uniq.slice(c0, c1 - c0), touched[c0:c1], month=month, period=period,
            generating=generating, options=options, issues=mine, source_names=source_names, heads=heads,
        )  # fmt: skip
        write(res.table)
        stats.append(res.stats)
        hour_sum.append(res.hour_sum)
        hour_n.append(res.hour_n)
        replaced += res.replaced
        for code, h in held.items():
            h.total += mine.counts.get(code, 0)
            room = issues.max_lines - len(h.lines)
            h.lines.extend([d for d in mine.lines if d.code == code][: max(0, room)])
    for code, h in held.items():  # as one check of the whole partition would have listed them
        if h.total:
            room = max(0, issues.max_lines - len(issues.lines))
            issues.lines.extend(h.lines[:room])
            issues.counts[code] = issues.counts.get(code, 0) + h.total
    return PartitionResult(
        AMI_READ_SCHEMA.empty_table(),
        pd.concat(stats, ignore_index=True),
        np.concatenate(hour_sum).reshape(-1, 24),
        np.concatenate(hour_n).reshape(-1, 24),
        replaced,
    )


def check_partition(
    staged: pa.Table,
    stored: pa.Table | None,
    *,
    month: str,
    period: tuple[int, int],
    generating: pd.Series,
    options: AmiOptions,
    issues: Issues,
    source_names: list[str],
    heads: pa.Array[Any] | None = None,
) -> PartitionResult:
    """The partition to store and per-meter statistics. ``period`` is the import's [first, end) UTC
    seconds; ``generating`` maps meter id -> bool (negative reads allowed); ``heads``: feeder-head meter
    ids, exempt from the per-customer absurd limit (a head reads the whole feeder)."""
    tables: list[pa.Table] = []
    res = check_partition_blocks(
        [staged], stored, month=month, period=period, generating=generating, options=options, issues=issues,
        source_names=source_names, write=tables.append, heads=heads,
    )  # fmt: skip
    res.table = pa.concat_tables(tables) if tables else AMI_READ_SCHEMA.empty_table()
    return res


def _check_block(
    rows: _Staged,
    sel: Any,
    c0: int,
    stored: pa.Table | None,
    uniq: pa.Array[Any],
    touched: B,
    *,
    month: str,
    period: tuple[int, int],
    generating: pd.Series,
    options: AmiOptions,
    issues: Issues,
    source_names: list[str],
    heads: pa.Array[Any] | None,
) -> PartitionResult:
    """One block of consecutive meters (``uniq``: their ids; ``sel``: their staged rows; ``stored``: their
    stored rows): the checks of the module docstring."""
    m_lo, m_hi = month_bounds(month)
    nm = len(uniq)

    # -- staged rows: ambiguous local times, then duplicates -----------------------------------------
    code = rows.code[sel].astype(np.int64) - c0
    ts = rows.ts[sel].astype(np.int64)
    amb = np.zeros(len(code), np.int64) if rows.amb is None else rows.amb[sel].astype(np.int64)
    src = rows.src[sel].astype(np.int64)
    srow = rows.srow[sel].astype(np.int64)
    kwh = rows.kwh[sel].astype(np.float64)
    kvarh = np.full(len(code), np.nan) if rows.kvarh is None else rows.kvarh[sel].astype(np.float64)
    volt = np.full(len(code), np.nan) if rows.volt is None else rows.volt[sel].astype(np.float64)
    step = rows.step_min[sel].astype(np.int64) * 60
    order = order_rows(code, ts, src, srow)
    if order is not None:
        code, ts, amb, src, srow, kwh, kvarh, volt, step = pick(
            order, code, ts, amb, src, srow, kwh, kvarh, volt, step
        )
    flags = np.zeros(len(code), np.uint16)
    is_amb = amb > 0
    if is_amb.any():  # the n-th occurrence of a repeated wall time (per meter) is its n-th reading
        key = code * (1 << 40) + ts
        first = segment_first(key)
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(key)), 0))
        rank = np.arange(len(key)) - group_start
        ts = np.where(is_amb & (rank >= 1), ts + amb, ts)
        flags[is_amb] |= int(F.DST_RESOLVED)
        order = np.lexsort((srow, src, ts, code))
        code, ts, src, srow, kwh, kvarh, volt, step, flags, is_amb = pick(
            order, code, ts, src, srow, kwh, kvarh, volt, step, flags, is_amb
        )
    dst_resolved = np.bincount(code[is_amb], minlength=nm)
    key = code * (1 << 40) + ts
    last = np.ones(len(key), bool)
    last[:-1] = key[1:] != key[:-1]
    group_id = np.cumsum(segment_first(key)) - 1
    kept_at = np.flatnonzero(last)
    kept_kwh = kwh[kept_at][group_id]
    dropped = ~last
    conflict = dropped & ~np.isclose(kwh, kept_kwh, rtol=0, atol=1e-9)
    exact = dropped & ~conflict
    dup_counts = np.bincount(code[exact], minlength=nm)
    conflict_counts = np.bincount(code[conflict], minlength=nm)
    conflict_groups = np.unique(group_id[conflict])
    flags[kept_at[conflict_groups]] |= int(F.DUPLICATE_CONFLICT)
    crow = np.flatnonzero(conflict)
    room = max(0, issues.max_lines - len(issues.lines))
    for i in crow[:room]:
        when = pd.Timestamp(int(ts[i]), unit="s", tz="UTC").isoformat()
        issues.add(
            f"{source_names[src[i]]}:{srow[i]}",
            f"meter {uniq[code[i]].as_py()} at {when} has another read ({kwh[i]:g} vs {kept_kwh[i]:g} kWh);"
            " the last one is kept",
            "duplicate_conflict",
        )
    if len(crow) > room:
        issues.counts["duplicate_conflict"] = issues.counts.get("duplicate_conflict", 0) + len(crow) - room
    # DST fault evidence: a repeated hour (in UTC labels) at the fall transition.
    trans = transitions(options.local_zone(), m_lo, m_hi)
    fall_double = np.zeros(nm, bool)
    for wall, length, spring in trans:
        if not spring:
            shift = step if options.timestamp_at == "end" else 0
            in_win = (ts + shift >= wall) & (ts + shift < wall + length)
            n_dup = np.bincount(code[in_win & dropped], minlength=nm)
            fall_double |= n_dup * step_of_meter(code, step, nm) >= length
    sel = np.flatnonzero(last)
    code, ts, src, srow, kwh, kvarh, volt, step, flags = pick(
        sel, code, ts, src, srow, kwh, kvarh, volt, step, flags
    )

    # -- merge with what is stored: new reads win for the same meter and time -------------------------
    replaced = 0
    keep_table: pa.Table | None = None
    if stored is not None and stored.num_rows:
        s_code = codes_in(stored.column("meter_id").combine_chunks(), uniq)
        mine = touched[s_code]
        keep_table = stored.filter(pa.array(~mine))
        s = stored.filter(pa.array(mine))
        s_flags = np_col(s.column("flags"), np.int64).astype(np.int64)
        s_raw = np_col(s.column("kwh_raw"), np.float64)
        s_kwh = np.where(np.isnan(s_raw), np_col(s.column("kwh"), np.float64), s_raw)
        source_read = ((s_flags & _FILLED) == 0) | ((s_flags & _REPLACED) != 0)  # fills are recomputed
        s_code = s_code[mine][source_read]
        s_ts = np_col(s.column("ts_utc"), np.int64).astype(np.int64)[source_read]
        n_new = len(code)
        code = np.concatenate([code, s_code])
        ts = np.concatenate([ts, s_ts])
        src = np.concatenate([src, np.full(len(s_ts), -1)])
        srow = np.concatenate([srow, np.zeros(len(s_ts), np.int64)])
        kwh = np.concatenate([kwh, s_kwh[source_read]])
        kvarh = np.concatenate([kvarh, np_col(s.column("kvarh"), np.float64)[source_read]])
        volt = np.concatenate([volt, np_col(s.column("voltage_v"), np.float64)[source_read]])
        step = np.concatenate(
            [step, np_col(s.column("interval_min"), np.int64).astype(np.int64)[source_read] * 60]
        )
        flags = np.concatenate([flags, (s_flags[source_read] & _KEEP_ON_MERGE).astype(np.uint16)])
        prio = np.concatenate([np.ones(n_new, np.int8), np.zeros(len(s_ts), np.int8)])
        order = np.lexsort((prio, ts, code))
        code, ts, src, srow, kwh, kvarh, volt, step, flags, prio = pick(
            order, code, ts, src, srow, kwh, kvarh, volt, step, flags, prio
        )
        key = code * (1 << 40) + ts
        last = np.ones(len(key), bool)
        last[:-1] = key[1:] != key[:-1]
        replaced = int((~last & (prio == 0)).sum())
        code, ts, src, srow, kwh, kvarh, volt, step, flags = pick(
            last, code, ts, src, srow, kwh, kvarh, volt, step, flags
        )

    # -- the grid: every expected interval of every meter of this import -----------------------------
    m_step = step_of_meter(code, step, nm)
    on_grid = ts % m_step[code] == 0
    if not on_grid.all():
        bad = np.flatnonzero(~on_grid)
        room = max(0, issues.max_lines - len(issues.lines))
        for i in bad[:room]:
            where = f"{source_names[src[i]]}:{srow[i]}" if src[i] >= 0 else f"stored:{month}"
            issues.add(where, "read does not fit the meter's interval grid; dropped", "off_grid")
        if len(bad) > room:
            issues.counts["off_grid"] = issues.counts.get("off_grid", 0) + len(bad) - room
        code, ts, src, srow, kwh, kvarh, volt, flags = pick(
            on_grid, code, ts, src, srow, kwh, kvarh, volt, flags
        )
    p_lo, p_hi = max(period[0], m_lo), min(period[1], m_hi)
    big = np.iinfo(np.int64).max
    first_ts = np.full(nm, big)
    np.minimum.at(first_ts, code, ts)
    last_ts = np.full(nm, -big)
    np.maximum.at(last_ts, code, ts)
    has = touched & (first_ts < big)
    mstep = m_step
    lo = np.minimum(-(-p_lo // mstep) * mstep, first_ts)
    hi = np.maximum(((p_hi - 1) // mstep) * mstep, last_ts)
    n_slots = np.where(has, (hi - lo) // mstep + 1, 0)
    offs = np.concatenate(([0], np.cumsum(n_slots)))
    total = int(offs[-1])
    g_meter = np.repeat(np.arange(nm), n_slots)
    g_ts = lo[g_meter] + (np.arange(total) - offs[:-1][g_meter]) * mstep[g_meter]
    idx = offs[:-1][code] + (ts - lo[code]) // mstep[code]
    present = np.zeros(total, bool)
    present[idx] = True
    v = np.full(total, np.nan)
    v[idx] = kwh
    g_flags = np.zeros(total, np.uint16)
    g_flags[idx] = flags
    g_kvarh = scatter(total, idx, kvarh)  # None: no values at all (no grid array built)
    g_volt = scatter(total, idx, volt)
    del kwh, kvarh, volt, flags  # on the grid now: one copy of the partition at a time
    breaks = np.zeros(total, bool)
    breaks[offs[:-1][has]] = True
    g_step = mstep[g_meter]

    # -- removed values: absurd, spikes ---------------------------------------------------------------
    absurd = present & (np.abs(v) > options.absurd_kwh_per_h * g_step / 3600.0)
    if heads is not None and len(heads) and absurd.any():
        is_head = np.asarray(pc.is_in(uniq, value_set=heads).to_numpy(zero_copy_only=False), bool)
        absurd &= ~is_head[g_meter]
    pos = present & ~absurd & (v > 0)
    median = medians(g_meter[pos], v[pos], nm)
    limit = np.maximum(options.spike_factor * median, options.spike_min_kwh)
    spike = present & ~absurd & (v > np.nan_to_num(limit, nan=np.inf)[g_meter])
    removed = absurd | spike
    raw = np.where(removed, v, np.nan)
    g_flags[absurd] |= int(F.ABSURD)
    g_flags[spike] |= int(F.SPIKE)
    # Source of a grid slot: the row scattered there (``idx`` is increasing: rows are in grid order).
    row_at = np.searchsorted(idx, np.flatnonzero(spike))
    sp = np.flatnonzero(spike)[src[row_at] >= 0]
    sp_row = row_at[src[row_at] >= 0]
    room = max(0, issues.max_lines - len(issues.lines))
    for i, r in zip(sp[:room], sp_row[:room], strict=True):
        issues.add(
            f"{source_names[src[r]]}:{srow[r]}",
            f"kWh {v[i]:g} is a spike (> {options.spike_factor:g} x the meter's median"
            f" {median[g_meter[i]]:g}); replaced",
            "spike",
        )
    if len(sp) > room:
        issues.counts["spike"] = issues.counts.get("spike", 0) + len(sp) - room
    del code, ts, src, srow, idx
    v[removed] = np.nan
    good = present & ~removed

    # -- flagged, kept: negatives, flat lines ---------------------------------------------------------
    gen = generating.reindex(pd.Index(uniq.to_pylist())).fillna(False).to_numpy(dtype=bool)
    negative = good & (v < 0) & ~gen[g_meter]
    g_flags[negative] |= int(F.NEGATIVE)
    same = np.zeros(total, bool)
    same[1:] = good[1:] & good[:-1] & (v[1:] == v[:-1]) & (v[1:] != 0) & ~breaks[1:]
    f_start, f_len = runs(same, breaks)
    long_run = f_len + 1 >= options.flatline_min_intervals
    f_start, f_len = f_start[long_run] - 1, f_len[long_run] + 1  # include the first read of the run
    flat = np.zeros(total, bool)
    if len(f_start):
        flat[np.repeat(f_start, f_len) + ramp(f_len)] = True
    g_flags[flat] |= int(F.FLATLINE)

    # -- gaps: linear for short runs, the meter's profile for long ones ------------------------------
    hole = ~good
    h_start, h_len = runs(hole, breaks)
    filled_lin = np.zeros(total, bool)
    filled_prof = np.zeros(total, bool)
    if len(h_start):
        pos_all = np.repeat(h_start, h_len) + ramp(h_len)
        run_len = np.repeat(h_len, h_len)
        k = ramp(h_len) + 1
        left_i = h_start - 1
        right_i = h_start + h_len
        left_ok = (left_i >= 0) & ~breaks[np.minimum(h_start, total - 1)]
        right_ok = right_i < total
        right_ok[right_ok] &= ~breaks[right_i[right_ok]]
        left_v = np.where(left_ok, v[np.clip(left_i, 0, total - 1)], np.nan)
        right_v = np.where(right_ok, v[np.clip(right_i, 0, total - 1)], np.nan)
        left_v = np.where(np.isnan(left_v), right_v, left_v)
        right_v = np.where(np.isnan(right_v), left_v, right_v)
        lv, rv = np.repeat(np.nan_to_num(left_v), h_len), np.repeat(np.nan_to_num(right_v), h_len)
        linear = lv + (rv - lv) * k / (run_len + 1)
        # Profile: mean good kWh per (meter, weekday/weekend, interval of day) of this month.
        zone = options.local_zone()
        std = std_offset_s(zone) if zone else 0
        day = (g_ts + std) // 86400
        pkey = (g_meter * 2 + ((day + 3) % 7 >= 5)) * _SLOTS  # weekend: 1970-01-01 was a Thursday
        del day
        pkey += (g_ts % 86400) // g_step
        p_sum = np.bincount(pkey[good], weights=v[good], minlength=nm * 2 * _SLOTS)
        p_n = np.bincount(pkey[good], minlength=nm * 2 * _SLOTS)
        prof = np.divide(p_sum, p_n, out=np.full(len(p_sum), np.nan), where=p_n > 0)[pkey[pos_all]]
        use_prof = (run_len > options.max_linear_fill_intervals) & ~np.isnan(prof)
        v[pos_all] = np.where(use_prof, prof, linear)
        filled_prof[pos_all[use_prof]] = True
        filled_lin[pos_all[~use_prof]] = True
        g_flags[filled_lin] |= int(F.FILLED_LINEAR)
        g_flags[filled_prof] |= int(F.FILLED_PROFILE)
        del pkey, linear, lv, rv, run_len, k, prof
        if g_kvarh is not None:
            g_kvarh[pos_all] = np.nan
        if g_volt is not None:
            g_volt[pos_all] = np.nan

    # -- DST fault evidence: a skipped hour (in UTC labels) at the spring transition ----------------
    spring_hole = np.zeros(nm, bool)
    for wall, length, spring in trans:
        if spring:
            shift = g_step if options.timestamp_at == "end" else 0
            win = (g_ts + shift >= wall) & (g_ts + shift < wall + length)
            n_win = np.bincount(g_meter[win], minlength=nm)
            n_miss = np.bincount(g_meter[win & ~present], minlength=nm)
            spring_hole |= (n_win > 0) & (n_miss == n_win) & (first_ts < wall) & (last_ts >= wall + length)

    # -- output ---------------------------------------------------------------------------------------
    hkey = g_meter * 24 + (g_ts % 86400) // 3600
    hour_sum = np.bincount(hkey[good], weights=v[good], minlength=nm * 24).reshape(nm, 24).astype(np.float64)
    hour_n = np.bincount(hkey[good], minlength=nm * 24).reshape(nm, 24).astype(np.float64)
    gap = ~present
    out = pa.table(
        [
            uniq.take(g_meter),
            pa.array(g_ts, pa.int64()).cast(pa.timestamp("s", tz="UTC")),
            pa.array((g_step // 60).astype(np.int16)),
            pa.array(v),
            nullable(g_kvarh, total),
            nullable(g_volt, total),
            pa.array(g_flags),
            nullable(raw),
        ],
        schema=AMI_READ_SCHEMA,
    )
    if keep_table is not None and keep_table.num_rows:
        merged = pa.concat_tables([out, keep_table.cast(AMI_READ_SCHEMA)])
        out = merged.take(pc.sort_indices(merged, [("meter_id", "ascending"), ("ts_utc", "ascending")]))

    def count(mask: B) -> I64:
        return np.bincount(g_meter[mask], minlength=nm)

    sel_m = np.flatnonzero(has)
    stats = pd.DataFrame(
        {
            "meter_id": np.asarray(uniq.to_pylist(), dtype=object)[sel_m],
            "reads": count(present)[sel_m],
            "expected": n_slots[sel_m],
            "missing": count(gap)[sel_m],
            "filled_linear": count(filled_lin & gap)[sel_m],
            "filled_profile": count(filled_prof & gap)[sel_m],
            "duplicates": dup_counts[sel_m],
            "conflicting_duplicates": conflict_counts[sel_m],
            "spikes": count(spike)[sel_m],
            "absurd": count(absurd)[sel_m],
            "negatives": count(negative)[sel_m],
            "flatline_reads": count(flat)[sel_m],
            "dst_resolved": dst_resolved[sel_m],
            "first_s": first_ts[sel_m],
            "last_s": last_ts[sel_m],
            "interval_min": (mstep // 60)[sel_m],
            "spring_hole": spring_hole[sel_m],
            "fall_double": fall_double[sel_m],
            "spring_seen": np.full(len(sel_m), any(s for _, _, s in trans)),
            "fall_seen": np.full(len(sel_m), any(not s for _, _, s in trans)),
        }
    )
    return PartitionResult(out, stats, hour_sum[sel_m], hour_n[sel_m], replaced)
