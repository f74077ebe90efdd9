"""Fixtures for the job-runner tests: one small LocalCluster (2 single-threaded worker processes) for
the session, SQLite stores in tmp_path, fakeredis events, and IEEE 13 models with a profile-backed
load shape (real OpenDSS on the workers, never mocked)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import distributed
import fakeredis
import numpy as np
import pytest
from compute_support import IEEE13, PARTITION, Env, with_profile_shape
from gridtwin.compute.cluster import close_client, make_client
from gridtwin.compute.events import JobEvents
from gridtwin.compute.qsts_task import qsts_kind
from gridtwin.config.settings import Settings
from gridtwin.grid.model import FeederModel
from gridtwin.store.db import make_engine, migrate
from gridtwin.store.jobs import JobStore
from gridtwin.store.profiles import ProfileStore
from gridtwin.store.results import QstsResultStore


@pytest.fixture(scope="session")
def dask_client() -> Iterator[distributed.Client]:
    """Shared by the runner tests (a LocalCluster takes seconds to start on 2 busy cores)."""
    client = make_client(Settings(dask="local", dask_workers=2))
    client.wait_for_workers(2, timeout=120)
    yield client
    close_client(client)


@pytest.fixture(scope="session")
def ieee13_base() -> FeederModel:
    from gridtwin.ingest.opendss import read_opendss

    model, _ = read_opendss(IEEE13, "ieee13")
    return model


@pytest.fixture
def env(tmp_path: Path, ieee13_base: FeederModel) -> Env:
    engine = make_engine(f"sqlite:///{tmp_path / 'gridtwin.db'}")
    migrate(engine)
    profile_root = tmp_path / "profiles"
    profiles = ProfileStore(profile_root)
    hours = np.arange(8760)
    daily = 0.6 + 0.4 * np.sin(2 * np.pi * (hours % 24) / 24.0) ** 2  # seeded by construction
    refs = profiles.write("loadshape", PARTITION, ["daily"], daily.reshape(1, -1))
    models = {f"f{i}": with_profile_shape(ieee13_base, f"f{i}", refs[0]) for i in range(4)}
    return Env(
        jobs=JobStore(engine),
        results=QstsResultStore(engine, tmp_path / "results"),
        events=JobEvents(fakeredis.FakeRedis(server=fakeredis.FakeServer())),
        profiles=profiles,
        profile_root=profile_root,
        models=models,
        loads=[],
    )


@pytest.fixture
def make_runner(env: Env, dask_client: distributed.Client) -> Iterator[Callable[..., object]]:
    from gridtwin.compute.runner import JobRunner

    made: list[JobRunner] = []

    def make(task_fn: Any = None, **kwargs: Any) -> JobRunner:
        runner = JobRunner(env.jobs, env.events, lambda: dask_client, env, **kwargs)
        runner.register(qsts_kind(env.results, env.profile_root, task_fn=task_fn))
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()
