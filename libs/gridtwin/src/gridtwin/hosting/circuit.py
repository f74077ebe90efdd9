"""What a hosting-capacity study needs from the circuit, in study words (``StudyCircuit``).

The engine adapter implements it (``gridtwin.powerflow.der_study``); hosting code never speaks to the
engine otherwise. Values are the adapter level's plain types (``gridtwin.powerflow.study_types``), so
other study rooms (faults, ML) can share them.

Threads: every method may be called from any thread, but a study runs its loops inside ``run`` (one
hop to the engine's thread per batch) and the whole study inside ``open_study`` (exclusive use of the
engine, the circuit marked changed at the end since the study leaves test DER in it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

import pandas as pd

from gridtwin.powerflow.der_study import study_session
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

__all__ = ["StudyCircuit", "open_study"]

T = TypeVar("T")


class StudyCircuit(Protocol):
    """One compiled circuit under study: where DER can go, operating points, solves, measurements."""

    def run(self, where: str, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` as one batch on the engine; engine errors become ``EngineError`` at ``where``."""
        ...

    # -- the circuit ----------------------------------------------------------------------

    def name(self) -> str: ...

    def source_bus(self) -> str:
        """The bus the feeder is supplied from (substation high side)."""
        ...

    def circuit_info(self) -> CircuitInfo:
        """Nodes and their bases, elements and which are thermally rated, regulators, flow elements."""
        ...

    def bus_target(self, bus: str) -> BusTarget:
        """``bus`` (``name`` or ``name.node...``) with its phases, kV base, coordinates and whether it
        sits on a 3-wire delta section (devices connect line to line there); ``InputError`` when it
        does not exist or is a single conductor of a delta section."""
        ...

    def bus_targets(self, exclude: Collection[str] = ()) -> list[BusTarget]:
        """Every bus with phase nodes and a voltage base, except ``exclude`` (and single conductors
        of delta sections)."""
        ...

    def customers(self) -> Customers:
        """The loads in service: where they connect, their kV, kW and customer class."""
        ...

    def series_edges(self) -> pd.DataFrame:
        """The series network as ``bus1``, ``bus2``, ``length_m`` (transformers 0 m)."""
        ...

    # -- operating point, controls, solving -----------------------------------------------

    def use_snapshot_mode(self) -> None:
        """Solve single operating points (not time series), keeping how controls act."""
        ...

    def set_operating_point(self, load_mult: float, irradiance: float) -> None:
        """Scale every load by ``load_mult``; every PV at ``irradiance`` (1.0 = rated output)."""
        ...

    def lock_controls(self) -> list[str]:
        """Freeze regulator taps and capacitor steps where they are; returns what to unlock."""
        ...

    def unlock_controls(self, names: Sequence[str]) -> None: ...

    def tap_positions(self) -> dict[str, int]:
        """Each regulator's tap position."""
        ...

    def set_tap_positions(self, taps: dict[str, int]) -> None: ...

    def control_state(self) -> ControlState:
        """Taps and capacitor steps as solved (read before locking the controls)."""
        ...

    def restore_control_state(self, state: ControlState) -> None: ...

    def solve(self) -> Solved:
        """Power flow with the control loop (one retry from a flat start)."""
        ...

    def flat_start(self) -> None:
        """Make the next solve start from the no-load voltages."""
        ...

    # -- measuring the solved state -------------------------------------------------------

    def voltages_pu(self) -> FloatArray:
        """Per node of ``CircuitInfo.node_names``."""
        ...

    def voltages_v(self) -> FloatArray:
        """Per node of ``CircuitInfo.node_names``, volts."""
        ...

    def node_voltages(self) -> ComplexArray:
        """Per node of ``CircuitInfo.node_names``, volts, complex (line-to-line voltages)."""
        ...

    def loadings_pct(self) -> FloatArray:
        """Per element of ``CircuitInfo.pd_names``, % of the normal rating."""
        ...

    def flows_kw(self, info: CircuitInfo) -> FloatArray:
        """kW through each of ``info.flow_elements`` towards the load (negative = reverse flow)."""
        ...

    def network_matrix(self) -> NetworkMatrix:
        """Admittance matrix, node order and node voltages of the solved circuit (linear studies)."""
        ...

    def terminal_rows(self, elements: Sequence[str], node_index: Mapping[str, int]) -> TerminalRows:
        """Rows that turn node voltages into ``elements``' terminal currents (linear studies)."""
        ...

    # -- test DER -------------------------------------------------------------------------

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
        """Connect (or move and resize) PV ``name`` of ``kw`` at ``at``, inverter ``none`` (unity
        power factor), ``pf`` (fixed power factor) or ``volt_var`` (default curve IEEE 1547 Cat B);
        grounded wye, or line to line where ``at.delta``."""
        ...

    def resize_pv(self, name: str, kw: float) -> None: ...

    def set_pv_irradiance(
        self, name: str, irradiance: float, rating_kw: float | None = None, pf: float = 1.0
    ) -> None:
        """Output of one PV (and its rating when given: slower, it changes the network matrix)."""
        ...

    def restart_inverter(self, name: str) -> None:
        """A volt-var inverter without memory of earlier solves."""
        ...

    def add_load(self, name: str, at: BusTarget, kw: float, pf: float = 1.0) -> None:
        """Connect (or move and resize) a constant-power test load (EV or storage charging)."""
        ...

    def resize_load(self, name: str, kw: float) -> None: ...

    def remove_der(self, name: str) -> None:
        """Take test PV or load ``name`` out of service (unknown names are ignored)."""
        ...

    def add_pv_pool(
        self, prefix: str, targets: Sequence[BusTarget], rating_kw: Sequence[float], pf: float = 1.0
    ) -> list[str]:
        """Idle PVs (no output), one per target, sized later through irradiance; their names."""
        ...

    def set_pool_enabled(self, prefix: str, enabled: bool) -> None:
        """Put the pool ``prefix`` in service (idle) or out of it."""
        ...


def open_study(engine: Engine) -> AbstractContextManager[StudyCircuit]:
    """The circuit loaded in ``engine``, held for one study (``with open_study(engine) as circuit``)."""
    return study_session(engine)
