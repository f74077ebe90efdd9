"""A job belongs to the sites of its feeders: ``JobRunner.job_site`` as the feeder source lists them for
the caller, 403 for a feeder the caller does not see or of a site it does not hold, the caller's own
sites for a job of shared feeders; submitting applies the per-site quota; cancelling another site's job
is not found. No cluster is needed: nothing here runs."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest
from gridtwin.access import ALL_SITES, Principal, Role, SitesDenied
from gridtwin.compute.events import JobEvents
from gridtwin.compute.runner import JobRunner
from gridtwin.errors import NotFoundError, RateLimitedError
from gridtwin.grid.model import FeederModel
from gridtwin.store.db import make_engine, migrate
from gridtwin.store.jobs import JobStore
from gridtwin.twin.records import FeederInfo

A = Principal("an-a", Role.ANALYST, frozenset({"a"}))
AB = Principal("an-ab", Role.ANALYST, frozenset({"a", "b"}))
EVERY = Principal("admin", Role.ADMIN, frozenset({ALL_SITES}))


class Feeders:
    """A feeder source that lists, like the registry, only what the caller may see."""

    def __init__(self, sites: dict[str, str]) -> None:
        self.sites = sites
        self.caller: Principal | None = None

    def feeder_model(self, feeder: str) -> FeederModel:
        raise NotFoundError("not here")

    def feeder_ipc(self, feeder: str) -> bytes:
        raise NotFoundError("not here")

    def feeder_version(self, feeder: str) -> str:
        return "1"

    def list_feeders(self, site: str | None = None) -> list[FeederInfo]:
        seen = [
            FeederInfo(f, s or None, 1, "1")
            for f, s in sorted(self.sites.items())
            if self.caller is None or self.caller.sees(s)
        ]
        return [f for f in seen if not site or f.site == site]


@pytest.fixture
def runner(tmp_path: Path) -> JobRunner:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    migrate(engine)
    events = JobEvents(fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    feeders = Feeders({"fa": "a", "fa2": "a", "fb": "b", "f0": ""})
    return JobRunner(JobStore(engine), events, lambda: None, feeders, max_jobs_per_site=1)  # type: ignore[arg-type,return-value]


def test_a_job_belongs_to_its_feeders_sites(runner: JobRunner) -> None:
    assert runner.job_site(["fa", "fa2"], A) == "a"
    assert runner.job_site(["fa", "fb"], AB) == "a,b"
    assert runner.job_site(["fa", "fb", "f0"], EVERY) == "a,b"
    assert runner.job_site(["f0"], A) == "a"  # shared feeders only: the caller's own sites
    assert runner.job_site(["f0"], AB) == "a,b"
    assert runner.job_site(["f0"], EVERY) == runner.job_site(["f0"], None) == ""
    assert runner.job_site(["gone"], EVERY) == ""  # an admin's unknown feeder fails in its task
    with pytest.raises(SitesDenied):  # the source lists B's feeder (in-process): 403
        runner.job_site(["fa", "fb"], A)
    source = runner.feeders
    assert isinstance(source, Feeders)
    source.caller = A  # a source that hides B's feeder (the registry over gRPC): the same 403
    with pytest.raises(SitesDenied) as info:
        runner.job_site(["fb"], A)
    with pytest.raises(SitesDenied) as missing:
        runner.job_site(["gone"], A)
    assert info.value.message == missing.value.message


def test_the_quota_and_cancelling_by_site(runner: JobRunner) -> None:
    """(``submit`` itself, with a running job, is exercised through gRPC in the end-to-end tests.)"""
    jobs = runner.jobs
    first = jobs.create("qsts", {}, ["fa"], site=runner.job_site(["fa"], A), max_active_per_site=1)
    assert first.site == "a"
    with pytest.raises(RateLimitedError):
        jobs.create("qsts", {}, ["fa2"], site=runner.job_site(["fa2"], A), max_active_per_site=1)
    jobs.create("qsts", {}, ["fb"], site=runner.job_site(["fb"], EVERY), max_active_per_site=1)
    with pytest.raises(NotFoundError):
        runner.cancel(first.id, principal=Principal("an-b", Role.ANALYST, frozenset({"b"})))
    assert runner.cancel(first.id, principal=A).status == "cancelled"
