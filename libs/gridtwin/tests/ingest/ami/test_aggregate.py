"""Aggregation of AMI reads: exact against a hand-computed day, Dask fan-out, Parquet output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from gridtwin.ingest.ami.aggregate import aggregate_feeder, aggregate_many, write_aggregate
from gridtwin.ingest.ami.mapping import DIRECTORY_COLUMNS
from gridtwin.store.ami import AmiStore

WriteReads = Callable[[Path, str, str, pd.DataFrame], None]
DAY = pd.Timestamp("2025-01-01T00:00:00Z")


def _directory(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {c: "" for c in DIRECTORY_COLUMNS} | {"lon": np.nan, "lat": np.nan, "generating": False,
                                                  "role": "customer", "customer_class": 1, "reasons": []}  # fmt: skip
    return pd.DataFrame([base | r for r in rows], columns=DIRECTORY_COLUMNS)


def _small_case(root: Path, write: WriteReads) -> pd.DataFrame:
    """Meter a: 15-min, 1 kW all day but 3 kW in hour 5. Meter b: hourly, 2 kW but 4 kW in hour 10.
    Head h: 1.03 x (a + b) hourly. An unknown meter z is ignored."""
    rows = []
    for h in range(24):
        kw_a = 3.0 if h == 5 else 1.0
        for q in range(4):
            rows.append(("a", DAY + pd.Timedelta(minutes=60 * h + 15 * q), 15, kw_a / 4))
        kw_b = 4.0 if h == 10 else 2.0
        rows.append(("b", DAY + pd.Timedelta(hours=h), 60, kw_b))
        rows.append(("h", DAY + pd.Timedelta(hours=h), 60, 1.03 * (kw_a + kw_b)))
        rows.append(("z", DAY + pd.Timedelta(hours=h), 60, 9.0))
    frame = pd.DataFrame(rows, columns=["meter_id", "ts_utc", "interval_min", "kwh"])
    write(root, "f1", "2025-01", frame)
    return _directory(
        [
            {"meter_id": "a", "feeder": "f1", "transformer": "t1", "load": "la"},
            {"meter_id": "b", "feeder": "f1", "transformer": "t1", "load": "lb"},
            {"meter_id": "h", "feeder": "f1", "role": "feeder_head"},
        ]
    )


def test_small_case_exact(tmp_path: Path, reads_writer: WriteReads) -> None:
    directory = _small_case(tmp_path, reads_writer)
    agg = aggregate_feeder(AmiStore(tmp_path), "f1", directory, year=2025)
    assert agg.hours == 8760 and agg.meter_ids == ["a", "b"] and agg.transformer_names == ["t1"]
    assert agg.reads == 24 * 4 + 24 + 24 and agg.unknown_reads == 24
    a, b = agg.meter_kw[0, :24], agg.meter_kw[1, :24]
    assert a[5] == 3.0 and a[4] == 1.0 and b[10] == 4.0 and b[0] == 2.0
    assert np.isnan(agg.meter_kw[:, 24:]).all()
    xf = agg.transformer_kw[0, :24]
    np.testing.assert_allclose(xf, a + b)
    ms = agg.meter_stats.set_index("meter_id")
    assert ms.at["a", "energy_kwh"] == pytest.approx(26.0) and ms.at["b", "energy_kwh"] == pytest.approx(50.0)
    assert ms.at["a", "peak_kw"] == 3.0 and ms.at["a", "peak_utc"] == DAY + pd.Timedelta(hours=5)
    assert ms.at["a", "load_factor"] == pytest.approx((26.0 / 24) / 3.0)
    assert ms.at["b", "load_factor"] == pytest.approx((50.0 / 24) / 4.0)
    assert ms.at["a", "coverage"] == pytest.approx(24 / 8760)
    xs = agg.transformer_stats.set_index("transformer")
    assert xs.at["t1", "peak_kw"] == 5.0 and xs.at["t1", "peak_utc"] == DAY + pd.Timedelta(hours=5)
    assert xs.at["t1", "coincidence_factor"] == pytest.approx(5.0 / 7.0)
    assert xs.at["t1", "energy_kwh"] == pytest.approx(76.0) and xs.at["t1", "meters"] == 2
    s = agg.summary
    assert s["meters"] == 2 and s["transformers"] == 1 and s["energy_kwh"] == pytest.approx(76.0)
    assert s["peak_kw"] == 5.0 and s["coincidence_factor"] == pytest.approx(5.0 / 7.0)
    assert s["load_factor"] == pytest.approx((76.0 / 24) / 5.0)
    assert s["head_energy_kwh"] == pytest.approx(1.03 * 76.0) and s["head_ratio"] == pytest.approx(1.03)
    assert agg.head["losses_unmetered_pct"] == pytest.approx(100 * 0.03 / 1.03)
    assert agg.head["correlation"] == pytest.approx(1.0) and agg.head["hours"] == 24
    assert agg.feeder_kw[:24].sum() == pytest.approx(76.0) and np.isnan(agg.feeder_kw[24:]).all()


def test_many_and_written(tmp_path: Path, reads_writer: WriteReads) -> None:
    directory = _small_case(tmp_path, reads_writer)
    second = directory.copy()
    second["feeder"] = "f2"
    reads_writer(
        tmp_path, "f2", "2025-02",
        pd.DataFrame({"meter_id": ["a"], "ts_utc": [pd.Timestamp("2025-02-01T03:00Z")], "interval_min": [60],
                      "kwh": [2.5]}),
    )  # fmt: skip
    both = pd.concat([directory, second], ignore_index=True)
    store = AmiStore(tmp_path)
    aggs = aggregate_many(store, ["f1", "f2"], both, year=2025)
    assert [a.feeder for a in aggs] == ["f1", "f2"]
    assert aggs[0].summary["energy_kwh"] == pytest.approx(76.0)
    assert aggs[1].summary["energy_kwh"] == pytest.approx(2.5) and aggs[1].head_kw is not None
    assert aggs[1].meter_kw[0, 31 * 24 + 3] == 2.5
    out = write_aggregate(aggs[0], tmp_path)
    assert out == tmp_path / "_agg" / "feeder=f1" / "year=2025"
    meters = pq.read_table(out / "meters.parquet").to_pandas()
    assert list(meters["meter_id"]) == ["a", "b"] and len(meters["kw"].iloc[0]) == 8760
    hourly = pq.read_table(out / "hourly.parquet").to_pandas()
    assert len(hourly) == 8760 and hourly["feeder_kw"].iloc[5] == 5.0
    xfs = pq.read_table(out / "transformers.parquet").to_pandas()
    assert xfs["coincidence_factor"].iloc[0] == pytest.approx(5.0 / 7.0)


def test_regular_months_bin_like_any_other(
    synth_january: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path (every meter on one regular grid: reshape + sum) gives exactly what the read-by-read
    bincount gives."""
    from gridtwin.grid.synth import synth_feeder
    from gridtwin.ingest.ami import aggregate as agg_mod
    from gridtwin.ingest.ami.mapping import map_meters, read_meter_list

    synth = synth_january["synth"]
    meters, _ = read_meter_list(synth.meters_csv)
    directory = map_meters(meters, [synth_feeder(0, 42).model]).directory
    store = AmiStore(synth_january["root"])
    calls: list[bool] = []
    real = agg_mod._bin_regular

    def spy(*args: Any) -> bool:
        calls.append(real(*args))
        return calls[-1]

    monkeypatch.setattr(agg_mod, "_bin_regular", spy)
    fast = aggregate_feeder(store, "synth-s42-f0000", directory, year=2025)
    assert calls and all(calls)  # the clean synthetic month is a regular grid
    monkeypatch.setattr(agg_mod, "_bin_regular", lambda *args: False)
    slow = aggregate_feeder(store, "synth-s42-f0000", directory, year=2025)
    np.testing.assert_array_equal(np.isnan(fast.meter_kw), np.isnan(slow.meter_kw))
    np.testing.assert_allclose(fast.meter_kw, slow.meter_kw, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(fast.transformer_kw, slow.transformer_kw, rtol=1e-9)
    assert fast.reads == slow.reads and fast.summary["peak_kw"] == pytest.approx(
        slow.summary["peak_kw"], rel=1e-12
    )
