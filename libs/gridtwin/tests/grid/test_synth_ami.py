"""Synthetic AMI: reproducible bytes, hourly energy = p_kw x pool shape, planted faults listed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from gridtwin.grid.synth import synth_feeder, synth_utility_profiles
from gridtwin.grid.synth.ami import HEAD_LOSS_FACTOR, synth_meter_id, write_synthetic_ami

SEED = 7


def _digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_reproducible_bytes(tmp_path: Path) -> None:
    a = write_synthetic_ami(tmp_path / "a", [0], SEED, months=[2], max_meters=60)
    b = write_synthetic_ami(tmp_path / "b", [0], SEED, months=[2], max_meters=60)
    assert _digest([*a.files, a.meters_csv]) == _digest([*b.files, b.meters_csv])
    c = write_synthetic_ami(tmp_path / "c", [0], SEED + 1, months=[2], max_meters=60)
    assert _digest(c.files) != _digest(a.files)


def test_hourly_energy_is_p_kw_times_shape(tmp_path: Path) -> None:
    synth = write_synthetic_ami(tmp_path, [0], SEED, months=[3], faults=False, max_meters=50)
    model = synth_feeder(0, SEED).model
    loads = model.table("loads").head(50)
    profiles = synth_utility_profiles(SEED)
    reads = pq.read_table(synth.files[0]).to_pandas()
    reads["meter_id"] = reads["meter_id"].astype(str)
    assert len(reads) == (50 + 1) * 31 * 24 * 4 == synth.truth["reads"]
    start = reads["timestamp"] - pd.Timedelta(minutes=15)  # stamps mark the interval end
    hour = ((start - pd.Timestamp("2025-01-01T00:00Z")) // pd.Timedelta(hours=1)).to_numpy()
    h0 = (31 + 28) * 24
    assert hour.min() == h0 and hour.max() == h0 + 31 * 24 - 1
    hourly = reads.groupby([reads["meter_id"], hour])["kwh"].sum()
    total = np.zeros(31 * 24)
    for name, p_kw, shape in zip(loads["name"], loads["p_kw"], loads["yearly"], strict=True):
        expect = p_kw * profiles[f"loadshape/synth-s{SEED}/{shape}"][h0 : h0 + 31 * 24]
        got = hourly.loc[synth_meter_id(SEED, 0, name)].to_numpy()
        np.testing.assert_allclose(got, expect, rtol=1e-6)
        total += expect
    head = hourly.loc[synth.truth["head_meters"][model.feeder_id]].to_numpy()
    np.testing.assert_allclose(head, HEAD_LOSS_FACTOR * total, rtol=1e-6)
    meters = pd.read_csv(synth.meters_csv, dtype={"meter_id": str})
    assert list(meters.columns) == ["meter_id", "feeder", "load", "lat", "lon", "phase", "customer_class",
                                    "generating", "role"]  # fmt: skip
    assert meters["meter_id"].is_unique and (meters["role"] == "feeder_head").sum() == 1
    assert not synth.truth["faults"]


def test_faults_listed(tmp_path: Path) -> None:
    synth = write_synthetic_ami(tmp_path, [0], SEED, months=[1, 2], max_meters=120)
    faults = synth.truth["faults"]
    kinds = sorted(f["kind"] for f in faults)
    assert kinds == ["duplicate", "flatline", "gap", "gap", "negative", "shift_3h", "spike"]
    assert len({f["meter_id"] for f in faults}) == len(faults)
    jan = pq.read_table(synth.files[0]).to_pandas()
    jan["meter_id"] = jan["meter_id"].astype(str)
    by = {f["kind"]: f for f in faults if f["kind"] != "gap"}
    dup = jan[jan["meter_id"] == by["duplicate"]["meter_id"]]
    assert dup["timestamp"].duplicated().sum() == 1
    assert (jan.loc[jan["meter_id"] == by["negative"]["meter_id"], "kwh"] < 0).sum() == 1
    spike = jan.loc[jan["meter_id"] == by["spike"]["meter_id"], "kwh"]
    assert spike.max() == pytest.approx(by["spike"]["value_kwh"]) and spike.max() > 10 * spike.median()
    gaps = sorted(f["reads"] for f in faults if f["kind"] == "gap")
    full = 31 * 24 * 4
    counts = jan["meter_id"].value_counts()
    assert sorted(full - counts[f["meter_id"]] for f in faults if f["kind"] == "gap") == gaps
    shifted = jan[jan["meter_id"] == by["shift_3h"]["meter_id"]]["timestamp"]
    assert shifted.min() == pd.Timestamp("2025-01-01T03:15Z")
    flat = jan[jan["meter_id"] == by["flatline"]["meter_id"]]["kwh"].to_numpy()
    runs = np.diff(np.flatnonzero(np.diff(np.r_[np.nan, flat, np.nan]) != 0))
    assert runs.max() == by["flatline"]["reads"]
    feb = pq.read_table(synth.files[1]).to_pandas()
    assert len(feb) == (120 + 1) * 28 * 24 * 4  # faults only in the first month (shift keeps counts)


def test_csv_has_offset_stamps(tmp_path: Path) -> None:
    synth = write_synthetic_ami(tmp_path, [0], SEED, months=[1], fmt="csv", faults=False, max_meters=3)
    frame = pd.read_csv(synth.files[0], dtype={"meter_id": str})
    assert list(frame.columns) == ["meter_id", "timestamp", "kwh"]
    assert frame["timestamp"].iloc[0] == "2024-12-31T18:15:00-06:00"
    assert len(frame) == 4 * 31 * 24 * 4
