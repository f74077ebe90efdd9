"""Kill drills, bounded (issue 15): the code of ``tests/drills/kill_drills.py`` on 8 synthetic feeders x 168 h.

The separate-process deployment (registry, ingestion, powerflow, hosting, gateway: one process each, over
a MariaDB database of this module's own and the real Redis under its own instance id), once with an
external ``dask scheduler`` + ``dask worker`` processes and once with the powerflow service's own
LocalCluster. Through a real login as an admin made by ``gridtwin admin create``: an undisturbed job, then
a job during which a Dask worker process is SIGKILLed (external: a replacement ``dask worker`` is started;
local: the nanny starts one), then one during which the powerflow service is SIGKILLed and started again.
Each must end ``succeeded`` with every feeder exactly once in its task rows, SQL rows, manifest and
Parquet folders, and Parquet tables (and SQL rows but for wall times) equal to the undisturbed job's.
Behaviour only: the figures are the drill script's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drills"))
import kill_drills as kd

pytestmark = [pytest.mark.slow, pytest.mark.mysql, pytest.mark.redis]

FEEDERS = 8
HOURS = 168
SEED = 7
WORKERS = 2


@dataclass
class Drill:
    stack: kd.Stack
    feeders: list[str]
    base: kd.JobRun
    base_got: kd.Collected


@pytest.fixture(scope="module", params=["external", "local"])
def drill(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drill]:
    why = kd.services_reachable("mysql")
    if why:
        pytest.skip(why)
    workdir = tmp_path_factory.mktemp(f"kill-drills-{request.param}")
    with kd.Stack(workdir, dask=request.param, workers=WORKERS, database="mysql") as stack:
        assert stack.session is not None
        feeders = kd.make_utility(stack.session, FEEDERS, SEED)
        assert len(feeders) == FEEDERS
        base = kd.run_job(stack, "undisturbed", feeders, HOURS)
        yield Drill(stack, feeders, base, kd.collect(stack, base))


def _check(drill: Drill, run: kd.JobRun) -> kd.Collected:
    """The job completed, each feeder once everywhere, results equal to the undisturbed job's."""
    assert run.kill, f"the job ended before the kill: {run.job}"
    assert run.kill["done_at_kill"] < FEEDERS
    got = kd.collect(drill.stack, run)
    assert kd.feeder_check(run, got) == []
    cmp = kd.compare_runs(drill.stack, drill.base, drill.base_got, run, got)
    assert cmp.problems == []
    assert cmp.equal == cmp.files == FEEDERS * len(kd.PARQUET_FILES)
    return got


def test_undisturbed_job_is_complete(drill: Drill) -> None:
    assert kd.feeder_check(drill.base, drill.base_got) == []
    assert len(drill.base_got.folders) == FEEDERS


def test_worker_kill(drill: Drill) -> None:
    stack = drill.stack
    kill = kd.kill_external_worker if stack.dask == "external" else kd.kill_local_worker
    run = kd.run_job(stack, "worker", drill.feeders, HOURS, disturb=kill(stack, FEEDERS))
    _check(drill, run)
    if stack.dask == "external":
        assert run.kill["feeders_on_it"], "the killed worker had none of the job's feeders"
    # Dask reran the lost worker's feeders itself: the job runner started each feeder once.
    assert kd.redone(run) == []


def test_powerflow_kill(drill: Drill) -> None:
    stack = drill.stack
    run = kd.run_job(stack, "powerflow", drill.feeders, HOURS, disturb=kd.kill_powerflow(stack, FEEDERS))
    got = _check(drill, run)
    # The restarted service resumed the job: the feeders running at the kill were started again, and
    # the manifest's one run (the killed run wrote none) submitted only feeders not done by then.
    redone = kd.redone(run)
    assert redone
    [resumed] = got.manifest["runs"]
    assert len(redone) <= resumed["tasks_submitted"] <= FEEDERS - run.kill["done_at_kill"]
    assert kd.wait_gone(run.kill["children"]) == []  # the killed service's LocalCluster went with it
