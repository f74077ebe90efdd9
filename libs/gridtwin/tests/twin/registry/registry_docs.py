"""Test documents shared by the registry suite: a small ontology and twin/relationship builders."""

from __future__ import annotations

from typing import Any

CTX = "dtmi:dtdl:context;3"


def _prop(name: str, schema: Any) -> dict[str, Any]:
    return {"@type": "Property", "name": name, "schema": schema, "writable": True}


TEST_MODELS: list[dict[str, Any]] = [
    {
        "@context": CTX,
        "@id": "dtmi:test:Asset;1",
        "@type": "Interface",
        "displayName": "Asset",
        "contents": [
            _prop("name", "string"),
            _prop("site", "string"),
            _prop("feeder", "string"),
            _prop("rating_kw", "double"),
            _prop("phases", "integer"),
            _prop("enabled", "boolean"),
            _prop("note", "string"),
            _prop(
                "info",
                {
                    "@type": "Object",
                    "fields": [{"name": "owner", "schema": "string"}, {"name": "age", "schema": "integer"}],
                },
            ),
            {"@type": "Relationship", "name": "connectsTo"},
        ],
    },
    {
        "@context": CTX,
        "@id": "dtmi:test:Bus;1",
        "@type": "Interface",
        "extends": "dtmi:test:Asset;1",
        "contents": [_prop("kv", "double")],
    },
    {
        "@context": CTX,
        "@id": "dtmi:test:Load;1",
        "@type": "Interface",
        "extends": "dtmi:test:Asset;1",
        "contents": [
            _prop("p_kw", "double"),
            {"@type": "Relationship", "name": "servedBy", "target": "dtmi:test:Bus;1", "maxMultiplicity": 1},
        ],
    },
    {
        "@context": CTX,
        "@id": "dtmi:test:Feeder;1",
        "@type": "Interface",
        "contents": [
            _prop("site", "string"),
            _prop("feeder", "string"),
            {"@type": "Relationship", "name": "contains"},
        ],
    },
]


def twin(
    twin_id: str, model: str = "Bus", feeder: str | None = "f1", site: str | None = "s1", **props: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {"$dtId": twin_id, "$metadata": {"$model": f"dtmi:test:{model};1"}}
    if site is not None:
        doc["site"] = site
    if feeder is not None:
        doc["feeder"] = feeder
    doc.update(props)
    return doc


def rel(source: str, name: str, target: str, rel_id: str | None = None, **props: Any) -> dict[str, Any]:
    return {
        "$relationshipId": rel_id or f"{name}-{target}",
        "$sourceId": source,
        "$relationshipName": name,
        "$targetId": target,
        **props,
    }
