"""Hosting-capacity criteria (DOMAIN.md, EPRI DRIVE style) judged on a solved OpenDSS circuit.

``capture_baseline`` records the no-DER state of one snapshot; ``evaluate`` compares the state with
the DER against it. Every function here must run on the OpenDSS thread (``Engine.call``).

Deviations are "caused by the DER" only if regulators do not move in between: callers solve the
baseline with controls free, then lock regulator taps (``snapshots.lock_regulators``) for DER trials,
as DRIVE does. Regulator deviation is measured at the winding a regcontrol watches (first conductor,
line drop compensation ignored), in PT-secondary volts, against half its band.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from gridtwin.errors import ErrorDetail, InputError

__all__ = [
    "CRITERIA",
    "GENERATION_CRITERIA",
    "LOAD_CRITERIA",
    "Baseline",
    "CircuitInfo",
    "Criteria",
    "Measure",
    "Violation",
    "capture_baseline",
    "evaluate",
    "first_violation",
    "measure",
    "read_circuit_info",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

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
# Elements whose "loading" is not a thermal limit.
_NOT_THERMAL = ("capacitor", "reactor", "fault", "vsource")


@dataclass(frozen=True)
class Criteria:
    """Which criteria apply and their thresholds (DOMAIN.md defaults)."""

    overvoltage: bool = True
    overvoltage_pu: float = 1.05
    voltage_deviation: bool = True
    deviation_primary_pct: float = 3.0
    deviation_secondary_pct: float = 5.0
    secondary_max_kv_ll: float = 1.0  # buses at or below this line-to-line base are "secondary"
    regulator_deviation: bool = True  # threshold = half the regcontrol's band (on its PT base)
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


@dataclass(frozen=True)
class CircuitInfo:
    """What does not change between solves of one circuit (read once per compile)."""

    node_names: list[str]
    node_base_kv_ln: FloatArray
    pd_names: list[str]
    thermal_mask: BoolArray  # PD elements with a thermal rating that counts
    reg_names: list[str]
    reg_node_index: IntArray  # index into node arrays of the node each regcontrol watches
    reg_pt_ratio: FloatArray
    reg_band_v: FloatArray
    flow_elements: list[str]  # substation transformers and regulators ("transformer.x")
    flow_conductors: list[int]
    source_bus: str


@dataclass
class Baseline:
    """The no-DER solved state at one snapshot (what deviations are measured against)."""

    snapshot: str
    vmag_pu: FloatArray  # per node, in the engine's AllNodeNames order
    node_names: list[str]
    node_is_secondary: BoolArray
    node_valid: BoolArray  # nodes with a voltage base (the others are never judged)
    reg_names: list[str]
    reg_vmag_v: FloatArray  # per regcontrol, PT-secondary volts
    reg_half_band_v: FloatArray
    loading_pct: FloatArray  # per PD element, % of normal rating
    flow_kw: FloatArray  # per flow element, kW into terminal 1
    info: CircuitInfo
    violations: list[Violation] = field(default_factory=list)  # already broken with no DER


def _node_index(node_names: list[str]) -> dict[str, int]:
    return {n: i for i, n in enumerate(node_names)}


def read_circuit_info(dss: Any) -> CircuitInfo:
    """Bases, regulators and flow elements of the compiled circuit (loops once per circuit)."""
    node_names = [str(n).lower() for n in dss.Circuit.AllNodeNames()]
    bases: dict[str, float] = {}
    for i in range(int(dss.Circuit.NumBuses())):
        dss.Circuit.SetActiveBusi(i)
        bases[str(dss.Bus.Name()).lower()] = float(dss.Bus.kVBase())
    node_base = np.array([bases.get(n.rpartition(".")[0], 0.0) for n in node_names], dtype=np.float64)
    pd_names = [str(n).lower() for n in dss.PDElements.AllNames()]
    thermal_mask = np.array([n.partition(".")[0] not in _NOT_THERMAL for n in pd_names], dtype=bool)
    index = _node_index(node_names)

    reg_names: list[str] = []
    reg_nodes: list[int] = []
    reg_pt: list[float] = []
    reg_band: list[float] = []
    reg_xfs: list[str] = []
    idx = dss.RegControls.First()
    while idx:
        name = str(dss.RegControls.Name()).lower()
        xf = str(dss.RegControls.Transformer()).lower()
        winding = int(dss.RegControls.Winding())
        pt, band = float(dss.RegControls.PTRatio()), float(dss.RegControls.ForwardBand())
        dss.Circuit.SetActiveElement(f"transformer.{xf}")
        bus_names = [str(b).lower() for b in dss.CktElement.BusNames()]
        parts = bus_names[winding - 1].split(".")
        node = f"{parts[0]}.{parts[1] if len(parts) > 1 and parts[1] != '0' else '1'}"
        if node in index and pt > 0:
            reg_names.append(name)
            reg_nodes.append(index[node])
            reg_pt.append(pt)
            reg_band.append(band)
        reg_xfs.append(f"transformer.{xf}")
        idx = dss.RegControls.Next()

    dss.Circuit.SetActiveElement("vsource.source")
    source_bus = str(dss.CktElement.BusNames()[0]).split(".")[0].lower()
    flow: list[str] = []
    idx = dss.Transformers.First()
    while idx:
        name = f"transformer.{str(dss.Transformers.Name()).lower()}"
        buses = [str(b).split(".")[0].lower() for b in dss.CktElement.BusNames()]
        if source_bus in buses or name in reg_xfs:
            flow.append(name)
        idx = dss.Transformers.Next()
    conductors: list[int] = []
    for name in flow:
        dss.Circuit.SetActiveElement(name)
        conductors.append(int(dss.CktElement.NumConductors()))
    if not flow:  # no substation transformer: judge the source itself
        flow, conductors = ["vsource.source"], [0]
    return CircuitInfo(
        node_names=node_names,
        node_base_kv_ln=node_base,
        pd_names=pd_names,
        thermal_mask=thermal_mask,
        reg_names=reg_names,
        reg_node_index=np.array(reg_nodes, dtype=np.int64),
        reg_pt_ratio=np.array(reg_pt, dtype=np.float64),
        reg_band_v=np.array(reg_band, dtype=np.float64),
        flow_elements=flow,
        flow_conductors=conductors,
        source_bus=source_bus,
    )


def _flow_kw(dss: Any, info: CircuitInfo) -> FloatArray:
    out = np.zeros(len(info.flow_elements), dtype=np.float64)
    for i, (name, n_cond) in enumerate(zip(info.flow_elements, info.flow_conductors, strict=True)):
        if name == "vsource.source":
            out[i] = -float(np.asarray(dss.Circuit.TotalPower(), dtype=np.float64).ravel()[0])
            continue
        dss.Circuit.SetActiveElement(name)
        powers = np.asarray(dss.CktElement.Powers(), dtype=np.float64).ravel()
        out[i] = float(powers[0 : 2 * n_cond : 2].sum())  # kW into terminal 1
    return out


def capture_baseline(
    dss: Any, snapshot_name: str, criteria: Criteria, info: CircuitInfo | None = None, der: str = "pv"
) -> Baseline:
    """The solved no-DER state (call right after the snapshot's base solve); base violations listed."""
    info = info or read_circuit_info(dss)
    vmag = np.asarray(dss.Circuit.AllBusMagPu(), dtype=np.float64)
    volts = np.asarray(dss.Circuit.AllBusVMag(), dtype=np.float64)
    valid = info.node_base_kv_ln > 0
    base = Baseline(
        snapshot=snapshot_name,
        vmag_pu=vmag,
        node_names=info.node_names,
        node_is_secondary=valid & (info.node_base_kv_ln * math.sqrt(3.0) <= criteria.secondary_max_kv_ll),
        node_valid=valid,
        reg_names=info.reg_names,
        reg_vmag_v=volts[info.reg_node_index] / info.reg_pt_ratio if len(info.reg_names) else np.zeros(0),
        reg_half_band_v=info.reg_band_v / 2.0,
        loading_pct=np.asarray(dss.PDElements.AllPctNorm(False), dtype=np.float64),
        flow_kw=_flow_kw(dss, info),
        info=info,
    )
    base.violations = evaluate(dss, base, criteria, der=der)
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


def measure(dss: Any, baseline: Baseline, criteria: Criteria, der: str = "pv") -> list[Measure]:
    """Every enabled criterion's per-element excess in the current solution."""
    info = baseline.info
    on = set(criteria.enabled(der))
    out: list[Measure] = []
    valid = baseline.node_valid
    nodes = info.node_names
    off = -1.0  # excess of elements a criterion does not judge
    if on & {"overvoltage", "voltage_deviation", "undervoltage"}:
        vmag = np.asarray(dss.Circuit.AllBusMagPu(), dtype=np.float64)
        if "overvoltage" in on:
            lim = np.full(len(vmag), criteria.overvoltage_pu)
            out.append(Measure("overvoltage", nodes, vmag, lim, np.where(valid, vmag / lim - 1.0, off)))
        if "undervoltage" in on:
            lim = np.full(len(vmag), criteria.undervoltage_pu)
            out.append(Measure("undervoltage", nodes, vmag, lim, np.where(valid, 1.0 - vmag / lim, off)))
        if "voltage_deviation" in on:
            v0 = baseline.vmag_pu
            ok = valid & (v0 > 0)
            dev = np.where(ok, 100.0 * np.abs(vmag - v0) / np.where(ok, v0, 1.0), 0.0)
            lim = np.where(
                baseline.node_is_secondary, criteria.deviation_secondary_pct, criteria.deviation_primary_pct
            )
            out.append(Measure("voltage_deviation", nodes, dev, lim, np.where(ok, dev / lim - 1.0, off)))
    if "regulator_deviation" in on and len(baseline.reg_names):
        volts = np.asarray(dss.Circuit.AllBusVMag(), dtype=np.float64)
        v_reg = volts[info.reg_node_index] / info.reg_pt_ratio
        dev = np.abs(v_reg - baseline.reg_vmag_v)
        lim = baseline.reg_half_band_v
        out.append(Measure("regulator_deviation", baseline.reg_names, dev, lim, dev / lim - 1.0))
    if "thermal" in on:
        pct = np.asarray(dss.PDElements.AllPctNorm(False), dtype=np.float64)
        lim = np.full(len(pct), criteria.thermal_pct)
        out.append(
            Measure("thermal", info.pd_names, pct, lim, np.where(info.thermal_mask, pct / lim - 1.0, off))
        )
    if "reverse_power" in on:
        reverse = -_flow_kw(dss, info)
        scale = np.maximum(np.abs(baseline.flow_kw), 1.0)
        excess = (reverse - _REVERSE_TOL_KW) / scale
        out.append(Measure("reverse_power", info.flow_elements, reverse, np.zeros(len(reverse)), excess))
    return out


def evaluate(dss: Any, baseline: Baseline, criteria: Criteria, der: str = "pv") -> list[Violation]:
    """The worst violation of each enabled criterion in the current solution (one per criterion)."""
    return [v for m in measure(dss, baseline, criteria, der) if (v := m.worst()) is not None]


def first_violation(violations: Iterable[Violation]) -> Violation | None:
    """The most severe violation (largest normalised excess), None when there is none."""
    best: Violation | None = None
    for v in violations:
        if best is None or v.excess > best.excess:
            best = v
    return best
