"""Solver settings reach hosting studies (issue 14): the per-bus entry points and a stochastic chunk
solve with the request's iteration caps (one iteration: the base case cannot converge), and with the
defaults otherwise; the engine does not keep a request's caps afterwards."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gridtwin.errors import NotConvergedError
from gridtwin.hosting.perbus import exact_hosting_capacity
from gridtwin.hosting.sensitivity import fast_hosting_capacity
from gridtwin.hosting.stochastic import StochasticSpec, run_chunk
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.solver import SolverSettings


def _shared_data() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[4].parent / "shared" / "data"


IEEE13 = _shared_data() / "opendss" / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"
ONE_ITERATION = SolverSettings(max_iterations=1)


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine()
    yield eng
    eng.close()


@pytest.mark.parametrize("study", [exact_hosting_capacity, fast_hosting_capacity])
def test_per_bus_entry_points_take_the_solver(engine: Engine, study: Callable[..., Any]) -> None:
    engine.compile_file(IEEE13)
    with pytest.raises(NotConvergedError):
        study(engine, ["675"], solver=ONE_ITERATION)
    engine.compile_file(IEEE13)
    frame = study(engine, ["675"])
    assert frame["capacity_kw"].iloc[0] > 0
    assert engine.solver_applied is not None and engine.solver_applied.max_iterations == 100


def test_a_stochastic_chunk_takes_the_solver(engine: Engine) -> None:
    spec = StochasticSpec(samples=1, steps_pct=(10.0,))
    with pytest.raises(NotConvergedError):
        run_chunk(engine, IEEE13, spec, range(1), solver=ONE_ITERATION)
    chunk = run_chunk(engine, IEEE13, spec, range(1))
    assert len(chunk.capacities) == 1
