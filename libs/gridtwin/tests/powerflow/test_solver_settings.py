"""Solver settings (issue 14): a request's iteration caps and tolerance over the model's own and the
installation's defaults, on a real feeder (ckt5), through the snapshot path, QSTS and the round trip
read -> twins -> registry -> export -> write -> engine."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from gridtwin.config import Settings
from gridtwin.errors import InputError
from gridtwin.grid.dss_writer import write_dss
from gridtwin.grid.model import FeederModel
from gridtwin.grid.source import FeederInfo
from gridtwin.ingest.opendss import read_opendss
from gridtwin.ingest.opendss.roundtrip import through_registry
from gridtwin.powerflow import Engine, ViolationLimits
from gridtwin.powerflow.feeders import snapshot_feeder
from gridtwin.powerflow.qsts import run_qsts
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.powerflow.solver import EffectiveSolver, SolverSettings
from gridtwin.store.db import make_engine, migrate


def _shared_data() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[4].parent / "shared" / "data"


OPENDSS = _shared_data() / "opendss"
IEEE13 = OPENDSS / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"
CKT5 = OPENDSS / "EPRITestCircuits" / "ckt5" / "Master_ckt5.dss"


def test_ckt5_says_not_converged_with_two_iterations_and_converges_by_default(engine: Engine) -> None:
    engine.compile_file(CKT5)
    capped = engine.snapshot(solver=SolverSettings(max_iterations=2))
    assert capped.converged is False and capped.iterations >= 2  # (over every control iteration)
    assert (
        capped.message
        == f"power flow did not converge within max_iterations=2 ({capped.iterations} iterations in all)"
    )
    default = engine.snapshot()
    assert default.converged is True and default.message == ""
    assert default.solver is not None and default.solver.max_iterations == 100


class _OneFeeder:
    """A ``FeederSource`` holding one model (the registry's role in these tests)."""

    def __init__(self, model: FeederModel) -> None:
        self.model = model

    def feeder_model(self, feeder: str) -> FeederModel:
        return self.model

    def feeder_ipc(self, feeder: str) -> bytes:
        return self.model.to_ipc()

    def feeder_version(self, feeder: str) -> str:
        return self.model.version

    def list_feeders(self, site: str | None = None) -> list[FeederInfo]:
        return []


@pytest.fixture(scope="module")
def ieee13_model() -> FeederModel:
    model, _ = read_opendss(IEEE13, "ieee13", site="s")
    model.version = "v1"
    return model


def test_snapshot_feeder_takes_the_request_and_keeps_it_off_the_next_warm_solve(
    engine: Engine, ieee13_model: FeederModel
) -> None:
    source = _OneFeeder(ieee13_model)
    capped = snapshot_feeder(
        engine, source, "ieee13", ViolationLimits(), solver=SolverSettings(max_iterations=1)
    )
    assert capped.result.converged is False and capped.result.iterations == 1
    assert "did not converge within max_iterations=1 (1 iterations in all)" in capped.result.message
    warm = snapshot_feeder(engine, source, "ieee13", ViolationLimits())
    assert warm.recompiled is False  # the same script: no compile, only the settings re-applied
    assert warm.result.converged is True and warm.result.solver is not None
    assert warm.result.solver.max_iterations == 100


def test_a_solve_whose_controls_did_not_settle_does_not_break_the_next_one(
    engine: Engine, ieee13_model: FeederModel
) -> None:
    # Found by the API fuzzer (issue 15): OpenDSS refused every solve after a "max control iterations
    # exceeded" one with error 99 (a 500 from the snapshot routes) until the mode was set again.
    source = _OneFeeder(ieee13_model)
    for _ in range(2):
        unsettled = snapshot_feeder(
            engine, source, "ieee13", ViolationLimits(), solver=SolverSettings(max_control_iterations=1)
        )
        assert unsettled.result.converged is False
        assert "controls did not settle within 1 control iterations" in unsettled.result.message
    settled = snapshot_feeder(engine, source, "ieee13", ViolationLimits())
    assert settled.result.converged is True and settled.result.message == ""


def test_installation_defaults_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDTWIN_MAX_ITERATIONS", "250")
    monkeypatch.setenv("GRIDTWIN_MAX_CONTROL_ITERATIONS", "30")
    solver = SolverSettings.from_settings(Settings(), tolerance=0.001)
    assert solver == SolverSettings(None, None, 0.001, 250, 30)
    assert solver.resolve(EffectiveSolver(15, 15, 0.0001)) == EffectiveSolver(250, 30, 0.001)
    assert solver.resolve(EffectiveSolver(400, 10, 0.0001)) == EffectiveSolver(400, 30, 0.001)
    with pytest.raises(InputError) as info:
        SolverSettings.from_settings(Settings(), max_control_iterations=0)
    assert [d.where for d in info.value.details] == ["max_control_iterations"]


def test_qsts_steps_use_the_runs_solver(engine: Engine, ieee13_model: FeederModel) -> None:
    plain = run_qsts(engine, ieee13_model, QstsSpec(hours=4))
    assert plain.unconverged_steps == 0
    capped = run_qsts(engine, ieee13_model, QstsSpec(hours=4, solver=SolverSettings(max_iterations=1)))
    assert capped.unconverged_steps > 0 and capped.unconverged_step_list[0] == 0
    again = run_qsts(engine, ieee13_model, QstsSpec(hours=4))
    assert again.hourly["losses_kw"].tolist() == plain.hourly["losses_kw"].tolist()  # nothing stuck


def test_a_models_own_cap_travels_the_whole_round_trip(tmp_path: Path) -> None:
    """A script that says ``set maxiterations=100`` keeps 100 through read -> twins -> registry ->
    export -> write -> engine (seen with installation defaults of 15, OpenDSS's own)."""
    master = tmp_path / "master.dss"
    master.write_text(
        f"redirect {IEEE13.resolve()}\nset maxiterations=100 maxcontroliter=40 tolerance=0.00005\n",
        encoding="utf-8",
    )
    model, _ = read_opendss(master, "rt", site="s")
    sql = make_engine(f"sqlite:///{tmp_path / 'twins.db'}")
    migrate(sql)
    exported = through_registry(sql)(model)
    keys = ("max_iterations", "max_control_iterations", "tolerance")
    assert {k: exported.circuit[k] for k in keys} == {
        "max_iterations": 100,
        "max_control_iterations": 40,
        "tolerance": 5e-05,
    }
    assert "maxiterations=100" in write_dss(exported) and "maxcontroliter=40" in write_dss(exported)
    engine = Engine()
    try:
        engine.load_model(exported)
        floor15 = SolverSettings(default_max_iterations=15, default_max_control_iterations=15)
        result = engine.snapshot(solver=floor15)
        assert result.converged and result.solver == EffectiveSolver(100, 40, 5e-05)
        asked = engine.snapshot(solver=dataclasses.replace(floor15, max_iterations=7))
        assert asked.solver == EffectiveSolver(7, 40, 5e-05)
    finally:
        engine.close()
