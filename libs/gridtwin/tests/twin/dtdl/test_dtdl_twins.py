"""Twin and relationship validation against a model set, and its speed."""

from __future__ import annotations

from typing import Any

import pytest
from gridtwin.twin.dtdl import ModelSet, parse_model_set

CTX = ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"]


def prop(name: str, schema: object = "double", **extra: Any) -> dict[str, Any]:
    return {"@type": "Property", "name": name, "schema": schema, **extra}


MODELS: list[dict[str, Any]] = [
    {
        "@context": CTX,
        "@id": "dtmi:t:Asset;1",
        "@type": "Interface",
        "contents": [prop("site", "string"), prop("feeder", "string")],
    },
    {
        "@context": CTX,
        "@id": "dtmi:t:Bus;1",
        "@type": "Interface",
        "extends": "dtmi:t:Asset;1",
        "contents": [prop("kv_base", "double")],
    },
    {
        "@context": CTX,
        "@id": "dtmi:t:SpecialBus;1",
        "@type": "Interface",
        "extends": "dtmi:t:Bus;1",
    },
    {
        "@context": CTX,
        "@id": "dtmi:t:Meter;1",
        "@type": "Interface",
        "contents": [prop("serial", "string"), {"@type": "Telemetry", "name": "reading", "schema": "double"}],
    },
    {
        "@context": CTX,
        "@id": "dtmi:t:Load;1",
        "@type": "Interface",
        "extends": "dtmi:t:Asset;1",
        "contents": [
            {"@type": ["Property", "Power"], "name": "p_kw", "schema": "double", "unit": "kilowatt"},
            prop("q_kvar", "float"),
            prop("phases", "integer"),
            prop("energy_wh", "long"),
            prop("enabled", "boolean"),
            prop("installed", "date"),
            prop("updated", "dateTime"),
            prop("start", "time"),
            prop("period", "duration"),
            prop(
                "kind",
                {
                    "@type": "Enum",
                    "valueSchema": "string",
                    "enumValues": [
                        {"name": "res", "enumValue": "residential"},
                        {"name": "com", "enumValue": "commercial"},
                    ],
                },
            ),
            prop(
                "model",
                {
                    "@type": "Enum",
                    "valueSchema": "integer",
                    "enumValues": [{"name": "pq", "enumValue": 1}, {"name": "z", "enumValue": 2}],
                },
            ),
            prop("zipv", {"@type": "Array", "elementSchema": "double"}),
            prop(
                "tags",
                {
                    "@type": "Map",
                    "mapKey": {"name": "k", "schema": "string"},
                    "mapValue": {"name": "v", "schema": "string"},
                },
            ),
            prop(
                "rating",
                {
                    "@type": "Object",
                    "fields": [{"name": "kva", "schema": "double"}, {"name": "kv", "schema": "double"}],
                },
            ),
            prop("location", "point"),
            {"@type": "Relationship", "name": "connectsTo", "target": "dtmi:t:Bus;1", "maxMultiplicity": 1},
            {"@type": "Relationship", "name": "anything"},
            {"@type": "Component", "name": "meter", "schema": "dtmi:t:Meter;1"},
            {"@type": "Telemetry", "name": "live_kw", "schema": "double"},
        ],
    },
]


@pytest.fixture(scope="module")
def models() -> ModelSet:
    return parse_model_set([("models.json", MODELS)])


def good_load(twin_id: str = "f1.loads.l1") -> dict[str, Any]:
    return {
        "$dtId": twin_id,
        "$metadata": {"$model": "dtmi:t:Load;1"},
        "site": "north",
        "feeder": "f1",
        "p_kw": 12.5,
        "q_kvar": 3,
        "phases": 3,
        "energy_wh": 2**40,
        "enabled": True,
        "installed": "2024-02-29",
        "updated": "2024-02-29T12:30:00.5Z",
        "start": "06:00:00",
        "period": "P1DT2H",
        "kind": "residential",
        "model": 2,
        "zipv": [0.1, 0.2, 0.7, 0, 0, 1, 0.9],
        "tags": {"owner": "utility"},
        "rating": {"kva": 50.0, "kv": 0.4},
        "location": {"type": "Point", "coordinates": [4.9, 52.4]},
        "meter": {"$metadata": {}, "serial": "M-1"},
    }


def wheres(models: ModelSet, doc: dict[str, Any]) -> dict[str, str]:
    return {e.where: e.message for e in models.validate_twin(doc)}


def test_valid_twin(models: ModelSet) -> None:
    assert models.validate_twin(good_load()) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("p_kw", "12"),
        ("p_kw", True),
        ("p_kw", None),
        ("p_kw", float("inf")),
        ("q_kvar", 1e39),
        ("phases", 2**31),
        ("phases", 1.5),
        ("phases", False),
        ("energy_wh", 2**63),
        ("enabled", 1),
        ("installed", "2023-02-29"),
        ("installed", "2024/01/01"),
        ("updated", "2024-02-29 12:30"),
        ("updated", "2024-02-29T12:30:00"),
        ("start", "25:00:00"),
        ("period", "1 day"),
        ("period", "P"),
        ("site", 7),
        ("kind", "industrial"),
        ("kind", 1),
        ("model", 3),
        ("model", "1"),
        ("zipv", [0.1, "x"]),
        ("zipv", {"0": 1.0}),
        ("tags", {"owner": 5}),
        ("tags", ["owner"]),
        ("rating", {"kva": "big"}),
        ("rating", {"amps": 3.0}),
        ("rating", [50.0]),
        ("location", {"type": "Polygon", "coordinates": []}),
    ],
)
def test_bad_property_value(models: ModelSet, field: str, value: object) -> None:
    doc = good_load()
    doc[field] = value
    errors = models.validate_twin(doc)
    assert errors, f"{field}={value!r} was accepted"
    assert all(e.where.startswith(f"f1.loads.l1/{field}") for e in errors), errors


def test_nested_paths_are_named(models: ModelSet) -> None:
    doc = good_load()
    doc["zipv"] = [0.1, "x", 0.3]
    doc["rating"] = {"kva": "big", "kv": 0.4}
    doc["tags"] = {"owner": 5}
    found = wheres(models, doc)
    assert set(found) == {"f1.loads.l1/zipv/1", "f1.loads.l1/rating/kva", "f1.loads.l1/tags/owner"}


def test_unknown_and_non_property_members_rejected(models: ModelSet) -> None:
    doc = good_load()
    doc["colour"] = "red"
    doc["live_kw"] = 3.0  # Telemetry is not twin state
    doc["connectsTo"] = "f1.bus.b1"  # relationships are not properties
    found = wheres(models, doc)
    assert set(found) == {"f1.loads.l1/colour", "f1.loads.l1/live_kw", "f1.loads.l1/connectsTo"}
    assert "Telemetry" in found["f1.loads.l1/live_kw"]


def test_inherited_properties_accepted(models: ModelSet) -> None:
    doc = {"$dtId": "b1", "$metadata": {"$model": "dtmi:t:SpecialBus;1"}, "site": "s", "kv_base": 11.0}
    assert models.validate_twin(doc) == []


def test_component_rules(models: ModelSet) -> None:
    doc = good_load()
    doc["meter"] = {"serial": "M-1"}
    assert set(wheres(models, doc)) == {"f1.loads.l1/meter/$metadata"}
    doc["meter"] = {"$metadata": {}, "serial": 5, "extra": 1}
    assert set(wheres(models, doc)) == {"f1.loads.l1/meter/serial", "f1.loads.l1/meter/extra"}
    doc["meter"] = "M-1"
    assert set(wheres(models, doc)) == {"f1.loads.l1/meter"}


def test_model_and_identity_required(models: ModelSet) -> None:
    assert models.validate_twin({"$metadata": {"$model": "dtmi:t:Load;1"}})[0].where == "(twin)/$dtId"
    assert models.validate_twin({"$dtId": "x"})[0].where == "x/$metadata/$model"
    errors = models.validate_twin({"$dtId": "x", "$metadata": {"$model": "dtmi:t:Nope;1"}})
    assert errors[0].code == "unknown_model"
    assert models.validate_twin([1, 2])[0].where == "(twin)"  # type: ignore[arg-type]


def test_subtypes(models: ModelSet) -> None:
    assert models.subtypes("dtmi:t:Bus;1") == {"dtmi:t:Bus;1", "dtmi:t:SpecialBus;1"}
    assert models.subtypes("dtmi:t:Asset;1") >= {"dtmi:t:Asset;1", "dtmi:t:Bus;1", "dtmi:t:Load;1"}
    assert models.is_subtype("dtmi:t:SpecialBus;1", "dtmi:t:Asset;1")
    assert not models.is_subtype("dtmi:t:Asset;1", "dtmi:t:Bus;1")
    assert models.subtypes("dtmi:t:Nope;1") == set()


def test_relationships(models: ModelSet) -> None:
    assert models.validate_relationship("dtmi:t:Load;1", "connectsTo", "dtmi:t:Bus;1") == []
    assert models.validate_relationship("dtmi:t:Load;1", "connectsTo", "dtmi:t:SpecialBus;1", 1) == []
    assert models.validate_relationship("dtmi:t:Load;1", "anything", "dtmi:t:Meter;1", 99) == []
    wrong_target = models.validate_relationship("dtmi:t:Load;1", "connectsTo", "dtmi:t:Meter;1")
    assert wrong_target and "dtmi:t:Bus;1" in wrong_target[0].message
    assert (
        models.validate_relationship("dtmi:t:Load;1", "connectsTo", "dtmi:t:Bus;1", 2)[0].code
        == "multiplicity"
    )
    assert models.validate_relationship("dtmi:t:Load;1", "feedsInto", "dtmi:t:Bus;1")[0].code == "unknown"
    assert models.validate_relationship("dtmi:t:Load;1", "p_kw", "dtmi:t:Bus;1")[0].code == "unknown"
    assert models.validate_relationship("dtmi:t:Nope;1", "x", "dtmi:t:Bus;1")[0].code == "unknown_model"
    assert (
        models.validate_relationship("dtmi:t:Load;1", "connectsTo", "dtmi:t:Nope;1")[0].code
        == "unknown_model"
    )
    # inherited relationships count too
    sub = models.extend(
        [
            (
                "more.json",
                {
                    "@context": CTX,
                    "@id": "dtmi:t:BigLoad;1",
                    "@type": "Interface",
                    "extends": "dtmi:t:Load;1",
                },
            )
        ]
    )
    assert sub.validate_relationship("dtmi:t:BigLoad;1", "connectsTo", "dtmi:t:Bus;1") == []
    assert "dtmi:t:BigLoad;1" not in models.interfaces
    assert sub.is_subtype("dtmi:t:BigLoad;1", "dtmi:t:Asset;1")


def test_many_typical_twins_validate(models: ModelSet) -> None:
    """20k typical 15-property twins all validate (their rate is measured by tests/bench/bench_twins.py)."""
    twins = []
    for i in range(20_000):
        doc = good_load(f"f1.loads.l{i}")
        for key in ("meter", "location", "tags"):
            doc.pop(key)
        twins.append(doc)
    assert len(twins[0]) - 2 == 15
    validate = models.validate_twin
    assert sum(1 for t in twins if validate(t)) == 0
