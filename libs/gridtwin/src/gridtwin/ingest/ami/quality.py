"""Quality checks and gap filling of one (feeder, month) partition, vectorised over meters.

Rows are put on each meter's interval grid (sorted by meter, then time), so every check is a segment
operation on flat arrays: duplicates by comparing neighbours, gaps and flat lines as runs of a mask,
per-meter medians and profiles by ``bincount``/``lexsort``. No Python loop runs per row or per meter.

Order: resolve ambiguous local times (first occurrence = daylight time) -> drop exact duplicates, keep
the last of conflicting ones -> merge with the stored partition (new reads win) -> absurd values and
spikes removed (original kept in ``kwh_raw``) -> negatives and flat lines flagged -> gaps filled (short
runs linearly, long runs from the meter's mean weekday/weekend interval-of-day profile of the month).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _pc

from gridtwin.ingest.ami.options import AmiOptions
from gridtwin.ingest.ami.report import Issues
from gridtwin.store.ami import AMI_READ_SCHEMA, QualityFlag

# The pyarrow.compute stubs overload on exact array types; the kernels take any array here.
pc: Any = _pc

__all__ = ["STAT_COLUMNS", "PartitionResult", "check_partition", "month_bounds", "runs"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
F = QualityFlag
_KEEP_ON_MERGE = int(F.DUPLICATE_CONFLICT | F.DST_RESOLVED)  # provenance flags that survive a re-check
_FILLED = int(F.FILLED_LINEAR | F.FILLED_PROFILE)
_REPLACED = int(F.SPIKE | F.ABSURD)
_SLOTS = 288  # 5-minute slots per day: the finest interval allowed

STAT_COLUMNS = (
    "reads", "expected", "missing", "filled_linear", "filled_profile", "duplicates", "conflicting_duplicates",
    "spikes", "absurd", "negatives", "flatline_reads", "dst_resolved",
)  # fmt: skip


@dataclass
class PartitionResult:
    table: pa.Table  # AMI_READ_SCHEMA, sorted by (meter_id, ts_utc)
    stats: pd.DataFrame  # one row per meter of this import: STAT_COLUMNS + first/last/interval/dst evidence
    hour_sum: F64  # meters x 24: sum of good kWh by UTC hour (the TZ check)
    hour_n: F64
    replaced: int  # stored reads replaced by new ones


def month_bounds(month: str) -> tuple[int, int]:
    """[start, end) of a "YYYY-MM" month in UTC epoch seconds."""
    y, m = int(month[:4]), int(month[5:7])
    start = datetime(y, m, 1, tzinfo=UTC)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()), int(end.timestamp())


def runs(mask: B, breaks: B) -> tuple[I64, I64]:
    """Starts and lengths of runs of True in ``mask``; a run also ends before each True of ``breaks``
    (the first row of a meter)."""
    if not mask.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    prev = np.concatenate(([False], mask[:-1])) & ~breaks
    nxt = np.concatenate((mask[1:] & ~breaks[1:], [False]))
    starts = np.flatnonzero(mask & ~prev)
    ends = np.flatnonzero(mask & ~nxt)
    return starts.astype(np.int64), (ends - starts + 1).astype(np.int64)


def _segment_first(keys: I64) -> B:
    """True where a sorted key differs from the one before."""
    out = np.ones(len(keys), bool)
    out[1:] = keys[1:] != keys[:-1]
    return out


def _transitions(zone: str | None, lo: int, hi: int) -> list[tuple[int, int, bool]]:
    """DST changes in [lo, hi): (local wall-clock start of the skipped/repeated hour as if it were UTC,
    its length in seconds, True for spring forward)."""
    if zone is None:
        return []
    tz = ZoneInfo(zone)
    out: list[tuple[int, int, bool]] = []
    t = datetime.fromtimestamp(lo, UTC)
    end = datetime.fromtimestamp(hi, UTC)
    prev = t.astimezone(tz).utcoffset() or timedelta(0)
    while t < end:
        nxt = t + timedelta(hours=1)
        off = nxt.astimezone(tz).utcoffset() or timedelta(0)
        if off != prev:
            wall = nxt + (prev if off > prev else off)  # wall time at which the hour is skipped / repeated
            out.append(
                (
                    int(wall.replace(tzinfo=UTC).timestamp()),
                    int(abs((off - prev).total_seconds())),
                    off > prev,
                )
            )
        prev, t = off, nxt
    return out


def _std_offset_s(zone: str) -> int:
    tz = ZoneInfo(zone)
    jan = datetime(2025, 1, 15, tzinfo=UTC).astimezone(tz).utcoffset() or timedelta(0)
    jul = datetime(2025, 7, 15, tzinfo=UTC).astimezone(tz).utcoffset() or timedelta(0)
    return int(min(jan, jul).total_seconds())


def _codes(meters: pa.Array[Any], uniq: pa.Array[Any]) -> I64:
    found = pc.fill_null(pc.index_in(meters, value_set=uniq), -1)  # -1: not in uniq (never gathered)
    return np.asarray(found.to_numpy(zero_copy_only=False), np.int64)


def _dict_chunks(col: pa.ChunkedArray[Any]) -> list[tuple[I64, pa.Array[Any]]]:
    """(indices, dictionary) per chunk of a meter id column (strings are dictionary-encoded here)."""
    out: list[tuple[I64, pa.Array[Any]]] = []
    for chunk in col.chunks:
        if len(chunk) == 0:
            continue
        enc: Any = chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk)
        idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)
        out.append((idx, enc.dictionary.cast(pa.string())))
    return out


def _order(code: I64, ts: I64, src: I64, srow: I64) -> I64 | None:
    """Row order by (meter, time, source, row); None when the rows already are in it (the usual case)."""
    if len(code) < 2:
        return None
    key = code * (1 << 40) + ts
    pos = src * (1 << 40) + srow
    if bool((pos[1:] > pos[:-1]).all()):  # staged in source order: a stable sort by (meter, time) will do
        if bool((key[1:] >= key[:-1]).all()):
            return None
        return np.asarray(np.argsort(key, kind="stable"), np.int64)
    return np.asarray(np.lexsort((srow, src, ts, code)), np.int64)


def _np(col: pa.ChunkedArray[Any] | pa.Array[Any], dtype: type) -> npt.NDArray[np.generic]:
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.int64())
    return np.asarray(
        col.to_numpy(zero_copy_only=False) if isinstance(col, pa.Array) else col.to_numpy(), dtype
    )


def _nullable(values: F64 | None, n: int = 0) -> pa.Array[Any]:
    if values is None:
        return pa.nulls(n, pa.float64())
    return pa.array(values, type=pa.float64(), from_pandas=True)


def _scatter(total: int, idx: I64, values: npt.NDArray[Any]) -> F64 | None:
    """``values`` on a NaN grid of ``total`` slots; None when every value is NaN (an absent column)."""
    if np.isnan(values).all():
        return None
    out = np.full(total, np.nan)
    out[idx] = values
    return out


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
    m_lo, m_hi = month_bounds(month)
    new_chunks = _dict_chunks(staged.column("meter_id"))
    parts = [d.take(np.flatnonzero(np.bincount(i, minlength=len(d)) > 0)) for i, d in new_chunks]
    meters_new = pc.unique(pa.concat_arrays(parts)) if parts else pa.array([], pa.string())
    all_ids = [meters_new] + ([stored.column("meter_id").combine_chunks()] if stored is not None else [])
    uniq = pc.unique(pa.concat_arrays([p.cast(pa.string()) for p in all_ids]))
    uniq = uniq.take(pc.sort_indices(uniq))
    nm = len(uniq)
    touched = np.zeros(nm, bool)
    touched[_codes(meters_new, uniq)] = True

    # -- staged rows: ambiguous local times, then duplicates -----------------------------------------
    # Codes through each chunk's dictionary: distinct ids are looked up, rows only gathered.
    code = (
        np.concatenate([_codes(d, uniq)[i] if len(d) else i for i, d in new_chunks])
        if new_chunks
        else np.zeros(0, np.int64)
    )
    ts = _np(staged.column("ts_utc"), np.int64).astype(np.int64)
    amb = _np(staged.column("amb_s"), np.int64).astype(np.int64)
    src = _np(staged.column("src"), np.int64).astype(np.int64)
    srow = _np(staged.column("src_row"), np.int64).astype(np.int64)
    kwh = _np(staged.column("kwh"), np.float64)
    kvarh = _np(staged.column("kvarh"), np.float64)
    volt = _np(staged.column("voltage_v"), np.float64)
    step = _np(staged.column("interval_min"), np.int64).astype(np.int64) * 60
    order = _order(code, ts, src, srow)
    if order is not None:
        code, ts, amb, src, srow, kwh, kvarh, volt, step = _pick(
            order, code, ts, amb, src, srow, kwh, kvarh, volt, step
        )
    flags = np.zeros(len(code), np.uint16)
    is_amb = amb > 0
    if is_amb.any():  # the n-th occurrence of a repeated wall time (per meter) is its n-th reading
        key = code * (1 << 40) + ts
        first = _segment_first(key)
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(key)), 0))
        rank = np.arange(len(key)) - group_start
        ts = np.where(is_amb & (rank >= 1), ts + amb, ts)
        flags[is_amb] |= int(F.DST_RESOLVED)
        order = np.lexsort((srow, src, ts, code))
        code, ts, src, srow, kwh, kvarh, volt, step, flags, is_amb = _pick(
            order, code, ts, src, srow, kwh, kvarh, volt, step, flags, is_amb
        )
    dst_resolved = np.bincount(code[is_amb], minlength=nm)
    key = code * (1 << 40) + ts
    last = np.ones(len(key), bool)
    last[:-1] = key[1:] != key[:-1]
    group_id = np.cumsum(_segment_first(key)) - 1
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
    trans = _transitions(options.local_zone(), m_lo, m_hi)
    fall_double = np.zeros(nm, bool)
    for wall, length, spring in trans:
        if not spring:
            shift = step if options.timestamp_at == "end" else 0
            in_win = (ts + shift >= wall) & (ts + shift < wall + length)
            n_dup = np.bincount(code[in_win & dropped], minlength=nm)
            fall_double |= n_dup * step_of_meter(code, step, nm) >= length
    sel = np.flatnonzero(last)
    code, ts, src, srow, kwh, kvarh, volt, step, flags = _pick(
        sel, code, ts, src, srow, kwh, kvarh, volt, step, flags
    )

    # -- merge with what is stored: new reads win for the same meter and time -------------------------
    replaced = 0
    keep_table: pa.Table | None = None
    if stored is not None and stored.num_rows:
        s_code = _codes(stored.column("meter_id").combine_chunks(), uniq)
        mine = touched[s_code]
        keep_table = stored.filter(pa.array(~mine))
        s = stored.filter(pa.array(mine))
        s_flags = _np(s.column("flags"), np.int64).astype(np.int64)
        s_raw = _np(s.column("kwh_raw"), np.float64)
        s_kwh = np.where(np.isnan(s_raw), _np(s.column("kwh"), np.float64), s_raw)
        source_read = ((s_flags & _FILLED) == 0) | ((s_flags & _REPLACED) != 0)  # fills are recomputed
        s_code = s_code[mine][source_read]
        s_ts = _np(s.column("ts_utc"), np.int64).astype(np.int64)[source_read]
        n_new = len(code)
        code = np.concatenate([code, s_code])
        ts = np.concatenate([ts, s_ts])
        src = np.concatenate([src, np.full(len(s_ts), -1)])
        srow = np.concatenate([srow, np.zeros(len(s_ts), np.int64)])
        kwh = np.concatenate([kwh, s_kwh[source_read]])
        kvarh = np.concatenate([kvarh, _np(s.column("kvarh"), np.float64)[source_read]])
        volt = np.concatenate([volt, _np(s.column("voltage_v"), np.float64)[source_read]])
        step = np.concatenate(
            [step, _np(s.column("interval_min"), np.int64).astype(np.int64)[source_read] * 60]
        )
        flags = np.concatenate([flags, (s_flags[source_read] & _KEEP_ON_MERGE).astype(np.uint16)])
        prio = np.concatenate([np.ones(n_new, np.int8), np.zeros(len(s_ts), np.int8)])
        order = np.lexsort((prio, ts, code))
        code, ts, src, srow, kwh, kvarh, volt, step, flags, prio = _pick(
            order, code, ts, src, srow, kwh, kvarh, volt, step, flags, prio
        )
        key = code * (1 << 40) + ts
        last = np.ones(len(key), bool)
        last[:-1] = key[1:] != key[:-1]
        replaced = int((~last & (prio == 0)).sum())
        code, ts, src, srow, kwh, kvarh, volt, step, flags = _pick(
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
        code, ts, src, srow, kwh, kvarh, volt, flags = _pick(
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
    g_kvarh = _scatter(total, idx, kvarh)  # None: no values at all (no grid array built)
    g_volt = _scatter(total, idx, volt)
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
    median = _medians(g_meter[pos], v[pos], nm)
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
        flat[np.repeat(f_start, f_len) + _ramp(f_len)] = True
    g_flags[flat] |= int(F.FLATLINE)

    # -- gaps: linear for short runs, the meter's profile for long ones ------------------------------
    hole = ~good
    h_start, h_len = runs(hole, breaks)
    filled_lin = np.zeros(total, bool)
    filled_prof = np.zeros(total, bool)
    if len(h_start):
        pos_all = np.repeat(h_start, h_len) + _ramp(h_len)
        run_len = np.repeat(h_len, h_len)
        k = _ramp(h_len) + 1
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
        std = _std_offset_s(zone) if zone else 0
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
            _nullable(g_kvarh, total),
            _nullable(g_volt, total),
            pa.array(g_flags),
            _nullable(raw),
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


def _medians(meter: I64, values: F64, nm: int) -> F64:
    """Median of each meter's values (NaN without any); ``meter`` is non-decreasing (grid order)."""
    median = np.full(nm, np.nan)
    if len(values) == 0:
        return median
    cnt = np.bincount(meter, minlength=nm)
    start = np.concatenate(([0], np.cumsum(cnt)[:-1]))
    with_values = np.flatnonzero(cnt)
    c = cnt[with_values]
    width = int(c.max())
    if len(with_values) * width <= 4 * len(values) + 1024:
        # One row per meter, padded with +inf: a row-wise sort beats a lexsort of (meter, value).
        row_of = np.zeros(nm, np.int64)
        row_of[with_values] = np.arange(len(with_values))
        mat = np.full((len(with_values), width), np.inf)
        mat[row_of[meter], np.arange(len(meter)) - start[meter]] = values
        mat.sort(axis=1)
        r = np.arange(len(with_values))
        median[with_values] = (mat[r, (c - 1) // 2] + mat[r, c // 2]) / 2
        return median
    o = np.lexsort((values, meter))  # very uneven counts: padding would cost more than it saves
    sv = values[o]
    lo_i = start[with_values] + (c - 1) // 2
    hi_i = start[with_values] + c // 2
    median[with_values] = (sv[lo_i] + sv[hi_i]) / 2
    return median


def _pick(idx: npt.NDArray[Any], *arrays: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
    """The same rows (an index or a mask) of several aligned arrays."""
    return [a[idx] for a in arrays]


def _ramp(lengths: I64) -> I64:
    """0..len-1 for each run, concatenated."""
    total = int(lengths.sum())
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    out: I64 = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
    return out


def step_of_meter(code: I64, step: I64, nm: int) -> I64:
    """Each meter's interval (seconds): the one most of its rows carry (3600 for a meter without rows)."""
    kinds = np.array([300, 900, 1800, 3600], np.int64)
    kind = np.searchsorted(kinds, step).clip(0, 3)
    counts = np.bincount(code * 4 + kind, minlength=nm * 4).reshape(nm, 4)
    return np.asarray(np.where(counts.sum(axis=1) > 0, kinds[np.argmax(counts, axis=1)], 3600), np.int64)
