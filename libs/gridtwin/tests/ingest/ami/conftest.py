"""Fixtures for aggregation and allocation: reads written straight into the AMI store layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gridtwin.grid.synth.ami import SynthAmi, write_synthetic_ami
from gridtwin.store.ami import AMI_READ_SCHEMA

WriteReads = Callable[[Path, str, str, pd.DataFrame], None]


def write_reads(root: Path, feeder: str, month: str, frame: pd.DataFrame) -> None:
    """Committed partition ``feeder=/month=/reads.parquet`` from (meter_id, ts_utc start, interval_min, kwh)."""
    f = frame.sort_values(["meter_id", "ts_utc"], kind="stable")
    n = len(f)
    table = pa.table(
        {
            "meter_id": pa.array(f["meter_id"].astype(str).tolist(), pa.string()),
            "ts_utc": pa.array(pd.to_datetime(f["ts_utc"], utc=True)).cast(pa.timestamp("s", tz="UTC")),
            "interval_min": pa.array(f["interval_min"].to_numpy(np.int16), pa.int16()),
            "kwh": pa.array(f["kwh"].to_numpy(np.float64)),
            "kvarh": pa.nulls(n, pa.float64()),
            "voltage_v": pa.nulls(n, pa.float64()),
            "flags": pa.array(np.zeros(n, np.uint16), pa.uint16()),
            "kwh_raw": pa.nulls(n, pa.float64()),
        },
        schema=AMI_READ_SCHEMA,
    )
    out = root / f"feeder={feeder}" / f"month={month}"
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "reads.parquet")


@pytest.fixture
def reads_writer() -> WriteReads:
    return write_reads


def synth_to_store(synth: SynthAmi, root: Path) -> None:
    """Clean synthetic AMI (interval-end stamps) into store partitions (interval-start), per feeder and month."""
    meters = pd.read_csv(synth.meters_csv, dtype={"meter_id": str})
    feeder_of = dict(zip(meters["meter_id"], meters["feeder"], strict=True))
    step_s = int(synth.truth["interval_min"]) * 60
    for path in synth.files:
        t = pq.read_table(path).to_pandas()
        t["meter_id"] = t["meter_id"].astype(str)
        t["ts_utc"] = t["timestamp"] - pd.Timedelta(seconds=step_s)
        t["interval_min"] = synth.truth["interval_min"]
        t["feeder"] = t["meter_id"].map(feeder_of)
        for (feeder, month), g in t.groupby([t["feeder"], t["ts_utc"].dt.strftime("%Y-%m")]):
            write_reads(root, str(feeder), str(month), g)


@pytest.fixture(scope="session")
def synth_january(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Feeder 0 of seed 42: January of clean synthetic AMI in an AMI store root."""
    base = tmp_path_factory.mktemp("synth_ami")
    synth = write_synthetic_ami(base / "src", [0], 42, months=[1], faults=False)
    root = base / "ami"
    synth_to_store(synth, root)
    return {"synth": synth, "root": root}
