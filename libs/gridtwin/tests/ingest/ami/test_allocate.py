"""Load allocation from a synthetic feeder's own AMI: exact per transformer, input untouched, and the
physics check (QSTS feeder-head energy with measured load against the base model)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from gridtwin.grid.model import FeederModel
from gridtwin.grid.synth import synth_feeder, synth_utility_profiles
from gridtwin.ingest.ami.aggregate import FeederAggregate, aggregate_feeder
from gridtwin.ingest.ami.allocate import allocate_loads
from gridtwin.ingest.ami.mapping import map_meters, read_meter_list
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.qsts import run_qsts
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.store.ami import AmiStore

SEED = 42
JAN_HOURS = 31 * 24


@functools.cache
def _model() -> FeederModel:
    return synth_feeder(0, SEED).model


def _setup(synth_january: dict[str, Any]) -> tuple[pd.DataFrame, FeederAggregate]:
    meters, errors = read_meter_list(synth_january["synth"].meters_csv)
    assert not errors
    res = map_meters(meters, [_model()])
    assert not res.issues
    agg = aggregate_feeder(AmiStore(synth_january["root"]), _model().feeder_id, res.directory, year=2025)
    return res.directory, agg


def test_allocation_reproduces_transformer_kw(synth_january: dict[str, Any]) -> None:
    directory, agg = _setup(synth_january)
    model = _model()
    before = model.table("loads").copy()
    profiles = synth_utility_profiles(SEED)
    alloc = allocate_loads(model, agg, directory, min_coverage=0.05, profiles=profiles)
    pd.testing.assert_frame_equal(model.table("loads"), before)  # the input is not changed
    assert alloc.model is not model and len(alloc.model.table("loads")) == len(before)
    rep = alloc.report
    assert rep["loads_allocated"] == len(before) and rep["loads_kept"] == 0
    assert rep["groups_allocated"] == len(agg.transformer_names) and rep["filled_meter_hours"] > 0
    assert any("previous shapes" in n for n in rep["notes"])
    loads = alloc.model.table("loads")
    shapes = alloc.model.table("loadshapes").set_index("name")
    owner = dict(zip(agg.meter_ids, agg.meter_transformer, strict=True))
    cust = directory[directory["role"] == "customer"]
    group_of = {str(r["load"]): owner[str(r["meter_id"])] for r in cust.to_dict("records")}
    for t, xf_kw in zip(agg.transformer_names, agg.transformer_kw, strict=True):
        mine = loads[loads["name"].map(group_of) == t]
        assert set(mine["yearly"]) == {f"ami_{t}"}
        ref = shapes.at[f"ami_{t}", "profile"]
        assert ref == f"loadshape/ami-{model.feeder_id}/{t}" and shapes.at[f"ami_{t}", "npts"] == 8760
        values = alloc.profiles[ref]
        assert values.max() == 1.0
        kw = mine["p_kw"].sum() * values[:JAN_HOURS]
        np.testing.assert_allclose(kw, xf_kw[:JAN_HOURS].astype(np.float64), rtol=1e-6)
    # power factor kept
    pf_old = before["p_kw"] / np.hypot(before["p_kw"], before["q_kvar"])
    pf_new = loads["p_kw"] / np.hypot(loads["p_kw"], loads["q_kvar"])
    np.testing.assert_allclose(pf_new, pf_old, rtol=1e-9)


def test_low_coverage_keeps_shapes(synth_january: dict[str, Any]) -> None:
    directory, agg = _setup(synth_january)
    alloc = allocate_loads(_model(), agg, directory)  # one month is far below 90 % coverage
    assert alloc.report["loads_allocated"] == 0 and alloc.report["meters_low_coverage"] == len(agg.meter_ids)
    pd.testing.assert_frame_equal(alloc.model.table("loads"), _model().table("loads"))


@pytest.mark.timeout(300)
def test_qsts_head_energy_matches_base(synth_january: dict[str, Any]) -> None:
    directory, agg = _setup(synth_january)
    model = _model()
    profiles = synth_utility_profiles(SEED)
    alloc = allocate_loads(model, agg, directory, min_coverage=0.05, profiles=profiles)
    engine = Engine()
    spec = QstsSpec(hours=168)
    base = run_qsts(engine, model, spec, profiles=profiles)
    measured = run_qsts(engine, alloc.model, spec, profiles={**profiles, **alloc.profiles})
    e_base, e_meas = base.energy["delivered_kwh"], measured.energy["delivered_kwh"]
    assert e_base > 0 and abs(e_meas / e_base - 1.0) < 0.02
