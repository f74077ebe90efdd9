"""Values exchanged between studies (hosting capacity, later faults, ML) and the engine adapter.

Plain data in study words, no engine vocabulary: where a device connects (``BusTarget``), what does
not change between solves of one circuit (``CircuitInfo``), the settled control state, the network's
admittance matrix and element terminal rows for linear sensitivities, and the customers with the
series network they hang on. They live at the adapter's level so that any study room can use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    """Where a device connects: the bus, its node numbers (1..3) and line-to-line kV base.

    ``delta``: the bus is on a 3-wire delta section (no ground reference, ``CircuitInfo.delta_buses``):
    a device there connects line to line (3 phases in delta, 2 nodes as one line-to-line branch), as
    a real inverter or load would; elsewhere it connects in grounded wye.
    """

    bus: str
    nodes: tuple[int, ...]
    kv_base_ll: float
    x: float = float("nan")
    y: float = float("nan")
    delta: bool = False

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

    3-wire delta sections (``delta_buses``: buses that no ground reference reaches, e.g. behind a
    delta-delta transformer with no grounded-wye winding or source on them) have no meaningful voltage
    to ground: their phase nodes get base 0 (never judged) and their line-to-line voltages are listed
    as ``pair_names`` ("bus.1-2", "bus.2-3", "bus.3-1"; one pair on a 2-node bus), with the two nodes
    (indexes into the node arrays) and the line-to-line base. Each regulator watches the voltage of
    node ``reg_node_index`` against node ``reg_ref_index`` (-1 = ground; an empty array means ground
    for all): its PT's winding voltage, line to line for delta-connected regulators.
    """

    node_names: list[str]
    # 0 for neutral and ground nodes (numbers other than 1..3) and the nodes of 3-wire delta sections:
    # never judged
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
    delta_buses: frozenset[str] = frozenset()
    pair_names: list[str] = field(default_factory=list)
    pair_nodes: IntArray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    pair_base_kv_ll: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    reg_ref_index: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


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
