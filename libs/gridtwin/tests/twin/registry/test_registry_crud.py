"""Models, single-twin CRUD, etags, JSON Patch, relationship CRUD, hostile input."""

from __future__ import annotations

from typing import Any

import pytest
from gridtwin.errors import (
    ConflictError,
    DtdlError,
    ErrorDetail,
    InputError,
    NotFoundError,
    TwinValidationError,
)
from gridtwin.twin.registry import TwinRegistry
from registry_docs import TEST_MODELS, rel, twin
from sqlalchemy import Engine, inspect


def test_models_are_listed_and_upload_is_idempotent(registry: TwinRegistry) -> None:
    ids = [m.id for m in registry.list_models()]
    assert ids == sorted(m["@id"] for m in TEST_MODELS)
    load = next(m for m in registry.list_models() if m.id == "dtmi:test:Load;1")
    assert load.extends == ["dtmi:test:Asset;1"]
    assert registry.upload_models(TEST_MODELS[:1]) == ["dtmi:test:Asset;1"]


def test_upload_rejects_changed_model_and_bad_dtdl(registry: TwinRegistry) -> None:
    changed = {**TEST_MODELS[1], "displayName": "Other"}
    with pytest.raises(ConflictError):
        registry.upload_models([changed])
    with pytest.raises(DtdlError):
        registry.upload_models(['{"@id": "not-a-dtmi"}'])
    with pytest.raises(DtdlError):  # the real parser: an unknown base interface
        registry.upload_models(
            [
                {
                    "@context": "dtmi:dtdl:context;3",
                    "@id": "dtmi:test:X;1",
                    "@type": "Interface",
                    "extends": "dtmi:test:Nope;1",
                }
            ]
        )
    assert len(registry.list_models()) == len(TEST_MODELS)


def test_create_get_replace_delete(registry: TwinRegistry) -> None:
    rec = registry.create(twin("b1", kv=12.47, name="b1"))
    assert (rec.id, rec.model, rec.site, rec.feeder) == ("b1", "dtmi:test:Bus;1", "s1", "f1")
    got = registry.get("b1")
    assert got == rec
    assert (
        got.doc["kv"] == 12.47
        and got.doc["$etag"] == rec.etag
        and got.doc["$metadata"]["$model"] == rec.model
    )

    new = registry.replace("b1", twin("b1", kv=4.16), if_match=rec.etag)
    assert new.etag != rec.etag and new.doc["kv"] == 4.16 and "name" not in new.doc
    with pytest.raises(ConflictError):
        registry.replace("b1", twin("b1", kv=1.0), if_match=rec.etag)
    with pytest.raises(ConflictError):
        registry.delete("b1", if_match=rec.etag)
    registry.delete("b1", if_match=new.etag)
    with pytest.raises(NotFoundError):
        registry.get("b1")
    with pytest.raises(NotFoundError):
        registry.delete("b1")
    with pytest.raises(NotFoundError):
        registry.replace("b1", twin("b1"))


def test_create_existing_id_conflicts(registry: TwinRegistry) -> None:
    registry.create(twin("b1"))
    with pytest.raises(ConflictError) as err:
        registry.create(twin("b1", kv=1.0))
    assert err.value.details[0].where == "b1"


def test_replace_with_other_id_is_refused(registry: TwinRegistry) -> None:
    registry.create(twin("b1"))
    with pytest.raises(InputError):
        registry.replace("b1", twin("b2"))


def test_validation_errors_name_the_twin(registry: TwinRegistry) -> None:
    with pytest.raises(TwinValidationError) as err:
        registry.create(twin("b1", model="Nope"))
    assert [d.where for d in err.value.details] == ["b1"]
    with pytest.raises(TwinValidationError) as err:
        registry.create(twin("b2", kv="high"))
    assert err.value.details[0].where == "b2" and "kv" in err.value.details[0].message
    with pytest.raises(TwinValidationError):
        registry.create(twin("b3", colour="red"))
    assert registry.query()[0] == []


def test_json_patch(registry: TwinRegistry) -> None:
    rec = registry.create(twin("l1", model="Load", p_kw=5.0, info={"owner": "x", "age": 3}))
    patched = registry.patch(
        "l1",
        [
            {"op": "replace", "path": "/p_kw", "value": 7.5},
            {"op": "add", "path": "/name", "value": "load one"},
            {"op": "remove", "path": "/info/age"},
        ],
        if_match=rec.etag,
    )
    assert (
        patched.doc["p_kw"] == 7.5
        and patched.doc["name"] == "load one"
        and patched.doc["info"] == {"owner": "x"}
    )
    assert patched.etag != rec.etag
    with pytest.raises(ConflictError):
        registry.patch("l1", [{"op": "replace", "path": "/p_kw", "value": 1.0}], if_match=rec.etag)
    with pytest.raises(TwinValidationError):  # re-validated after patching
        registry.patch("l1", [{"op": "replace", "path": "/p_kw", "value": "lots"}])
    with pytest.raises(InputError):
        registry.patch("l1", [{"op": "remove", "path": "/missing"}])
    with pytest.raises(InputError):
        registry.patch("l1", [{"op": "replace", "path": "/$dtId", "value": "l2"}])
    with pytest.raises(InputError):
        registry.patch("l1", [{"op": "bogus"}])
    assert registry.get("l1").doc["p_kw"] == 7.5
    moved = registry.patch("l1", [{"op": "replace", "path": "/feeder", "value": "f2"}])
    assert moved.feeder == "f2"


def test_relationship_crud(registry: TwinRegistry) -> None:
    registry.create(twin("b1"))
    registry.create(twin("l1", model="Load"))
    r = registry.create_relationship(rel("l1", "servedBy", "b1", "r1"))
    assert (r.id, r.source_id, r.name, r.target_id) == ("r1", "l1", "servedBy", "b1")
    assert registry.get_relationship("l1", "r1") == r
    with pytest.raises(ConflictError):
        registry.create_relationship(rel("l1", "servedBy", "b1", "r1"))
    assert [x.id for x in registry.list_relationships("l1")] == ["r1"]
    assert [x.id for x in registry.list_relationships("b1", incoming=True)] == ["r1"]
    assert registry.list_relationships("l1", name="connectsTo") == []
    with pytest.raises(ConflictError):
        registry.delete_relationship("l1", "r1", if_match='W/"nope"')
    registry.delete_relationship("l1", "r1", if_match=r.etag)
    with pytest.raises(NotFoundError):
        registry.get_relationship("l1", "r1")
    with pytest.raises(NotFoundError):
        registry.delete_relationship("l1", "r1")
    with pytest.raises(NotFoundError):
        registry.list_relationships("ghost")


def test_relationship_validation(registry: TwinRegistry) -> None:
    registry.create(twin("b1"))
    registry.create(twin("b2"))
    registry.create(twin("l1", model="Load"))
    registry.create(twin("l2", model="Load"))
    with pytest.raises(TwinValidationError):  # servedBy must target a Bus
        registry.create_relationship(rel("l1", "servedBy", "l2"))
    with pytest.raises(TwinValidationError):  # Bus has no servedBy
        registry.create_relationship(rel("b1", "servedBy", "b2"))
    with pytest.raises(TwinValidationError):  # unknown target
        registry.create_relationship(rel("l1", "servedBy", "ghost"))
    with pytest.raises(NotFoundError):  # unknown source
        registry.create_relationship(rel("ghost", "servedBy", "b1"))
    registry.create_relationship(rel("l1", "servedBy", "b1"))
    with pytest.raises(TwinValidationError):  # maxMultiplicity 1
        registry.create_relationship(rel("l1", "servedBy", "b2"))


def test_delete_twin_deletes_its_relationships(registry: TwinRegistry) -> None:
    registry.bulk_upsert(
        [twin("b1"), twin("b2"), twin("l1", model="Load")],
        [rel("l1", "servedBy", "b1"), rel("b1", "connectsTo", "b2"), rel("b2", "connectsTo", "b1")],
    )
    registry.delete("b1")
    assert registry.list_relationships("l1") == []
    assert registry.list_relationships("b2") == []
    assert registry.list_relationships("b2", incoming=True) == []


class _Catalog:
    """A catalog written by hand: the registry only needs the Protocol."""

    def subtypes(self, dtmi: str) -> set[str]:
        return {dtmi}

    def validate_twin(self, doc: dict[str, Any]) -> list[ErrorDetail]:
        ok = doc["$metadata"]["$model"] == "dtmi:x:Thing;1"
        return [] if ok else [ErrorDetail(doc["$dtId"], "only Things here")]

    def validate_relationship(
        self, source_model: str, name: str, target_model: str, count_for_source: int | None = None
    ) -> list[ErrorDetail]:
        return [] if name == "near" else [ErrorDetail(name, "only near")]


def test_a_given_catalog_is_used(engine: Engine, registry: TwinRegistry) -> None:
    reg = TwinRegistry(engine, catalog=_Catalog())
    thing = {"$dtId": "t1", "$metadata": {"$model": "dtmi:x:Thing;1"}, "anything": [1, 2]}
    assert reg.create(thing).doc["anything"] == [1, 2]
    with pytest.raises(TwinValidationError):
        reg.create(twin("b1"))
    reg.create({**thing, "$dtId": "t2"})
    reg.create_relationship(rel("t1", "near", "t2"))
    with pytest.raises(TwinValidationError):
        reg.create_relationship(rel("t1", "far", "t2"))


# --------------------------------------------------------------------------- hostile input

INJECTIONS = ["x'; DROP TABLE twins; --", 'a" OR "1"="1', "b1') OR ('1'='1", "%_\\", "ünïcødé-✓"]


@pytest.mark.parametrize("twin_id", INJECTIONS)
def test_injection_looking_ids_are_just_ids(registry: TwinRegistry, engine: Engine, twin_id: str) -> None:
    rec = registry.create(twin(twin_id, name=twin_id))
    assert registry.get(twin_id) == rec
    assert [r.id for r in registry.query(filters=[("name", "eq", twin_id)])[0]] == [twin_id]
    assert registry.query(filters=[("name", "eq", "x' OR '1'='1")])[0] == []
    with pytest.raises(NotFoundError):
        registry.get(twin_id + "%")
    assert "twins" in inspect(engine).get_table_names()


def test_ids_are_case_sensitive(registry: TwinRegistry) -> None:
    registry.create(twin("Bus1", name="Main"))
    registry.create(twin("bus1", name="main"))
    assert registry.get("Bus1").doc["name"] == "Main"
    assert [r.id for r in registry.query(filters=[("name", "eq", "main")])[0]] == ["bus1"]


@pytest.mark.parametrize(
    "doc",
    [
        "not a dict",
        ["a", "list"],
        {"$metadata": {"$model": "dtmi:test:Bus;1"}},
        {"$dtId": 7, "$metadata": {"$model": "dtmi:test:Bus;1"}},
        {"$dtId": "b1"},
        {"$dtId": "b1", "$metadata": "dtmi:test:Bus;1"},
        {"$dtId": "b1", "$metadata": {"$model": 3}},
        {"$dtId": "x" * 256, "$metadata": {"$model": "dtmi:test:Bus;1"}},
        {"$dtId": "b\x00", "$metadata": {"$model": "dtmi:test:Bus;1"}},
        {"$dtId": "b1", "$metadata": {"$model": "dtmi:test:Bus;1"}, "feeder": "has space"},
        {"$dtId": "b1", "$metadata": {"$model": "dtmi:test:Bus;1"}, "feeder": "f" * 65},
        {"$dtId": "b1", "$metadata": {"$model": "dtmi:test:Bus;1"}, "site": 5},
        {"$dtId": "b1", "$metadata": {"$model": "dtmi:test:Bus;1"}, "kv": float("nan")},
        {"$dtId": "b1", "$metadata": {"$model": "dtmi:test:Bus;1"}, "kv": object()},
        {"$dtId": "b1", "$metadata": {"$model": "dtmi:test:Bus;1"}, "note": "x" * 1_000_001},
    ],
)
def test_malformed_twins_are_input_errors(registry: TwinRegistry, doc: Any) -> None:
    with pytest.raises(TwinValidationError) as err:
        registry.create(doc)
    assert len(err.value.details) == 1
    assert registry.query()[0] == []


def test_large_but_allowed_document_round_trips(registry: TwinRegistry) -> None:
    note = "ß" * 200_000  # multi-byte characters: beyond MySQL TEXT, within LONGTEXT
    registry.create(twin("b1", note=note))
    assert registry.get("b1").doc["note"] == note


def test_unknown_lookups(registry: TwinRegistry) -> None:
    with pytest.raises(NotFoundError):
        registry.get("nope")
    with pytest.raises(NotFoundError):
        registry.get_relationship("nope", "r")
    with pytest.raises(NotFoundError):
        registry.feeder_version("nope")
    with pytest.raises(NotFoundError):
        registry.export_feeder("nope")
    with pytest.raises(NotFoundError):
        registry.delete_feeder("nope")


def test_empty_if_match_means_unconditional(registry: TwinRegistry) -> None:
    registry.create(twin("b1", feeder="fx", site="old"))
    registry.replace("b1", twin("b1", feeder="fx", site="new"), if_match="")
    assert [(f.id, f.site) for f in registry.list_feeders()] == [("fx", "new")]
    registry.delete("b1", if_match="*")


def test_models_uploaded_by_another_registry_are_seen(engine: Engine, registry: TwinRegistry) -> None:
    other = TwinRegistry(engine)
    assert other.catalog.subtypes("dtmi:test:Asset;1") >= {"dtmi:test:Bus;1"}
    registry.upload_models(
        [
            {
                "@context": "dtmi:dtdl:context;3",
                "@id": "dtmi:test:Pole;1",
                "@type": "Interface",
                "extends": "dtmi:test:Asset;1",
            }
        ]
    )
    assert other.create(twin("p1", model="Pole")).model == "dtmi:test:Pole;1"
