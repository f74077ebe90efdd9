"""The engine adapter: contexts, loading, caching, errors, working directory, non-convergence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from gridtwin.errors import EngineError, InputError, NotConvergedError
from gridtwin.powerflow import Engine, get_engine
from gridtwin.powerflow.solver import (
    DEFAULT_MAX_CONTROL_ITERATIONS,
    DEFAULT_MAX_ITERATIONS,
    EffectiveSolver,
    SolverSettings,
)

MINI = """
new circuit.mini basekv=12.47 pu=1.0 bus1=src phases=3
new linecode.lc nphases=3 r1=0.1 x1=0.3 r0=0.3 x0=0.9 units=km normamps=200 emergamps=300
new line.l1 bus1=src bus2=a linecode=lc length=1 units=km
new load.ld bus1=a phases=3 kv=12.47 kw={kw} kvar=100
set voltagebases=[12.47]
calcv
"""


def test_load_script_compiles_once_per_version(engine: Engine) -> None:
    assert engine.load_script("mini", "v1", MINI.format(kw=1000)) is True
    first = engine.snapshot()
    assert engine.load_script("mini", "v1", MINI.format(kw=1000)) is False
    assert engine.loaded == ("mini", "v1")
    assert engine.load_script("mini", "v2", MINI.format(kw=2000)) is True
    second = engine.snapshot()
    assert second.feeder == "mini" and second.version == "v2"
    assert second.source_kw > first.source_kw + 900  # the new load is really in
    # A command changes the circuit: the same version must compile again.
    engine.run_command("load.ld.kw=10")
    assert engine.loaded is None
    assert engine.load_script("mini", "v2", MINI.format(kw=2000)) is True
    assert engine.snapshot().source_kw == pytest.approx(second.source_kw, rel=1e-9)


def test_load_script_error_is_engine_error_naming_the_script(engine: Engine) -> None:
    with pytest.raises(EngineError) as info:
        engine.load_script("bad", "v1", MINI.format(kw=100) + "new line.l2 bus1=a bus2=b bogus=1\n")
    assert info.value.details[0].where == "bad@v1"
    assert "bogus" in info.value.details[0].message
    assert engine.loaded is None
    # The engine stays usable.
    assert engine.load_script("mini", "v1", MINI.format(kw=100)) is True


def test_compile_missing_file_is_engine_error(engine: Engine, tmp_path: Path) -> None:
    missing = tmp_path / "nope.dss"
    with pytest.raises(EngineError) as info:
        engine.compile_file(missing)
    assert info.value.details[0].where == str(missing)


def test_snapshot_without_circuit_is_engine_error(engine: Engine) -> None:
    with pytest.raises(EngineError, match="no circuit"):
        engine.snapshot()


def test_cwd_never_changes_and_redirects_resolve_relative_to_the_file(
    engine: Engine, ieee13_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # far from the feeder's folder: redirects must still resolve
    engine.compile_file(ieee13_path)  # redirects IEEELineCodes.DSS and reads IEEE13Node_BusXY.csv
    assert os.getcwd() == str(tmp_path)
    engine.snapshot()
    engine.load_script("mini", "v1", MINI.format(kw=1000))
    engine.snapshot()
    assert os.getcwd() == str(tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written into the caller's directory


def test_two_engines_are_isolated(ieee13_path: Path, ieee123_path: Path) -> None:
    a, b = Engine(), Engine()
    try:
        a.compile_file(ieee13_path)
        b.compile_file(ieee123_path)
        ra, rb = a.snapshot(), b.snapshot()
        assert ra.feeder == "ieee13nodeckt" and rb.feeder == "ieee123"
        assert a.dss.Circuit.Name() == "ieee13nodeckt" and b.dss.Circuit.Name() == "ieee123"
        # Changing one circuit leaves the other's results alone.
        b.run_command("set loadmult=0.5")
        # (a re-solve moves regulator taps a hair, hence 1e-5 rather than bit-equality)
        assert a.snapshot().source_kw == pytest.approx(ra.source_kw, rel=1e-5)
        assert b.snapshot().source_kw < 0.7 * rb.source_kw
        assert "line.650632" in set(ra.elements["name"]) and "line.650632" not in set(rb.elements["name"])
    finally:
        a.close()
        b.close()


def test_get_engine_is_one_per_process_across_threads() -> None:
    seen: list[Engine] = []
    threads = [threading.Thread(target=lambda: seen.append(get_engine())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in seen}) == 1 and seen[0] is get_engine()


def test_not_converged_is_flagged_not_raised(ieee13: Engine) -> None:
    ieee13.run_command("new load.huge bus1=671 kv=4.16 kw=1e6 kvar=0 vminpu=0 vlowpu=0 model=1")
    result = ieee13.snapshot()
    assert result.converged is False
    assert "did not converge" in result.message
    assert result.to_dict()["converged"] is False
    json.dumps(result.to_dict(), allow_nan=False)  # still a valid CLI answer
    with pytest.raises(NotConvergedError) as info:
        ieee13.snapshot(strict=True)
    assert info.value.details[0].code == "not_converged"


def test_max_iterations_one_does_not_converge(ieee13: Engine) -> None:
    ieee13.run_command("load.671.kw=5000")
    result = ieee13.snapshot(solver=SolverSettings(max_iterations=1))
    assert result.converged is False and result.iterations == 1
    assert result.message == "power flow did not converge within max_iterations=1 (1 iterations in all)"
    assert result.solver is not None and result.solver.max_iterations == 1
    assert result.to_dict()["solver"]["max_iterations"] == 1


def test_a_models_low_cap_is_raised_to_the_installation_default(ieee13: Engine) -> None:
    """A script stuck at a small cap (OpenDSS's 15, or 1 here) still converges: without a request
    the cap is max(model's own, installation default); a request's value wins outright."""
    ieee13.run_command("set maxiterations=1 maxcontroliter=1\nload.671.kw=5000")
    result = ieee13.snapshot()
    assert result.converged is True and result.iterations > 1
    assert result.solver == EffectiveSolver(DEFAULT_MAX_ITERATIONS, DEFAULT_MAX_CONTROL_ITERATIONS, 0.0001)
    raised = ieee13.snapshot(
        solver=SolverSettings(default_max_iterations=2, default_max_control_iterations=3)
    )
    assert raised.solver is not None and (
        raised.solver.max_iterations,
        raised.solver.max_control_iterations,
    ) == (2, 3)
    ieee13.run_command("set maxiterations=250 tolerance=0.00001")  # the model's own, above the default
    own = ieee13.snapshot()
    assert own.solver == EffectiveSolver(250, DEFAULT_MAX_CONTROL_ITERATIONS, 0.00001)
    assert ieee13.snapshot(
        solver=SolverSettings(max_iterations=40, tolerance=0.001)
    ).solver == EffectiveSolver(40, DEFAULT_MAX_CONTROL_ITERATIONS, 0.001)
    assert ieee13.snapshot().solver == own.solver  # the request's values do not stick to the circuit


def test_controls_that_never_settle_are_not_converged(ieee13: Engine) -> None:
    ieee13.run_command("load.671.kw=3000")
    result = ieee13.snapshot(solver=SolverSettings(max_control_iterations=1))
    assert result.converged is False
    assert "controls did not settle within 1 control iterations" in result.message


def test_bad_solver_settings_are_input_errors_naming_the_field(ieee13: Engine) -> None:
    with pytest.raises(InputError) as info:
        ieee13.snapshot(solver=SolverSettings(max_iterations=0, tolerance=-1.0))
    assert {d.where for d in info.value.details} == {"max_iterations", "tolerance"}


def test_snapshot_keeps_the_models_control_mode(ieee13: Engine) -> None:
    ieee13.run_command("set mode=daily\nset controlmode=off")
    ieee13.snapshot()
    assert ieee13.dss.Solution.Mode() == 0  # snapshot
    assert ieee13.dss.Solution.ControlMode() == -1  # OFF kept


def test_engine_context_returns_numpy_arrays(engine: Engine) -> None:
    import numpy as np

    engine.load_script("mini", "v1", MINI.format(kw=100))
    assert isinstance(engine.dss.Circuit.AllBusMagPu(), np.ndarray)
    assert engine.dss.Basic.AllowChangeDir() is False
    assert engine.dss.Error.ExtendedErrors() is True


# Environment variables added before and after the engine loads, then OpenDSS used from new threads:
# without the pinned environ the first engine call on a new thread segfaults.
THREADS_AFTER_ENV_CHANGES = r"""
import os, threading
for i in range(40):
    os.environ[f"GT_BEFORE_{i}"] = "1"
from gridtwin.powerflow import Engine, get_engine
from gridtwin._dsslib import opendssdirect
SCRIPT = "\n".join(["new circuit.t basekv=12.47", "set voltagebases=[12.47]", "calcv"])
for i in range(40):
    os.environ[f"GT_AFTER_{i}"] = "1"
out = []
def work():
    ctx = opendssdirect.dss.NewContext()  # straight on this thread, not via the engine's thread
    ctx.Text.Command("new circuit.t")
    engine = Engine()
    engine.load_script("t", "1", SCRIPT)
    out.append((ctx.Circuit.Name(), engine.snapshot().converged, get_engine() is get_engine()))
threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert out == [("t", True, True)] * 3, out
print("ok")
"""


def test_new_threads_survive_environment_changes() -> None:
    done = subprocess.run(
        [sys.executable, "-c", THREADS_AFTER_ENV_CHANGES], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
