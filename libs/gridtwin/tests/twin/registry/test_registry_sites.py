"""The registry filters by the caller's sites (SQLite and MySQL): another site's twins, relationships
and feeders are not found (the same error as missing ones), queries, traversals and feeder lists hold
only the caller's sites and shared twins, and writes into a site the caller does not hold, over another
site's twins, or of shared twins without every site, are refused (403) with nothing written."""

from __future__ import annotations

import pytest
from gridtwin.access import ALL_SITES, Principal, Role, SitesDenied
from gridtwin.errors import NotFoundError, TwinValidationError
from gridtwin.grid.source import RegistryFeeders
from gridtwin.twin.registry import TwinRegistry
from registry_docs import rel, twin

A = Principal("op-a", Role.OPERATOR, frozenset({"a"}))
B = Principal("op-b", Role.OPERATOR, frozenset({"b"}))
EVERY = Principal("admin", Role.ADMIN, frozenset({ALL_SITES}))


@pytest.fixture
def two_sites(registry: TwinRegistry) -> TwinRegistry:
    registry.bulk_upsert(
        [
            twin("fa", "Feeder", "fa", "a"),
            twin("fa.b1", "Bus", "fa", "a"),
            twin("fa.l1", "Load", "fa", "a"),
            twin("fb", "Feeder", "fb", "b"),
            twin("fb.b1", "Bus", "fb", "b"),
            twin("shared.b", "Bus", None, None),
        ],
        [
            rel("fa", "contains", "fa.b1"),
            rel("fa.l1", "servedBy", "fa.b1"),
            rel("fb", "contains", "fb.b1"),
            rel("fa.b1", "connectsTo", "fb.b1", "tie"),  # a tie between the sites
            rel("fa.b1", "connectsTo", "shared.b", "to-shared"),
        ],
    )
    return registry


def _missing(call: object) -> str:
    assert callable(call)
    with pytest.raises(NotFoundError) as info:
        call()
    return str(info.value)


def test_reads_of_another_site_are_not_found(two_sites: TwinRegistry) -> None:
    reg = two_sites
    assert reg.get("fa.b1", principal=A).site == "a"
    hidden = _missing(lambda: reg.get("fb.b1", principal=A)).replace("fb.b1", "<id>")
    assert hidden == _missing(lambda: reg.get("nope", principal=A)).replace("nope", "<id>")
    assert reg.get("shared.b", principal=A).site is None  # shared twins are seen by everyone
    _missing(lambda: reg.get_relationship("fb", "contains-fb.b1", principal=A))
    _missing(lambda: reg.get_relationship("fa.b1", "tie", principal=A))  # its target is B's
    assert reg.get_relationship("fa.b1", "tie", principal=EVERY).target_id == "fb.b1"
    _missing(lambda: reg.list_relationships("fb", principal=A))
    assert {r.id for r in reg.list_relationships("fa.b1", principal=A)} == {"to-shared"}
    assert {r.id for r in reg.list_relationships("fa.b1", principal=None)} == {"tie", "to-shared"}
    assert {r.source_id for r in reg.list_relationships("fb.b1", incoming=True, principal=B)} == {"fb"}
    _missing(lambda: reg.traverse("fb", principal=A))
    reach = reg.traverse("fa", ["contains", "connectsTo"], max_hops=3, principal=A)
    assert {r.id for r in reach} == {"fa.b1", "shared.b"}
    _missing(lambda: reg.feeder_version("fb", principal=A))
    _missing(lambda: reg.export_feeder("fb", principal=A))
    assert reg.feeder_site("fa", principal=A) == "a"


def test_lists_hold_only_the_callers_sites(two_sites: TwinRegistry) -> None:
    reg = two_sites
    ids = {t.id for t in reg.query(page_size=1000, principal=A)[0]}
    assert ids == {"fa", "fa.b1", "fa.l1", "shared.b"}
    assert reg.query(site="b", principal=A)[0] == []
    assert {t.id for t in reg.query(page_size=1000, principal=EVERY)[0]} >= {"fb", "fb.b1"}
    assert [f.id for f in reg.list_feeders(principal=A)] == ["fa"]
    assert [f.id for f in reg.list_feeders(principal=None)] == ["fa", "fb"]
    source = RegistryFeeders(reg, A)
    assert [f.id for f in source.list_feeders()] == ["fa"]
    assert source.feeder_model("fa").feeder_id == "fa"
    with pytest.raises(NotFoundError):
        source.feeder_model("fb")


def test_writes_stay_in_the_callers_sites(two_sites: TwinRegistry) -> None:
    reg = two_sites
    version_b = reg.feeder_version("fb")
    with pytest.raises(SitesDenied):
        reg.create(twin("fa.b9", "Bus", "fa", "b"), principal=A)
    with pytest.raises(SitesDenied):  # shared twins: only a caller of every site writes them
        reg.create(twin("x.shared", "Bus", None, None), principal=A)
    reg.create(twin("x.shared", "Bus", None, None), principal=EVERY)
    with pytest.raises(SitesDenied):
        reg.patch("shared.b", [{"op": "replace", "path": "/kv", "value": 1.0}], principal=A)
    with pytest.raises(NotFoundError):
        reg.patch("fb.b1", [{"op": "replace", "path": "/kv", "value": 1.0}], principal=A)
    with pytest.raises(NotFoundError):
        reg.delete("fb.b1", principal=A)
    with pytest.raises(SitesDenied):  # moving one's twin to a site one does not hold
        reg.patch("fa.b1", [{"op": "replace", "path": "/site", "value": "b"}], principal=A)
    with pytest.raises(NotFoundError):
        reg.delete_feeder("fb", principal=A)
    with pytest.raises(SitesDenied):
        reg.bulk_upsert([twin("fb.b2", "Bus", "fb", "b")], principal=A)
    with pytest.raises(SitesDenied):  # the same id as B's twin, filed under A: B's is not A's to overwrite
        reg.bulk_upsert([twin("fb.b1", "Bus", "fa", "a")], principal=A)
    with pytest.raises(SitesDenied):
        reg.bulk_upsert([], replace_feeder="fb", principal=A)
    with pytest.raises(TwinValidationError):  # B's twin is not there for A
        reg.bulk_upsert([], [rel("fa.b1", "connectsTo", "fb.b1", "tie2")], principal=A)
    with pytest.raises(TwinValidationError):
        reg.create_relationship(rel("fa.b1", "connectsTo", "fb.b1", "tie3"), principal=A)
    with pytest.raises(NotFoundError):
        reg.delete_relationship("fa.b1", "tie", principal=A)
    assert reg.feeder_version("fb") == version_b  # nothing of B's changed
    assert reg.get("fb.b1").site == "b"

    reg.bulk_upsert([twin("fa.b2", "Bus", "fa", "a")], [rel("fa", "contains", "fa.b2")], principal=A)
    reg.patch("fa.b2", [{"op": "add", "path": "/kv", "value": 4.16}], principal=A)
    reg.create_relationship(rel("fa.b2", "connectsTo", "shared.b", "b2-shared"), principal=A)
    reg.delete_relationship("fa.b2", "b2-shared", principal=A)
    reg.delete("fa.b2", principal=A)
    assert reg.delete_feeder("fa", principal=A) == 3
