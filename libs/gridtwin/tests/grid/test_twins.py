"""Feeder model <-> twins: exact round trip, ontology-valid documents, derived topology, speed."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from gridtwin.errors import InputError, NotFoundError
from gridtwin.grid.model import TABLES, FeederModel
from gridtwin.grid.twins import feeder_to_twins, twins_to_feeder
from gridtwin.ingest.opendss import read_opendss
from gridtwin.twin.dtdl import ModelSet, load_model_set

REPO = Path(__file__).resolve().parents[4]
TINY = 5e-324  # the smallest subnormal: any float formatting short of repr loses it


def _shared_data() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="module")
def models() -> ModelSet:
    return load_model_set([REPO / "dtdl"])


# --- helpers ------------------------------------------------------------------------------------------


def _frame(table: str, rows: list[dict[str, Any]]) -> Any:
    """A table as the reader and ``from_ipc`` give it: every spec column, Arrow-typed, via pandas."""
    spec = TABLES[table]
    default = {"double": 0.0, "int64": 0, "bool": False, "string": ""}
    full = [
        {
            c.name: row.get(c.name, [] if pa.types.is_list(c.type) else default[str(c.type)])
            for c in spec.columns
        }
        for row in rows
    ]
    return pa.Table.from_pylist(full, schema=spec.schema()).to_pandas()


def hand_model() -> FeederModel:
    tables = {
        "buses": _frame(
            "buses",
            [
                {
                    "name": "src",
                    "base_kv": 66.4,
                    "nodes": [1, 2, 3],
                    "x": 1.5,
                    "y": -2.25,
                    "has_coords": True,
                },
                {"name": "650", "base_kv": 2.4, "nodes": [1, 2, 3], "x": math.nan, "y": math.nan},
                {"name": "634", "base_kv": 0.277, "nodes": [1, 2, 3]},
                {"name": "611", "base_kv": 2.4, "nodes": [3]},
            ],
        ),
        "sources": _frame(
            "sources",
            [
                {
                    "name": "source",
                    "bus1": "src",
                    "phases": 3,
                    "base_kv": 115.0,
                    "v_pu": 1.0001,
                    "frequency_hz": 60.0,
                }
            ],
        ),
        "linecodes": _frame(
            "linecodes",
            [
                {
                    "name": "mtx601",
                    "phases": 3,
                    "r_matrix_ohm_per_m": [0.1 / 3] * 9,
                    "x_matrix_ohm_per_m": [1e-4, math.nan, -0.0, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, TINY],
                    "c_matrix_nf_per_m": [],
                    "norm_amps_a": 400.0,
                    "emerg_amps_a": 600.0,
                    "source_kind": "linecode",
                }
            ],
        ),
        "lines": _frame(
            "lines",
            [
                {
                    "name": "650611",
                    "bus1": "650.3",
                    "bus2": "611.3",
                    "phases": 1,
                    "linecode": "mtx601",
                    "length_m": 91.44,
                },
                {
                    "name": "sw1",
                    "bus1": "650",
                    "bus2": "634",
                    "phases": 3,
                    "length_m": 0.001,
                    "is_switch": True,
                },
            ],
        ),
        "switches": _frame(
            "switches", [{"name": "sw1", "line": "sw1", "kind": "breaker", "rated_a": math.nan}]
        ),
        "transformers": _frame(
            "transformers",
            [
                {
                    "name": "sub",
                    "phases": 3,
                    "windings": 2,
                    "buses": ["src", "650.1.2.3"],
                    "conns": ["delta", "wye"],
                    "kvs_kv": [115.0, 4.16],
                    "kvas_kva": [5000.0, 5000.0],
                    "pct_rs": [0.5, 0.5],
                    "taps_pu": [1.0, 1.0],
                    "xhl_pct": 8.0,
                },
                {
                    "name": "reg1",
                    "phases": 1,
                    "windings": 2,
                    "buses": ["650.1", "634.1"],
                    "conns": ["wye", "wye"],
                },
            ],
        ),
        "regcontrols": _frame(
            "regcontrols",
            [
                {
                    "name": "reg1",
                    "transformer": "reg1",
                    "winding": 2,
                    "vreg_v": 122.0,
                    "band_v": 2.0,
                    "pt_ratio": 20.0,
                }
            ],
        ),
        "loads": _frame(
            "loads",
            [
                {
                    "name": "671",
                    "bus1": "634.1.2.3",
                    "phases": 3,
                    "conn": "delta",
                    "model": 1,
                    "kv": 4.16,
                    "p_kw": 1155.0,
                    "q_kvar": 660.0,
                    "vmin_pu": 0.95,
                    "vmax_pu": 1.05,
                    "yearly": "residential",
                    "daily": "residential",
                    "num_customers": 3,
                    "enabled": True,
                },
                {
                    "name": "611",
                    "bus1": "611.3",
                    "phases": 1,
                    "conn": "wye",
                    "model": 8,
                    "kv": 2.4,
                    "p_kw": 0.1 + 0.2,
                    "q_kvar": -0.0,
                    "vmin_pu": math.nan,
                    "zipv": [0.5, 0.25, 0.25, 0.5, 0.25, 0.25, 0.8],
                    "duty": "missing-shape",
                    "customer_class": 2,
                },
            ],
        ),
        "capacitors": _frame(
            "capacitors",
            [
                {
                    "name": "cap1",
                    "bus1": "611.3",
                    "phases": 1,
                    "conn": "wye",
                    "kv": 2.4,
                    "kvars_kvar": [100.0],
                    "states": [1],
                }
            ],
        ),
        "capcontrols": _frame(
            "capcontrols",
            [
                {
                    "name": "cc1",
                    "capacitor": "cap1",
                    "element": "line.650611",
                    "terminal": 1,
                    "type": "voltage",
                }
            ],
        ),
        "reactors": _frame("reactors", []),
        "loadshapes": _frame(
            "loadshapes",
            [{"name": "residential", "npts": 3, "interval_h": 1.0, "mult": [0.5, 1.0, 0.75], "qmult": []}],
        ),
    }
    circuit = {
        "name": "hand",
        "base_frequency_hz": 60.0,
        "voltage_bases_kv": [115.0, 4.16, 0.48],
        "tolerance": 1e-4,
        "control_mode": "static",
    }
    return FeederModel(feeder_id="hand-1", site="north", circuit=circuit, tables=tables)


def export(
    twins: list[dict[str, Any]],
    rels: list[dict[str, Any]],
    *,
    shuffle: bool = False,
    indent: int | None = None,
) -> tuple[pa.Table, pa.Table]:
    """What ``TwinRegistry.export_feeder`` returns. ``allow_nan=False``: documents must be strict JSON."""
    order = list(reversed(range(len(twins)))) if shuffle else list(range(len(twins)))
    tw = pa.table(
        {
            "id": [twins[i]["$dtId"] for i in order],
            "model": [twins[i]["$metadata"]["$model"] for i in order],
            "site": [twins[i]["site"] for i in order],
            "feeder": [twins[i].get("feeder") for i in order],
            "etag": ['W/"1"'] * len(order),
            "properties_json": [json.dumps(twins[i], allow_nan=False, indent=indent) for i in order],
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


def _bits(col: pa.ChunkedArray[Any]) -> tuple[list[Any], list[Any]]:
    """Null mask and exact values (float64 as raw bits, lists flattened with their offsets)."""
    arr: Any = col.combine_chunks()
    if pa.types.is_list(arr.type):
        inner = _bits(pa.chunked_array([arr.flatten()]))
        return arr.is_null().to_pylist(), [arr.offsets.to_pylist(), inner]
    if pa.types.is_floating(arr.type):
        values = np.asarray(arr.fill_null(0.0)).view(np.int64).tolist()
        return arr.is_null().to_pylist(), values
    return arr.is_null().to_pylist(), arr.to_pylist()


def assert_same_model(a: FeederModel, b: FeederModel) -> None:
    assert (a.feeder_id, a.site, a.circuit) == (b.feeder_id, b.site, b.circuit)
    assert list(a.tables) == list(b.tables)
    for name, df in a.tables.items():
        other = b.tables[name]
        assert list(df.columns) == list(other.columns), name
        schema = TABLES[name].schema()
        ta = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
        tb = pa.Table.from_pandas(other, schema=schema, preserve_index=False)
        for col in schema.names:
            assert _bits(ta.column(col)) == _bits(tb.column(col)), f"{name}.{col}"


def round_trip(model: FeederModel, **kw: Any) -> FeederModel:
    twins, rels = feeder_to_twins(model)
    return twins_to_feeder(model.feeder_id, *export(twins, rels, **kw))


# --- round trip ---------------------------------------------------------------------------------------


def test_round_trip_is_exact_to_the_bit() -> None:
    model = hand_model()
    back = round_trip(model)
    assert_same_model(model, back)
    xs = back.tables["linecodes"]["x_matrix_ohm_per_m"].iloc[0]
    assert math.isnan(xs[1]) and math.copysign(1.0, xs[2]) < 0 and xs[8] == TINY
    assert back.tables["loads"]["p_kw"].iloc[1] == 0.1 + 0.2
    assert math.isnan(back.tables["buses"]["x"].iloc[1])


def test_infinities_and_nan_in_lists_survive_as_strict_valid_json(models: ModelSet) -> None:
    model = hand_model()
    model.tables["loads"].loc[0, "q_kvar"] = -math.inf
    model.tables["loadshapes"]["mult"] = pd.Series([np.array([math.inf, math.nan, 0.5])], dtype=object)
    twins, rels = feeder_to_twins(model)
    shape = next(t for t in twins if t["$dtId"] == "hand-1.loadshapes.residential")
    assert shape["mult"] == [0.0, 0.0, 0.5]
    assert json.loads(shape["nonfinite_json"]) == {"mult": {"0": "Infinity", "1": "NaN"}}
    _assert_valid(models, twins, rels)
    back = twins_to_feeder("hand-1", *export(twins, rels))  # export() dumps with allow_nan=False
    assert_same_model(model, back)
    assert back.tables["loads"]["q_kvar"].iloc[0] == -math.inf


def test_round_trip_keeps_row_order_whatever_order_the_registry_returns() -> None:
    model = hand_model()
    assert_same_model(model, round_trip(model, shuffle=True, indent=2))


def test_round_trip_frames_look_like_ipc_frames() -> None:
    model = hand_model()
    back = round_trip(model)
    ipc = FeederModel.from_ipc(model.to_ipc())
    for name, df in back.tables.items():
        assert df.dtypes.to_dict() == ipc.tables[name].dtypes.to_dict(), name


def test_round_trip_of_pandas_built_frames_with_python_lists() -> None:
    model = hand_model()
    loads = model.tables["loads"].copy()
    loads["zipv"] = [list(v) for v in loads["zipv"]]
    model.tables["loads"] = pd.DataFrame(loads.to_dict("list"))
    assert_same_model(model, round_trip(model))


def test_empty_tables_and_table_order_survive() -> None:
    model = hand_model()
    model.tables = dict(reversed(list(model.tables.items())))
    back = round_trip(model)
    assert list(back.tables) == list(model.tables)
    assert len(back.tables["reactors"]) == 0
    assert list(back.tables["reactors"].columns) == TABLES["reactors"].column_names()


# --- documents ----------------------------------------------------------------------------------------


def test_twin_documents_are_adt_shaped() -> None:
    twins, _ = feeder_to_twins(hand_model())
    by_id = {t["$dtId"]: t for t in twins}
    assert len(by_id) == len(twins)
    feeder = by_id["hand-1"]
    assert feeder["$metadata"] == {"$model": "dtmi:gridtwin:Feeder;1"}
    assert json.loads(feeder["circuit_json"])["voltage_bases_kv"] == [115.0, 4.16, 0.48]
    assert by_id["site.north"]["$metadata"]["$model"] == "dtmi:gridtwin:Site;1"
    load = by_id["hand-1.loads.671"]
    assert load["$metadata"]["$model"] == "dtmi:gridtwin:Load;1"
    assert (load["name"], load["site"], load["feeder"], load["p_kw"], load["bus1"]) == (
        "671", "north", "hand-1", 1155.0, "634.1.2.3"
    )  # fmt: skip
    assert "vmin_pu" not in by_id["hand-1.loads.611"]  # NaN is left out, not written as NaN or null
    assert all(t["site"] == "north" for t in twins)
    assert all(t["feeder"] == "hand-1" for t in twins if t["$dtId"] != "site.north")
    assert "feeder" not in by_id["site.north"]  # shared by the site's feeders
    json.dumps(twins, allow_nan=False)


def test_documents_and_relationships_are_valid_against_the_ontology(models: ModelSet) -> None:
    twins, rels = feeder_to_twins(hand_model())
    _assert_valid(models, twins, rels)


def _assert_valid(models: ModelSet, twins: list[dict[str, Any]], rels: list[dict[str, Any]]) -> None:
    errors = [e for t in twins for e in models.validate_twin(t)]
    assert errors == []
    model_of = {t["$dtId"]: t["$metadata"]["$model"] for t in twins}
    counts = Counter((r["$sourceId"], r["$relationshipName"]) for r in rels)
    assert len({r["$relationshipId"] for r in rels}) == len(rels)
    for r in rels:
        src, name, dst = r["$sourceId"], r["$relationshipName"], r["$targetId"]
        assert dst in model_of, f"dangling {r['$relationshipId']}"
        assert models.validate_relationship(model_of[src], name, model_of[dst], counts[(src, name)]) == []


def test_bad_enum_value_is_caught_by_the_ontology(models: ModelSet) -> None:
    model = hand_model()
    model.tables["loads"].loc[0, "conn"] = "zigzag"
    twins, _ = feeder_to_twins(model)
    bad = next(t for t in twins if t["$dtId"] == "hand-1.loads.671")
    assert models.validate_twin(bad) != []


def test_topology_relationships() -> None:
    _, rels = feeder_to_twins(hand_model())
    index = {r["$relationshipId"]: r for r in rels}
    rel = index["hand-1.transformers.sub.connectsTo.2"]
    assert (rel["$targetId"], rel["terminal"], rel["nodes"]) == ("hand-1.buses.650", 2, "1.2.3")
    assert index["hand-1.transformers.sub.connectsTo.1"]["nodes"] == ""
    line = index["hand-1.lines.650611.connectsTo.1"]
    assert (line["$targetId"], line["nodes"]) == ("hand-1.buses.650", "3")
    # the switch sits on line sw1 and so connects the line's two buses
    assert index["hand-1.switches.sw1.connectsTo.2"]["$targetId"] == "hand-1.buses.634"
    assert (
        index["hand-1.lines.650611.usesCode.hand-1.linecodes.mtx601"]["$targetId"]
        == "hand-1.linecodes.mtx601"
    )
    assert index["hand-1.regcontrols.reg1.controls.hand-1.transformers.reg1"]
    assert index["hand-1.capcontrols.cc1.controls.hand-1.capacitors.cap1"]
    assert index["hand-1.sources.source.feeds.hand-1"]["$targetId"] == "hand-1"
    shapes = {r["usage"] for r in rels if r["$relationshipName"] == "hasShape"}
    assert shapes == {"yearly", "daily"}  # duty names a shape that does not exist: no dangling edge
    assert index["site.north.contains.hand-1"]["$targetId"] == "hand-1"
    contained = {
        r["$targetId"] for r in rels if r["$sourceId"] == "hand-1" and r["$relationshipName"] == "contains"
    }
    assert len(contained) == sum(len(df) for df in hand_model().tables.values())
    # load 671 sits on the regulator's output bus, load 611 on a bus no transformer feeds
    assert index["hand-1.loads.671.servedBy.1"]["$targetId"] == "hand-1.transformers.reg1"
    assert index["hand-1.loads.611.servedBy.1"]["$targetId"] == "hand-1.buses.611"
    # the capacitor's empty bus2 makes no edge
    assert "hand-1.capacitors.cap1.connectsTo.2" not in index


# --- what the registry may hold that we did not write -----------------------------------------------


def test_twins_created_by_hand_are_read_back() -> None:
    model = hand_model()
    twins, rels = feeder_to_twins(model)
    twins.append(
        {
            "$dtId": "hand-1.loads.new",
            "$metadata": {"$model": "dtmi:gridtwin:Load;1"},
            "name": "new",
            "site": "north",
            "feeder": "hand-1",
            "bus1": "634",
            "p_kw": 5,
        }
    )
    loads = twins_to_feeder("hand-1", *export(twins, rels, shuffle=True)).tables["loads"]
    assert list(loads["name"]) == ["671", "611", "new"]  # no ordinal: after the ordered rows
    assert loads["p_kw"].iloc[2] == 5.0 and math.isnan(loads["kv"].iloc[2]) and pd.isna(loads["conn"].iloc[2])


def test_feeder_with_no_site_has_no_site_twin() -> None:
    model = hand_model()
    model.site = ""
    twins, rels = feeder_to_twins(model)
    assert not any(t["$dtId"].startswith("site.") for t in twins)
    assert_same_model(model, twins_to_feeder("hand-1", *export(twins, rels)))


# --- errors -------------------------------------------------------------------------------------------


def test_unknown_column_is_an_input_error_naming_it() -> None:
    model = hand_model()
    model.tables["loads"]["colour"] = "red"
    with pytest.raises(InputError) as err:
        feeder_to_twins(model)
    assert err.value.details[0].where == "loads.colour"


def test_unknown_table_is_an_input_error() -> None:
    model = hand_model()
    model.tables["widgets"] = model.tables["loads"]
    with pytest.raises(InputError):
        feeder_to_twins(model)


def test_duplicate_names_are_an_input_error_naming_the_twin() -> None:
    model = hand_model()
    model.tables["loads"].loc[1, "name"] = "671"
    with pytest.raises(InputError) as err:
        feeder_to_twins(model)
    assert err.value.details[0].where == "hand-1.loads.671"


def test_missing_feeder_twin_is_not_found() -> None:
    twins, rels = feeder_to_twins(hand_model())
    with pytest.raises(NotFoundError):
        twins_to_feeder("other", *export(twins, rels))


def test_mistyped_property_is_an_input_error() -> None:
    twins, rels = feeder_to_twins(hand_model())
    next(t for t in twins if t["$dtId"] == "hand-1.loads.671")["phases"] = "three"
    with pytest.raises(InputError) as err:
        twins_to_feeder("hand-1", *export(twins, rels))
    assert err.value.details[0].where == "hand-1.loads"


# --- the shared OpenDSS feeders ---------------------------------------------------------------------

FEEDERS = {
    "ieee13": "opendss/IEEETestCases/13Bus/IEEE13Nodeckt.dss",
    "ckt5": "opendss/EPRITestCircuits/ckt5/Master_ckt5.dss",
}


@pytest.fixture(scope="module", params=sorted(FEEDERS))
def dss_model(request: pytest.FixtureRequest) -> FeederModel:
    master = _shared_data() / FEEDERS[request.param]
    if not master.exists():
        pytest.skip(f"{master} not found")
    model, _report = read_opendss(master, request.param, "demo")
    assert isinstance(model, FeederModel)
    return model


def test_opendss_feeder_round_trip_is_exact(dss_model: FeederModel) -> None:
    assert_same_model(dss_model, round_trip(dss_model, shuffle=True))


def test_opendss_feeder_twins_are_valid(dss_model: FeederModel, models: ModelSet) -> None:
    twins, rels = feeder_to_twins(dss_model)
    _assert_valid(models, twins, rels)
    # every enabled conducting element reaches a bus (disabled ones may name buses OpenDSS never made)
    connected = {r["$sourceId"] for r in rels if r["$relationshipName"] == "connectsTo"}
    for table in ("lines", "transformers", "loads", "capacitors"):
        df = dss_model.table(table)
        names = df["name"][df["enabled"].fillna(True).astype(bool)] if "enabled" in df else df["name"]
        for name in names:
            assert f"{dss_model.feeder_id}.{table}.{name}" in connected


# --- through the real registry (SQLite) ----------------------------------------------------------------


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Any]:
    registry_mod = pytest.importorskip("gridtwin.twin.registry")
    db = pytest.importorskip("gridtwin.store.db")
    engine = db.make_engine(f"sqlite:///{tmp_path / 'twins.db'}")
    db.migrate(engine)
    reg = registry_mod.TwinRegistry(engine)
    reg.upload_models(
        [json.loads(p.read_text(encoding="utf-8")) for p in sorted((REPO / "dtdl").glob("*.json"))]
    )
    yield reg
    engine.dispose()


def test_round_trip_through_the_registry(registry: Any) -> None:
    model = hand_model()
    twins, rels = feeder_to_twins(model)
    assert registry.bulk_upsert(twins, rels) == (len(twins), len(rels))
    back = twins_to_feeder("hand-1", *registry.export_feeder("hand-1"))
    assert_same_model(model, back)
    assert back.version == registry.feeder_version("hand-1") != ""


def test_opendss_feeder_round_trip_through_the_registry(registry: Any, dss_model: FeederModel) -> None:
    twins, rels = feeder_to_twins(dss_model)
    registry.bulk_upsert(twins, rels)
    assert_same_model(
        dss_model, twins_to_feeder(dss_model.feeder_id, *registry.export_feeder(dss_model.feeder_id))
    )
