"""Solver settings kept with a job's params (issue 14): a resumed QSTS or stochastic job solves with
the settings it was submitted with; jobs stored before the settings existed get the defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from compute_support import Env
from gridtwin.compute.hosting_task import StochasticTask, stochastic_kind, stochastic_params
from gridtwin.compute.qsts_jobs import qsts_spec
from gridtwin.compute.qsts_task import qsts_job_params, qsts_kind
from gridtwin.compute.specs import spec_from_json, spec_to_json
from gridtwin.errors import InputError
from gridtwin.hosting.stochastic import StochasticSpec
from gridtwin.powerflow import ViolationLimits
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.powerflow.solver import SolverSettings

SOLVER = SolverSettings(max_iterations=7, tolerance=0.001, default_max_control_iterations=20)


def test_qsts_spec_keeps_its_solver_through_json() -> None:
    spec = QstsSpec(hours=3, solver=SOLVER)
    assert spec_from_json(spec_to_json(spec)).solver == SOLVER
    old = {k: v for k, v in spec_to_json(spec).items() if k != "solver"}
    assert spec_from_json(old).solver == SolverSettings()
    with pytest.raises(InputError) as info:
        spec_from_json({**spec_to_json(spec), "solver": {"max_iterations": -1, "bogus": 1}})
    assert [d.where for d in info.value.details] == ["spec.solver.bogus"]
    with pytest.raises(InputError) as bad:
        spec_from_json({**spec_to_json(spec), "solver": {"max_iterations": 0}})
    assert [d.where for d in bad.value.details] == ["spec.solver.max_iterations"]


def test_qsts_spec_from_a_request_checks_the_solver() -> None:
    assert qsts_spec(24, 0, 60, None, ViolationLimits(), solver=SOLVER).solver == SOLVER
    assert qsts_spec(24, 0, 60, None, ViolationLimits()).solver == SolverSettings()
    with pytest.raises(InputError) as info:
        qsts_spec(24, 0, 60, None, ViolationLimits(), solver=SolverSettings(tolerance=0.5))
    assert [d.where for d in info.value.details] == ["solver.tolerance"]


def test_the_qsts_kind_gives_tasks_the_stored_solver(env: Env) -> None:
    params = qsts_job_params(["f0"], QstsSpec(hours=2, solver=SOLVER))
    kind = qsts_kind(env.results, env.profile_root)
    task = kind.prepare("j", params)("f0", b"")
    assert task.spec.solver == SOLVER


def test_the_stochastic_kind_gives_tasks_the_stored_solver(tmp_path: Path) -> None:
    class Store:
        root = tmp_path

    kind = stochastic_kind(Store())
    spec = StochasticSpec(samples=2)
    params: dict[str, Any] = stochastic_params(spec, SOLVER)
    task = kind.prepare("j", params)("f0", b"")
    assert isinstance(task, StochasticTask) and task.solver == SOLVER
    old = {"spec": params["spec"]}  # a job stored before solver settings existed
    assert kind.prepare("j", old)("f0", b"").solver == SolverSettings()
