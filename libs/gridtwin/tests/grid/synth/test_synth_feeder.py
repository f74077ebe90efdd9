"""Synthetic feeders: deterministic, independent of the feeder count, well formed, and they solve."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from gridtwin.grid.dss_writer import write_dss
from gridtwin.grid.model import TABLES, FeederModel
from gridtwin.grid.synth import SynthFeeder, synth_feeder, synth_utility_profiles
from gridtwin.grid.synth.shapes import POOL_SIZE, class_pool
from gridtwin.grid.synth.weather import weather_year
from gridtwin.grid.twins import feeder_to_twins, twins_to_feeder
from gridtwin.powerflow.engine import Engine

SEED = 42


@pytest.fixture(scope="module")
def feeder() -> SynthFeeder:
    return synth_feeder(3, SEED)


def _twins_json(model: FeederModel) -> str:
    twins, rels = feeder_to_twins(model)
    return json.dumps([twins, rels], sort_keys=True)


def export(twins: list[dict[str, Any]], rels: list[dict[str, Any]]) -> tuple[pa.Table, pa.Table]:
    """What ``TwinRegistry.export_feeder`` returns."""
    tw = pa.table(
        {
            "id": [t["$dtId"] for t in twins],
            "model": [t["$metadata"]["$model"] for t in twins],
            "site": [t["site"] for t in twins],
            "feeder": [t.get("feeder") for t in twins],
            "etag": ['W/"1"'] * len(twins),
            "properties_json": [json.dumps(t, allow_nan=False) for t in twins],
        }
    )
    rl = pa.table(
        {
            "id": [r["$relationshipId"] for r in rels],
            "source_id": [r["$sourceId"] for r in rels],
            "name": [r["$relationshipName"] for r in rels],
            "target_id": [r["$targetId"] for r in rels],
            "properties_json": [json.dumps(r, allow_nan=False) for r in rels],
        }
    )
    return tw, rl


def assert_same_model(a: FeederModel, b: FeederModel) -> None:
    assert (a.feeder_id, a.site, a.circuit) == (b.feeder_id, b.site, b.circuit)
    assert list(a.tables) == list(b.tables)
    for name, df in a.tables.items():
        schema = TABLES[name].schema()
        ta = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
        tb = pa.Table.from_pandas(b.tables[name], schema=schema, preserve_index=False)
        assert ta.equals(tb), name


def test_same_seed_same_twins_byte_for_byte(feeder: SynthFeeder) -> None:
    again = synth_feeder(3, SEED)
    assert _twins_json(again.model) == _twins_json(feeder.model)
    assert write_dss(again.model) == write_dss(feeder.model)


def test_other_seed_or_index_differs(feeder: SynthFeeder) -> None:
    assert _twins_json(synth_feeder(3, SEED + 1).model) != _twins_json(feeder.model)
    assert synth_feeder(4, SEED).model.feeder_id == f"synth-s{SEED}-f0004"


def test_feeder_does_not_depend_on_what_was_made_before(feeder: SynthFeeder) -> None:
    for i in (0, 1, 2):
        synth_feeder(i, SEED)
    assert _twins_json(synth_feeder(3, SEED).model) == _twins_json(feeder.model)


def test_ids_circuit_and_voltage_levels(feeder: SynthFeeder) -> None:
    m = feeder.model
    assert m.feeder_id == f"synth-s{SEED}-f0003" and m.site == "synth"
    c = m.circuit
    assert c["name"] == m.feeder_id.lower()
    assert c["control_mode"] == "static" and c["base_frequency_hz"] == 60.0
    assert c["start_utc"] == "2025-01-01T00:00:00+00:00"
    assert c["ambient_profile"] == f"weather/synth-s{SEED}/temp_c"
    bases = c["voltage_bases_kv"]
    primary = [kv for kv in bases if kv not in (115.0, 0.48, 0.208)]
    assert 115.0 in bases and len(primary) == 1 and primary[0] in (4.16, 12.47, 13.2, 24.9, 34.5)
    allowed = {round(kv / math.sqrt(3), 6) for kv in bases} | {0.12}
    assert {round(v, 6) for v in m.tables["buses"]["base_kv"]} <= allowed
    assert not feeder.profiles  # every shape is utility-wide


def test_every_table_has_exactly_the_spec_columns(feeder: SynthFeeder) -> None:
    for name, df in feeder.model.tables.items():
        assert list(df.columns) == TABLES[name].column_names(), name
        pa.Table.from_pandas(df, schema=TABLES[name].schema(), preserve_index=False)  # types fit
    assert (feeder.model.tables["linecodes"]["source_kind"] == "geometry").all()


def test_elements_are_consistent(feeder: SynthFeeder) -> None:
    t = feeder.model.tables
    buses = set(t["buses"]["name"])
    for col in ("bus1", "bus2"):
        assert {b.split(".")[0] for b in t["lines"][col]} <= buses
    assert {b.split(".")[0] for bs in t["transformers"]["buses"] for b in bs} <= buses
    assert {b.split(".")[0] for b in t["loads"]["bus1"]} <= buses
    assert set(t["lines"]["linecode"]) == set(t["linecodes"]["name"])
    assert set(t["loads"]["yearly"]) == set(t["loadshapes"]["name"])
    shapes = t["loadshapes"]
    assert (shapes["npts"] == 8760).all() and shapes["mult"].map(len).eq(0).all()
    assert all(
        p == f"loadshape/synth-s{SEED}/{n}" for n, p in zip(shapes["name"], shapes["profile"], strict=True)
    )
    loads = t["loads"]
    assert (loads["num_customers"] == 1).all() and set(loads["customer_class"]) <= {1, 2, 3}
    assert loads["name"].str.fullmatch(r"m\d{6}").all()
    res = loads[loads["customer_class"] == 1]
    assert (res["kv"] == 0.24).all() and res["bus1"].str.endswith(".1.2").all()
    assert len(t["regcontrols"]) >= 1 and 1 <= len(t["capacitors"]) <= 3


def test_coordinates_are_wgs84_in_the_midwest(feeder: SynthFeeder) -> None:
    b = feeder.model.tables["buses"]
    assert b["has_coords"].all()
    assert b["x"].between(-100.0, -80.0).all() and b["y"].between(35.0, 50.0).all()
    span_km = (b["x"].max() - b["x"].min()) * 85.0 + (b["y"].max() - b["y"].min()) * 111.0
    assert 0.5 < span_km < 40.0


def test_sizes_over_ten_feeders_are_in_range() -> None:
    counts = []
    for i in range(10, 20):
        t = synth_feeder(i, SEED).model.tables
        counts.append(
            (
                len(t["buses"]),
                int(t["buses"]["nodes"].map(len).sum()),
                int(t["transformers"]["name"].str.startswith("tx").sum()),
                len(t["loads"]),
            )
        )
    buses, nodes, transformers, meters = np.mean(counts, axis=0)
    assert 40 <= transformers <= 120 and 400 <= meters <= 1100
    assert buses <= 700 and nodes <= 1500
    assert 6 <= meters / transformers <= 14


def test_twins_round_trip(feeder: SynthFeeder) -> None:
    twins, rels = feeder_to_twins(feeder.model)
    assert_same_model(feeder.model, twins_to_feeder(feeder.model.feeder_id, *export(twins, rels)))


def test_utility_profiles() -> None:
    prof = synth_utility_profiles(SEED)
    pools = {k: v for k, v in prof.items() if k.startswith("loadshape/")}
    assert len(pools) == 3 * POOL_SIZE
    assert all(v.shape == (8760,) and v.max() == 1.0 and v.min() > 0 for v in pools.values())
    temp = prof[f"weather/synth-s{SEED}/temp_c"]
    assert -35 < temp.min() < 0 < 25 < temp.max() < 45
    ghi = prof[f"weather/synth-s{SEED}/ghi_w_per_m2"]
    assert ghi.min() == 0.0 and 600 < ghi.max() < 1100
    # recomputed from scratch: same values (what the byte-for-byte promise rests on)
    np.testing.assert_array_equal(class_pool("res", SEED)[7], prof[f"loadshape/synth-s{SEED}/res-007"])
    np.testing.assert_array_equal(weather_year(SEED).temp_c.astype(np.float32), temp)
    assert not np.array_equal(class_pool("res", SEED + 1)[7], prof[f"loadshape/synth-s{SEED}/res-007"])


def test_script_compiles_and_solves_mostly_in_range_a(feeder: SynthFeeder) -> None:
    engine = Engine()
    try:
        engine.load_script(feeder.model.feeder_id, "t", write_dss(feeder.model))
        result = engine.snapshot()
    finally:
        engine.close()
    assert result.converged, result.message
    v = result.voltages
    v = v[(v["base_kv"] > 0) & (v["node"] <= 3)]
    worst = v.groupby("bus")["pu"].agg(["min", "max"])
    in_a = ((worst["min"] >= 0.95) & (worst["max"] <= 1.05)).mean()
    assert in_a >= 0.95
    assert 1000.0 < result.source_kw < 15000.0
