"""Hosting-capacity criteria (DOMAIN.md, EPRI DRIVE style) judged on a solved circuit.

``capture_baseline`` records the no-DER state of one snapshot; ``evaluate`` compares the state with
the DER against it. Run them inside ``StudyCircuit.run`` (they read the circuit several times).

Deviations are "caused by the DER" only if regulators do not move in between: callers solve the
baseline with controls free, then lock regulator taps (``StudyCircuit.lock_controls``) for DER
trials, as DRIVE does. Regulator deviation is measured on what the regulator's control watches (the
controlled winding's voltage of its PT phase: node to ground on a grounded-wye regulator, line to
line on an open- or closed-delta one; line drop compensation ignored), in PT-secondary volts,
against half its band.

Node voltages are judged only at phase nodes (1..3) with a nominal base: neutral and ground nodes
(node 0, numbers above 3, e.g. a transformer's wye neutral grounded through a reactor, near 0 V)
and nodes without a (non-negligible) base are never judged. On 3-wire delta sections (no ground
reference: ``CircuitInfo.delta_buses``) the voltage to ground floats, so the phase nodes there have
base 0 and the line-to-line voltages are judged instead (``CircuitInfo.pair_names``, per unit of the
line-to-line base, secondary when that base is at most ``secondary_max_kv_ll``). The judged voltages
are the nodes followed by the line-to-line pairs (``voltage_names``). Voltages are per unit of the
nominal base, so the deviation is |V_der - V_base| / V_nominal, not relative to the node's own voltage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

import numpy as np

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.hosting.circuit import StudyCircuit
from gridtwin.powerflow.study_types import BoolArray, CircuitInfo, FloatArray, IntArray

__all__ = [
    "CRITERIA",
    "GENERATION_CRITERIA",
    "LOAD_CRITERIA",
    "MIN_BASE_KV",
    "Baseline",
    "CircuitInfo",
    "Criteria",
    "Measure",
    "Violation",
    "capture_baseline",
    "evaluate",
    "first_violation",
    "judged_nodes",
    "judged_voltages",
    "measure",
    "regulator_refs",
    "regulator_volts",
    "voltage_names",
    "voltages_pu",
]

CRITERIA = (
    "overvoltage",
    "voltage_deviation",
    "regulator_deviation",
    "thermal",
    "reverse_power",
    "fault_current",
    "undervoltage",
)
# Generation (PV, storage discharge) can raise voltage and reverse flow; a load only loads and sags.
GENERATION_CRITERIA = CRITERIA[:6]
LOAD_CRITERIA = ("thermal", "undervoltage")

# Reverse flow below this many kW is numerical noise, not a violation.
_REVERSE_TOL_KW = 0.5
# Nodes whose nominal base (line to neutral) is below this are not judged (no meaningful per unit).
MIN_BASE_KV = 1e-3
_PHASE_NODES = frozenset({"1", "2", "3"})


@dataclass(frozen=True)
class Criteria:
    """Which criteria apply and their thresholds (DOMAIN.md defaults)."""

    overvoltage: bool = True
    overvoltage_pu: float = 1.05
    voltage_deviation: bool = True
    deviation_primary_pct: float = 3.0
    deviation_secondary_pct: float = 5.0
    secondary_max_kv_ll: float = 1.0  # buses at or below this line-to-line base are "secondary"
    regulator_deviation: bool = True  # threshold = half the regulator's band (on its PT base)
    thermal: bool = True
    thermal_pct: float = 100.0
    reverse_power: bool = True
    # Breaker reach reduction needs a fault study per bus: not evaluated yet, check() refuses it.
    fault_current: bool = False
    breaker_reach_reduction_pct: float = 10.0
    undervoltage: bool = True  # load-type DER only (EV / storage charging)
    undervoltage_pu: float = 0.95

    def enabled(self, der: str = "pv") -> tuple[str, ...]:
        """The criteria switched on that apply to ``der`` ("pv" generation or "load")."""
        applicable = LOAD_CRITERIA if der == "load" else GENERATION_CRITERIA
        return tuple(c for c in applicable if getattr(self, c))

    def check(self, der: str = "pv") -> None:
        """``InputError`` when no criterion applies or a threshold is not a positive number."""
        problems: list[ErrorDetail] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                continue
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                problems.append(
                    ErrorDetail(where=f"criteria.{f.name}", message=f"must be > 0, got {value!r}")
                )
        if self.fault_current:
            problems.append(
                ErrorDetail(
                    where="criteria.fault_current",
                    message="breaker reach reduction needs a fault study per bus, not available yet",
                    code="unsupported",
                )
            )
        if not self.enabled(der):
            names = ", ".join(LOAD_CRITERIA if der == "load" else GENERATION_CRITERIA)
            problems.append(
                ErrorDetail(where="criteria", message=f"all criteria are off for {der} ({names})")
            )
        if problems:
            raise InputError("invalid hosting-capacity criteria", problems)


@dataclass(frozen=True)
class Violation:
    """One criterion broken at one element; ``excess`` = how far past the limit, normalised."""

    criterion: str
    element: str
    value: float
    limit: float
    excess: float = 0.0


@dataclass
class Baseline:
    """The no-DER solved state at one snapshot (what deviations are measured against).

    Voltage arrays run over ``voltage_names(info)``: every node, then the line-to-line pairs of
    3-wire delta sections (none on grounded feeders: then exactly the nodes).
    """

    snapshot: str
    vmag_pu: FloatArray  # per judged voltage (nodes, then line-to-line pairs)
    node_names: list[str]  # ``voltage_names(info)``
    node_is_secondary: BoolArray
    node_valid: BoolArray  # judged: phase nodes with a base (``judged_nodes``) and the pairs
    reg_names: list[str]
    reg_vmag_v: FloatArray  # per regulator, PT-secondary volts
    reg_half_band_v: FloatArray
    loading_pct: FloatArray  # per PD element, % of normal rating
    flow_kw: FloatArray  # per flow element, kW into terminal 1
    info: CircuitInfo
    violations: list[Violation] = field(default_factory=list)  # already broken with no DER


def judged_nodes(info: CircuitInfo) -> BoolArray:
    """Nodes whose voltage the criteria judge: phase nodes (``bus.1``..``bus.3``) with a nominal base
    of at least ``MIN_BASE_KV``; never neutral or ground nodes (0, 4 and above), nor the nodes of
    3-wire delta sections (base 0: judged line to line)."""
    phase = np.array([n.rpartition(".")[2] in _PHASE_NODES for n in info.node_names], dtype=bool)
    return phase & (info.node_base_kv_ln >= MIN_BASE_KV)


def voltage_names(info: CircuitInfo) -> list[str]:
    """The voltages the criteria measure: every node, then the line-to-line pairs ("bus.1-2")."""
    return [*info.node_names, *info.pair_names] if info.pair_names else info.node_names


def judged_voltages(info: CircuitInfo) -> BoolArray:
    """Which of ``voltage_names`` are judged: ``judged_nodes`` and every line-to-line pair."""
    nodes = judged_nodes(info)
    if not info.pair_names:
        return nodes
    return np.concatenate([nodes, info.pair_base_kv_ll >= MIN_BASE_KV])


def _is_secondary(info: CircuitInfo, criteria: Criteria) -> BoolArray:
    nodes = info.node_base_kv_ln * math.sqrt(3.0) <= criteria.secondary_max_kv_ll
    if not info.pair_names:
        return nodes
    return np.concatenate([nodes, info.pair_base_kv_ll <= criteria.secondary_max_kv_ll])


def voltages_pu(circuit: StudyCircuit, info: CircuitInfo) -> FloatArray:
    """The solved magnitude of each of ``voltage_names``, per unit of its nominal base."""
    vmag = circuit.voltages_pu()
    if not info.pair_names:
        return vmag
    v = circuit.node_voltages()
    a, b = info.pair_nodes[:, 0], info.pair_nodes[:, 1]
    line = np.abs(v[a] - v[b]) / (1000.0 * np.maximum(info.pair_base_kv_ll, MIN_BASE_KV))
    return np.concatenate([vmag, line])


def regulator_refs(info: CircuitInfo) -> IntArray:
    """Per regulator, the node its watched voltage is measured against (-1 = ground)."""
    if len(info.reg_ref_index) == len(info.reg_names):
        return info.reg_ref_index
    return np.full(len(info.reg_names), -1, dtype=np.int64)


def regulator_volts(circuit: StudyCircuit, info: CircuitInfo) -> FloatArray:
    """What each regulator's control watches, PT-secondary volts: its node to ground, or line to
    line (node minus reference node) for delta-connected regulators."""
    if not len(info.reg_names):
        return np.zeros(0)
    volts = circuit.voltages_v()[info.reg_node_index]
    refs = regulator_refs(info)
    line = refs >= 0
    if line.any():
        v = circuit.node_voltages()
        volts = volts.copy()
        volts[line] = np.abs(v[info.reg_node_index[line]] - v[refs[line]])
    return volts / info.reg_pt_ratio


def capture_baseline(
    circuit: StudyCircuit,
    snapshot_name: str,
    criteria: Criteria,
    info: CircuitInfo | None = None,
    der: str = "pv",
) -> Baseline:
    """The solved no-DER state (call right after the snapshot's base solve); base violations listed."""
    info = info or circuit.circuit_info()
    valid = judged_voltages(info)
    base = Baseline(
        snapshot=snapshot_name,
        vmag_pu=voltages_pu(circuit, info),
        node_names=voltage_names(info),
        node_is_secondary=valid & _is_secondary(info, criteria),
        node_valid=valid,
        reg_names=info.reg_names,
        reg_vmag_v=regulator_volts(circuit, info),
        reg_half_band_v=info.reg_band_v / 2.0,
        loading_pct=circuit.loadings_pct(),
        flow_kw=circuit.flows_kw(info),
        info=info,
    )
    base.violations = evaluate(circuit, base, criteria, der=der)
    return base


@dataclass(frozen=True)
class Measure:
    """One criterion over its elements: values, limits and normalised excess (> 0 = violated).

    The excess is continuous in the DER size (secant corrections in ``sensitivity`` rely on it).
    """

    criterion: str
    names: list[str]
    values: FloatArray
    limits: FloatArray
    excess: FloatArray

    def worst(self) -> Violation | None:
        if not len(self.excess):
            return None
        k = int(np.argmax(self.excess))
        if not self.excess[k] > 0:
            return None
        return Violation(
            self.criterion, self.names[k], float(self.values[k]), float(self.limits[k]), float(self.excess[k])
        )


def measure(circuit: StudyCircuit, baseline: Baseline, criteria: Criteria, der: str = "pv") -> list[Measure]:
    """Every enabled criterion's per-element excess in the current solution."""
    info = baseline.info
    on = set(criteria.enabled(der))
    out: list[Measure] = []
    valid = baseline.node_valid
    nodes = baseline.node_names
    off = -1.0  # excess of elements a criterion does not judge
    if on & {"overvoltage", "voltage_deviation", "undervoltage"}:
        vmag = voltages_pu(circuit, info)
        if "overvoltage" in on:
            lim = np.full(len(vmag), criteria.overvoltage_pu)
            out.append(Measure("overvoltage", nodes, vmag, lim, np.where(valid, vmag / lim - 1.0, off)))
        if "undervoltage" in on:
            lim = np.full(len(vmag), criteria.undervoltage_pu)
            out.append(Measure("undervoltage", nodes, vmag, lim, np.where(valid, 1.0 - vmag / lim, off)))
        if "voltage_deviation" in on:
            # Per unit of the nominal base: |V_der - V_base| / V_nominal, in %.
            dev = np.where(valid, 100.0 * np.abs(vmag - baseline.vmag_pu), 0.0)
            lim = np.where(
                baseline.node_is_secondary, criteria.deviation_secondary_pct, criteria.deviation_primary_pct
            )
            out.append(Measure("voltage_deviation", nodes, dev, lim, np.where(valid, dev / lim - 1.0, off)))
    if "regulator_deviation" in on and len(baseline.reg_names):
        dev = np.abs(regulator_volts(circuit, info) - baseline.reg_vmag_v)
        lim = baseline.reg_half_band_v
        out.append(Measure("regulator_deviation", baseline.reg_names, dev, lim, dev / lim - 1.0))
    if "thermal" in on:
        pct = circuit.loadings_pct()
        lim = np.full(len(pct), criteria.thermal_pct)
        out.append(
            Measure("thermal", info.pd_names, pct, lim, np.where(info.thermal_mask, pct / lim - 1.0, off))
        )
    if "reverse_power" in on:
        reverse = -circuit.flows_kw(info)
        scale = np.maximum(np.abs(baseline.flow_kw), 1.0)
        excess = (reverse - _REVERSE_TOL_KW) / scale
        out.append(Measure("reverse_power", info.flow_elements, reverse, np.zeros(len(reverse)), excess))
    return out


def evaluate(
    circuit: StudyCircuit, baseline: Baseline, criteria: Criteria, der: str = "pv"
) -> list[Violation]:
    """The worst violation of each enabled criterion in the current solution (one per criterion)."""
    return [v for m in measure(circuit, baseline, criteria, der) if (v := m.worst()) is not None]


def first_violation(violations: Iterable[Violation]) -> Violation | None:
    """The most severe violation (largest normalised excess), None when there is none."""
    best: Violation | None = None
    for v in violations:
        if best is None or v.excess > best.excess:
            best = v
    return best
