"""``import_ami``: stream sources -> stage per (feeder, month) -> check and fill -> commit all at once.

Resumable: after each chunk the staged files and ``progress.json`` (sources' fingerprints, chunks done,
counts, issue lines so far) are on disk, so a run with the same ``import_id`` and the same sources
continues after the last staged chunk. Finalising reads only the staged chunks and the stored partition,
so it is simply redone after a crash; a crash during the commit is rolled forward from the journal.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _pc

from gridtwin.errors import ConflictError, ErrorDetail, InputError
from gridtwin.ingest.ami.options import AmiOptions
from gridtwin.ingest.ami.quality import STAT_COLUMNS, PartitionResult, check_partition_blocks
from gridtwin.ingest.ami.read import iter_chunks
from gridtwin.ingest.ami.report import QUALITY_COLUMNS, AmiReport, Issues, grade, quality_summary
from gridtwin.store.ami import AmiStore, QualityFlag

# The pyarrow.compute stubs overload on exact array types; the kernels take any array here.
pc: Any = _pc

__all__ = ["import_ami"]

Progress = Callable[[dict[str, Any]], None]
_MAX_UNKNOWN_KEPT = 100_000  # distinct unknown meters remembered (so each is listed once)


def _libc_trim() -> Callable[[int], int] | None:
    try:
        fn: Callable[[int], int] = ctypes.CDLL(None).malloc_trim  # glibc only
    except (AttributeError, OSError):
        return None
    return fn


_MALLOC_TRIM = _libc_trim()


def _release() -> None:
    """Give freed memory back to the system between chunks and partitions: Arrow's pool keeps what it freed,
    and glibc keeps freed numpy buffers below its (self-raising) mmap threshold on the heap."""
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _fingerprints(sources: Sequence[Path]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for path in sources:
        try:
            st = path.stat()
        except OSError as exc:
            raise InputError(
                "AMI source not found", [ErrorDetail(where=str(path), message=str(exc), code="not_found")]
            ) from None
        out.append([path.name, st.st_size, st.st_mtime_ns])
    return out


def _classes(directory: pd.DataFrame) -> pd.Series:
    """Customer class per meter id (0 unknown): the peers of the time-zone check."""
    if "customer_class" not in directory.columns:
        return pd.Series(dtype=np.int64)
    ids = pd.Index(directory["meter_id"].astype(str).str.strip())
    cls = pd.to_numeric(directory["customer_class"], errors="coerce").fillna(0).astype(np.int64)
    return pd.Series(cls.to_numpy(), index=ids).groupby(level=0).last()


def _directory_maps(directory: pd.DataFrame) -> tuple[pd.Index, np.ndarray, pd.Series, pa.Array[Any]]:
    """Meter id index, feeder per meter, generating per meter and the feeder-head meter ids."""
    missing = [c for c in ("meter_id", "feeder") if c not in directory.columns]
    if missing:
        raise InputError(
            "meter directory lacks columns", [ErrorDetail(where="directory", message=f"missing {missing}")]
        )
    ids = directory["meter_id"].astype(str).str.strip()
    feeders = directory["feeder"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
    index = pd.Index(ids)
    if not index.is_unique:  # the last row of a meter wins, like an override
        keep = ~index.duplicated(keep="last")
        index, feeders = index[keep], feeders[keep]
    gen = (
        directory["generating"]
        if "generating" in directory.columns
        else pd.Series(False, index=directory.index)
    )
    generating = (
        pd.Series(gen.fillna(False).astype(bool).to_numpy(), index=pd.Index(ids)).groupby(level=0).last()
    )
    if "role" in directory.columns:
        role = pd.Series(directory["role"].fillna("").astype(str).str.strip().to_numpy(), index=pd.Index(ids))
        role = role.groupby(level=0).last()
        heads = pa.array(sorted(str(m) for m in role.index[role.to_numpy() == "feeder_head"]), pa.string())
    else:
        heads = pa.array([], pa.string())
    return index, feeders, generating, heads


def _stage_chunk(
    store: AmiStore,
    import_id: str,
    table: pa.Table,
    seq: int,
    maps: tuple[pd.Index, np.ndarray],
    prog: dict[str, Any],
    issues: Issues,
    name: str,
) -> int:
    """Split a normalised chunk by (feeder, month) and stage each piece; rows of unknown meters dropped.
    Returns the rows staged. Meter ids arrive as dictionary indices: the directory is looked up once per
    distinct meter, never per row."""
    if table.num_rows == 0:
        return 0
    index, feeders = maps
    col: Any = table.column("meter_id").combine_chunks()
    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(col)
    meters = col.dictionary.to_numpy(zero_copy_only=False)
    codes = np.asarray(col.indices.to_numpy(zero_copy_only=False), np.int64)
    pos = index.get_indexer(meters)
    feeder_of = np.where(pos >= 0, feeders[np.maximum(pos, 0)], "")
    unknown = feeder_of == ""
    row_unknown = unknown[codes]
    any_unknown = bool(row_unknown.any())
    if any_unknown:
        prog["counts"]["rows_unknown_meter"] += int(row_unknown.sum())
        seen = prog["unknown_seen"]
        rows = table.column("src_row").to_numpy()
        first = np.full(len(meters), -1, np.int64)
        idx = np.flatnonzero(row_unknown)[::-1]
        first[codes[idx]] = idx  # the first row of each unknown meter (reverse order: the first wins)
        listed = np.flatnonzero(unknown & (first >= 0))  # in this chunk's rows, not only its dictionary
        for m in listed[np.argsort(first[listed], kind="stable")]:  # in order of first appearance
            meter = str(meters[m])
            if meter in seen:
                continue
            if len(seen) < _MAX_UNKNOWN_KEPT:
                seen[meter] = 1
            why = (
                "is not in the meter directory (twin graph)"
                if pos[m] < 0
                else "has no feeder in the meter directory"
            )
            issues.add(f"{name}:{int(rows[first[m]])}", f"meter {meter} {why}", "unknown_meter")
        keep = np.flatnonzero(~row_unknown)
        if len(keep) == 0:
            return 0
        table, codes = table.take(keep), codes[keep]
    f_of_meter, f_names = pd.factorize(feeder_of)  # per distinct meter, not per row
    f_codes = f_of_meter[codes].astype(np.int64)
    ts = np.asarray(table.column("ts_utc").cast(pa.int64()).to_numpy(), np.int64)
    month = ts.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    key = f_codes * 100_000 + month
    if len(key) < 2 or bool((key[1:] >= key[:-1]).all()):  # usual: a file in feeder, meter, time order
        order = None
        k_sorted = key
    else:
        order = np.argsort(key, kind="stable")
        k_sorted = key[order]
    cuts = np.flatnonzero(np.diff(k_sorted)) + 1
    bounds = np.concatenate(([0], cuts, [len(key)]))
    for a, b in itertools.pairwise(bounds):
        k = int(k_sorted[a])
        feeder = str(f_names[k // 100_000])
        mon = str(np.datetime64(k % 100_000, "M"))
        piece = table.slice(int(a), int(b - a)) if order is None else table.take(order[a:b])
        store.stage_chunk(import_id, feeder, mon, seq, piece)
    step = np.asarray(table.column("interval_min").to_numpy(), np.int64) * 60
    lo, hi = int(ts.min()), int((ts + step).max())
    period = prog["period"]
    prog["period"] = [min(lo, period[0]) if period else lo, max(hi, period[1]) if period else hi]
    return len(key)


def _tz_shifts(
    hour_sum: np.ndarray, hour_n: np.ndarray, options: AmiOptions, groups: np.ndarray | None = None
) -> np.ndarray:
    """Whole-hour shift of each meter's mean daily shape against its peers (0 = none).

    Peers are the feeder's other meters of the same ``groups`` label (customer class: a business peaks
    at noon, a home in the evening, and against each other that looks like a clock error); a label with
    fewer than three usable meters is judged against the whole feeder. Label -1 (feeder-head meters) is
    never judged nor a peer."""
    n = len(hour_sum)
    out = np.zeros(n, np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = hour_sum / hour_n
    mean = prof.mean(axis=1, keepdims=True)
    labels = np.zeros(n, np.int64) if groups is None else np.asarray(groups, np.int64)
    ok = np.isfinite(prof).all(axis=1) & (mean[:, 0] > 0) & (labels >= 0)
    if ok.sum() < 3:
        return out
    p = np.where(ok[:, None], prof / np.where(mean > 0, mean, 1.0), 0.0)
    total, n_ok = p[ok].sum(axis=0), int(ok.sum())
    others = (total[None, :] - p) / (n_ok - 1)  # the feeder without the meter itself
    for label in np.unique(labels[ok]):
        mine = ok & (labels == label)
        k = int(mine.sum())
        if k >= 3:
            others[mine] = (p[mine].sum(axis=0)[None, :] - p[mine]) / (k - 1)
    pc_ = p - p.mean(axis=1, keepdims=True)
    corr = np.zeros((n, 24))
    for lag in range(24):
        f = np.roll(others, lag, axis=1)
        fc = f - f.mean(axis=1, keepdims=True)
        denom = np.sqrt((pc_**2).sum(axis=1) * (fc**2).sum(axis=1))
        corr[:, lag] = np.divide((pc_ * fc).sum(axis=1), denom, out=np.zeros(n), where=denom > 0)
    best = np.argmax(corr, axis=1)
    gain = corr[np.arange(n), best] - corr[:, 0]
    suspect = (
        ok & (best != 0) & (corr[np.arange(n), best] >= options.tz_min_corr) & (gain >= options.tz_min_gain)
    )
    out[suspect] = np.where(best[suspect] > 12, best[suspect] - 24, best[suspect])
    return out


def _finalize(
    store: AmiStore,
    import_id: str,
    prog: dict[str, Any],
    generating: pd.Series,
    heads: pa.Array[Any],
    classes: pd.Series,
    options: AmiOptions,
    issues: Issues,
    names: list[str],
    progress: Progress | None,
) -> tuple[pd.DataFrame, int]:
    parts = store.staged_partitions(import_id)
    by_feeder: dict[str, list[str]] = {}
    for feeder, month in parts:
        by_feeder.setdefault(feeder, []).append(month)
    period = (int(prog["period"][0]), int(prog["period"][1]))
    frames: list[pd.DataFrame] = []
    replaced = 0
    done = 0
    for feeder, months in by_feeder.items():
        stats: list[pd.DataFrame] = []
        hours: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for month in months:
            staged = store.iter_staged(import_id, feeder, month)  # read chunk by chunk by the check
            stored = store.read_month(feeder, month) if store.has_month(feeder, month) else None
            check = _checker(
                staged, stored, month=month, period=period, generating=generating, options=options,
                issues=issues, source_names=names, heads=heads,
            )  # fmt: skip
            # Written block by block as checked: one partition's staged columns in memory at a time.
            res = store.stage_final_blocks(import_id, feeder, month, check)
            del staged, stored
            _release()
            replaced += res.replaced
            stats.append(res.stats)
            for i, meter in enumerate(res.stats["meter_id"]):
                hs, hn = hours.get(meter, (np.zeros(24), np.zeros(24)))
                hours[meter] = (hs + res.hour_sum[i], hn + res.hour_n[i])
            done += 1
            if progress:
                progress(
                    {"stage": "finalize", "partition": f"{feeder}/{month}", "done": done, "total": len(parts)}
                )
        frame = _per_meter(pd.concat(stats, ignore_index=True), feeder)
        meters = list(frame["meter_id"])
        hs = np.stack([hours[m][0] for m in meters])
        hn = np.stack([hours[m][1] for m in meters])
        head_set = set(heads.to_pylist())
        groups = np.array([-1 if m in head_set else int(classes.get(m, 0)) for m in meters], dtype=np.int64)
        frame["tz_shift_h"] = _tz_shifts(hs, hn, options, groups)
        suspects = frame.loc[frame["tz_shift_h"] != 0, "meter_id"].tolist()
        if suspects:  # rare: flag their reads in the partitions already finalised
            for month in months:
                table = store.read_final(import_id, feeder, month)
                mask = pc.is_in(table.column("meter_id"), value_set=pa.array(suspects, pa.string()))
                flags = pc.if_else(
                    mask,
                    pc.bit_wise_or(
                        table.column("flags"), pa.scalar(int(QualityFlag.TZ_SUSPECT), pa.uint16())
                    ),
                    table.column("flags"),
                )
                store.stage_final(import_id, feeder, month, table.set_column(6, "flags", flags))
            for meter, shift in frame.loc[frame["tz_shift_h"] != 0, ["meter_id", "tz_shift_h"]].itertuples(
                index=False
            ):
                issues.add(
                    f"{feeder}/{meter}",
                    f"meter {meter}'s daily shape is {int(shift):+d} h off its feeder's: wrong time zone?",
                    "tz_suspect",
                )
        for meter in frame.loc[frame["dst_fault"], "meter_id"]:
            issues.add(
                f"{feeder}/{meter}",
                f"meter {meter} misses an hour at the spring DST change and repeats one in the fall:"
                " the source wrote local time as UTC",
                "dst_fault",
            )
        frames.append(frame)
    quality = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(QUALITY_COLUMNS))
    return quality.loc[:, list(QUALITY_COLUMNS)], replaced


def _checker(
    staged: Iterable[pa.Table], stored: pa.Table | None, **kw: Any
) -> Callable[[Callable[[pa.Table], None]], PartitionResult]:
    def check(write: Callable[[pa.Table], None]) -> PartitionResult:
        return check_partition_blocks(staged, stored, write=write, **kw)

    return check


def _per_meter(stats: pd.DataFrame, feeder: str) -> pd.DataFrame:
    agg: dict[str, Any] = {c: "sum" for c in STAT_COLUMNS}
    agg.update(first_s="min", last_s="max", interval_min="last", spring_hole="any", fall_double="any",
               spring_seen="any", fall_seen="any")  # fmt: skip
    g = stats.groupby("meter_id", sort=True).agg(agg).reset_index()
    seen = g["spring_seen"] | g["fall_seen"]
    g["dst_fault"] = (
        seen
        & (g["spring_hole"] | ~g["spring_seen"])
        & (g["fall_double"] | ~g["fall_seen"])
        & (g["spring_hole"] | g["fall_double"])
    )
    g["feeder"] = feeder
    g["first_utc"] = pd.to_datetime(g["first_s"], unit="s", utc=True)
    g["last_utc"] = pd.to_datetime(g["last_s"], unit="s", utc=True)
    good = g["reads"] - g["spikes"] - g["absurd"] - g["negatives"] - g["flatline_reads"]
    g["grade"] = grade(good.to_numpy(np.float64), g["expected"].to_numpy(np.float64))
    return g


def import_ami(
    sources: Sequence[Path],
    directory: pd.DataFrame,
    store: AmiStore,
    *,
    import_id: str,
    options: AmiOptions,
    progress: Progress | None = None,
) -> AmiReport:
    """Import AMI reads (docs/CONTRACTS.md "AMI import"); ``InputError`` on fatal input problems (nothing
    committed then), ``ConflictError`` when ``import_id`` is in use for other sources or options."""
    paths = [Path(s) for s in sources]
    names = [p.name for p in paths]
    prints = _fingerprints(paths)
    digest = hashlib.sha256(options.model_dump_json().encode()).hexdigest()[:16]
    store.import_dir(import_id)  # checks the id
    with store.lock():
        store.recover()  # a commit of this (or another) import that was interrupted
    committed = store.committed_report(import_id)
    if committed is not None:
        if committed.get("_fingerprints") != prints or committed.get("_options") != digest:
            raise ConflictError(
                "import id already committed",
                [ErrorDetail(where=import_id, message="with other sources or options")],
            )
        quality = store.read_quality(import_id).to_pandas()
        return AmiReport.from_dict(committed, quality)
    prog = store.load_progress(import_id)
    if prog is not None and (prog["fingerprints"] != prints or prog["options"] != digest):
        raise ConflictError(
            "import id in use", [ErrorDetail(where=import_id, message="staged from other sources or options")]
        )
    if prog is None:
        prog = {
            "import_id": import_id, "fingerprints": prints, "options": digest, "chunks": [0] * len(paths),
            "intervals": [None] * len(paths), "seq": 0, "period": None, "unknown_seen": {}, "staged": False,
            "counts": {"rows_read": 0, "rows_staged": 0, "rows_unknown_meter": 0, "chunks": 0},
            "issues": {"lines": [], "counts": {}},
        }  # fmt: skip
        store.save_progress(import_id, prog)
    index, feeders, generating, heads = _directory_maps(directory)
    issues = Issues.from_state(options.max_issue_lines, prog["issues"])
    try:
        store.drop_chunks_from(import_id, int(prog["seq"]))  # a chunk half staged by a crashed run
        for i, path in enumerate(paths):
            if prog["staged"]:
                break
            for chunk in iter_chunks(
                path, i, options, issues, skip=prog["chunks"][i], interval_s=prog["intervals"][i], heads=heads
            ):
                seq = int(prog["seq"])
                staged = _stage_chunk(
                    store, import_id, chunk.table, seq, (index, feeders), prog, issues, names[i]
                )
                counts = prog["counts"]
                counts["rows_read"] += chunk.rows_read
                counts["rows_staged"] += staged
                counts["chunks"] += 1
                if issues.bad_rows() > options.max_bad_rows:
                    raise InputError(
                        f"too many bad rows (more than {options.max_bad_rows}); nothing imported",
                        [
                            d
                            for d in issues.lines
                            if d.code in ("bad_row", "bad_timestamp", "bad_number", "no_meter")
                        ],
                    )
                del chunk.table
                _release()
                prog["chunks"][i] = chunk.index + 1
                prog["intervals"][i] = chunk.interval_s
                prog["seq"] = seq + 1
                prog["issues"] = issues.state()
                store.save_progress(import_id, prog)
                if progress:
                    progress({"stage": "staged", "source": names[i], "chunk": seq, "rows": chunk.rows_read})
        prog["staged"] = True
        store.save_progress(import_id, prog)
        if prog["period"] is None:
            raise InputError(
                "no AMI reads to import",
                [
                    ErrorDetail(
                        where=", ".join(names), message="no readable reads of known meters", code="empty"
                    ),
                    *issues.lines[:20],
                ],
            )
    except InputError:
        store.abort(import_id)  # bad input does not become better on a rerun
        raise
    with store.lock():
        quality, replaced = _finalize(
            store, import_id, prog, generating, heads, _classes(directory), options, issues, names, progress
        )
        report = _report(
            import_id, names, prog, issues, quality, replaced, store.staged_partitions(import_id)
        )
        payload = report.to_dict() | {"_fingerprints": prints, "_options": digest}
        store.stage_results(import_id, pa.Table.from_pandas(quality, preserve_index=False), payload)
        store.commit(import_id)
    if progress:
        progress({"stage": "committed", "import_id": import_id})
    return report


def _report(
    import_id: str,
    names: list[str],
    prog: dict[str, Any],
    issues: Issues,
    quality: pd.DataFrame,
    replaced: int,
    parts: list[tuple[str, str]],
) -> AmiReport:
    counts = {k: int(v) for k, v in prog["counts"].items()}
    counts["rows_bad"] = issues.bad_rows()
    for col in ("filled_linear", "filled_profile", "duplicates", "conflicting_duplicates", "spikes", "absurd",
                "negatives", "flatline_reads", "dst_resolved", "missing", "reads", "expected"):  # fmt: skip
        counts[col] = int(quality[col].sum()) if len(quality) else 0
    counts["dst_nonexistent"] = issues.counts.get("dst_nonexistent", 0)
    counts["off_grid"] = issues.counts.get("off_grid", 0)
    counts["replaced"] = replaced
    counts["meters"] = len(quality)
    counts["partitions"] = len(parts)
    counts["tz_suspect_meters"] = int((quality["tz_shift_h"] != 0).sum()) if len(quality) else 0
    counts["dst_fault_meters"] = int(quality["dst_fault"].sum()) if len(quality) else 0
    counts["issues"] = issues.total()
    counts["issues_listed"] = len(issues.lines)
    lo, hi = prog["period"]
    period = (
        pd.Timestamp(int(lo), unit="s", tz="UTC").isoformat(),
        pd.Timestamp(int(hi), unit="s", tz="UTC").isoformat(),
    )
    return AmiReport(
        import_id=import_id,
        sources=names,
        counts=counts,
        feeders=sorted({f for f, _ in parts}),
        months=sorted({m for _, m in parts}),
        period_utc=period,
        issues=list(issues.lines),
        quality_summary=quality_summary(quality),
        quality=quality.reset_index(drop=True),
    )
