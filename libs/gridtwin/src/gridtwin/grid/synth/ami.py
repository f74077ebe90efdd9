"""Synthetic AMI for the synthetic utility: a year of interval reads per meter, consistent with the
twin graph (a meter's hourly kWh = its Load's ``p_kw`` x its yearly pool shape at that hour), one file per
month, plus ``meters.csv`` (a CIS meter list without transformers: mapping must find them).

Each hour's energy is split into intervals with small seeded noise that keeps the hour's sum. Timestamps
mark the interval END (Parquet: timestamp[s, UTC]; CSV: ISO 8601 with a -06:00 offset). Each feeder also
gets a feeder-head meter (role ``feeder_head``) reading the sum of its meters x 1.03 (losses). With
``faults`` a few reproducible faults are planted in the first feeder's first month (and one meter is
shifted by +3 h all year, a meter set to the wrong time zone); ``truth`` lists them. Generation is vectorised per (feeder, month) and written
with pyarrow one feeder at a time, so memory stays at one feeder-month.
"""

from __future__ import annotations

import calendar
import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gridtwin.grid.synth.feeder import partition, synth_feeder
from gridtwin.grid.synth.utility import synth_utility_profiles
from gridtwin.grid.topology import service_index

__all__ = ["HEAD_LOSS_FACTOR", "SynthAmi", "synth_meter_id", "write_synthetic_ami"]

HEAD_LOSS_FACTOR = 1.03
CSV_OFFSET_H = -6  # the utility's standard time (US Central); CSV stamps carry it as an offset
_NOISE_STD = 0.04  # relative spread of an interval within its hour
_NOISE_STREAM = 7_000_007
_FAULT_STREAM = 9_000_009
_SCHEMA = pa.schema(
    [
        pa.field("meter_id", pa.dictionary(pa.int32(), pa.string())),
        pa.field("timestamp", pa.timestamp("s", tz="UTC")),
        pa.field("kwh", pa.float64()),
    ]
)

_CSV_FIELDS: list[pa.Field[Any]] = [
    pa.field("meter_id", pa.string()), pa.field("timestamp", pa.string()), pa.field("kwh", pa.float64())
]  # fmt: skip
_CSV_SCHEMA = pa.schema(_CSV_FIELDS)


@dataclass
class SynthAmi:
    files: list[Path]  # one per month, in order
    meters_csv: Path
    truth: dict[str, Any] = field(default_factory=dict)  # faults, meters, reads, feeders, head meters


@dataclass
class _Feeder:
    index: int
    feeder: str
    meter_ids: list[str]
    p_kw: np.ndarray
    shape_row: np.ndarray  # row in the pool matrix
    head_id: str


def synth_meter_id(seed: int, index: int, load: str) -> str:
    """Utility-wide unique meter number of load ``m000123`` on feeder ``index``."""
    return f"{seed}{index:04d}{int(load.lstrip('m')):06d}"


def _feeders(
    indices: Sequence[int], seed: int, pool_row: dict[str, int], max_meters: int | None, meters_csv: Path
) -> list[_Feeder]:
    out: list[_Feeder] = []
    left = max_meters if max_meters is not None else 1 << 62
    with meters_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["meter_id", "feeder", "load", "lat", "lon", "phase", "customer_class", "generating", "role"]
        )
        for i in indices:
            if left <= 0:
                break
            model = synth_feeder(i, seed).model
            ix = service_index(model)
            loads = model.table("loads").iloc[:left]
            left -= len(loads)
            ids = [synth_meter_id(seed, i, str(n)) for n in loads["name"]]
            for mid, name in zip(ids, loads["name"], strict=True):
                r = ix.load_of[str(name)]
                x, y = ix.bus_xy.get(str(r["bus"]), (float("nan"), float("nan")))
                w.writerow([mid, model.feeder_id, name, f"{y:.7f}", f"{x:.7f}", r["phases"],
                            r["customer_class"], "false", "customer"])  # fmt: skip
            head = f"H{seed}{i:04d}"
            sx, sy = ix.bus_xy.get("subbus", (float("nan"), float("nan")))
            w.writerow(
                [head, model.feeder_id, "", f"{sy:.7f}", f"{sx:.7f}", "ABC", 0, "false", "feeder_head"]
            )
            out.append(
                _Feeder(
                    index=i,
                    feeder=model.feeder_id,
                    meter_ids=ids,
                    p_kw=loads["p_kw"].to_numpy(dtype=np.float64),
                    shape_row=np.array([pool_row[str(s)] for s in loads["yearly"]], dtype=np.int64),
                    head_id=head,
                )
            )
    return out


def _plan_faults(f: _Feeder, seed: int, steps: int, per_h: int) -> list[dict[str, Any]]:
    """Reproducible faults on distinct meters of feeder ``f`` within its first month (``steps`` reads)."""
    rng = np.random.default_rng([seed, _FAULT_STREAM, f.index])
    meters = rng.choice(len(f.meter_ids), size=7, replace=False)
    at = [int(rng.integers(2 * 24 * per_h, steps - 3 * 24 * per_h)) for _ in meters]
    kinds = [("gap", 2 * per_h), ("gap", 26 * per_h), ("duplicate", 1), ("spike", 1), ("negative", 1),
             ("flatline", 6 * per_h), ("shift_3h", 0)]  # fmt: skip
    return [
        {
            "kind": k,
            "meter": int(m),
            "meter_id": f.meter_ids[int(m)],
            "feeder": f.feeder,
            "pos": p,
            "reads": n,
        }
        for (k, n), m, p in zip(kinds, meters, at, strict=True)
    ]


def write_synthetic_ami(
    out_dir: Path,
    feeders: int | Sequence[int],
    seed: int,
    *,
    year: int = 2025,
    interval_min: int = 15,
    fmt: Literal["parquet", "csv"] = "parquet",
    faults: bool = True,
    max_meters: int | None = None,
    months: Sequence[int] | None = None,
) -> SynthAmi:
    """Write ``reads/reads-YYYY-MM.{parquet,csv}`` and ``meters.csv`` under ``out_dir`` (module docstring;
    the reads have a folder of their own, so ``gridtwin import ami out_dir/reads`` takes them all);
    ``months`` (1..12) limits the year, ``max_meters`` the customer meters (taken feeder by feeder)."""
    if 60 % interval_min:
        raise ValueError(f"interval_min {interval_min} does not divide an hour")
    out = Path(out_dir)
    (out / "reads").mkdir(parents=True, exist_ok=True)
    indices = list(range(feeders)) if isinstance(feeders, int) else [int(i) for i in feeders]
    profiles = synth_utility_profiles(seed)
    prefix = f"loadshape/{partition(seed)}/"
    shape_names = sorted(k[len(prefix) :] for k in profiles if k.startswith(prefix))
    pool = np.vstack([profiles[prefix + n] for n in shape_names])
    meters_csv = out / "meters.csv"
    fs = _feeders(indices, seed, {n: r for r, n in enumerate(shape_names)}, max_meters, meters_csv)
    per_h = 60 // interval_min
    step_s = interval_min * 60
    plan: list[dict[str, Any]] = []
    files: list[Path] = []
    total = 0
    shift_rows: dict[str, set[int]] = {}
    for month in months or range(1, 13):
        start = datetime(year, month, 1, tzinfo=UTC)
        h0 = int((start - datetime(year, 1, 1, tzinfo=UTC)).total_seconds() // 3600)
        n_h = calendar.monthrange(year, month)[1] * 24
        steps = n_h * per_h
        hour_cols = (h0 + np.arange(n_h)) % pool.shape[1]  # a leap year's last day repeats day 1
        ends = int(start.timestamp()) + step_s * (np.arange(steps, dtype=np.int64) + 1)
        path = out / "reads" / f"reads-{year:04d}-{month:02d}.{fmt}"
        writer = (
            pq.ParquetWriter(
                path,
                _SCHEMA,
                compression="snappy",
                use_dictionary=["meter_id"],  # type: ignore[arg-type]
                column_encoding={"timestamp": "DELTA_BINARY_PACKED"},
            )
            if fmt == "parquet"
            else None
        )
        csv_out = pacsv.CSVWriter(path, _CSV_SCHEMA) if fmt == "csv" else None
        for k, f in enumerate(fs):
            n = len(f.meter_ids)
            energy_kwh = f.p_kw[:, None] * pool[f.shape_row][:, hour_cols]  # (meters, hours)
            rng = np.random.default_rng([seed, _NOISE_STREAM, f.index, year, month])
            eps = rng.standard_normal((n, n_h, per_h), dtype=np.float32) * np.float32(_NOISE_STD)
            frac = (1.0 + (eps - eps.mean(axis=2, keepdims=True)).astype(np.float64)) / per_h  # sums to 1
            kwh = (energy_kwh[:, :, None] * frac).reshape(n, steps)
            head = kwh.sum(axis=0) * HEAD_LOSS_FACTOR
            ts = np.tile(ends, n).reshape(n, steps)
            keep = np.ones((n, steps), dtype=bool)
            extra: list[tuple[int, int, float]] = []  # (meter, ts, kwh) appended rows (duplicates)
            if faults and k == 0:
                if not plan:
                    plan = _plan_faults(f, seed, steps, per_h)
                    shift_rows[f.feeder] = {p["meter"] for p in plan if p["kind"] == "shift_3h"}
                for p in plan if month == (months or [1])[0] else []:
                    m, pos, r = p["meter"], p["pos"], p["reads"]
                    p.setdefault(
                        "start_utc", datetime.fromtimestamp(int(ends[pos]) - step_s, UTC).isoformat()
                    )
                    p.setdefault("true_kwh", float(kwh[m, pos]))
                    if p["kind"] == "gap":
                        keep[m, pos : pos + r] = False
                    elif p["kind"] == "duplicate":
                        extra.append((m, int(ts[m, pos]), float(kwh[m, pos])))
                    elif p["kind"] == "spike":
                        kwh[m, pos] = kwh[m, pos] * 40.0 + 5.0
                    elif p["kind"] == "negative":
                        kwh[m, pos] = -abs(kwh[m, pos]) - 0.01
                    elif p["kind"] == "flatline":
                        kwh[m, pos : pos + r] = kwh[m, pos]
                    p.setdefault("value_kwh", float(kwh[m, pos]))
            for m in shift_rows.get(f.feeder, ()):
                ts[m] += 3 * 3600  # a meter set to the wrong time zone
            mi = np.repeat(np.arange(n, dtype=np.int32), steps)
            t_col, k_col = ts.reshape(-1), kwh.reshape(-1)
            if not keep.all():
                flat = keep.reshape(-1)
                mi, t_col, k_col = mi[flat], t_col[flat], k_col[flat]
            if extra:  # keep (meter, time) order: insert each duplicate right after its original
                for m, t, v in extra:
                    at = int(
                        np.searchsorted(mi.astype(np.int64) * (1 << 40) + t_col, m * (1 << 40) + t, "right")
                    )
                    mi, t_col, k_col = np.insert(mi, at, m), np.insert(t_col, at, t), np.insert(k_col, at, v)
            ids = [*f.meter_ids, f.head_id]
            mi = np.concatenate([mi, np.full(steps, n, dtype=np.int32)])
            t_col, k_col = np.concatenate([t_col, ends]), np.concatenate([k_col, head])
            total += len(mi)
            meter_col = pa.DictionaryArray.from_arrays(pa.array(mi, pa.int32()), pa.array(ids, pa.string()))
            if writer is not None:
                ts_col = pa.array(t_col, pa.int64()).cast(pa.timestamp("s", tz="UTC"))
                writer.write_table(pa.Table.from_arrays([meter_col, ts_col, pa.array(k_col)], schema=_SCHEMA))
            elif csv_out is not None:
                csv_out.write_table(_csv_table(meter_col, t_col, k_col))
        if writer is not None:
            writer.close()
        if csv_out is not None:
            csv_out.close()
        files.append(path)
    for p in plan:
        p.pop("meter", None)
        p.pop("pos", None)
    truth = {
        "feeders": [f.feeder for f in fs],
        "meters": sum(len(f.meter_ids) for f in fs),
        "head_meters": {f.feeder: f.head_id for f in fs},
        "reads": total,
        "interval_min": interval_min,
        "timestamp_at": "end",
        "faults": plan,
    }
    return SynthAmi(files=files, meters_csv=meters_csv, truth=truth)


def _csv_table(meter_col: Any, t_col: np.ndarray, k_col: np.ndarray) -> pa.Table:
    """ISO 8601 local stamps with offset: format each distinct stamp once, then take."""
    uniq, inv = np.unique(t_col, return_inverse=True)
    local = (uniq + CSV_OFFSET_H * 3600).astype("datetime64[s]")
    sign = "-" if CSV_OFFSET_H < 0 else "+"
    text = np.char.add(np.datetime_as_string(local, unit="s"), f"{sign}{abs(CSV_OFFSET_H):02d}:00")
    stamps = pa.array(text.tolist(), pa.string()).take(pa.array(inv.astype(np.int64), pa.int64()))
    return pa.table({"meter_id": meter_col.cast(pa.string()), "timestamp": stamps, "kwh": pa.array(k_col)})
