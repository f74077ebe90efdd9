"""Center-tap and by-phase CYME transformers: a hand-written CYMDIST export, mapped, compiled and solved.

The feeder: a 12.47 kV source, a 300 m three-phase line, then at n1
- a 25 kVA single-phase center-tap service transformer on phase A (7.2 kV / 120-240 V) feeding two
  120 V loads on different legs and one 240 V load (CYME's CenterTapPercent / CenterTapPercent2 split);
- a by-phase bank of three 50 kVA single-phase units (grounded wye / grounded wye, 12.47 / 0.208 kV)
  feeding a balanced three-phase load.
"""

from __future__ import annotations

import cmath
import json
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from gridtwin.grid.dss_writer import write_dss
from gridtwin.grid.model import FeederModel
from gridtwin.grid.twins import feeder_to_twins, twins_to_feeder
from gridtwin.ingest.cyme import read_cyme
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.results import SnapshotResult

M_PER_FT = 0.3048
KM_PER_MILE = 1.609344

LEG1_KW, LEG2_KW, LL_KW = 6.0, 3.0, 8.0  # unbalanced legs on purpose
BANK_KW_PER_PHASE = 30.0


def _export(tmp_path: Path, units: str) -> Path:
    """network/equipment/load files as CYMDIST writes them (only the columns the mapping needs)."""
    imperial = units == "IMPERIAL"
    length = 300.0 / M_PER_FT if imperial else 300.0  # ft or m
    per_len = KM_PER_MILE if imperial else 1.0  # ohm/mile or ohm/km
    r1, x1, r0, x0 = (v * per_len for v in (0.19, 0.39, 0.47, 1.25))
    folder = tmp_path / units.lower()
    folder.mkdir()
    (folder / "network.txt").write_text(
        f"""[GENERAL]
DATE=November 22, 2026
CYME_VERSION=9.0
[{units}]

[NODE]
FORMAT_NODE=NodeID,CoordX,CoordY
src,0,0
n1,300,0
sec1,300,20
n3,320,0

[SOURCE EQUIVALENT]
FORMAT_SOURCEEQUIVALENT=NodeID,Voltage,OperatingAngle1,OperatingAngle2,OperatingAngle3,PositiveSequenceResistance,PositiveSequenceReactance,ZeroSequenceResistance,ZeroSequenceReactance,Configuration,OperatingVoltage1,OperatingVoltage2,OperatingVoltage3,ImpedanceUnit
src,12.47,0,-120,120,0.01,0.1,0.01,0.1,0,7.2,7.2,7.2,0

[SECTION]
FORMAT_SECTION=SectionID,FromNodeID,ToNodeID,Phase,ZoneID,SubNetworkId,EnvironmentID
FORMAT_FEEDER=NetworkID,HeadNodeID,CoordSet
FEEDER=ct_feeder,src,1
s1,src,n1,ABC,,,
sct,n1,sec1,A,,,
sbank,n1,n3,ABC,,,

[OVERHEADLINE SETTING]
FORMAT_OVERHEADLINESETTING=SectionID,DeviceNumber,LineCableID,Length,ConnectionStatus,CoordX,CoordY
s1,line1,LINE_336,{length!r},0,,

[TRANSFORMER SETTING]
FORMAT_TRANSFORMERSETTING=SectionID,Location,EqID,DeviceNumber,CoordX,CoordY,Conn,PrimTap,SecondaryTap,ConnectionStatus
sct,M,CT25_7200_240,xct,,,Yg_CT,100,100,0

[TRANSFORMER BYPHASE SETTING]
FORMAT_TRANSFORMERBYPHASESETTING=SectionID,Location,DeviceNumber,PhaseTransformerID1,PhaseTransformerID2,PhaseTransformerID3,Conn,PrimTap,SecondaryTap,ConnectionStatus
sbank,M,xbank,P50_YY,P50_YY,P50_YY,Yg_Yg,100,100,0
"""
    )
    (folder / "equipment.txt").write_text(
        f"""[GENERAL]
DATE=November 22, 2026
[{units}]

[LINE]
FORMAT_LINE=ID,R1,R0,X1,X0,B1,B0,Amps
LINE_336,{r1!r},{r0!r},{x1!r},{x0!r},0,0,400

[TRANSFORMER]
FORMAT_TRANSFORMER=ID,Type,KVA,KVLLprim,KVLLsec,Z1,Z0,XR,XR0,Conn,NoLoadLosses
CT25_7200_240,4,25,12.47,0.24,2.0,2.0,1.5,1.5,Yg_CT,0.05
P50_YY,1,50,12.47,0.208,2.5,2.5,2.0,2.0,Yg_Yg,0.1
"""
    )
    (folder / "load.txt").write_text(
        f"""[GENERAL]
DATE=November 22, 2026
[{units}]

[LOADS]
FORMAT_LOADS=SectionID,DeviceNumber,LoadType,Connection,Location
sct,house1,Spot,0,M
sct,house2,Spot,0,M
sct,heater,Spot,0,M
sbank,shop,Spot,0,M

[CUSTOMER LOADS]
FORMAT_CUSTOMERLOADS=SectionID,DeviceNumber,LoadType,CustomerNumber,CustomerType,ConnectionStatus,ValueType,LoadPhase,Value1,Value2,NumberOfCustomer,CenterTapPercent,CenterTapPercent2
sct,house1,Spot,c1,Residential,0,0,A,{LEG1_KW!r},1.0,1,100,0
sct,house2,Spot,c2,Residential,0,0,A,{LEG2_KW!r},0.5,1,0,100
sct,heater,Spot,c3,Residential,0,0,A,{LL_KW!r},0,1,0,0
sbank,shop,Spot,c4,Commercial,0,0,A,{BANK_KW_PER_PHASE!r},10,3,,
sbank,shop,Spot,c4,Commercial,0,0,B,{BANK_KW_PER_PHASE!r},10,3,,
sbank,shop,Spot,c4,Commercial,0,0,C,{BANK_KW_PER_PHASE!r},10,3,,
"""
    )
    return folder


def _solve(model: FeederModel) -> SnapshotResult:
    engine = Engine()
    try:
        engine.load_script(model.feeder_id, "v1", write_dss(model))
        return engine.snapshot()
    finally:
        engine.close()


@pytest.fixture(scope="module", params=["SI", "IMPERIAL"])
def imported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> FeederModel:
    folder = _export(tmp_path_factory.mktemp("cyme_ct"), str(request.param))
    model, report = read_cyme(folder, "ct_feeder", "test")
    assert report.unmapped == []
    return model


def test_center_tap_is_a_three_winding_split_phase_unit(imported: FeederModel) -> None:
    xf = imported.tables["transformers"].set_index("name")
    ct = xf.loc["xct"]
    assert ct["windings"] == 3 and ct["phases"] == 1
    assert list(ct["buses"]) == ["n1.1.0", "sec1.1.0", "sec1.0.2"]
    assert list(ct["conns"]) == ["wye", "wye", "wye"]
    assert list(ct["kvs_kv"]) == pytest.approx([12.47 / math.sqrt(3), 0.12, 0.12])
    assert list(ct["kvas_kva"]) == pytest.approx([25.0] * 3)
    buses = imported.tables["buses"].set_index("name")
    assert buses.loc["sec1", "base_kv"] == pytest.approx(0.12)  # legs on a 120 V base
    assert sorted(buses.loc["sec1", "nodes"]) == [1, 2]


def test_by_phase_bank_is_three_single_phase_units(imported: FeederModel) -> None:
    xf = imported.tables["transformers"].set_index("name")
    for k, p in enumerate("abc", start=1):
        unit = xf.loc[f"xbank_{p}"]
        assert unit["windings"] == 2 and unit["phases"] == 1
        assert list(unit["buses"]) == [f"n1.{k}.0", f"n3.{k}.0"]
        assert list(unit["kvs_kv"]) == pytest.approx([12.47 / math.sqrt(3), 0.208 / math.sqrt(3)])
        assert list(unit["kvas_kva"]) == pytest.approx([50.0, 50.0])
    assert imported.tables["buses"].set_index("name").loc["n3", "base_kv"] == pytest.approx(0.12009, rel=1e-3)


def test_center_tap_loads_sit_on_their_legs(imported: FeederModel) -> None:
    loads = imported.tables["loads"].set_index("name")
    sec = loads[loads["bus1"].str.startswith("sec1")]
    by_bus = {row.bus1: (row.kv, row.p_kw) for row in sec.itertuples()}
    assert by_bus == {
        "sec1.1": (pytest.approx(0.12), pytest.approx(LEG1_KW)),
        "sec1.2": (pytest.approx(0.12), pytest.approx(LEG2_KW)),
        "sec1.1.2": (pytest.approx(0.24), pytest.approx(LL_KW)),
    }


def _phasor(v: pd.DataFrame, bus: str, node: int) -> complex:
    row = v[(v["bus"] == bus) & (v["node"] == node)].iloc[0]
    return complex(cmath.rect(float(row["kv"]) * 1000.0, math.radians(float(row["angle_deg"]))))


def test_split_phase_physics(imported: FeederModel) -> None:
    snap = _solve(imported)
    assert snap.converged
    v = snap.voltages
    leg1, leg2 = _phasor(v, "sec1", 1), _phasor(v, "sec1", 2)
    assert 112.0 < abs(leg1) < 125.0 and 112.0 < abs(leg2) < 125.0
    pu = v[v["bus"] == "sec1"].set_index("node")["pu"]
    assert 0.93 < pu[1] < 1.04 and 0.93 < pu[2] < 1.04
    assert abs(leg1) < abs(leg2)  # the heavier leg sags more
    assert 225.0 < abs(leg1 - leg2) < 250.0  # the legs are in opposition: ~240 V across
    bank = v[v["bus"] == "n3"].set_index("node")["kv"] * 1000.0
    assert all(112.0 < bank[k] < 125.0 for k in (1, 2, 3))
    total_load_kw = LEG1_KW + LEG2_KW + LL_KW + 3 * BANK_KW_PER_PHASE
    assert snap.losses_kw > 0 and snap.transformer_losses_kw > 0
    assert snap.source_kw == pytest.approx(total_load_kw + snap.losses_kw, rel=2e-3)
    assert snap.losses_kw < 0.05 * total_load_kw


def test_si_and_imperial_exports_give_the_same_model(tmp_path: Path) -> None:
    si, _ = read_cyme(_export(tmp_path, "SI"), "ct_feeder")
    imp, _ = read_cyme(_export(tmp_path, "IMPERIAL"), "ct_feeder")
    for name in ("transformers", "loads", "buses"):
        pd.testing.assert_frame_equal(si.tables[name], imp.tables[name])
    pd.testing.assert_frame_equal(
        si.tables["linecodes"], imp.tables["linecodes"], check_exact=False, rtol=1e-9
    )
    assert si.tables["lines"]["length_m"].iloc[0] == pytest.approx(imp.tables["lines"]["length_m"].iloc[0])


def test_round_trip_through_twins_is_exact(imported: FeederModel) -> None:
    twins, rels = feeder_to_twins(imported)
    tw = pa.table(  # the registry's export_feeder shape
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
    back = twins_to_feeder(imported.feeder_id, tw, rl)
    assert back.to_ipc() == imported.to_ipc()
