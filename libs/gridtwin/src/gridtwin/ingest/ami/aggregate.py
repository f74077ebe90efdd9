"""AMI reads -> hourly kW per meter, service transformer and feeder, with the statistics planners use.

Reads come month by month from the AMI store (``iter_year``), so memory is one month of one feeder plus
the (meters x hours) result. An interval's kWh counts in the UTC hour its start falls in; kWh summed over
an hour is that hour's average kW. A month whose meters all read one regular grid (the store's months once
gaps are filled) is binned by a reshape and a sum; any other by one ``np.bincount`` over
``meter * hours + hour``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gridtwin.ingest.ami.mapping import head_check

__all__ = ["AmiReader", "FeederAggregate", "aggregate_feeder", "aggregate_many", "write_aggregate"]

FloatArray = np.ndarray[Any, np.dtype[np.floating[Any]]]
_COLUMNS = ["meter_id", "ts_utc", "kwh"]


class AmiReader(Protocol):
    """What aggregation needs of ``gridtwin.store.ami.AmiStore``."""

    def iter_year(
        self, feeder: str, year: int, columns: list[str] | None = None, *, dictionary: bool = False
    ) -> Iterator[pa.Table]: ...


@dataclass
class FeederAggregate:
    feeder: str
    year: int
    site: str
    start_utc: datetime  # hour 0
    hours: int
    meter_ids: list[str]  # customer meters, grouped by transformer (rows of meter_kw)
    meter_transformer: list[str]  # "" = no transformer known
    transformer_names: list[str]  # rows of transformer_kw
    meter_kw: np.ndarray  # (meters, hours) float32, NaN where the meter has no read in the hour
    transformer_kw: np.ndarray  # (transformers, hours) float32, sum over its meters (NaN hours = 0)
    feeder_kw: np.ndarray  # (hours,) float64, customers only
    head_kw: np.ndarray | None  # (hours,) float64 of the feeder-head meters, None when there is none
    meter_stats: pd.DataFrame  # meter_id, transformer, load, reads, energy_kwh, peak_kw, peak_utc, ...
    transformer_stats: pd.DataFrame  # transformer, meters, energy_kwh, peak_kw, ..., coincidence_factor
    summary: dict[str, Any]  # the ami_load_summary row (+ summary_json)
    head: dict[str, Any] = field(default_factory=dict)  # head_check(...) or {}
    reads: int = 0  # reads binned
    unknown_reads: int = 0  # reads of meters not in the directory (or outside the year)
    timings_s: dict[str, float] = field(default_factory=dict)


def _year_start(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=UTC)


def _hours(year: int) -> int:
    return int((_year_start(year + 1) - _year_start(year)).total_seconds() // 3600)


def _meter_codes(col: pa.ChunkedArray[Any], lookup: pd.Index) -> np.ndarray:
    """Row -> position in ``lookup`` (-1 unknown), hashing each distinct id once per chunk."""
    parts = []
    for chunk in col.chunks:
        arr: Any = chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk)
        pos = lookup.get_indexer(arr.dictionary.to_numpy(zero_copy_only=False))
        idx = arr.indices.to_numpy(zero_copy_only=False)
        parts.append(pos[idx] if len(pos) else np.full(len(idx), -1, dtype=np.int64))
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _stats(kw: np.ndarray, start: datetime) -> dict[str, np.ndarray]:
    """Per row of (rows, hours): energy, peak, its hour, load factor (mean / peak), coverage."""
    have = np.isfinite(kw)
    zero = np.where(have, kw, 0.0).astype(np.float64)
    n_have = have.sum(axis=1)
    energy = zero.sum(axis=1)
    peak_h = np.argmax(np.where(have, kw, -np.inf), axis=1)
    peak = np.where(n_have > 0, zero[np.arange(len(kw)), peak_h], np.nan)
    mean = np.divide(energy, n_have, out=np.full(len(kw), np.nan), where=n_have > 0)
    lf = np.divide(mean, peak, out=np.full(len(kw), np.nan), where=(n_have > 0) & (peak > 0))
    t0 = np.datetime64(start.replace(tzinfo=None), "s")
    peak_utc = np.where(n_have > 0, t0 + peak_h.astype("timedelta64[h]"), np.datetime64("NaT"))
    cover = n_have / kw.shape[1] if kw.shape[1] else np.zeros(len(kw))
    return {"energy_kwh": energy, "peak_kw": peak, "peak_utc": peak_utc, "load_factor": lf, "coverage": cover}


def _bin_regular(
    m: np.ndarray, ts: np.ndarray, kwh: np.ndarray, t0: int, kwh_sum: np.ndarray, count: np.ndarray
) -> bool:
    """Bin a month whose meters all read the same regular grid of whole hours (what the store holds once
    gaps are filled): a reshape and a sum per hour instead of a bincount, several times faster. False
    (nothing done) when the month is not such a grid; the caller then bins read by read."""
    n = len(m)
    if n == 0 or int(m.min()) < 0:
        return False
    n_seg = int(np.count_nonzero(m[1:] != m[:-1])) + 1
    if n % n_seg:
        return False
    steps = n // n_seg
    step_s = int(ts[1] - ts[0]) if steps > 1 else 3600
    if step_s <= 0 or 3600 % step_s or (steps * step_s) % 3600 or (int(ts[0]) - t0) % 3600:
        return False
    per_h = 3600 // step_s
    h_lo = (int(ts[0]) - t0) // 3600
    span = steps // per_h
    if h_lo < 0 or h_lo + span > kwh_sum.shape[1]:
        return False
    grid = ts[0] + step_s * np.arange(steps, dtype=np.int64)
    codes = m[::steps]
    if not (
        bool((ts.reshape(n_seg, steps) == grid).all())
        and bool((m.reshape(n_seg, steps) == codes[:, None]).all())
        and len(np.unique(codes)) == n_seg
        and bool(np.isfinite(kwh).all())
    ):
        return False
    kwh_sum[codes, h_lo : h_lo + span] += kwh.reshape(n_seg, span, per_h).sum(axis=2)
    count[codes, h_lo : h_lo + span] += per_h
    return True


def aggregate_feeder(store: AmiReader, feeder: str, directory: pd.DataFrame, *, year: int) -> FeederAggregate:
    """Bin one feeder's year of reads (module docstring); the directory gives meter -> transformer."""
    import time

    t_start = time.perf_counter()
    d = directory[directory["feeder"] == feeder]
    site = ""
    if "site" in d and len(d):
        site = str(d["site"].iloc[0])
    cust = d[d["role"].fillna("customer") != "feeder_head"].copy()
    cust["transformer"] = cust["transformer"].fillna("").astype(str)
    cust = cust.sort_values(["transformer", "meter_id"], kind="stable")
    heads = d[d["role"] == "feeder_head"]
    meter_ids = [str(m) for m in cust["meter_id"]]
    head_ids = [str(m) for m in heads["meter_id"]]
    lookup = pd.Index(meter_ids + head_ids)
    n_m, n_all = len(meter_ids), len(lookup)
    hours = _hours(year)
    start = _year_start(year)
    t0 = int(start.timestamp())
    kwh_sum = np.zeros((n_all, hours), dtype=np.float64)
    count = np.zeros((n_all, hours), dtype=np.int32)
    reads = unknown = 0
    t_read = t_bin = 0.0
    it = store.iter_year(feeder, year, columns=_COLUMNS, dictionary=True)  # codes, not strings
    while True:
        tr = time.perf_counter()
        table = next(it, None)
        t_read += time.perf_counter() - tr
        if table is None:
            break
        tb = time.perf_counter()
        m = _meter_codes(table.column("meter_id"), lookup)
        ts = table.column("ts_utc").cast(pa.int64()).to_numpy()
        kwh = table.column("kwh").to_numpy()
        if _bin_regular(m, ts, kwh, t0, kwh_sum, count):
            reads += len(m)
            t_bin += time.perf_counter() - tb
            continue
        h = (ts - t0) // 3600
        ok = (m >= 0) & (h >= 0) & (h < hours) & np.isfinite(kwh)
        n_ok = int(ok.sum())
        unknown += len(m) - n_ok
        reads += n_ok
        if n_ok:
            m, h, kwh = m[ok], h[ok], kwh[ok]
            h_lo, h_hi = int(h.min()), int(h.max()) + 1  # bin only this month's hours: bounded memory
            span = h_hi - h_lo
            key = m * span + (h - h_lo)
            kwh_sum[:, h_lo:h_hi] += np.bincount(key, weights=kwh, minlength=n_all * span).reshape(
                n_all, span
            )
            count[:, h_lo:h_hi] += (
                np.bincount(key, minlength=n_all * span).reshape(n_all, span).astype(np.int32)
            )
        t_bin += time.perf_counter() - tb
    tb = time.perf_counter()
    all_kw = np.where(count > 0, kwh_sum, np.nan)
    meter_kw = all_kw[:n_m].astype(np.float32)
    head_kw = np.nansum(all_kw[n_m:], axis=0) if head_ids else None
    if head_kw is not None:
        head_kw = np.where(np.isfinite(all_kw[n_m:]).any(axis=0), head_kw, np.nan)
    mt = [str(t) for t in cust["transformer"]]
    names = sorted({t for t in mt if t})
    zero = np.where(count[:n_m] > 0, kwh_sum[:n_m], 0.0)
    mt_arr = np.asarray(mt, dtype=object)
    xf_kw = np.zeros((len(names), hours), dtype=np.float64)
    if names:
        # meters are sorted by transformer: contiguous runs, one reduceat
        with_xf = np.flatnonzero(mt_arr != "")
        starts = np.searchsorted(np.asarray(mt, dtype=object)[with_xf], np.asarray(names, dtype=object))
        xf_kw = np.add.reduceat(zero[with_xf], starts, axis=0)
    feeder_kw = zero.sum(axis=0)
    feeder_kw = np.where((count[:n_m] > 0).any(axis=0), feeder_kw, np.nan) if n_m else np.full(hours, np.nan)

    ms = _stats(meter_kw.astype(np.float64), start)
    meter_stats = pd.DataFrame(
        {
            "meter_id": meter_ids,
            "transformer": mt,
            "load": cust["load"].fillna("").astype(str).to_numpy() if "load" in cust else [""] * n_m,
            "reads": count[:n_m].sum(axis=1),
            **ms,
        }
    )
    meter_stats["peak_utc"] = pd.to_datetime(meter_stats["peak_utc"]).dt.tz_localize("UTC")
    xs = _stats(np.where(np.isfinite(xf_kw), xf_kw, np.nan), start)
    peaks = ms["peak_kw"]
    xf_rows = pd.Series(mt)
    n_per = xf_rows[xf_rows != ""].value_counts().reindex(names).fillna(0).astype(int).to_numpy()
    sum_peaks = (
        pd.Series(np.nan_to_num(peaks)).groupby(xf_rows).sum().reindex(names).to_numpy(dtype=np.float64)
    )
    cover = pd.Series(ms["coverage"]).groupby(xf_rows).mean().reindex(names).to_numpy(dtype=np.float64)
    transformer_stats = pd.DataFrame(
        {
            "transformer": names,
            "meters": n_per,
            **{k: v for k, v in xs.items() if k != "coverage"},
            "coverage": cover,
            "coincidence_factor": np.divide(
                xs["peak_kw"], sum_peaks, out=np.full(len(names), np.nan), where=sum_peaks > 0
            ),
        }
    )
    transformer_stats["peak_utc"] = pd.to_datetime(transformer_stats["peak_utc"]).dt.tz_localize("UTC")
    fs = _stats(feeder_kw[None, :], start)
    all_peaks = float(np.nansum(peaks))
    head = head_check(feeder_kw, head_kw) if head_kw is not None else {}
    summary: dict[str, Any] = {
        "feeder": feeder,
        "year": year,
        "site": site,
        "meters": n_m,
        "transformers": len(names),
        "energy_kwh": float(fs["energy_kwh"][0]),
        "peak_kw": float(fs["peak_kw"][0]),
        "peak_utc": pd.Timestamp(fs["peak_utc"][0]).tz_localize("UTC").isoformat() if n_m else None,
        "load_factor": float(fs["load_factor"][0]),
        "coincidence_factor": float(fs["peak_kw"][0] / all_peaks) if all_peaks > 0 else float("nan"),
        "coverage": float(np.mean(ms["coverage"])) if n_m else 0.0,
        "head_energy_kwh": head.get("head_energy_kwh"),
        "head_ratio": head.get("energy_ratio"),
    }
    summary["summary_json"] = json.dumps(
        {"head_check": head, "reads": reads, "unknown_reads": unknown, "head_meters": head_ids}, default=str
    )
    t_bin += time.perf_counter() - tb
    return FeederAggregate(
        feeder=feeder, year=year, site=site, start_utc=start, hours=hours, meter_ids=meter_ids,
        meter_transformer=mt, transformer_names=names, meter_kw=meter_kw,
        transformer_kw=xf_kw.astype(np.float32), feeder_kw=feeder_kw, head_kw=head_kw,
        meter_stats=meter_stats, transformer_stats=transformer_stats, summary=summary, head=head,
        reads=reads, unknown_reads=unknown,
        timings_s={"read": t_read, "bin": t_bin, "total": time.perf_counter() - t_start},
    )  # fmt: skip


def aggregate_many(
    store: AmiReader,
    feeders: Sequence[str],
    directory: pd.DataFrame,
    *,
    year: int,
    client: Any = None,
) -> list[FeederAggregate]:
    """``aggregate_feeder`` per feeder as ``dask.delayed`` tasks: on ``client`` (a distributed Client)
    when given, else the threaded scheduler (numpy and Parquet release the GIL)."""
    from dask import compute, delayed  # type: ignore[attr-defined]

    tasks = [delayed(aggregate_feeder)(store, f, directory, year=year) for f in feeders]
    if client is not None:
        return list(client.gather(client.compute(tasks)))
    return list(compute(*tasks, scheduler="threads"))  # type: ignore[no-untyped-call]


def _kw_list(kw: np.ndarray) -> Any:
    if not len(kw):
        return pa.array([], type=pa.list_(pa.float32()))
    flat = pa.array(kw.astype(np.float32).reshape(-1), type=pa.float32())
    offsets: Any = pa.array(np.arange(0, kw.size + 1, kw.shape[1], dtype=np.int32), type=pa.int32())
    return pa.ListArray.from_arrays(offsets, flat)


def write_aggregate(agg: FeederAggregate, root: Path) -> Path:
    """``{root}/_agg/feeder=/year=/{meters,transformers,hourly}.parquet``: stats with each row's hourly kW
    (``kw``, list<float32>), and the feeder and head hourly kW; returns the directory."""
    out = Path(root) / "_agg" / f"feeder={agg.feeder}" / f"year={agg.year}"
    out.mkdir(parents=True, exist_ok=True)
    meters = pa.Table.from_pandas(agg.meter_stats, preserve_index=False).append_column(
        "kw", _kw_list(agg.meter_kw)
    )
    xfs = pa.Table.from_pandas(agg.transformer_stats, preserve_index=False).append_column(
        "kw", _kw_list(agg.transformer_kw)
    )
    ts = pa.array(
        np.datetime64(agg.start_utc.replace(tzinfo=None), "s")
        + np.arange(agg.hours).astype("timedelta64[h]"),
        type=pa.timestamp("s", tz="UTC"),
    )
    head = agg.head_kw if agg.head_kw is not None else np.full(agg.hours, np.nan)
    hourly = pa.table({"ts_utc": ts, "feeder_kw": pa.array(agg.feeder_kw), "head_kw": pa.array(head)})
    meta = {b"summary": json.dumps(agg.summary, default=str).encode()}
    for name, table in (("meters", meters), ("transformers", xfs), ("hourly", hourly)):
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
        tmp = out / f".{name}.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.replace(out / f"{name}.parquet")  # readers never see half a file
    return out
