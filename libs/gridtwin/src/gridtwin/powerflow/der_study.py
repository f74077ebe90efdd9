"""The engine adapter for studies that add DER to a circuit (hosting capacity; later faults, ML).

``DerStudyCircuit`` binds ``study_reads`` and ``study_edits`` to one ``Engine``: every method runs on
the OpenDSS thread with the engine's error mapping. Called from that thread (inside ``run``) a method
is a plain call, so a study's hot loop pays one thread hop per batch, not one per engine call.

``study_session(engine)`` gives a study exclusive use of the engine (``Engine.hold``) and marks the
circuit changed at the end: the study leaves test DER in it, so the next load recompiles.

The circuit's 3-wire delta sections (``study_reads.delta_buses``, a walk over the whole circuit) are
found once per compiled circuit and kept: a stochastic study asks for one bus target per customer.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Concatenate, ParamSpec, TypeVar

import numpy as np
import pandas as pd

from gridtwin.powerflow import study_edits as edits
from gridtwin.powerflow import study_reads as reads
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.study_types import (
    CAT_B_CURVE_Q_PU,
    CAT_B_CURVE_V_PU,
    BusTarget,
    CircuitInfo,
    ComplexArray,
    ControlState,
    Customers,
    FloatArray,
    NetworkMatrix,
    Solved,
    TerminalRows,
)

__all__ = ["DerStudyCircuit", "study_session"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def _on_engine(
    method: Callable[Concatenate[DerStudyCircuit, P], R],
) -> Callable[Concatenate[DerStudyCircuit, P], R]:
    """Run ``method`` on the OpenDSS thread: directly when already there, else through ``Engine.call``."""

    def run(self: DerStudyCircuit, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if threading.get_ident() == self._thread:
            return method(self, *args, **kwargs)
        return self._engine.call(f"study.{method.__name__}", functools.partial(method, self, *args, **kwargs))

    run.__name__, run.__doc__ = method.__name__, method.__doc__
    return run


class DerStudyCircuit:
    """The circuit loaded in ``engine``, seen by a study (the ``hosting.circuit.StudyCircuit`` nouns).

    Safe from any thread; use it within one ``study_session`` so no other caller changes the circuit.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dss = engine.dss
        # The OpenDSS thread (re-created after a fork: a session never outlives its process).
        self._thread = engine.call("study", threading.get_ident)
        self._delta: tuple[tuple[object, ...], frozenset[str]] | None = None

    def _topology(self) -> tuple[object, ...]:
        """What identifies the compiled circuit's topology within a session (test DER added to it
        changes none of it)."""
        dss = self._dss
        return (
            self._engine.loaded,
            str(dss.Circuit.Name()),
            int(dss.Circuit.NumBuses()),
            int(dss.Circuit.NumNodes()),
            int(dss.Lines.Count()),
            int(dss.Transformers.Count()),
        )

    def _delta_buses(self) -> frozenset[str]:
        key = self._topology()
        if self._delta is None or self._delta[0] != key:
            self._delta = (key, reads.delta_buses(self._dss))
        return self._delta[1]

    def run(self, where: str, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on the OpenDSS thread in one hop (a batch of study calls); engine errors
        become ``EngineError`` at ``where``."""
        return self._engine.call(where, fn, *args)

    # -- the circuit ----------------------------------------------------------------------

    @_on_engine
    def name(self) -> str:
        """The circuit's name."""
        return str(self._dss.Circuit.Name()).lower()

    @_on_engine
    def source_bus(self) -> str:
        return reads.source_bus(self._dss)

    @_on_engine
    def circuit_info(self) -> CircuitInfo:
        return reads.read_circuit_info(self._dss, self._delta_buses())

    @_on_engine
    def bus_target(self, bus: str) -> BusTarget:
        return reads.bus_target(self._dss, bus, self._delta_buses())

    @_on_engine
    def bus_targets(self, exclude: Collection[str] = ()) -> list[BusTarget]:
        return reads.bus_targets(self._dss, exclude, self._delta_buses())

    @_on_engine
    def customers(self) -> Customers:
        return reads.customers(self._dss)

    @_on_engine
    def series_edges(self) -> pd.DataFrame:
        return reads.series_edges(self._dss)

    # -- operating point, controls, solving -----------------------------------------------

    @_on_engine
    def use_snapshot_mode(self) -> None:
        edits.use_snapshot_mode(self._dss)

    @_on_engine
    def set_operating_point(self, load_mult: float, irradiance: float) -> None:
        edits.set_operating_point(self._dss, load_mult, irradiance)

    @_on_engine
    def lock_controls(self) -> list[str]:
        return edits.lock_controls(self._dss)

    @_on_engine
    def unlock_controls(self, names: Sequence[str]) -> None:
        edits.unlock_controls(self._dss, names)

    @_on_engine
    def tap_positions(self) -> dict[str, int]:
        return reads.tap_positions(self._dss)

    @_on_engine
    def set_tap_positions(self, taps: dict[str, int]) -> None:
        edits.set_tap_positions(self._dss, taps)

    @_on_engine
    def control_state(self) -> ControlState:
        return reads.control_state(self._dss)

    @_on_engine
    def restore_control_state(self, state: ControlState) -> None:
        edits.restore_control_state(self._dss, state)

    @_on_engine
    def solve(self) -> Solved:
        return edits.solve(self._dss)

    @_on_engine
    def flat_start(self) -> None:
        edits.flat_start(self._dss)

    # -- measuring the solved state -------------------------------------------------------

    @_on_engine
    def voltages_pu(self) -> FloatArray:
        """Node voltage magnitudes (pu of the node's base), in ``CircuitInfo.node_names`` order."""
        return np.asarray(self._dss.Circuit.AllBusMagPu(), dtype=np.float64)

    @_on_engine
    def voltages_v(self) -> FloatArray:
        """Node voltage magnitudes (volts), in ``CircuitInfo.node_names`` order."""
        return np.asarray(self._dss.Circuit.AllBusVMag(), dtype=np.float64)

    @_on_engine
    def node_voltages(self) -> ComplexArray:
        """Node voltages (volts, complex), in ``CircuitInfo.node_names`` order."""
        return reads.node_voltages(self._dss)

    @_on_engine
    def loadings_pct(self) -> FloatArray:
        """Element loading, % of normal rating, in ``CircuitInfo.pd_names`` order."""
        return np.asarray(self._dss.PDElements.AllPctNorm(False), dtype=np.float64)

    @_on_engine
    def flows_kw(self, info: CircuitInfo) -> FloatArray:
        """kW into each of ``info.flow_elements`` (negative = flowing back to the source)."""
        return reads.flows_kw(self._dss, info)

    @_on_engine
    def network_matrix(self) -> NetworkMatrix:
        return reads.network_matrix(self._dss)

    @_on_engine
    def terminal_rows(self, elements: Sequence[str], node_index: Mapping[str, int]) -> TerminalRows:
        return reads.terminal_rows(self._dss, elements, node_index)

    # -- test DER -------------------------------------------------------------------------

    @_on_engine
    def add_pv(
        self,
        name: str,
        at: BusTarget,
        kw: float,
        *,
        inverter: str = "none",
        pf: float = 1.0,
        irradiance: float = 1.0,
        curve_v_pu: Sequence[float] = CAT_B_CURVE_V_PU,
        curve_q_pu: Sequence[float] = CAT_B_CURVE_Q_PU,
    ) -> None:
        edits.add_pv(
            self._dss,
            name,
            at,
            kw,
            inverter=inverter,
            pf=pf,
            irradiance=irradiance,
            curve_v_pu=curve_v_pu,
            curve_q_pu=curve_q_pu,
        )

    @_on_engine
    def resize_pv(self, name: str, kw: float) -> None:
        edits.set_pv_kw(self._dss, name, kw)

    @_on_engine
    def set_pv_irradiance(
        self, name: str, irradiance: float, rating_kw: float | None = None, pf: float = 1.0
    ) -> None:
        edits.set_pv_irradiance(self._dss, name, irradiance, rating_kw, pf)

    @_on_engine
    def restart_inverter(self, name: str) -> None:
        edits.reset_inverter(self._dss, name)

    @_on_engine
    def add_load(self, name: str, at: BusTarget, kw: float, pf: float = 1.0) -> None:
        edits.add_load(self._dss, name, at, kw, pf)

    @_on_engine
    def resize_load(self, name: str, kw: float) -> None:
        edits.set_load_kw(self._dss, name, kw)

    @_on_engine
    def remove_der(self, name: str) -> None:
        edits.remove_der(self._dss, name)

    @_on_engine
    def add_pv_pool(
        self, prefix: str, targets: Sequence[BusTarget], rating_kw: Sequence[float], pf: float = 1.0
    ) -> list[str]:
        return edits.add_pv_pool(self._dss, prefix, targets, rating_kw, pf)

    @_on_engine
    def set_pool_enabled(self, prefix: str, enabled: bool) -> None:
        edits.set_pool_enabled(self._dss, prefix, enabled)


@contextlib.contextmanager
def study_session(engine: Engine) -> Iterator[DerStudyCircuit]:
    """Exclusive use of ``engine`` for one study; the circuit is marked changed at the end."""
    with engine.hold():
        try:
            yield DerStudyCircuit(engine)
        finally:
            engine.mark_changed()
