"""Site isolation in the stores, on SQLite and MySQL (``gridtwin_test_sites``, marker mysql): jobs (one
site, several, shared, too many to name), their quota, scenarios and their sweeps, measurement imports
and load summaries, per-bus hosting results by their feeder's site. Another site's item answers exactly
as a missing one; lists never hold it; writes into a site not held are 403."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from gridtwin.access import ALL_SITES, Principal, Role, SitesDenied
from gridtwin.errors import ConflictError, NotFoundError, RateLimitedError
from gridtwin.store.hosting import HostingStore
from gridtwin.store.jobs import JobStore, decode_sites, encode_sites, job_visible
from gridtwin.store.measurements import MeasurementStore
from gridtwin.store.scenarios import ScenarioStore
from gridtwin.store.sites import check_writable, landing_site
from gridtwin.store.tables import (
    ami_load_summary,
    feeders,
    hosting_bus_results,
    imports,
    job_tasks,
    jobs,
    scenario_sweeps,
    scenarios,
)
from store_support import migrated_engine

MYSQL_DB = "gridtwin_test_sites"
OWN_TABLES = (
    jobs,
    job_tasks,
    scenario_sweeps,
    scenarios,
    imports,
    ami_load_summary,
    hosting_bus_results,
    feeders,
)


def who(*sites: str, role: Role = Role.ANALYST) -> Principal:
    return Principal(f"u-{'-'.join(sites) or 'none'}", role, frozenset(sites))


A, B, AB, EVERY = who("a"), who("b"), who("a", "b"), who(ALL_SITES)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    with migrated_engine(request.param, MYSQL_DB, tmp_path_factory.mktemp("sites")) as eng:
        yield eng


@pytest.fixture
def clean(engine: sa.Engine) -> sa.Engine:
    with engine.begin() as conn:
        for table in OWN_TABLES:
            conn.execute(sa.delete(table))
    return engine


def test_site_encoding_of_jobs() -> None:
    assert encode_sites([]) == "" and encode_sites(["", None]) == ""
    assert encode_sites(["b", "a", "b"]) == "a,b" and decode_sites("a,b") == ["a", "b"]
    assert encode_sites(["x" * 100, "y" * 100]) == "*"  # does not fit: seen only by every-site callers
    assert encode_sites(["a,b"]) == "*"
    assert job_visible(A, "a") and job_visible(A, "") and not job_visible(A, "a,b")
    assert job_visible(AB, "a,b") and not job_visible(AB, "*") and job_visible(EVERY, "*")
    assert job_visible(None, "b")


def test_jobs_are_filtered_by_every_one_of_their_sites(clean: sa.Engine) -> None:
    store = JobStore(clean)
    made = {
        site: store.create("qsts", {}, ["f"], site=site, job_id=f"j{i}")
        for i, site in enumerate(("a", "b", "a,b", "", "*", "ab", "a.b"))
    }
    ids = {site: rec.id for site, rec in made.items()}

    def listed(principal: Principal | None) -> set[str]:
        recs, total = store.list(limit=100, principal=principal)
        assert total == len(recs)
        return {r.id for r in recs}

    assert listed(A) == {ids["a"], ids[""]}  # "ab" and "a.b" are other sites, not a prefix match
    assert listed(B) == {ids["b"], ids[""]}
    assert listed(AB) == {ids["a"], ids["b"], ids["a,b"], ids[""]}
    assert listed(EVERY) == listed(None) == set(ids.values())
    assert listed(who("ab")) == {ids["ab"], ids[""]}
    assert listed(who()) == {ids[""]}  # no site at all: only shared jobs
    for hidden in ("b", "a,b", "*"):
        with pytest.raises(NotFoundError) as info:
            store.get(ids[hidden], principal=A)
        with pytest.raises(NotFoundError) as missing:
            store.get("no-such-job", principal=A)
        assert info.value.details[0].message == missing.value.details[0].message
        with pytest.raises(NotFoundError):
            store.tasks(ids[hidden], principal=A)
        with pytest.raises(NotFoundError):
            store.cancel(ids[hidden], principal=A)
    assert store.get(ids["a,b"], principal=AB).sites == ["a", "b"]
    with pytest.raises(SitesDenied):  # a shared job: only a caller of every site may cancel it
        store.cancel(ids[""], principal=A)
    assert store.cancel(ids["a"], principal=A).status == "cancelled"


def test_resubmitting_another_sites_job_id_is_refused(clean: sa.Engine) -> None:
    store = JobStore(clean)
    store.create("qsts", {"v": 1}, ["f"], site="b", job_id="taken")
    with pytest.raises(ConflictError):
        store.create("qsts", {"v": 2}, ["f"], site="a", job_id="taken", principal=A)
    assert store.get("taken").params == {"v": 1}
    again = store.create("qsts", {"v": 3}, ["f"], site="b", job_id="taken", principal=B)
    assert again.params == {"v": 3}


def test_the_quota_counts_queued_and_running_jobs_per_site(clean: sa.Engine) -> None:
    store = JobStore(clean)
    store.create("qsts", {}, ["f"], site="a", max_active_per_site=2)
    running = store.create("qsts", {}, ["f"], site="a,b", max_active_per_site=2)
    store.set_status(running.id, "running")
    assert store.active_count("a") == 2 and store.active_count("b") == 1 and store.active_count("") == 0
    with pytest.raises(RateLimitedError) as info:
        store.create("qsts", {}, ["f"], site="a", max_active_per_site=2)
    assert info.value.retry_after_s > 0 and info.value.details[0].code == "quota"
    with pytest.raises(RateLimitedError):  # one full site of several refuses the job
        store.create("qsts", {}, ["f"], site="a,b", max_active_per_site=2)
    store.create("qsts", {}, ["f"], site="b", max_active_per_site=2)  # b has room
    store.create("qsts", {}, ["f"], site="a_")  # LIKE wildcards in names do not match other sites
    assert store.active_count("a") == 2
    store.finish(running.id)
    store.create("qsts", {}, ["f"], site="a", max_active_per_site=2)  # a finished job frees its place


def test_scenarios_and_sweeps_by_site(clean: sa.Engine) -> None:
    store = ScenarioStore(clean)
    body = {"name": "x"}
    store.create("a", 1, body, "", "sa", site="a", principal=A)
    store.create("b", 1, body, "", "sb", site="b", principal=B)
    store.create("shared", 1, body, "", "s0", site="", principal=EVERY)
    with pytest.raises(SitesDenied):
        store.create("x", 1, body, "", "sx", site="b", principal=A)
    with pytest.raises(SitesDenied):  # a shared scenario needs a caller of every site
        store.create("x", 1, body, "", "sx", site="", principal=AB)
    recs, total = store.list(principal=A)
    assert {r.id for r in recs} == {"sa", "s0"} and total == 2
    assert {r.id for r in store.list(principal=AB)[0]} == {"sa", "sb", "s0"}
    assert store.get("s0", principal=B).site == ""
    for call in (
        lambda: store.get("sb", principal=A),
        lambda: store.update("sb", "b", 1, body, "", principal=A),
        lambda: store.delete("sb", principal=A),
        lambda: store.create_sweep("sb", "grid", {}, [], principal=A),
    ):
        with pytest.raises(NotFoundError):
            call()
    with pytest.raises(SitesDenied):  # shared: read by all, changed by callers of every site only
        store.update("s0", "x", 1, body, "", principal=A)
    with pytest.raises(SitesDenied):  # moving one's scenario to a site not held
        store.update("sa", "a", 1, body, "", site="b", principal=A)
    moved = store.update("sa", "a", 1, body, "", site="b", principal=AB)
    assert moved.site == "b" and moved.revision == 2
    sweep = store.create_sweep("sb", "grid", {}, [], principal=B)
    with pytest.raises(NotFoundError):
        store.get_sweep(sweep.id, principal=who("c"))
    assert store.get_sweep(sweep.id, principal=B).id == sweep.id
    assert store.list_sweeps(principal=who("c")) == [] and len(store.list_sweeps(principal=B)) == 1
    store.delete("sb", principal=AB)


def test_imports_and_load_summaries_by_site(clean: sa.Engine) -> None:
    store = MeasurementStore(clean)
    ra = store.create_import("meters", "a", "x.csv", {}, principal=A)
    rb = store.create_import("meters", "b", "y.csv", {})
    with pytest.raises(SitesDenied):
        store.create_import("meters", "b", "z.csv", {}, principal=A)
    with pytest.raises(ConflictError):  # resuming another site's import by its id
        store.create_import("meters", "a", "z.csv", {}, import_id=rb.id, principal=A)
    assert {r.id for r in store.list_imports(principal=A)} == {ra.id}
    assert {r.id for r in store.list_imports(principal=EVERY)} == {ra.id, rb.id}
    with pytest.raises(NotFoundError):
        store.get_import(rb.id, principal=A)
    for site, feeder in (("a", "fa"), ("b", "fb")):
        store.put_load_summary(site, {"feeder": feeder, "year": 2024, "meters": 1})
    assert [r["feeder"] for r in store.load_summaries(principal=A)] == ["fa"]
    assert store.load_summaries(feeders=["fb"], principal=A) == []
    assert len(store.load_summaries(principal=None)) == 2


def test_hosting_results_by_their_feeders_site(clean: sa.Engine, tmp_path: Path) -> None:
    with clean.begin() as conn:
        conn.execute(
            sa.insert(feeders),
            [
                {
                    "id": f,
                    "site": s,
                    "version": 1,
                    "twin_count": 3,
                    "updated_at": pd.Timestamp.now().to_pydatetime(),
                }
                for f, s in (("fa", "a"), ("fb", "b"))
            ],
        )
    store = HostingStore(clean, tmp_path)
    frame = pd.DataFrame([{"bus": "b1", "capacity_kw": 10.0, "base_ok": True, "method": "fast"}])
    for feeder in ("fa", "fb", "orphan"):
        store.replace_bus_results(feeder, "pv", "none", "1", frame)
    assert store.bus_results("fa", principal=A)[1] == 1
    for feeder in ("fb", "orphan"):  # another site's, and one the registry does not know
        with pytest.raises(NotFoundError) as info:
            store.bus_results(feeder, principal=A)
        assert info.value.message == "no hosting-capacity results"
        with pytest.raises(NotFoundError):
            store.all_bus_results(feeder, principal=A)
    assert store.bus_results("fb", principal=EVERY)[1] == 1 and store.bus_results("orphan")[1] == 1


def test_writes_of_shared_items_and_landing_sites() -> None:
    check_writable(A, ["a"])
    check_writable(None, ["", "b"])
    check_writable(EVERY, ["", "b"])
    with pytest.raises(SitesDenied):
        check_writable(A, ["a", "b"])
    with pytest.raises(SitesDenied):
        check_writable(AB, [None])
    assert landing_site(A, "", "default") == "a"
    assert landing_site(AB, "", "default") == "default"
    assert landing_site(EVERY, "", "") == ""
    assert landing_site(A, "b", "default") == "b"  # named: checked by check_writable afterwards
