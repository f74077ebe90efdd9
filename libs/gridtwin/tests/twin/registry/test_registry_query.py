"""Queries (model with subtypes, site, feeder, property filters, paging) and traversal."""

from __future__ import annotations

from typing import Any

import pytest
from gridtwin.errors import InputError, NotFoundError
from gridtwin.twin.query import PropertyFilter
from gridtwin.twin.registry import TwinRegistry
from registry_docs import rel, twin


@pytest.fixture
def loaded(registry: TwinRegistry) -> TwinRegistry:
    twins = [
        twin("b1", kv=12.47, name="alpha", phases=3, enabled=True, info={"owner": "ann", "age": 4}),
        twin("b2", kv=4.16, name="Beta", phases=1, enabled=False, info={"owner": "bob", "age": 40}),
        twin("b3", kv=0.48, name="gamma", phases=2, site="s2", feeder="f2"),
        twin("l1", model="Load", p_kw=10.0, rating_kw=5, name="10"),
        twin("l2", model="Load", p_kw=2.5, rating_kw=50.5, note="x' OR '1'='1"),
        twin("a1", model="Asset", rating_kw=-1),
        twin("fd", model="Feeder", feeder=None),
    ]
    registry.bulk_upsert(twins, [])
    return registry


def ids(result: tuple[list[Any], str | None]) -> list[str]:
    return [r.id for r in result[0]]


def test_query_by_model_includes_subtypes(loaded: TwinRegistry) -> None:
    assert ids(loaded.query(model="dtmi:test:Asset;1")) == ["a1", "b1", "b2", "b3", "l1", "l2"]
    assert ids(loaded.query(model="dtmi:test:Asset;1", exact_model=True)) == ["a1"]
    assert ids(loaded.query(model="dtmi:test:Load;1")) == ["l1", "l2"]
    assert ids(loaded.query(model="dtmi:test:Unknown;1")) == []


def test_query_by_site_and_feeder(loaded: TwinRegistry) -> None:
    assert ids(loaded.query(site="s2")) == ["b3"]
    assert ids(loaded.query(feeder="f1", model="dtmi:test:Bus;1")) == ["b1", "b2"]
    assert ids(loaded.query(feeder="f1' OR '1'='1")) == []


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (("kv", "gt", 1), ["b1", "b2"]),
        (("kv", "lt", 4.16), ["b3"]),
        (("kv", "le", 4.16), ["b2", "b3"]),
        (("kv", "ge", 12.47), ["b1"]),
        (("kv", "eq", 4.16), ["b2"]),
        (("phases", "eq", 3), ["b1"]),
        (("rating_kw", "gt", 4), ["l1", "l2"]),  # integers and doubles compare as numbers
        (("rating_kw", "lt", 0), ["a1"]),
        (("name", "eq", "alpha"), ["b1"]),
        (("name", "eq", "beta"), []),  # case-sensitive on both backends
        (("name", "gt", "Z"), ["b1", "b3"]),  # string order, binary collation
        (("name", "lt", "b"), ["b1", "b2", "l1"]),
        (("name", "gt", 5), []),  # "10" is a string: numbers never match strings
        (("enabled", "eq", True), ["b1"]),
        (("enabled", "eq", False), ["b2"]),
        (("enabled", "ne", True), ["a1", "b2", "b3", "fd", "l1", "l2"]),
        (("info.owner", "eq", "bob"), ["b2"]),
        (("info.age", "ge", 10), ["b2"]),
        (("note", "eq", None), ["a1", "b1", "b2", "b3", "fd", "l1"]),
        (("note", "ne", None), ["l2"]),
        (("note", "eq", "x' OR '1'='1"), ["l2"]),
        (("kv", "ne", 4.16), ["a1", "b1", "b3", "fd", "l1", "l2"]),
    ],
)
def test_property_filters(loaded: TwinRegistry, flt: tuple[str, str, Any], expected: list[str]) -> None:
    assert ids(loaded.query(filters=[flt])) == expected


def test_filters_combine_with_and(loaded: TwinRegistry) -> None:
    filters: list[Any] = [PropertyFilter("kv", "gt", 1), {"path": "phases", "op": "lt", "value": 3}]
    assert ids(loaded.query(model="dtmi:test:Bus;1", filters=filters)) == ["b2"]


@pytest.mark.parametrize(
    "flt",
    [
        ("kv') OR 1=1 --", "eq", 1),
        ('kv"', "eq", 1),
        ("$.kv", "eq", 1),
        ("", "eq", 1),
        ("a.b.c.d.e.f.g.h.i", "eq", 1),
        ("kv", "like", 1),
        ("kv", "eq", [1]),
        ("kv", "eq", {"a": 1}),
        ("kv", "lt", None),
        ("kv", "gt", True),
        ("kv", "eq", float("inf")),
        ("kv", "eq"),
        (5, "eq", 1),
    ],
)
def test_bad_filters_are_input_errors(loaded: TwinRegistry, flt: Any) -> None:
    with pytest.raises(InputError):
        loaded.query(filters=[flt])


def test_paging(loaded: TwinRegistry) -> None:
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page, token = loaded.query(page_size=3, page_token=token)
        seen += [r.id for r in page]
        pages += 1
        if token is None:
            break
    assert seen == sorted(seen) and len(seen) == 7 and pages == 3
    with pytest.raises(InputError):
        loaded.query(page_token="garbage!")
    with pytest.raises(InputError):
        loaded.query(page_size=0)
    with pytest.raises(InputError):
        loaded.query(page_size=100_000)


@pytest.fixture
def chain(registry: TwinRegistry) -> TwinRegistry:
    # f -contains-> b0 -connectsTo-> b1 -> b2 -> b3 -> b4 ; loads l_i -servedBy-> b_i
    twins = [twin("f", model="Feeder")] + [twin(f"b{i}") for i in range(5)]
    twins += [twin(f"l{i}", model="Load") for i in range(5)]
    rels = [rel("f", "contains", "b0")] + [rel(f"b{i}", "connectsTo", f"b{i + 1}") for i in range(4)]
    rels += [rel(f"l{i}", "servedBy", f"b{i}") for i in range(5)]
    registry.bulk_upsert(twins, rels)
    return registry


def test_traverse_out(chain: TwinRegistry) -> None:
    assert [r.id for r in chain.traverse("b0")] == ["b1"]
    assert [r.id for r in chain.traverse("f", max_hops=3)] == ["b0", "b1", "b2"]
    assert [r.id for r in chain.traverse("f", max_hops=10)] == ["b0", "b1", "b2", "b3", "b4"]
    assert [r.id for r in chain.traverse("f", names=["contains"], max_hops=5)] == ["b0"]
    assert chain.traverse("b4") == []


def test_traverse_in_and_both(chain: TwinRegistry) -> None:
    assert [r.id for r in chain.traverse("b2", direction="in")] == ["b1", "l2"]
    assert [r.id for r in chain.traverse("b2", direction="in", max_hops=2)] == ["b1", "l2", "b0", "l1"]
    assert [r.id for r in chain.traverse("b2", names=["connectsTo"], direction="in", max_hops=9)] == [
        "b1",
        "b0",
    ]
    assert [r.id for r in chain.traverse("l2", direction="both", max_hops=3)] == [
        "b2",
        "b1",
        "b3",
        "b0",
        "b4",
        "l1",
        "l3",
    ]


def test_traverse_bad_input(chain: TwinRegistry) -> None:
    with pytest.raises(NotFoundError):
        chain.traverse("ghost")
    with pytest.raises(InputError):
        chain.traverse("b0", direction="sideways")
    with pytest.raises(InputError):
        chain.traverse("b0", max_hops=0)
