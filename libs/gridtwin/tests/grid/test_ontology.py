"""The DTDL ontology in dtdl/: generated from TABLES, never stale, valid DTDL v3."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from gridtwin.grid import ontology
from gridtwin.grid.model import TABLES, Column, TableSpec
from gridtwin.grid.ontology import BASE_INTERFACE, build_interfaces, check_dir, dtmi, write_dir
from gridtwin.twin.dtdl import load_model_set

REPO = Path(__file__).resolve().parents[4]
DTDL_DIR = REPO / "dtdl"
OFFICIAL = REPO / "tools" / "dtdl-official"

# The QuantitativeTypes v1 units we use, per semantic type (from DTDL.quantitativeTypes.v1.md).
UNITS: dict[str, set[str]] = {
    "Voltage": {"kilovolt", "volt"},
    "Power": {"kilowatt"},
    "ApparentPower": {"kilovoltAmpere"},
    "ReactivePower": {"kilovoltAmpereReactive"},
    "Energy": {"kilowattHour"},
    "Current": {"ampere"},
    "Length": {"metre"},
    "Frequency": {"hertz"},
    "Angle": {"degreeOfArc"},
    "Latitude": {"degreeOfArc"},
    "Longitude": {"degreeOfArc"},
    "TimeSpan": {"second", "hour"},
    "Resistance": {"ohm"},
}
DTDL_SCHEMA = {"double": "double", "int64": "long", "bool": "boolean", "string": "string"}


def _files() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DTDL_DIR.glob("*.json"))}


def _all_contents(docs: dict[str, dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    doc = docs[name]
    out: dict[str, dict[str, Any]] = {}
    if "extends" in doc:
        parent = doc["extends"].split(":")[-1].split(";")[0]
        out.update(_all_contents(docs, parent))
    out.update({c["name"]: c for c in doc["contents"]})
    return out


def test_dtdl_dir_is_up_to_date_with_tables() -> None:
    problems = check_dir(DTDL_DIR)
    assert problems == [], "dtdl/ is stale: run `python -m gridtwin.grid.ontology --write dtdl/`"


def test_cli_check_passes_on_the_committed_files() -> None:
    assert ontology.main(["--check", str(DTDL_DIR)]) == 0


def test_a_new_column_makes_dtdl_stale_and_a_rewrite_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "dtdl"
    write_dir(out)
    spec = TABLES["loads"]
    grown = TableSpec(
        spec.name, spec.interface, spec.dss_class, (*spec.columns, Column("ev_kw", pa.float64(), "kilowatt"))
    )
    monkeypatch.setitem(TABLES, "loads", grown)
    assert check_dir(out) == [f"{out / 'Load.json'}: stale"]
    assert ontology.main(["--check", str(out)]) == 1
    write_dir(out)
    assert check_dir(out) == []
    ev = next(c for c in json.loads((out / "Load.json").read_text())["contents"] if c["name"] == "ev_kw")
    assert ev["@type"] == ["Property", "Power"] and ev["unit"] == "kilowatt" and ev["schema"] == "double"


def test_stray_files_are_reported_and_removed(tmp_path: Path) -> None:
    write_dir(tmp_path)
    (tmp_path / "Old.json").write_text("{}")
    assert check_dir(tmp_path) == [f"{tmp_path / 'Old.json'}: not generated"]
    write_dir(tmp_path)
    assert check_dir(tmp_path) == []


def test_one_file_per_interface_with_v3_context_and_ids() -> None:
    docs = _files()
    required = {
        "PowerSystemResource", "Site", "Substation", "Feeder", "Bus", "EnergySource", "LineSegment",
        "LineCode", "PowerTransformer", "Load", "Capacitor", "CapacitorControl", "Regulator", "Reactor",
        "Switch", "PVSystem", "Storage", "Generator", "EVCharger", "Meter", "LoadShape",
    }  # fmt: skip
    assert required <= set(docs)
    for name, doc in docs.items():
        assert doc["@context"] == ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"]
        assert doc["@id"] == f"dtmi:gridtwin:{name};1"
        assert doc["@type"] == "Interface"
        if name != BASE_INTERFACE:
            chain = _all_contents(docs, name)
            assert {"name", "site", "feeder"} <= set(chain), name


def test_every_table_column_is_a_property_with_the_arrow_type() -> None:
    docs = _files()
    for spec in TABLES.values():
        props = _all_contents(docs, spec.interface)
        for col in spec.columns:
            prop = props[col.name]
            schema = prop["schema"]
            if pa.types.is_list(col.type):
                assert schema["@type"] == "Array"
                assert schema["elementSchema"] == DTDL_SCHEMA[str(col.type.value_type)]
            elif isinstance(schema, dict):
                assert schema["@type"] == "Enum" and col.type == pa.string()
            else:
                assert schema == DTDL_SCHEMA[str(col.type)], f"{spec.name}.{col.name}"


def test_semantic_types_use_units_of_their_kind() -> None:
    seen = 0
    for doc in _files().values():
        for content in doc["contents"]:
            types = content["@type"]
            if isinstance(types, list):
                semantic = next(t for t in types if t != "Property")
                assert content["unit"] in UNITS[semantic], content["name"]
                assert content["schema"] in ("double", "long", "integer")
                seen += 1
    assert seen > 40


def test_relationships_follow_v3_multiplicity_and_topology() -> None:
    docs = _files()
    rels = {
        (name, c["name"]): c
        for name, doc in docs.items()
        for c in doc["contents"]
        if c["@type"] == "Relationship"
    }
    for rel in rels.values():
        assert rel["minMultiplicity"] == 0
        assert rel.get("maxMultiplicity", 1) >= 1
    connects = rels[("ConductingEquipment", "connectsTo")]
    assert connects["target"] == dtmi("Bus") and "maxMultiplicity" not in connects
    assert {p["name"]: p["schema"] for p in connects["properties"]} == {
        "terminal": "integer",
        "nodes": "string",
    }
    for equipment in ("LineSegment", "PowerTransformer", "Load", "Switch", "EnergySource", "EVCharger"):
        assert "connectsTo" in _all_contents(docs, equipment)
    assert rels[("Substation", "contains")]["target"] == dtmi("Feeder")
    assert rels[("Feeder", "contains")]["target"] == dtmi(BASE_INTERFACE)
    assert rels[("LineSegment", "usesCode")]["target"] == dtmi("LineCode")
    assert rels[("Regulator", "controls")]["target"] == dtmi("PowerTransformer")
    assert rels[("CapacitorControl", "controls")]["target"] == dtmi("Capacitor")
    assert rels[("Load", "hasShape")]["target"] == dtmi("LoadShape")
    assert rels[("EnergySource", "feeds")]["target"] == dtmi("Feeder")
    assert ("Meter", "servedBy") in rels and ("Load", "servedBy") in rels


def test_closed_domains_are_enums() -> None:
    props = _all_contents(_files(), "Switch")
    kinds = [v["enumValue"] for v in props["kind"]["schema"]["enumValues"]]
    assert kinds[:5] == ["switch", "breaker", "fuse", "recloser", "sectionalizer"]
    conn = _all_contents(_files(), "Load")["conn"]["schema"]
    assert [v["enumValue"] for v in conn["enumValues"]] == ["wye", "delta"]


def test_generation_is_deterministic() -> None:
    assert build_interfaces() == build_interfaces()
    assert list(build_interfaces()) == sorted(build_interfaces())


def test_project_parser_accepts_the_ontology() -> None:
    models = load_model_set([DTDL_DIR])
    assert len(models) == len(_files())
    assert models.is_subtype(dtmi("Load"), dtmi(BASE_INTERFACE))
    assert models.is_subtype(dtmi("PowerTransformer"), dtmi("ConductingEquipment"))


@pytest.mark.node
def test_official_parser_accepts_the_ontology() -> None:
    node = shutil.which("node")
    if node is None or not (OFFICIAL / "node_modules" / "@digicatapult" / "dtdl-parser").exists():
        pytest.skip("node or the official DTDL parser (tools/dtdl-official) is not installed")
    out = subprocess.run(
        [node, "validate.mjs", str(DTDL_DIR)],
        cwd=OFFICIAL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    result = json.loads(out.stdout[out.stdout.index("{") :])
    assert result == {"valid": True, "errors": []}, result
