"""AmiStore: partitions, staging, the journaled commit and its roll-forward, abort, quality tables."""

from __future__ import annotations

import os
from pathlib import Path

import gridtwin.store.ami as ami_mod
import pandas as pd
import pyarrow as pa
import pytest
from gridtwin.errors import InputError, NotFoundError
from gridtwin.store.ami import AMI_READ_SCHEMA, AmiStore, QualityFlag


def _table(meters: list[str], start: str, n: int) -> pa.Table:
    ts = pd.date_range(start, periods=n, freq="1h", tz="UTC")
    rows = [(m, t) for m in sorted(meters) for t in ts]
    return pa.table(
        {
            "meter_id": [m for m, _ in rows],
            "ts_utc": pa.array([t for _, t in rows]).cast(pa.timestamp("s", tz="UTC")),
            "interval_min": pa.array([60] * len(rows), pa.int16()),
            "kwh": [1.0] * len(rows),
            "kvarh": pa.nulls(len(rows), pa.float64()),
            "voltage_v": pa.nulls(len(rows), pa.float64()),
            "flags": pa.array([0] * len(rows), pa.uint16()),
            "kwh_raw": pa.nulls(len(rows), pa.float64()),
        },
        schema=AMI_READ_SCHEMA,
    )


def test_quality_flag_bits() -> None:
    assert [int(f) for f in QualityFlag] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert QualityFlag.TZ_SUSPECT == 256 and QualityFlag.ABSURD == 128


def test_commit_makes_partitions_visible_and_iter_year(tmp_path: Path) -> None:
    store = AmiStore(tmp_path / "ami")
    assert store.feeders() == []
    store.stage_final("imp1", "F1", "2025-01", _table(["a", "b"], "2025-01-01", 3))
    store.stage_final("imp1", "F1", "2025-02", _table(["a"], "2025-02-01", 2))
    store.stage_final("imp1", "F2", "2025-01", _table(["c"], "2025-01-05", 1))
    assert store.feeders() == []  # staged only
    store.stage_results("imp1", pa.table({"meter_id": ["a"]}), {"import_id": "imp1"})
    assert store.commit("imp1") == [("F1", "2025-01"), ("F1", "2025-02"), ("F2", "2025-01")]
    assert store.feeders() == ["F1", "F2"]
    assert store.months("F1") == ["2025-01", "2025-02"]
    t = store.read_month("F1", "2025-01")
    assert t.schema == AMI_READ_SCHEMA and t.num_rows == 6
    assert store.read_month("F1", "2025-01", columns=["kwh"]).column_names == ["kwh"]
    assert [x.num_rows for x in store.iter_year("F1", 2025)] == [6, 2]
    assert list(store.iter_year("F1", 2024)) == []
    coded = store.read_month("F1", "2025-01", dictionary=True)  # what aggregation reads: codes, same values
    assert pa.types.is_dictionary(coded.schema.field("meter_id").type)
    assert coded.cast(AMI_READ_SCHEMA).equals(t)
    assert store.read_quality("imp1").column("meter_id").to_pylist() == ["a"]
    assert store.committed_report("imp1") == {"import_id": "imp1"}
    assert not (tmp_path / "ami" / "_imports").exists()  # staging removed after commit
    store.delete_feeder("F1")
    assert store.feeders() == ["F2"]
    with pytest.raises(NotFoundError):
        store.read_month("F1", "2025-01")


def test_interrupted_commit_is_rolled_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = AmiStore(tmp_path / "ami")
    store.stage_final("imp2", "F1", "2025-01", _table(["a"], "2025-01-01", 2))
    store.stage_final("imp2", "F1", "2025-02", _table(["a"], "2025-02-01", 2))
    real = os.replace
    calls = {"n": 0}

    def flaky(src: str | Path, dst: str | Path) -> None:
        if str(dst).endswith("reads.parquet") and "_imports" not in str(dst):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError("power cut")
        real(src, dst)

    monkeypatch.setattr(ami_mod.os, "replace", flaky)
    with pytest.raises(OSError):
        store.commit("imp2")
    monkeypatch.setattr(ami_mod.os, "replace", real)
    assert store.months("F1") == ["2025-01"]  # half way: the journal decides
    assert store.is_committing("imp2")
    assert AmiStore(tmp_path / "ami").recover() == ["imp2"]
    assert store.months("F1") == ["2025-01", "2025-02"]
    assert store.imports() == []


def test_abort_removes_staging_only(tmp_path: Path) -> None:
    store = AmiStore(tmp_path / "ami")
    store.stage_final("a1", "F1", "2025-01", _table(["a"], "2025-01-01", 2))
    store.commit("a1")
    store.stage_chunk("a2", "F1", "2025-01", 0, pa.table({
        "meter_id": ["a"], "ts_utc": pa.array([0], pa.int64()).cast(pa.timestamp("s", tz="UTC")),
        "interval_min": pa.array([60], pa.int16()), "kwh": [1.0], "kvarh": [None], "voltage_v": [None],
        "src": pa.array([0], pa.int32()), "src_row": pa.array([2], pa.int64()), "amb_s": pa.array([0], pa.int32()),
    }))  # fmt: skip
    assert store.staged_partitions("a2") == [("F1", "2025-01")]
    assert store.read_staged("a2", "F1", "2025-01").num_rows == 1
    store.abort("a2")
    assert store.imports() == [] and not (tmp_path / "ami" / "_imports").exists()
    assert store.read_month("F1", "2025-01").num_rows == 2


def test_bad_names_are_input_errors(tmp_path: Path) -> None:
    store = AmiStore(tmp_path / "ami")
    with pytest.raises(InputError):
        store.read_month("../etc", "2025-01")
    with pytest.raises(InputError):
        store.read_month("F1", "2025-13")
    with pytest.raises(InputError):
        store.import_dir("a/b")
