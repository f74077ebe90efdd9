"""Values exchanged between studies (hosting capacity, later faults, ML) and the engine adapter.

Plain data in study words, no engine vocabulary: where a device connects (``BusTarget``), what does
not change between solves of one circuit (``CircuitInfo``), the settled control state, the network's
admittance matrix and element terminal rows for linear sensitivities, and the customers with the
series network they hang on. They live at the adapter's level so that any study room can use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

__all__ = [
    "CAT_B_CURVE_Q_PU",
    "CAT_B_CURVE_V_PU",
    "INVERTER_MODES",
    "BusTarget",
    "CircuitInfo",
    "ControlState",
    "Customers",
    "InverterMode",
    "NetworkMatrix",
    "Solved",
    "TerminalRows",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
ComplexArray = npt.NDArray[np.complex128]

InverterMode = Literal["none", "pf", "volt_var"]
INVERTER_MODES: tuple[str, ...] = ("none", "pf", "volt_var")
# IEEE 1547 Category B volt-var default: V (pu) -> Q (share of kVA, + = supplying vars).
CAT_B_CURVE_V_PU: tuple[float, ...] = (0.92, 0.98, 1.02, 1.08)
CAT_B_CURVE_Q_PU: tuple[float, ...] = (0.44, 0.0, 0.0, -0.44)


@dataclass(frozen=True)
class BusTarget:
    """Where a device connects: the bus, its node numbers (1..3) and line-to-line kV base."""

    bus: str
    nodes: tuple[int, ...]
    kv_base_ll: float
    x: float = float("nan")
    y: float = float("nan")

    @property
    def phases(self) -> int:
        return len(self.nodes)

    @property
    def bus_spec(self) -> str:
        """The bus with its nodes, e.g. ``671.1.2.3`` or ``611.3`` (one key per connection)."""
        return ".".join([self.bus, *(str(n) for n in self.nodes)])


@dataclass(frozen=True)
class Solved:
    """Outcome of one power flow: converged (and controls settled), iterations of the last try."""

    converged: bool
    iterations: int


@dataclass(frozen=True)
class CircuitInfo:
    """What does not change between solves of one circuit (read once per compile).

    Node arrays follow ``node_names`` ("bus.node"), element arrays ``pd_names`` (the power-delivery
    elements: lines, transformers, ...). ``flow_elements`` are the elements whose reverse flow counts
    (the substation transformer and the regulators; the source itself when there is no substation
    transformer, marked in ``flow_at_source``).
    """

    node_names: list[str]
    node_base_kv_ln: FloatArray
    pd_names: list[str]
    thermal_mask: BoolArray  # elements with a thermal rating that counts
    reg_names: list[str]
    reg_node_index: IntArray  # index into node arrays of the node each regulator watches
    reg_pt_ratio: FloatArray
    reg_band_v: FloatArray  # the regulator's bandwidth, PT-secondary volts
    flow_elements: list[str]
    flow_conductors: list[int]
    flow_at_source: tuple[bool, ...]
    source_bus: str


@dataclass(frozen=True)
class ControlState:
    """Regulated windings' taps as solved (element, winding, tap pu) and capacitor steps in service."""

    taps: tuple[tuple[str, int, float], ...]
    capacitor_steps: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class NetworkMatrix:
    """The solved circuit's admittance matrix (siemens, loads as their nominal admittance), its node
    order and the node voltages (volts, complex) in that order."""

    y: sp.csc_matrix
    node_names: list[str]
    voltages: ComplexArray


@dataclass(frozen=True)
class TerminalRows:
    """The rows of element admittance matrices that give each element's terminal-1 conductor currents
    from the node voltages: ``current = Y_rows @ V`` (COO triples ``rows``/``cols``/``values`` into the
    ``NetworkMatrix`` node order).

    ``element`` holds, per element kept, its position in the names asked for (elements out of
    service or left out of the solution are skipped); its conductors are rows ``first_row`` ..
    ``first_row + conductors - 1``. Per row: the node it connects to (-1 for ground) and the solved
    current; per element kept: its normal current rating (A, 0 when it has none).
    """

    element: list[int]
    first_row: list[int]
    conductors: list[int]
    rows: list[int]
    cols: list[int]
    values: list[complex]
    row_node: IntArray
    current: ComplexArray
    normal_amps: FloatArray


@dataclass(frozen=True)
class Customers:
    """The enabled loads of a circuit, in circuit order (arrays aligned by position)."""

    names: tuple[str, ...]
    buses: tuple[str, ...]  # bus with node suffix, as the load connects
    phases: IntArray
    kv: FloatArray  # the load's rated kV (line-to-line for 2 and 3 phases)
    conns: tuple[str, ...]  # wye | delta
    class_codes: IntArray  # the load's customer class number (1 residential, 2 commercial, ...)
    kw: FloatArray

    def __len__(self) -> int:
        return len(self.names)
