"""Hostile input: malformed JSON, non-object roots, deep nesting, huge documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gridtwin.errors import DtdlError
from gridtwin.twin.dtdl import load_model_set, parse_model_set
from gridtwin.twin.dtdl.model_set import MAX_FILE_BYTES

C3 = "dtmi:dtdl:context;3"


def details(exc: pytest.ExceptionInfo[DtdlError]) -> list[str]:
    return [f"{d.where}: {d.message}" for d in exc.value.details]


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"@context": C3, "@id": "dtmi:ex:A;1", "@type": "Interface"}))
    bad = tmp_path / "bad.json"
    bad.write_text('[\n  {"@context": "dtmi:dtdl:context;3",\n   "@id": "dtmi:ex:B;1",,\n')
    with pytest.raises(DtdlError) as exc:
        load_model_set([tmp_path])
    assert details(exc) == [f"{bad}:3:25: invalid JSON: Expecting property name enclosed in double quotes"]


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "latin.json").write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(DtdlError) as exc:
        load_model_set([tmp_path])
    assert "latin.json" in details(exc)[0]


@pytest.mark.parametrize("root", [42, "text", None, True, [1, 2], {}, [[]]])
def test_non_object_roots(root: object) -> None:
    with pytest.raises(DtdlError) as exc:
        parse_model_set([("weird.json", root)])
    assert all(d.startswith("weird.json: ") for d in details(exc))


def test_deeply_nested_json_text(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(DtdlError) as exc:
        load_model_set([tmp_path])
    assert "deep.json" in details(exc)[0]


def test_deeply_nested_schema_object() -> None:
    schema: Any = "double"
    for _ in range(5000):
        schema = {"@type": "Object", "fields": [{"name": "f", "schema": schema}]}
    doc = {
        "@context": C3,
        "@id": "dtmi:ex:A;1",
        "@type": "Interface",
        "contents": [{"@type": "Property", "name": "p", "schema": schema}],
    }
    with pytest.raises(DtdlError) as exc:
        parse_model_set([("deep.json", doc)])
    assert any("nested too deeply" in d for d in details(exc))


def test_deeply_nested_inline_components() -> None:
    inner: dict[str, Any] = {"@id": "dtmi:ex:Leaf;1", "@type": "Interface"}
    for i in range(3000):
        inner = {
            "@id": f"dtmi:ex:N{i};1",
            "@type": "Interface",
            "contents": [{"@type": "Component", "name": "c", "schema": inner}],
        }
    inner["@context"] = C3
    with pytest.raises(DtdlError):
        parse_model_set([("deep.json", inner)])


def test_long_extends_chain() -> None:
    chain = [
        {
            "@context": C3,
            "@id": f"dtmi:ex:C{i};1",
            "@type": "Interface",
            **({"extends": f"dtmi:ex:C{i - 1};1"} if i else {}),
        }
        for i in range(5000)
    ]
    with pytest.raises(DtdlError) as exc:
        parse_model_set([("chain.json", chain)])
    assert any("levels deep" in d for d in details(exc))


@pytest.mark.timeout(120)  # no hang; speed is measured in tests/bench, not asserted
def test_huge_interface_is_checked_quickly() -> None:
    contents = [{"@type": "Property", "name": f"p{i}", "schema": "double"} for i in range(50_000)]
    doc = {"@context": C3, "@id": "dtmi:ex:Big;1", "@type": "Interface", "contents": contents}
    models = parse_model_set([("big.json", doc)])
    assert len(models.interfaces["dtmi:ex:Big;1"].all_contents) == 50_000


def test_over_the_contents_limit() -> None:
    doc = {
        "@context": "dtmi:dtdl:context;2",
        "@id": "dtmi:ex:Big;1",
        "@type": "Interface",
        "contents": [{"@type": "Property", "name": f"p{i}", "schema": "double"} for i in range(301)],
    }
    with pytest.raises(DtdlError) as exc:
        parse_model_set([("big.json", doc)])
    assert "limit is 300" in details(exc)[0]


def test_oversized_file_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(DtdlError) as exc:
        load_model_set([tmp_path])
    assert "big.json" in details(exc)[0] and "limit" in details(exc)[0]


def test_hostile_twin_values() -> None:
    doc = {
        "@context": C3,
        "@id": "dtmi:ex:T;1",
        "@type": "Interface",
        "contents": [
            {
                "@type": "Property",
                "name": "tags",
                "schema": {
                    "@type": "Map",
                    "mapKey": {"name": "k", "schema": "string"},
                    "mapValue": {"name": "v", "schema": "string"},
                },
            }
        ],
    }
    models = parse_model_set([("t.json", doc)])
    deep: Any = "x"
    for _ in range(100_000):
        deep = {"a": deep}
    twin = {"$dtId": "t1", "$metadata": {"$model": "dtmi:ex:T;1"}, "tags": deep}
    assert [e.where for e in models.validate_twin(twin)] == ["t1/tags/a"]
    twin["tags"] = {str(i): "v" for i in range(200_000)}
    assert models.validate_twin(twin) == []
    twin["$metadata"] = "dtmi:ex:T;1"
    assert models.validate_twin(twin)[0].where == "t1/$metadata/$model"
