"""Events on (fake) Redis pub/sub across threads, QstsSpec JSON, error pickling, and the cluster modes."""

from __future__ import annotations

import pickle
import threading
from datetime import UTC, datetime

import fakeredis
import numpy as np
import pytest
from gridtwin.compute.cluster import close_client, make_client, worker_count
from gridtwin.compute.events import JobEvents, last_key
from gridtwin.compute.specs import spec_from_json, spec_to_json
from gridtwin.config.settings import Settings
from gridtwin.errors import EngineError, ErrorDetail, InputError
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.qsts_results import QstsSpec


def test_events_across_threads_in_order() -> None:
    events = JobEvents(fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    sub = events.subscribe("j1")

    def publish() -> None:
        events.emit("j1", "started", total=2)
        events.emit("j1", "task_done", feeder="a", done=1, total=2, eta_s=1.5)
        events.emit("j2", "task_done", feeder="x")  # another job's channel
        events.emit("j1", "finished", done=2, total=2, status="succeeded")

    thread = threading.Thread(target=publish)
    thread.start()
    got = list(sub.events(timeout_s=10))
    thread.join()
    sub.close()
    assert [e["type"] for e in got] == ["started", "task_done", "finished"]
    assert got[1]["feeder"] == "a" and got[1]["eta_s"] == 1.5
    assert set(got[0]) >= {"job_id", "type", "feeder", "done", "failed", "total", "eta_s", "status", "ts"}
    last = events.last("j1")
    assert last is not None and last["type"] == "finished" and last["status"] == "succeeded"
    assert 0 < events.redis.ttl(last_key("j1")) <= 7 * 24 * 3600
    assert events.last("nope") is None


def test_listen_times_out_without_events() -> None:
    events = JobEvents(fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    assert list(events.listen("quiet", timeout_s=0.3)) == []


def test_spec_json_round_trip() -> None:
    spec = QstsSpec(
        hours=48,
        start_hour=24,
        step_minutes=15,
        limits=ViolationLimits(range_a_min_pu=0.96),
        ambient_c=np.arange(48, dtype=float),
        start_utc=datetime(2024, 1, 1, tzinfo=UTC),
    )
    back = spec_from_json(spec_to_json(spec))
    assert (back.hours, back.start_hour, back.step_minutes, back.limits, back.start_utc) == (
        48,
        24,
        15,
        spec.limits,
        spec.start_utc,
    )
    assert np.array_equal(np.asarray(back.ambient_c), np.arange(48))
    assert spec_from_json(spec_to_json(QstsSpec())) == QstsSpec()
    with pytest.raises(InputError) as err:
        spec_from_json({"hours": 1, "bogus": 2})
    assert err.value.details[0].where == "spec.bogus"


def test_errors_pickle_with_details() -> None:
    """Errors raised on a worker cross the process boundary intact."""
    for exc in (
        InputError("bad shape", [ErrorDetail(where="loadshape.x", message="NaN at 3")]),
        EngineError("OpenDSS error", [ErrorDetail(where="f1@v", message="boom", code="dss_302")]),
    ):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and back.details == exc.details and str(back) == str(exc)


def test_local_client_and_address_mode() -> None:
    """local: a LocalCluster of spawned single-threaded worker processes; tcp://: connects to it."""
    client = make_client(Settings(dask="local", dask_workers=1))
    try:
        assert worker_count(client) == 1
        info = client.scheduler_info()
        (worker,) = info["workers"].values()
        assert worker["nthreads"] == 1
        method = client.submit(_start_method, pure=False).result()
        assert method == "spawn"
        other = make_client(Settings(dask=client.scheduler.address), warm=False)
        try:
            assert other.submit(_add, 2, 3, pure=False).result() == 5
        finally:
            close_client(other)
        assert client.status == "running"  # closing the address client leaves the cluster alone
    finally:
        close_client(client)
    assert client.status == "closed"


def test_unknown_mode_is_input_error() -> None:
    with pytest.raises(InputError) as err:
        make_client(Settings(dask="yarn"))
    assert err.value.details[0].where == "GRIDTWIN_DASK"


def _start_method() -> str:
    import multiprocessing

    return str(multiprocessing.get_start_method())


def _add(a: int, b: int) -> int:
    return a + b
