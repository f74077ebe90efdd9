"""Another tool's results as a baseline: our IEEE 13 snapshot with known noise added must come back as that noise."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gridtwin.errors import InputError
from gridtwin.ingest.gis import compare_baseline, excel_supported
from gridtwin.powerflow import Engine, SnapshotResult

IEEE13 = (
    Path(os.environ.get("GRIDTWIN_SHARED_DATA", "/work/shared/data"))
    / "opendss/IEEETestCases/13Bus/IEEE13Nodeckt.dss"
)


@pytest.fixture(scope="module")
def snapshot() -> Iterator[SnapshotResult]:
    if not IEEE13.exists():
        pytest.skip(f"shared feeder missing: {IEEE13}")
    engine = Engine()
    try:
        engine.compile_file(IEEE13)
        yield engine.snapshot()
    finally:
        engine.close()


def _their_table(result: SnapshotResult, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = result.voltages[result.voltages["node"].between(1, 3) & (result.voltages["base_kv"] > 0)]
    v_noise = rng.normal(0.0, 0.003, len(v))
    volts = pd.DataFrame(
        {
            "Bus": v["bus"].str.upper().to_numpy(),
            "Phase": v["node"].map({1: "A", 2: "B", 3: "C"}).to_numpy(),
            "Voltage (pu)": v["pu"].to_numpy() - v_noise,
        }
    )
    e = result.elements[np.isfinite(result.elements["loading_pct"])]
    l_noise = rng.normal(0.0, 2.0, len(e))
    loads = pd.DataFrame(
        {
            "Element": e["name"].str.split(".").str[1].to_numpy(),
            "Loading (%)": e["loading_pct"].to_numpy() - l_noise,
        }
    )
    return pd.concat([volts, loads], ignore_index=True), v_noise, l_noise


def test_rmse_max_and_worst_buses_match_the_added_noise(snapshot: SnapshotResult, tmp_path: Path) -> None:
    table, v_noise, l_noise = _their_table(snapshot)
    path = tmp_path / "theirs.csv"
    table.to_csv(path, index=False)
    report = compare_baseline(snapshot, path, worst=5)
    assert report.voltage_rows == len(v_noise)
    assert report.voltage_rmse_pu == pytest.approx(float(np.sqrt(np.mean(v_noise**2))), rel=1e-9)
    assert report.voltage_max_dev_pu == pytest.approx(float(np.max(np.abs(v_noise))), rel=1e-9)
    worst = table.iloc[int(np.argmax(np.abs(v_noise)))]
    assert report.worst_buses.iloc[0]["bus"] == worst["Bus"].lower()
    assert report.worst_buses.iloc[0]["phase"] == worst["Phase"]
    assert len(report.worst_buses) == 5
    assert report.loading_rows == len(l_noise)
    assert report.loading_rmse_pct == pytest.approx(float(np.sqrt(np.mean(l_noise**2))), rel=1e-9)
    assert report.loading_max_dev_pct == pytest.approx(float(np.max(np.abs(l_noise))), rel=1e-9)
    assert report.missing_in_ours == [] and report.warnings == []
    assert report.to_dict()["voltage_rows"] == len(v_noise)


def test_unknown_rows_other_feeders_and_bad_phases_are_reported(
    snapshot: SnapshotResult, tmp_path: Path
) -> None:
    table, _, _ = _their_table(snapshot)
    table["feeder"] = snapshot.feeder
    extra = pd.DataFrame(
        {
            "Bus": ["nosuchbus", "650", "650"],
            "Phase": ["A", "Q", "A"],
            "Voltage (pu)": [1.0, 1.0, 0.5],
            "feeder": [snapshot.feeder, snapshot.feeder, "another-feeder"],
        }
    )
    path = tmp_path / "theirs.csv"
    pd.concat([table, extra], ignore_index=True).to_csv(path, index=False)
    report = compare_baseline(snapshot, path)
    assert "nosuchbus.1" in report.missing_in_ours
    assert [w.code for w in report.warnings] == ["phase"]
    assert report.voltage_max_dev_pu < 0.1  # the other feeder's 0.5 pu row was left out


def test_table_without_result_columns_and_excel_workbooks(snapshot: SnapshotResult, tmp_path: Path) -> None:
    path = tmp_path / "nothing.csv"
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(path, index=False)
    with pytest.raises(InputError, match="neither voltage nor loading"):
        compare_baseline(snapshot, path)
    assert excel_supported()  # openpyxl is a dependency: a workbook reads like the CSV
    table, v_noise, _ = _their_table(snapshot)
    xlsx = tmp_path / "theirs.xlsx"
    table.to_excel(xlsx, index=False)
    report = compare_baseline(snapshot, xlsx)
    assert report.voltage_rows == len(v_noise)
    assert report.voltage_max_dev_pu == pytest.approx(float(np.max(np.abs(v_noise))), rel=1e-9)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(xlsx.read_bytes()[:200])  # a truncated workbook
    with pytest.raises(InputError) as err:
        compare_baseline(snapshot, broken)
    assert err.value.details[0].where == str(broken)
