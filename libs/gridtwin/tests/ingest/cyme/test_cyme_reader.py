"""read_cyme on the shared CYME exports: mapping, report, twins round trip, fidelity, bad input."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from gridtwin.errors import InputError
from gridtwin.grid.twins import feeder_to_twins, twins_to_feeder
from gridtwin.ingest.cyme import compare_with_opendss, parse_text, read_cyme
from gridtwin.ingest.cyme.fidelity import fidelity_cases
from gridtwin.ingest.cyme.loads import value_to_kw_kvar
from gridtwin.ingest.cyme.sections import SectionRecord


def _shared() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[5].parent / "shared" / "data"


CYME = _shared() / "cyme"


def test_format_lines_redefine_columns_and_key_lines_use_their_own_format() -> None:
    text = (
        "[SI]\n[NODE]\nFORMAT_NODE=NodeID,CoordX,CoordY\nn1,1,2\n"
        "FORMAT_NODE=NodeID,CoordX1,CoordY1,CoordX2,CoordY2\nn2,0,0,2,4\n"
        "[SECTION]\nFORMAT_SECTION=SectionID,FromNodeID,ToNodeID,Phase\nFORMAT_FEEDER=NetworkID,HeadNodeID\n"
        "FEEDER=f1,n1\ns1,n1,n2,ABC\n"
    )
    sections = parse_text(text, "net.txt")
    nodes = sections.records("NODE")
    assert nodes[0].fields == {"NodeID": "n1", "CoordX": "1", "CoordY": "2"}
    assert nodes[1].get("CoordX2") == "2" and nodes[1].line == 6
    assert sections.records("SECTION", "FEEDER")[0].get("HeadNodeID") == "n1"
    assert sections.records("SECTION")[0].get("ToNodeID") == "n2"


def test_imperial_units_convert_and_mixed_units_are_refused() -> None:
    sections = parse_text("[IMPERIAL]\n[X]\nFORMAT_X=ID\na\n", "e.txt")
    assert sections.records("X")[0].units == "IMPERIAL"
    with pytest.raises(InputError, match="mixes unit systems"):
        parse_text("[SI]\n[IMPERIAL]\n", "e.txt")


@pytest.mark.parametrize(
    ("fmt", "v1", "v2", "kw", "kvar"),
    [
        ("0", 10.0, 5.0, 10.0, 5.0),
        ("KW_KVAR", 10.0, -5.0, 10.0, -5.0),
        ("2", 80.0, 80.0, 80.0, 60.0),
        ("1", 100.0, 80.0, 80.0, 60.0),
        ("KVA_KW", 100.0, 80.0, 80.0, 60.0),
        ("3", 10.0, 80.0, 80.0, 60.0),  # 10 A on a 10 kV branch
        ("KW_PF", 80.0, -80.0, 80.0, -60.0),  # leading
    ],
)
def test_every_load_value_format(fmt: str, v1: float, v2: float, kw: float, kvar: float) -> None:
    rec = SectionRecord("CUSTOMER LOADS", {}, "load.txt", 3)
    p, q = value_to_kw_kvar(rec, fmt, v1, v2, 10.0)
    assert p == pytest.approx(kw) and q == pytest.approx(kvar)


def test_ieee13_maps_every_device_and_round_trips_through_twins() -> None:
    model, report = read_cyme(CYME / "ieee_13node", "ieee13", "test")
    assert report.unmapped == []
    assert report.counts["lines"] == 13  # 10 conductors (632-671 split for its distributed load) + 2 switches
    assert report.counts["transformers"] == 4 and report.counts["regcontrols"] == 3
    # 14 spot loads by phase + the distributed one's 3 phases, each as 2 lumps
    assert report.counts["capacitors"] == 2 and report.counts["loads"] == 20
    lines = model.tables["lines"].set_index("name")
    assert lines.loc["296", "is_switch"] and lines.loc["l684_652", "phases"] == 1
    buses = model.tables["buses"].set_index("name")
    assert buses.loc["634", "base_kv"] == pytest.approx(0.48 / 3**0.5)
    assert bool(buses.loc["650", "has_coords"]) and "load652" not in buses.index  # joint folded
    twins, _ = feeder_to_twins(model)
    assert any(t["$dtId"] == "ieee13.lines.296" for t in twins)


@pytest.mark.parametrize("case", ["ieee_13node", "ieee_4node", "validation/switches"])
def test_round_trip_through_twins_is_exact(case: str) -> None:
    model, _ = read_cyme(CYME / case, "rt")
    twins, rels = feeder_to_twins(model)
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
    back = twins_to_feeder("rt", tw, rl)
    assert back.to_ipc() == model.to_ipc()


@pytest.mark.parametrize("case", ["breakers", "switches", "network_protectors"])
def test_validation_cases_import_with_nothing_unmapped(case: str) -> None:
    model, report = read_cyme(CYME / "validation" / case, f"val-{case}")
    assert report.unmapped == []
    switches = model.tables["switches"]
    assert len(switches) == 2
    if case == "switches":  # switch B is open on every phase, A closed on its two phases
        assert switches.set_index("name").loc["b", "normal_open"]


def test_ieee4_is_the_open_wye_open_delta_bank() -> None:
    model, _ = read_cyme(CYME / "ieee_4node", "ieee4")
    xf = model.tables["transformers"]
    assert list(xf["name"]) == ["110_a", "110_b"]
    assert [list(c) for c in xf["conns"]] == [["wye", "delta"]] * 2


@pytest.mark.parametrize("name", ["ieee13", "ieee4"])
def test_fidelity_against_opendss_within_half_a_percent(name: str) -> None:
    case = {c.name: c for c in fidelity_cases(_shared())}[name]
    model, report = read_cyme(case.cyme_dir, name, regulators=case.regulators)
    assert report.unmapped == []
    table = compare_with_opendss(
        model, case.master, bus_map=case.bus_map_with(), edits=case.edits, line_to_line=case.line_to_line
    )
    assert table["dv_pct"].abs().max() < 0.5
    if name == "ieee13":  # every bus-phase of the OpenDSS model but the source side of its sub transformer
        assert len(table) == 38 and set(table["basis"]) == {"LN"}
        assert {"650", "670", "671", "675", "611", "652", "634"} <= set(table["bus"])
    else:  # wye primary line-to-neutral, ungrounded delta secondary phase-to-phase
        assert len(table) == 12
        basis = table.groupby("bus")["basis"].first().to_dict()
        assert basis == {
            "sourcebus": "LN",
            "sd_unbal_oy_od_2": "LN",
            "sd_unbal_oy_od_3": "LL",
            "sd_unbal_oy_od_4": "LL",
        }
        assert set(table.loc[table["basis"] == "LL", "phase"]) == {"AB", "BC", "CA"}


def test_distributed_load_is_kerstings_exact_lumped_equivalent() -> None:
    model, _ = read_cyme(CYME / "ieee_13node", "ieee13")
    lines = model.tables["lines"].set_index("name")
    quarter, rest = lines.loc["l632_671", "length_m"], lines.loc["l632_671_b", "length_m"]
    assert quarter + rest == pytest.approx(609.6002) and rest == pytest.approx(3 * quarter)
    assert lines.loc["l632_671", "bus2"].startswith("l632_671_q1.")
    loads = model.tables["loads"].set_index("name")
    for phase, kw, kvar in (("a", 17.0, 10.0), ("b", 66.0, 38.0), ("c", 117.0, 68.0)):
        near, end = loads.loc[f"l632_671-1_{phase}"], loads.loc[f"l632_671-1_{phase}_end"]
        assert near["bus1"].startswith("l632_671_q1.") and end["bus1"].startswith("671.")
        assert near["p_kw"] == pytest.approx(2 * end["p_kw"]) and near["p_kw"] + end["p_kw"] == pytest.approx(
            kw
        )
        assert near["q_kvar"] + end["q_kvar"] == pytest.approx(kvar)


def _copy(tmp_path: Path, case: str) -> Path:
    dest = tmp_path / case.replace("/", "_")
    shutil.copytree(CYME / case, dest)
    return dest


@pytest.mark.parametrize(
    ("file", "old", "new", "match"),
    [
        ("network.txt", "L632_633,L632_633,4/0", "L632_633,L632_633,9/9", "missing equipment"),
        ("network.txt", "L684_652,684,652,A", "L684_652,684,652,Q", "invalid CYME network"),
        ("network.txt", "L632_645,632,645,BC,,,0", "L632_633,632,645,BC,,,0", "invalid CYME network"),
        ("equipment.txt", "1/0,1.010920", "4/0,1.010920", "invalid CYME equipment catalog"),
        ("network.txt", "FORMAT_SECTION=SectionID,FromNodeID", "FORMAT_SECTION=SectionID,FromNode", "FORMAT"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path: Path, file: str, old: str, new: str, match: str) -> None:
    folder = _copy(tmp_path, "ieee_13node")
    path = folder / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(InputError, match=match) as info:
        read_cyme(folder, "bad")
    assert any(file in d.where for d in info.value.details)


def test_unknown_sections_and_devices_are_reported_not_dropped(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "validation/switches")
    with (folder / "network.txt").open("a") as fh:
        fh.write("\n[PHOTOVOLTAIC SETTINGS]\nFORMAT_PVSETTINGS=SectionID,DeviceNumber\nA,PV1\n")
        fh.write("\n[MYSTERY]\nFORMAT_MYSTERY=Foo,Bar\n1,2\n")
    _, report = read_cyme(folder, "val")
    wheres = [u.where for u in report.unmapped]
    assert any("network.txt" in w and "PHOTOVOLTAIC SETTINGS" in w for w in wheres)
    assert any("MYSTERY" in w for w in wheres)


def test_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "ieee_13node")
    path = folder / "network.txt"
    text = path.read_text()
    cut = text.index("L632_633,L632_633,4/0,4/0")
    path.write_text(text[: cut + 25])
    with pytest.raises(InputError) as info:
        read_cyme(folder, "cut")
    assert any("network.txt" in d.where for d in info.value.details)
