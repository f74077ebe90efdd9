"""Meter -> transformer mapping on a synthetic feeder: connectivity, KD-tree, phase, overrides, issues."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gridtwin.errors import InputError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.synth import synth_feeder
from gridtwin.ingest.ami.mapping import (
    DIRECTORY_COLUMNS,
    directory_from_models,
    head_check,
    map_meters,
    read_meter_list,
    service_index,
)


@functools.cache
def _model() -> FeederModel:
    return synth_feeder(0, 42).model


@functools.cache
def _truth() -> pd.DataFrame:
    return directory_from_models([_model()])


def _jittered(radius_m: float, seed: int = 1) -> pd.DataFrame:
    d = _truth().copy()
    rng = np.random.default_rng(seed)
    r = radius_m * np.sqrt(rng.uniform(size=len(d)))  # uniform over the disc
    ang = rng.uniform(0, 2 * np.pi, len(d))
    d["lon"] = d["lon"] + r * np.cos(ang) / (111_320.0 * np.cos(np.radians(d["lat"])))
    d["lat"] = d["lat"] + r * np.sin(ang) / 110_574.0
    d["load"] = ""
    d["transformer"] = ""
    return d


def test_directory_from_models() -> None:
    d = _truth()
    assert list(d.columns) == DIRECTORY_COLUMNS and len(d) == len(_model().table("loads"))
    assert (d["transformer"] != "").all() and set(d["confidence"]) == {"high"}
    assert d["lon"].notna().all() and set(d["phases"]) <= {"A", "B", "C", "ABC"}


def test_directory_from_feeders_whose_load_names_repeat_is_a_located_error() -> None:
    # Found by the API fuzzer (issue 15): two synthetic feeders in one site made the meter import a 500
    # (the site's meter ids must be unique).
    other = synth_feeder(0, 43).model
    with pytest.raises(InputError, match="load names repeat") as info:
        directory_from_models([_model(), other])
    first = info.value.details[0]
    assert first.where.startswith("load ") and first.code == "duplicate"
    assert _model().feeder_id in first.message and other.feeder_id in first.message


def test_by_connectivity_all_high_and_correct() -> None:
    meters = _truth().copy()
    meters["transformer"] = ""
    res = map_meters(meters, [_model()])
    d = res.directory
    assert not res.issues
    assert (d["transformer"] == _truth()["transformer"]).all()
    assert set(d["method"]) <= {"twin", "connectivity"} and set(d["confidence"]) == {"high"}
    assert any("via secondary lines" in r[0] for r in d["reasons"])


def test_by_kdtree_jittered_5m() -> None:
    meters = _jittered(5.0)
    res = map_meters(meters, [_model()])
    d = res.directory
    ok = d["transformer"] == _truth()["transformer"]
    assert set(d["method"]) == {"nearest"}
    # Service drops of neighbouring transformers end within metres of each other on this layout, so a
    # few meters are ambiguous by location alone; those must not be called high confidence.
    assert ok.mean() >= 0.95
    high = d["confidence"] == "high"
    assert ok[high].mean() >= 0.99 and high.mean() >= 0.85
    assert (~ok & high).sum() <= 0.3 * (~ok).sum()
    assert any(r.startswith("nearest transformer tx") and "; next tx" in r for rs in d["reasons"] for r in rs)
    assert all(any(" restricts to " in r for r in rs) for rs in d["reasons"])
    # the feeder unknown: inferred from the nearest transformer
    meters["feeder"] = ""
    d2 = map_meters(meters, [_model(), synth_feeder(1, 42).model]).directory
    assert (d2["feeder"] == _model().feeder_id).all()
    assert (d2["transformer"] == _truth()["transformer"]).mean() >= 0.95


def test_phase_constraint_changes_the_answer() -> None:
    ix = service_index(_model())
    xf = ix.transformers
    single = xf[xf["primary_nodes"].map(len) == 1]
    on_a = single[single["primary_nodes"].map(lambda n: 1 in n)].iloc[0]
    other = next(p for p in "BC" if any({"BC".index(p) + 2} == set(n) for n in single["primary_nodes"]))
    meter = pd.DataFrame(
        [{"meter_id": "m1", "feeder": _model().feeder_id, "lon": on_a["x"], "lat": on_a["y"], "phases": ""}]
    )
    free = map_meters(meter, [_model()]).directory.iloc[0]
    assert free["transformer"] == on_a["name"] and free["confidence"] == "high"
    meter["phases"] = other
    bound = map_meters(meter, [_model()]).directory.iloc[0]
    assert bound["transformer"] != on_a["name"]
    node = "ABC".index(other) + 1
    assert node in ix.prim_of[bound["transformer"]]
    assert any(f"phase {other} restricts to" in r for r in bound["reasons"])


def test_override_wins_and_persists() -> None:
    meters = _jittered(5.0).head(40)
    far = _truth()["transformer"].iloc[-1]
    overrides = pd.DataFrame(
        [{"meter_id": meters["meter_id"].iloc[0], "feeder": _model().feeder_id, "transformer": far,
          "note": "field check 2025-03"}]
    )  # fmt: skip
    first = map_meters(meters, [_model()], overrides).directory
    row = first.iloc[0]
    assert row["transformer"] == far and row["method"] == "override" and row["confidence"] == "high"
    assert "field check 2025-03" in row["reasons"][0]
    rerun = map_meters(first, [_model()], overrides).directory  # the stored directory mapped again
    assert rerun.iloc[0]["transformer"] == far and rerun.iloc[0]["method"] == "override"
    assert (rerun["transformer"].iloc[1:] == first["transformer"].iloc[1:]).all()


def test_unknown_transformer_load_feeder_are_issues(tmp_path: Path) -> None:
    csv = tmp_path / "meters.csv"
    t = _truth()
    rows = [
        "Meter Number,Feeder,XFMR,Load,Latitude,Longitude,Phase,Class",
        f"1001,{_model().feeder_id},x9,,{t['lat'][0]},{t['lon'][0]},A,res",  # unknown transformer
        f"1002,{_model().feeder_id},,nosuchload,{t['lat'][1]},{t['lon'][1]},A,1",  # unknown load
        f"1003,elsewhere,,{t['load'][2]},{t['lat'][2]},{t['lon'][2]},A,1",  # unknown feeder
        f"1004,{_model().feeder_id},tx0001,,,,A,1",  # source transformer given
        ",x,,,,,,",  # no meter id
        f"1006,{_model().feeder_id},,,91.5,{t['lon'][0]},A,1",  # latitude out of range
        f"1007,{_model().feeder_id},,,,,Q,1",  # bad phase
    ]
    csv.write_text("\n".join(rows) + "\n")
    meters, errors = read_meter_list(csv)
    assert [e.where for e in errors] == ["meters.csv:6", "meters.csv:7", "meters.csv:8"]
    assert list(meters["meter_id"]) == ["1001", "1002", "1003", "1004"]
    overrides = pd.DataFrame([{"meter_id": "1004", "feeder": "", "transformer": "tx9999", "note": ""}])
    res = map_meters(meters, [_model()], overrides)
    d = res.directory.set_index("meter_id")
    wheres = {i.where: i.message for i in res.issues}
    assert "transformer 'x9' not in the twin graph" in wheres["meters.csv:2"]
    assert "load 'nosuchload'" in wheres["meters.csv:3"]
    assert "feeder 'elsewhere'" in wheres["meters.csv:4"]
    assert "tx9999" in wheres["override 1004"]
    assert d.at["1001", "method"] == "nearest" and d.at["1001", "transformer"] == t["transformer"][0]
    assert "source transformer x9 not in the twin graph: inferred" in d.at["1001", "reasons"]
    assert d.at["1003", "method"] in ("twin", "connectivity") and d.at["1003", "feeder"] == _model().feeder_id
    assert d.at["1004", "method"] == "source" and d.at["1004", "transformer"] == "tx0001"
    assert res.counts["meters"] == 4 and res.counts["issues"] == 4


def test_head_check() -> None:
    meters = np.array([10.0, 20.0, 30.0, np.nan])
    head = np.array([11.0, 21.0, 31.0, 40.0])
    out = head_check(meters, head)
    assert out["hours"] == 3 and out["energy_ratio"] == pytest.approx(63 / 60)
    assert out["peak_ratio"] == pytest.approx(31 / 30) and out["rmse_kw"] == pytest.approx(1.0)
    assert out["losses_unmetered_pct"] == pytest.approx(100 * 3 / 63) and out["correlation"] == pytest.approx(
        1.0
    )
    assert head_check(meters, np.full(4, np.nan))["energy_ratio"] is None
