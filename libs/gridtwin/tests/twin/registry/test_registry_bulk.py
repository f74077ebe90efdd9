"""Bulk upsert (all or nothing), feeder versions and counts, feeder export and deletion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gridtwin.errors import NotFoundError, TwinValidationError
from gridtwin.store.db import make_engine
from gridtwin.twin.registry import TwinRegistry
from registry_docs import TEST_MODELS, rel, twin
from sqlalchemy import Engine


def _feeder(registry: TwinRegistry, feeder: str = "f1", n: int = 20) -> None:
    twins = [twin(feeder, model="Feeder", feeder=feeder)]
    twins += [twin(f"{feeder}.bus.b{i}", feeder=feeder, kv=12.47, phases=3) for i in range(n)]
    twins += [twin(f"{feeder}.load.l{i}", model="Load", feeder=feeder, p_kw=float(i)) for i in range(n)]
    rels = [rel(feeder, "contains", f"{feeder}.bus.b{i}") for i in range(n)]
    rels += [rel(f"{feeder}.bus.b{i}", "connectsTo", f"{feeder}.bus.b{i + 1}") for i in range(n - 1)]
    rels += [rel(f"{feeder}.load.l{i}", "servedBy", f"{feeder}.bus.b{i}") for i in range(n)]
    assert registry.bulk_upsert(twins, rels) == (len(twins), len(rels))


def test_bulk_upsert_then_upsert_again(registry: TwinRegistry) -> None:
    _feeder(registry)
    first = registry.get("f1.load.l3")
    _feeder(registry)  # same ids: replaced, not duplicated
    again = registry.get("f1.load.l3")
    assert again.doc == {**first.doc, "$etag": again.etag} and again.etag != first.etag
    info = registry.list_feeders()
    assert [(f.id, f.site, f.twin_count) for f in info] == [("f1", "s1", 41)]
    assert len(registry.list_relationships("f1")) == 20


def test_bulk_upsert_is_all_or_nothing(registry: TwinRegistry) -> None:
    _feeder(registry, "f1", 5)
    before = registry.export_feeder("f1")
    version = registry.feeder_version("f1")
    bad: list[Any] = [
        twin("f1.bus.b0", kv=1.0),  # valid replacement: must not be written either
        twin("f1.bus.new", kv="x"),  # wrong type
        twin("f1.bus.what", model="Unknown"),  # unknown model
        {"$dtId": "f1.bus.nometa"},
        "not even an object",
        twin("f1.bus.b0", kv=2.0),  # duplicate in the batch
    ]
    rels = [rel("f1.load.l0", "servedBy", "f1.load.l1"), rel("f1.bus.b0", "connectsTo", "ghost")]
    with pytest.raises(TwinValidationError) as err:
        registry.bulk_upsert(bad, rels)
    wheres = [d.where for d in err.value.details]
    assert wheres[:5] == ["f1.bus.new", "f1.bus.what", "f1.bus.nometa", "twins[4]", "f1.bus.b0"]
    assert wheres[5:] == [
        "f1.load.l0/relationships/servedBy-f1.load.l1",
        "f1.bus.b0/relationships/connectsTo-ghost",
    ]
    assert "kv" in err.value.details[0].message
    assert registry.export_feeder("f1")[0].equals(before[0])
    assert registry.export_feeder("f1")[1].equals(before[1])
    assert registry.feeder_version("f1") == version
    assert registry.get("f1.bus.b0").doc["kv"] == 12.47


def test_bulk_multiplicity_counts_batch_and_stored(registry: TwinRegistry) -> None:
    _feeder(registry, "f1", 3)
    with pytest.raises(TwinValidationError):  # l0 already servedBy b0: a second one breaks max 1
        registry.bulk_upsert([], [rel("f1.load.l0", "servedBy", "f1.bus.b1")])
    # replacing the same relationship id keeps the count at one
    assert registry.bulk_upsert([], [rel("f1.load.l0", "servedBy", "f1.bus.b0", "servedBy-f1.bus.b0")]) == (
        0,
        1,
    )


def test_feeder_version_changes_on_every_write(registry: TwinRegistry) -> None:
    _feeder(registry, "f1", 3)
    _feeder(registry, "f2", 3)
    seen = {registry.feeder_version("f1")}
    other = registry.feeder_version("f2")

    def bumped() -> None:
        v = registry.feeder_version("f1")
        assert v not in seen
        seen.add(v)

    rec = registry.create(twin("f1.bus.x"))
    bumped()
    rec = registry.replace("f1.bus.x", twin("f1.bus.x", kv=1.0), if_match=rec.etag)
    bumped()
    registry.patch("f1.bus.x", [{"op": "add", "path": "/kv", "value": 2.0}])
    bumped()
    r = registry.create_relationship(rel("f1.bus.x", "connectsTo", "f1.bus.b0"))
    bumped()
    registry.delete_relationship("f1.bus.x", r.id)
    bumped()
    registry.bulk_upsert([], [rel("f1.bus.b0", "connectsTo", "f1.bus.b2", "extra")])
    bumped()
    registry.delete("f1.bus.x")
    bumped()
    assert registry.feeder_version("f2") == other
    # moving a twin to another feeder changes both
    registry.patch("f1.bus.b2", [{"op": "replace", "path": "/feeder", "value": "f2"}])
    bumped()
    assert registry.feeder_version("f2") != other
    assert {f.id: f.twin_count for f in registry.list_feeders()} == {"f1": 6, "f2": 8}


def test_list_feeders_by_site(registry: TwinRegistry) -> None:
    registry.bulk_upsert([twin("a", feeder="fa", site="north"), twin("b", feeder="fb", site="south")], [])
    assert [f.id for f in registry.list_feeders("north")] == ["fa"]
    assert [f.id for f in registry.list_feeders()] == ["fa", "fb"]
    assert registry.list_feeders("west") == []


def test_export_feeder(registry: TwinRegistry) -> None:
    _feeder(registry, "f1", 10)
    _feeder(registry, "f2", 4)
    twins_t, rels_t = registry.export_feeder("f1")
    assert twins_t.column_names == ["id", "model", "site", "feeder", "etag", "properties_json"]
    assert rels_t.column_names == ["id", "source_id", "name", "target_id", "properties_json"]
    assert twins_t.num_rows == 21 and rels_t.num_rows == 10 + 9 + 10
    assert set(twins_t.column("feeder").to_pylist()) == {"f1"}
    row = twins_t.to_pylist()[twins_t.column("id").to_pylist().index("f1.load.l7")]
    assert row["model"] == "dtmi:test:Load;1" and json.loads(row["properties_json"]) == {"p_kw": 7.0}
    assert row["etag"] == registry.get("f1.load.l7").etag
    assert twins_t.schema.metadata[b"feeder_version"].decode() == registry.feeder_version("f1")
    assert all(str(s).startswith("f1") for s in rels_t.column("source_id").to_pylist())


def test_delete_feeder(registry: TwinRegistry) -> None:
    _feeder(registry, "f1", 5)
    _feeder(registry, "f2", 5)
    registry.create_relationship(rel("f2.bus.b0", "connectsTo", "f1.bus.b0", "tie"))
    v2 = registry.feeder_version("f2")
    assert registry.delete_feeder("f1") == 11
    assert [f.id for f in registry.list_feeders()] == ["f2"]
    with pytest.raises(NotFoundError):
        registry.export_feeder("f1")
    with pytest.raises(NotFoundError):
        registry.get_relationship("f2.bus.b0", "tie")
    assert registry.feeder_version("f2") != v2  # its tie to f1 went away
    # a feeder loaded again never reuses an old version
    old = v2
    _feeder(registry, "f1", 2)
    assert registry.feeder_version("f1") not in {"1", old}


def test_bulk_upsert_large_batch(registry: TwinRegistry) -> None:
    n = 12_000  # more than one write batch
    twins = [twin(f"f9.bus.b{i}", feeder="f9", kv=0.4, phases=i % 3 + 1) for i in range(n)]
    rels = [rel(f"f9.bus.b{i}", "connectsTo", f"f9.bus.b{i + 1}") for i in range(n - 1)]
    assert registry.bulk_upsert(twins, rels) == (n, n - 1)
    t, r = registry.export_feeder("f9")
    assert (t.num_rows, r.num_rows) == (n, n - 1)
    assert registry.list_feeders()[0].twin_count == n


def test_bad_twin_after_chunks_already_sent_leaves_nothing(registry: TwinRegistry) -> None:
    n = 11_000  # two write chunks go to the database before the bad twin is seen
    twins: list[Any] = [twin(f"f8.bus.b{i}", feeder="f8", kv=0.4) for i in range(n)]
    twins.append(twin("f8.bus.bad", feeder="f8", kv="not a number"))
    with pytest.raises(TwinValidationError) as err:
        registry.bulk_upsert(twins, [])
    assert [d.where for d in err.value.details] == ["f8.bus.bad"]
    assert registry.query(feeder="f8")[0] == []
    assert registry.list_feeders() == []


def test_concurrent_writers(registry: TwinRegistry) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(k: int) -> None:
        for i in range(15):
            registry.create(twin(f"c.{k}.{i}", feeder="fc", kv=float(i)))
        registry.bulk_upsert([twin(f"c.{k}.bulk{i}", feeder="fc") for i in range(50)], [])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert registry.list_feeders()[0].twin_count == 4 * 65
    assert registry.export_feeder("fc")[0].num_rows == 4 * 65


def test_malformed_relationships_are_reported_one_each(registry: TwinRegistry) -> None:
    registry.bulk_upsert([twin("b1"), twin("b2")], [])
    rels: list[Any] = [
        "junk",
        {"$sourceId": 5, "$relationshipId": "r", "$relationshipName": "connectsTo", "$targetId": "b2"},
        rel("b1", "connectsTo", "b2", "x" * 300),
        rel("b1", "connectsTo", "b2", "ok") | {"weight": float("nan")},
        rel("b1", "connectsTo", "b2", "ok2"),
        rel("b1", "connectsTo", "b2", "ok2"),
    ]
    with pytest.raises(TwinValidationError) as err:
        registry.bulk_upsert([], rels)
    assert [d.where for d in err.value.details] == [
        "relationships[0]",
        "relationships[1]",
        "relationships[2]",
        "b1/relationships/ok",
        "b1/relationships/ok2",
    ]
    assert registry.list_relationships("b1") == []


def test_replace_feeder(registry: TwinRegistry) -> None:
    _feeder(registry, "f1", 4)
    _feeder(registry, "f2", 2)
    registry.create_relationship(rel("f2.bus.b0", "connectsTo", "f1.bus.b1", "tie"))
    registry.create_relationship(rel("f2.bus.b1", "connectsTo", "f1.bus.b3", "tie-gone"))
    v2 = registry.feeder_version("f2")
    # the new f1: buses b0..b2 only, one line-like link, no loads
    twins = [twin("f1", model="Feeder", feeder="f1")] + [
        twin(f"f1.bus.b{i}", feeder="f1", kv=1.0) for i in range(3)
    ]
    rels = [rel("f1.bus.b0", "connectsTo", "f1.bus.b1")]
    assert registry.bulk_upsert(twins, rels, replace_feeder="f1") == (4, 1)
    t, r = registry.export_feeder("f1")
    assert sorted(str(x) for x in t.column("id").to_pylist()) == ["f1", "f1.bus.b0", "f1.bus.b1", "f1.bus.b2"]
    assert r.column("id").to_pylist() == ["connectsTo-f1.bus.b1"]
    assert registry.get_relationship("f2.bus.b0", "tie").target_id == "f1.bus.b1"  # into a kept twin
    with pytest.raises(NotFoundError):
        registry.get_relationship("f2.bus.b1", "tie-gone")  # into a dropped twin
    assert registry.feeder_version("f2") != v2
    assert {f.id: f.twin_count for f in registry.list_feeders()} == {"f1": 4, "f2": 5}


def test_failed_replace_leaves_the_old_feeder(registry: TwinRegistry) -> None:
    _feeder(registry, "f1", 3)
    before = registry.export_feeder("f1")
    with pytest.raises(TwinValidationError):
        registry.bulk_upsert([twin("f1.bus.b0", feeder="f1", kv="bad")], [], replace_feeder="f1")
    after = registry.export_feeder("f1")
    assert after[0].equals(before[0]) and after[1].equals(before[1])


def test_bulk_move_between_feeders_bumps_both(registry: TwinRegistry) -> None:
    _feeder(registry, "f1", 3)
    _feeder(registry, "f2", 3)
    v1, v2 = registry.feeder_version("f1"), registry.feeder_version("f2")
    moved = [twin(f"f1.bus.b{i}", feeder="f2", kv=1.0) for i in range(3)]
    fresh = [twin(f"f2.bus.n{i}", feeder="f2") for i in range(WRITE_BATCH_PLUS)]
    registry.bulk_upsert(fresh + moved, [])  # the moved twins sit in a later chunk than new ones
    assert registry.feeder_version("f1") != v1 and registry.feeder_version("f2") != v2
    assert {f.id: f.twin_count for f in registry.list_feeders()} == {"f1": 4, "f2": 10 + WRITE_BATCH_PLUS}
    # a batch of new twins only leaves other feeders alone
    v1 = registry.feeder_version("f1")
    registry.bulk_upsert([twin("f3.x", feeder="f3")], [])
    assert registry.feeder_version("f1") == v1


WRITE_BATCH_PLUS = 5003


TRICKY = [
    "back\\slash",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "nul\x00byte",
    "\\N",
    "NULL",
    "",
    "ünïcødé ✓ 電力",
    "quote \" and ' apostrophe",
    "\\t not a tab",
]


def test_bulk_write_keeps_every_character(registry: TwinRegistry) -> None:
    """Bulk writes go through TSV + LOAD DATA on MySQL: escapes must survive exactly, on both backends."""
    twins = [twin("f1", model="Feeder", feeder="f1")]
    twins += [twin(f"f1.bus.t{i}", feeder="f1", note=text) for i, text in enumerate(TRICKY)]
    # enough rows that the batch is written in more than one chunk
    twins += [twin(f"f1.bus.x{i}", feeder="f1", note=TRICKY[i % len(TRICKY)]) for i in range(12_000)]
    registry.bulk_upsert(twins, [])
    for i, text in enumerate(TRICKY):
        assert registry.get(f"f1.bus.t{i}").doc["note"] == text
    exported, _ = registry.export_feeder("f1")
    notes = {
        row["id"]: json.loads(row["properties_json"]).get("note")
        for row in exported.to_pylist()
        if row["id"].startswith("f1.bus.t")
    }
    assert notes == {f"f1.bus.t{i}": text for i, text in enumerate(TRICKY)}


def test_bulk_write_without_local_infile(engine: Engine) -> None:
    """With LOAD DATA LOCAL off (an untrusted MySQL server) bulk writes fall back to upserts, same result."""
    strict = make_engine(engine.url.render_as_string(hide_password=False), mysql_local_infile=False)
    try:
        registry = TwinRegistry(strict)
        registry.upload_models(TEST_MODELS)
        twins = [twin("f2", model="Feeder", feeder="f2")]
        twins += [twin(f"f2.bus.t{i}", feeder="f2", note=text) for i, text in enumerate(TRICKY)]
        assert registry.bulk_upsert(twins, []) == (len(twins), 0)
        assert [registry.get(f"f2.bus.t{i}").doc["note"] for i in range(len(TRICKY))] == TRICKY
    finally:
        strict.dispose()
