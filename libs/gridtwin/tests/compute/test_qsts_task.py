"""The worker-side task called in-process: profiles resolved (and cached), files written, errors
returned as failed outcomes with their details."""

from __future__ import annotations

import dataclasses

import numpy as np
from compute_support import PARTITION, Env, with_profile_shape
from gridtwin.compute.qsts_task import FeederTask, ProfileCache, _ambient_for_run, run_feeder_qsts
from gridtwin.powerflow.qsts_results import QstsSpec


def _task(env: Env, feeder: str, ipc: bytes, hours: int = 24) -> FeederTask:
    return FeederTask(
        job_id="direct",
        feeder=feeder,
        model_ipc=ipc,
        spec=QstsSpec(hours=hours),
        profile_root=str(env.profile_root),
        results_root=str(env.results.root),
    )


def test_run_feeder_in_process(env: Env) -> None:
    model = env.models["f0"]
    model.circuit["ambient_profile"] = env.profiles.write(
        "weather", PARTITION, ["temp_c"], np.full((1, 8760), 25.0)
    )[0]
    outcome = run_feeder_qsts(_task(env, "f0", model.to_ipc()))
    assert outcome.ok, outcome.error
    assert outcome.version == "v1" and outcome.summary["feeder"] == "f0" and outcome.summary["steps"] == 24
    assert len(outcome.elements) > 10 and outcome.peak_rss_mb > 0
    assert outcome.timings["total"] >= outcome.timings["qsts"] > 0
    assert (env.results.feeder_dir("direct", "f0") / "hourly.parquet").is_file()


def test_bad_profile_is_failed_outcome(env: Env) -> None:
    bad = with_profile_shape(env.models["f0"], "bad", f"loadshape/{PARTITION}/nope")
    outcome = run_feeder_qsts(_task(env, "bad", bad.to_ipc()))
    assert not outcome.ok and outcome.error
    assert outcome.error[0]["code"] == "NotFoundError"
    assert any("nope" in d["where"] or "nope" in d["message"] for d in outcome.error)


def test_profile_cache_lru_and_refresh(env: Env) -> None:
    cache = ProfileCache(max_bytes=2 * 8760 * 8)
    refs = env.profiles.write("loadshape", "lru", ["a", "b", "c"], np.ones((3, 8760)))
    cache.resolve(env.profile_root, refs[:2])
    cache.resolve(env.profile_root, refs[:2])
    assert (cache.hits, cache.misses) == (2, 2)
    cache.resolve(env.profile_root, refs[2:])  # evicts the least recently used
    assert cache.resolve(env.profile_root, [refs[0]])[refs[0]][0] == 1.0
    assert cache.misses == 4
    env.profiles.write("loadshape", "lru", ["a", "b", "c"], 2 * np.ones((3, 8760)))  # replaced partition
    assert cache.resolve(env.profile_root, [refs[0]])[refs[0]][0] == 2.0


def test_ambient_sliced_to_run_hours() -> None:
    year = np.arange(8760, dtype=float)
    spec = dataclasses.replace(QstsSpec(hours=48), start_hour=8750)
    sliced = _ambient_for_run(year, spec, "weather/x/t")
    assert len(sliced) == 48 and sliced[0] == 8750 and sliced[10] == 0
