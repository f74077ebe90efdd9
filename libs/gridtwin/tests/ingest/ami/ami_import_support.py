"""Small synthetic AMI inputs for the import tests (a few meters, days to a month), written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from gridtwin.store.ami import AmiStore

DIRECTORY_COLUMNS = [
    "meter_id", "feeder", "load", "transformer", "bus", "phases", "lon", "lat", "generating", "role",
    "customer_class", "method", "confidence", "reasons",
]  # fmt: skip


def directory(meters: dict[str, str], generating: set[str] | None = None) -> pd.DataFrame:
    """A meter directory built by hand: meter -> feeder."""
    gen = generating or set()
    rows = [
        {
            "meter_id": m,
            "feeder": f,
            "load": m,
            "transformer": f"T{m}",
            "bus": f"b{m}",
            "phases": "A",
            "lon": np.nan,
            "lat": np.nan,
            "generating": m in gen,
            "role": "customer",
            "customer_class": 1,
            "method": "twin",
            "confidence": "high",
            "reasons": [],
        }
        for m, f in meters.items()
    ]
    return pd.DataFrame(rows, columns=DIRECTORY_COLUMNS)


def reads(
    meters: list[str],
    start: str,
    end: str,
    step_min: int = 60,
    seed: int = 1,
    shift_h: dict[str, int] | None = None,
) -> pd.DataFrame:
    """True interval-start reads (UTC) with a daily shape: meter_id, ts (UTC start), kwh."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, end, freq=f"{step_min}min", inclusive="left", tz="UTC")
    frames = []
    for i, m in enumerate(meters):
        hour = np.asarray((ts.hour + ts.minute / 60 - (shift_h or {}).get(m, 0)) % 24, dtype=float)
        shape = 1.0 + 2.0 * np.exp(-(((hour - 19) / 2.5) ** 2)) + 0.8 * np.exp(-(((hour - 8) / 1.5) ** 2))
        kwh = (0.5 + 0.1 * i) * shape * step_min / 60 * (1 + 0.05 * rng.standard_normal(len(ts)))
        frames.append(pd.DataFrame({"meter_id": m, "ts": ts, "kwh": np.round(kwh, 4)}))
    return pd.concat(frames, ignore_index=True)


def write_csv(
    frame: pd.DataFrame, path: Path, *, step_min: int = 60, at: str = "end", fmt: str = "z", sep: str = ","
) -> Path:
    """fmt: "z" (...Z), "offset" (-05:00), "local:<zone>" (naive wall clock), "naive" (naive UTC)."""
    ts = frame["ts"] + (pd.Timedelta(minutes=step_min) if at == "end" else pd.Timedelta(0))
    if fmt == "z":
        text = ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif fmt == "offset":
        text = ts.dt.tz_convert("Etc/GMT+5").dt.strftime("%Y-%m-%dT%H:%M:%S-05:00")
    elif fmt.startswith("local:"):
        text = ts.dt.tz_convert(fmt.removeprefix("local:")).dt.strftime("%Y-%m-%d %H:%M:%S")
    else:
        text = ts.dt.strftime("%Y-%m-%d %H:%M:%S")
    out = pd.DataFrame({"MeterNumber": frame["meter_id"], "read_time": text, "usage": frame["kwh"]})
    out.to_csv(path, index=False, sep=sep)
    return path


def write_parquet(frame: pd.DataFrame, path: Path, *, step_min: int = 60) -> Path:
    end = pd.DatetimeIndex(frame["ts"] + pd.Timedelta(minutes=step_min))
    table = pa.table(
        {
            "meter_id": pa.array(frame["meter_id"].astype(str).tolist(), pa.string()),
            "interval_end": pa.array(end.as_unit("s")).cast(pa.timestamp("s", tz="UTC")),
            "kwh": pa.array(frame["kwh"].to_numpy(np.float64)),
        }
    )
    pq.write_table(table, path)
    return path


def stored(store: AmiStore) -> pd.DataFrame:
    """Everything committed, as one frame sorted by feeder, meter, time."""
    frames = []
    for f in store.feeders():
        for m in store.months(f):
            t = store.read_month(f, m).to_pandas()
            t.insert(0, "feeder", f)
            frames.append(t)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).sort_values(
        ["feeder", "meter_id", "ts_utc"], ignore_index=True
    )


def listing(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
