"""JobRunner on a real 2-worker LocalCluster with real QSTS (IEEE 13, 24-hour runs), SQLite stores and
fakeredis events: checkpoints, resubmit, restart, failures, a lost worker, cancel, and models that
write files beside themselves."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from compute_support import PARTITION, Env, submit_qsts, with_profile_shape
from gridtwin.compute.qsts_task import FeederTask, TaskOutcome, run_feeder_qsts
from gridtwin.compute.runner import JobRunner
from gridtwin.compute.specs import qsts_params
from gridtwin.grid.model import FeederModel
from gridtwin.powerflow.qsts_results import QstsSpec

SPEC = QstsSpec(hours=24)
WAIT_S = 300.0

MakeRunner = Callable[..., JobRunner]


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def test_job_end_to_end_then_resubmit_skips_done(env: Env, make_runner: MakeRunner) -> None:
    runner = make_runner()
    sub = env.events.subscribe("e2e")  # before submitting: pub/sub keeps nothing for latecomers
    record = submit_qsts(
        runner, ["f0", "f1", "f2"], SPEC, site="test", job_id="e2e", params_extra={"seed": 7}
    )
    assert record.status == "queued" and record.total_tasks == 3
    done = runner.wait("e2e", WAIT_S)
    events = list(sub.events(timeout_s=30))
    sub.close()

    assert (done.status, done.done_tasks, done.failed_tasks) == ("succeeded", 3, 0)
    assert _types(events)[0] == "started" and _types(events)[-1] == "finished"
    assert sorted(e["feeder"] for e in events if e["type"] == "task_done") == ["f0", "f1", "f2"]
    assert [e["done"] for e in events if e["type"] == "task_done"] == [1, 2, 3]
    assert events[-1]["status"] == "succeeded" and events[-1]["eta_s"] == 0.0
    # SQL rows (the checkpoint) and Parquet files
    feeders, total = env.results.feeders("e2e")
    assert total == 3 and set(feeders["feeder"]) == {"f0", "f1", "f2"}
    assert (feeders["steps"] == 24).all() and (feeders["delivered_kwh"] > 0).all()
    elements, n_elements = env.results.elements("e2e", feeder="f0")
    assert n_elements > 10 and {"line", "transformer"} <= set(elements["kind"])
    for feeder in ("f0", "f1", "f2"):
        folder = env.results.feeder_dir("e2e", feeder)
        assert {p.name for p in folder.glob("*.parquet")} == {
            "hourly.parquet",
            "buses.parquet",
            "elements.parquet",
        }
    assert len(env.results.hourly("e2e", "f1")) == 24
    # the manifest
    manifest = env.results.read_manifest("e2e")
    assert manifest["job_id"] == "e2e" and manifest["status"] == "succeeded"
    assert manifest["seeds"] == {"seed": 7} and manifest["spec"]["hours"] == 24
    assert set(manifest["feeders"]) == {"f0", "f1", "f2"}
    assert (
        manifest["feeders"]["f0"]["version"] == "v1" and manifest["feeders"]["f0"]["timings_s"]["total"] > 0
    )
    assert {"gridtwin", "opendssdirect.py", "dss-python", "dask", "opendss_engine"} <= set(
        manifest["versions"]
    )
    assert manifest["failures"] == [] and manifest["worker_peak_rss_mb"]
    assert runner.tasks_submitted["e2e"] == 3

    # Resubmit with one more feeder: only the new one runs.
    env.loads.clear()
    submit_qsts(runner, ["f0", "f1", "f2", "f3"], SPEC, job_id="e2e")
    again = runner.wait("e2e", WAIT_S)
    assert (again.status, again.done_tasks, again.total_tasks) == ("succeeded", 4, 4)
    assert env.loads == ["f3"] and runner.tasks_submitted["e2e"] == 4
    assert env.results.feeders("e2e")[1] == 4
    manifest = env.results.read_manifest("e2e")
    assert set(manifest["feeders"]) == {"f0", "f1", "f2", "f3"} and len(manifest["runs"]) == 2


def test_restart_resumes_only_missing_feeders(env: Env, make_runner: MakeRunner) -> None:
    first = make_runner()
    submit_qsts(first, ["f0"], SPEC, job_id="rs")
    assert first.wait("rs", WAIT_S).status == "succeeded"
    # As if the service died mid-job: the job grew to three feeders and was left running.
    env.jobs.create("qsts", qsts_params(["f0", "f1", "f2"], SPEC), ["f0", "f1", "f2"], job_id="rs")
    env.jobs.set_status("rs", "running")
    env.loads.clear()

    second = make_runner()
    assert second.resume_unfinished() == ["rs"]
    record = second.wait("rs", WAIT_S)
    assert (record.status, record.done_tasks) == ("succeeded", 3)
    assert sorted(env.loads) == ["f1", "f2"] and second.tasks_submitted["rs"] == 2
    assert env.results.feeders("rs")[1] == 3


def test_failing_feeders_recorded_others_done(env: Env, make_runner: MakeRunner) -> None:
    good = env.models["f0"]
    env.models["badref"] = with_profile_shape(good, "badref", f"loadshape/{PARTITION}/missing")
    runner = make_runner()
    sub = env.events.subscribe("bad")
    submit_qsts(runner, ["f0", "badref", "ghost"], SPEC, job_id="bad")
    record = runner.wait("bad", WAIT_S)
    events = list(sub.events(timeout_s=30))
    sub.close()

    assert (record.status, record.done_tasks, record.failed_tasks) == ("partial", 1, 2)
    tasks = {t.task_key: t for t in env.jobs.tasks("bad")}
    assert tasks["f0"].status == "done"
    bad = tasks["badref"]
    assert bad.status == "failed" and bad.error is not None
    assert any("missing" in d["where"] or "missing" in d["message"] for d in bad.error), bad.error
    ghost = tasks["ghost"]
    assert ghost.status == "failed" and ghost.error is not None
    assert ghost.error[0]["code"] == "NotFoundError" and any(d["where"] == "ghost" for d in ghost.error)
    failed_events = {e["feeder"]: e for e in events if e["type"] == "task_failed"}
    assert set(failed_events) == {"badref", "ghost"} and failed_events["ghost"]["message"]
    assert events[-1]["type"] == "finished" and events[-1]["status"] == "partial"
    manifest = env.results.read_manifest("bad")
    assert sorted(f["feeder"] for f in manifest["failures"]) == ["badref", "ghost"]
    assert env.results.feeders("bad")[1] == 1


def _kill_worker_once(task: FeederTask) -> TaskOutcome:
    """Dies (the whole worker process) the first time it runs for feeder f1."""
    marker = Path(task.results_root).parent / f"killed-{task.feeder}"
    if task.feeder == "f1" and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)
    return run_feeder_qsts(task)


def test_lost_worker_task_is_retried(env: Env, make_runner: MakeRunner, tmp_path: Path) -> None:
    runner = make_runner(task_fn=_kill_worker_once)
    submit_qsts(runner, ["f0", "f1"], SPEC, job_id="lost")
    record = runner.wait("lost", WAIT_S)
    assert (tmp_path / "killed-f1").exists()  # the first attempt did kill its worker
    assert (record.status, record.done_tasks) == ("succeeded", 2)
    assert env.results.feeders("lost", feeder="f1")[1] == 1


def _slow(task: FeederTask) -> TaskOutcome:
    time.sleep(1.0)
    return run_feeder_qsts(task)


def test_cancel(env: Env, make_runner: MakeRunner, ieee13_base: FeederModel) -> None:
    ref = env.models["f0"].table("loadshapes")["profile"].iloc[0]
    feeders = [f"c{i}" for i in range(8)]
    for f in feeders:
        env.models[f] = with_profile_shape(ieee13_base, f, ref)
    runner = make_runner(task_fn=_slow, max_in_flight=2)
    sub = env.events.subscribe("cx")
    submit_qsts(runner, feeders, SPEC, job_id="cx")
    first = sub.get(timeout_s=60)
    while first is not None and first["type"] == "started":
        first = sub.get(timeout_s=60)
    assert first is not None and first["type"] in ("task_done", "task_failed")
    cancelled = runner.cancel("cx")
    record = runner.wait("cx", WAIT_S)
    rest = list(sub.events(timeout_s=5))
    sub.close()
    assert cancelled.status == "cancelled" and record.status == "cancelled"
    assert "cancelled" in _types(rest) and "finished" not in _types(rest)
    statuses = [t.status for t in env.jobs.tasks("cx")]
    assert statuses.count("cancelled") >= 4 and "pending" not in statuses and "running" not in statuses
    assert runner.tasks_submitted["cx"] < len(feeders)


def test_models_writing_beside_themselves_do_not_collide(
    env: Env, make_runner: MakeRunner, ieee13_base: FeederModel, tmp_path: Path
) -> None:
    """Regulators with debugtrace=yes write a trace file while solving; two feeders at once on two
    workers must give the same results as without tracing (each engine has its own data path)."""
    ref = env.models["f0"].table("loadshapes")["profile"].iloc[0]
    for f in ("t0", "t1"):
        env.models[f] = with_profile_shape(ieee13_base, f, ref, debugtrace=True)
    cwd_before = set(os.listdir(os.getcwd()))
    runner = make_runner()
    submit_qsts(runner, ["t0", "t1"], SPEC, job_id="trace")
    submit_qsts(runner, ["f0"], SPEC, job_id="plain")
    traced = runner.wait("trace", WAIT_S)
    plain = runner.wait("plain", WAIT_S)
    assert traced.status == "succeeded" and plain.status == "succeeded"
    rows, _ = env.results.feeders("trace")
    base, _ = env.results.feeders("plain")
    workers = {t.worker for t in env.jobs.tasks("trace")}
    for column in ("delivered_kwh", "losses_kwh", "vmin_pu", "bus_hours_outside_a"):
        assert rows[column].tolist() == pytest.approx([base[column].iloc[0]] * 2, rel=1e-9), column
    assert set(os.listdir(os.getcwd())) == cwd_before  # nothing written into the working directory
    assert not list(tmp_path.rglob("*.csv"))  # nor beside the data
    assert len(workers) >= 1


def _inline_shape(base: FeederModel, feeder_id: str, mult: list[float]) -> FeederModel:
    model = with_profile_shape(base, feeder_id, "unused/x/y")
    shapes = model.tables["loadshapes"]
    shapes["profile"] = ""
    shapes["mult"] = [mult]
    return model


def test_bad_models_and_profiles_fail_alone_with_located_errors(env: Env, make_runner: MakeRunner) -> None:
    """The issue's bad input, per feeder in one year-long job: a script OpenDSS refuses, a profile one
    hour short, NaN and negative multipliers. Each fails with details naming where; the good one runs."""
    good = env.models["f0"]
    broken = with_profile_shape(good, "broken", f"loadshape/{PARTITION}/daily")
    broken.tables["loads"]["dss_extra_json"] = json.dumps({"nosuchproperty": "1"})
    env.models["broken"] = broken
    env.profiles.write("loadshape", "bad-s1", ["short"], np.full((1, 8759), 0.5))
    env.models["short"] = with_profile_shape(good, "short", "loadshape/bad-s1/short")
    env.models["nan"] = _inline_shape(good, "nan", [float("nan")] * 8760)
    env.models["negative"] = _inline_shape(good, "negative", [-0.5] * 8760)
    runner = make_runner()
    submit_qsts(runner, ["f0", "broken", "short", "nan", "negative"], QstsSpec(hours=8760), job_id="badin")
    record = runner.wait("badin", WAIT_S)

    assert (record.status, record.done_tasks, record.failed_tasks) == ("partial", 1, 4)
    tasks = {t.task_key: t for t in env.jobs.tasks("badin")}
    assert tasks["f0"].status == "done"
    for feeder, needle in (
        ("broken", "nosuchproperty"),
        ("short", "short"),
        ("nan", "daily"),
        ("negative", "daily"),
    ):
        task = tasks[feeder]
        assert task.status == "failed" and task.error, (feeder, task)
        text = json.dumps(task.error).lower()
        assert needle in text, (feeder, task.error)
