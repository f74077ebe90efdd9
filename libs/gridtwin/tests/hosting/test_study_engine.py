"""How hosting studies use the engine: one study holds it throughout, leaves the circuit changed, loads
feeders through the engine's script cache, and speaks to it only through ``StudyCircuit``."""

from __future__ import annotations

import ast
import dataclasses
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from gridtwin import hosting
from gridtwin.grid.synth import synth_feeder
from gridtwin.hosting.perbus import exact_hosting_capacity
from gridtwin.hosting.sensitivity import fast_hosting_capacity
from gridtwin.hosting.stochastic import StochasticSpec, run_chunk
from gridtwin.powerflow import Engine
from stochastic_support import IEEE13, VOLTAGE_ONLY


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine()
    yield eng
    eng.close()


def _watch(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[int], threading.Thread]:
    """Another caller (a snapshot request) that tries to get the engine as soon as the study has made
    its first engine call. A gap follows every engine call, so a study that released the engine
    between calls would let it in early. Returns (calls made, calls seen by the other caller, it)."""
    calls: list[int] = [0]
    seen: list[int] = []
    started = threading.Event()
    real = engine.call

    def call(where: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return real(where, fn, *args)
        finally:
            calls[0] += 1
            started.set()
            time.sleep(0.01)

    def other() -> None:
        started.wait()
        with engine.hold():
            seen.append(calls[0])

    monkeypatch.setattr(engine, "call", call)
    thread = threading.Thread(target=other)
    thread.start()
    return calls, seen, thread


@pytest.mark.parametrize("study", [exact_hosting_capacity, fast_hosting_capacity])
def test_a_per_bus_study_holds_the_engine_and_leaves_it_changed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, study: Callable[..., pd.DataFrame]
) -> None:
    engine.compile_file(IEEE13)
    calls, seen, thread = _watch(engine, monkeypatch)
    frame = study(engine, ["675", "611"])
    thread.join()
    assert seen == calls and len(frame) == 2  # the other caller got in only after the whole study
    assert engine.loaded is None  # the test DER stays in the circuit: the next load recompiles


def test_a_stochastic_chunk_holds_the_engine_and_loads_through_its_script_cache(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = dataclasses.replace(synth_feeder(0, 42).model, version="v1")
    spec = StochasticSpec(samples=2, seed=1, criteria=VOLTAGE_ONLY)
    calls, seen, thread = _watch(engine, monkeypatch)
    first = run_chunk(engine, model, spec, range(2))
    thread.join()
    assert seen == calls and calls[0] >= 4  # load, prepare, two samples: none interleaved
    assert engine.loaded is None
    compiles = engine.compiles
    again = run_chunk(engine, model, spec, range(2))
    assert engine.compiles == compiles + 1 and engine.cached_scripts == 1  # recompiled from the cache
    pd.testing.assert_frame_equal(first.capacities, again.capacities)


_FORBIDDEN_IMPORTS = (
    "gridtwin._dsslib",
    "opendssdirect",
    "gridtwin.powerflow.study_reads",
    "gridtwin.powerflow.study_edits",
)
_FORBIDDEN_TEXT = re.compile(r"dss\.|Text\.Command|PVSystem\.|InvControl")


def test_hosting_speaks_to_the_engine_only_through_its_study_circuit() -> None:
    folder = Path(hosting.__file__).parent
    problems = []
    for path in sorted(folder.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            problems += [f"{path.name}: imports {n}" for n in names if n.startswith(_FORBIDDEN_IMPORTS)]
        problems += [f"{path.name}: {m.group(0)!r}" for m in _FORBIDDEN_TEXT.finditer(source)]
    assert problems == []
