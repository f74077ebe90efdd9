"""Scenario runs as QSTS jobs on Dask (real OpenDSS on the workers): a sweep over EV share on two
synthetic feeders gives monotone violation hours, the scenario travels in the job's params (so a
restart resumes it), the ledger and overlay land beside the results, and the diff finds the new
violations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from compute_support import Env, submit_qsts
from gridtwin.grid.synth import synth_feeder
from gridtwin.grid.synth.utility import _profiles
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.scenarios.diff import diff_jobs
from gridtwin.scenarios.loader import parse_scenario
from gridtwin.scenarios.sweep import sweep_scenarios

MakeRunner = Callable[..., Any]
SEED = 42
SWEEP = """
name: ev-sweep
seed: 11
layers:
  - {type: ev, id: ev, profile: level2_11_5kw_residential, adoption: {pct: 0}}
sweep:
  method: grid
  parameters:
    - {path: layers.ev.adoption.pct, values: [0, 30, 60]}
"""
PERIOD = QstsSpec(hours=24 * 21, start_hour=24 * 6)  # three January weeks: EV charging is highest


def _element_hours(env: Env, job_id: str) -> float:
    frame, _ = env.results.elements(job_id, limit=10000)
    return float(pd.to_numeric(frame["hours_over_normal"]).sum())


@pytest.mark.slow
def test_ev_sweep_is_monotone_and_diff_finds_new_violations(env: Env, make_runner: MakeRunner) -> None:
    for kind, part, names, values in _profiles(SEED):  # the synthetic utility's profiles
        env.profiles.write(kind, part, list(names), values)
    feeders = []
    for i in (0, 1):
        model = synth_feeder(i, SEED).model
        env.models[model.feeder_id] = model
        feeders.append(model.feeder_id)
    runner = make_runner()
    jobs = []
    for values, scenario in sweep_scenarios(parse_scenario(SWEEP)):
        record = submit_qsts(runner,
            feeders, PERIOD, scenario=scenario.model_dump(mode="json"), scenario_id="ev-sweep",
            params_extra={"sweep_values": values},
        )  # fmt: skip
        jobs.append(record.id)
    for job_id in jobs:
        assert runner.wait(job_id, 600).status == "succeeded", env.jobs.tasks(job_id, status="failed")
    hours = [_element_hours(env, j) for j in jobs]
    assert hours == sorted(hours) and hours[-1] > hours[0], hours

    # The scenario travels in the params (a restarted service recomposes it) and its ledger is kept.
    params = env.jobs.get(jobs[-1]).params
    assert params["scenario"]["layers"][0]["adoption"]["pct"] == 60.0
    manifest = env.results.read_manifest(jobs[-1])
    ledger = manifest["feeders"][feeders[0]]["scenario"]["ledger"]
    assert ledger[0]["component"] == "ev" and ledger[0]["energy_kwh"] > 0
    out = env.results.feeder_dir(jobs[-1], feeders[0])
    assert (out / "scenario_ledger.parquet").is_file() and (out / "scenario_overlay.parquet").is_file()

    diff = diff_jobs(env.results, jobs[0], [jobs[-1]])
    totals = diff.totals[0]
    assert totals["new_element_violations"] > 0 and totals["delta_peak_kw"] > 0
    new = diff.elements[diff.elements["new_violation"]]
    assert (new["hours_over_normal_base"] == 0).all() and (new["hours_over_normal"] > 0).all()
