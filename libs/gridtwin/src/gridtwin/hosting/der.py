"""Adding, resizing and removing the test DER of a hosting-capacity study (OpenDSS commands).

The PV is an OpenDSS PVSystem at irradiance 1 with Pmpp = the size in kW, on every phase of the bus
it connects to (wye, line-to-line kV for 2 and 3 phases, line-to-neutral for 1). Its kVA is
1.1 x kW (headroom for reactive power, IEEE 1547) or kW / |pf| when that is larger. Inverter modes:

* ``none``: unity power factor;
* ``pf``: fixed power factor ``pf`` (negative = absorbing vars, OpenDSS sign convention);
* ``volt_var``: an InvControl in VOLTVAR mode on an XYcurve, IEEE 1547 Category B default
  (V 0.92/0.98/1.02/1.08 pu -> Q 0.44/0/0/-0.44 of kVA), ``voltage_curvex_ref=rated``.

Re-adding a name that exists edits it (new bus, size, mode) instead of creating another element, so
a study moving one test DER over thousands of buses does not grow the circuit. Run on the OpenDSS
thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.hosting.types import INVERTER_MODES, BusTarget

__all__ = [
    "CAT_B_CURVE_Q_PU",
    "CAT_B_CURVE_V_PU",
    "KVA_HEADROOM",
    "add_load",
    "add_pv",
    "bus_target",
    "create_pv_pool",
    "remove_der",
    "reset_inverter",
    "set_load_kw",
    "set_pool_enabled",
    "set_pool_pv",
    "set_pv_kw",
]

CAT_B_CURVE_V_PU: tuple[float, ...] = (0.92, 0.98, 1.02, 1.08)
CAT_B_CURVE_Q_PU: tuple[float, ...] = (0.44, 0.0, 0.0, -0.44)
KVA_HEADROOM = 1.1
_MIN_KW = 1e-3  # OpenDSS rejects a zero-sized PVSystem


def bus_target(dss: Any, bus: str) -> BusTarget:
    """The phases and base of ``bus`` (``name`` or ``name.n``); ``InputError`` if it does not exist."""
    name, _, node_text = bus.strip().lower().partition(".")
    if dss.Circuit.SetActiveBus(name) < 0 or str(dss.Bus.Name()).lower() != name:
        raise InputError("unknown bus", [ErrorDetail(where=f"bus {bus}", message="not in the circuit")])
    nodes = tuple(int(n) for n in dss.Bus.Nodes() if 1 <= int(n) <= 3)
    if node_text:
        wanted = tuple(int(n) for n in node_text.split(".") if n)
        missing = [n for n in wanted if n not in nodes]
        if missing:
            raise InputError(
                "unknown bus node", [ErrorDetail(where=f"bus {bus}", message=f"no node {missing} on {name}")]
            )
        nodes = wanted
    if not nodes:
        raise InputError("bus has no phase nodes", [ErrorDetail(where=f"bus {bus}", message="no nodes 1..3")])
    x = float(dss.Bus.X()) if dss.Bus.Coorddefined() else float("nan")
    y = float(dss.Bus.Y()) if dss.Bus.Coorddefined() else float("nan")
    return BusTarget(bus=name, nodes=nodes, kv_base_ll=float(dss.Bus.kVBase()) * math.sqrt(3.0), x=x, y=y)


def _kv(target: BusTarget) -> float:
    return target.kv_base_ll if target.phases > 1 else target.kv_base_ll / math.sqrt(3.0)


def _exists(dss: Any, element: str) -> bool:
    return bool(dss.Circuit.SetActiveElement(element) >= 0)


def _kva(kw: float, pf: float) -> float:
    return max(KVA_HEADROOM, 1.0 / abs(pf)) * kw


def add_pv(
    dss: Any,
    name: str,
    bus: str | BusTarget,
    kw: float,
    *,
    inverter: str = "none",
    pf: float = 1.0,
    curve_v_pu: Sequence[float] = CAT_B_CURVE_V_PU,
    curve_q_pu: Sequence[float] = CAT_B_CURVE_Q_PU,
    irradiance: float = 1.0,
) -> None:
    """Connect (or move and resize) the PVSystem ``name`` at ``bus`` producing ``kw`` at irradiance 1."""
    if inverter not in INVERTER_MODES:
        raise InputError(
            "unknown inverter mode",
            [ErrorDetail(where="inverter", message=f"{inverter!r} not in {INVERTER_MODES}")],
        )
    if not (math.isfinite(pf) and 0.0 < abs(pf) <= 1.0):
        raise InputError("invalid power factor", [ErrorDetail(where="pf", message=f"{pf} not in (0, 1]")])
    target = bus if isinstance(bus, BusTarget) else bus_target(dss, bus)
    kw = max(float(kw), _MIN_KW)
    use_pf = pf if inverter == "pf" else 1.0
    verb = "edit" if _exists(dss, f"pvsystem.{name}") else "new"
    kva = _kva(kw, use_pf)
    dss.Text.Command(
        f"{verb} PVSystem.{name} bus1={target.bus_spec} phases={target.phases} kV={_kv(target):.6g}"
        f" Pmpp={kw:.6g} kVA={kva:.6g} kvarMax={kva:.6g} kvarMaxAbs={kva:.6g}"
        f" irradiance={irradiance:.6g} pf={use_pf:.6g}"
        " %cutin=0.0001 %cutout=0.0001 conn=wye enabled=yes"
    )
    control = f"invcontrol.{name}_vv0"
    if inverter == "volt_var":
        if len(curve_v_pu) != len(curve_q_pu) or len(curve_v_pu) < 2:
            raise InputError(
                "invalid volt-var curve",
                [ErrorDetail(where="curve_v_pu", message="x and y differ in length")],
            )
        xs = " ".join(f"{v:.6g}" for v in curve_v_pu)
        ys = " ".join(f"{q:.6g}" for q in curve_q_pu)
        curve_verb = "edit" if _exists(dss, f"xycurve.{name}_vv") else "new"
        if curve_verb == "new":
            dss.Text.Command(f"new XYcurve.{name}_vv npts={len(xs.split())} Xarray=[{xs}] Yarray=[{ys}]")
        else:
            dss.Text.Command(f"edit XYcurve.{name}_vv npts={len(xs.split())} Xarray=[{xs}] Yarray=[{ys}]")
        reset_inverter(dss, name)
    elif _exists(dss, control):
        _disable_controls(dss, name)


def _disable_controls(dss: Any, name: str) -> None:
    dss.Text.Command(f"batchedit InvControl.{name}_vv.* enabled=no")


def reset_inverter(dss: Any, name: str) -> None:
    """Give the PV ``name`` a fresh volt-var InvControl (its curve must exist).

    An InvControl remembers the vars of its last solve and starts the next control loop from
    them, so results would depend on what was solved before; a new control has no memory. The
    old ones stay disabled (OpenDSS cannot delete elements).
    """
    _disable_controls(dss, name)
    dss.Text.Command(f"edit PVSystem.{name} kvar=0")  # the PV keeps its last vars too
    serial = 0
    while _exists(dss, f"invcontrol.{name}_vv{serial}"):
        serial += 1
    dss.Text.Command(
        f"new InvControl.{name}_vv{serial} DERList=[PVSystem.{name}] mode=VOLTVAR vvc_curve1={name}_vv"
        " voltage_curvex_ref=rated RefReactivePower=VARMAX VarChangeTolerance=0.0005 VoltageChangeTolerance=0.00001"
    )


def set_pv_kw(dss: Any, name: str, kw: float) -> None:
    """Resize the PVSystem ``name`` (kVA follows with the same headroom and power factor)."""
    kw = max(float(kw), _MIN_KW)
    dss.Circuit.SetActiveElement(f"pvsystem.{name}")
    dss.PVsystems.Name(name)
    pf = float(dss.PVsystems.pf())
    kva = _kva(kw, pf)
    # kvarMax defaults to kVA only at creation; volt-var (VARMAX) scales with it, so set it too.
    dss.Text.Command(
        f"edit PVSystem.{name} Pmpp={kw:.6g} kVA={kva:.6g} kvarMax={kva:.6g} kvarMaxAbs={kva:.6g}"
    )


def add_load(dss: Any, name: str, bus: str | BusTarget, kw: float, pf: float = 1.0) -> None:
    """Connect (or move and resize) a constant-power load ``name`` (EV or storage charging)."""
    if not (math.isfinite(pf) and 0.0 < abs(pf) <= 1.0):
        raise InputError("invalid power factor", [ErrorDetail(where="pf", message=f"{pf} not in (0, 1]")])
    target = bus if isinstance(bus, BusTarget) else bus_target(dss, bus)
    verb = "edit" if _exists(dss, f"load.{name}") else "new"
    # status=fixed: the test load ignores the snapshot's load multiplier.
    dss.Text.Command(
        f"{verb} Load.{name} bus1={target.bus_spec} phases={target.phases} kV={_kv(target):.6g}"
        f" kW={max(float(kw), _MIN_KW):.6g} pf={pf:.6g} model=1 conn=wye status=fixed"
        " vminpu=0.7 vmaxpu=1.3 enabled=yes"
    )


def set_load_kw(dss: Any, name: str, kw: float) -> None:
    """Resize the load ``name``."""
    dss.Loads.Name(name)
    dss.Loads.kW(max(float(kw), _MIN_KW))


def remove_der(dss: Any, name: str) -> None:
    """Disable the test DER ``name`` (PVSystem, its InvControl, or load); missing names are ignored."""
    if _exists(dss, f"invcontrol.{name}_vv0"):
        _disable_controls(dss, name)
    for element in (f"pvsystem.{name}", f"load.{name}"):
        if _exists(dss, element):
            dss.CktElement.Enabled(False)


def create_pv_pool(
    dss: Any, prefix: str, targets: Sequence[BusTarget], rating_kw: Sequence[float], pf: float = 1.0
) -> list[str]:
    """One idle PVSystem (irradiance 0) per target, named ``prefix`` + index; returns the names.

    Moving one PV from bus to bus rebuilds the system Y matrix at every move; a pool of idle PVs,
    one per bus, sized through irradiance, never does (an idle PVSystem injects nothing). Not for
    volt-var: an idle inverter would still absorb or supply vars.
    """
    commands: list[str] = []
    names: list[str] = []
    for i, (target, kw) in enumerate(zip(targets, rating_kw, strict=True)):
        name = f"{prefix}{i}"
        verb = "edit" if _exists(dss, f"pvsystem.{name}") else "new"
        kw = max(float(kw), _MIN_KW)
        commands.append(
            f"{verb} PVSystem.{name} bus1={target.bus_spec} phases={target.phases} kV={_kv(target):.6g}"
            f" Pmpp={kw:.6g} kVA={_kva(kw, pf):.6g} irradiance=0 pf={pf:.6g}"
            " %cutin=0 %cutout=0 conn=wye enabled=yes"
        )
        names.append(name)
    if commands:
        dss.Text.Commands("\n".join(commands))
    return names


def set_pool_enabled(dss: Any, prefix: str, enabled: bool) -> None:
    """Enable (idle, irradiance 0) or disable every PVSystem of the pool ``prefix``."""
    state = "irradiance=0 enabled=yes" if enabled else "enabled=no"
    dss.Text.Command(f"batchedit PVSystem.{prefix}.* {state}")


def set_pool_pv(
    dss: Any, name: str, irradiance: float, rating_kw: float | None = None, pf: float = 1.0
) -> None:
    """Set one pool PV's irradiance (and, when given, re-rate it: that costs a Y rebuild)."""
    if rating_kw is not None:
        kw = max(float(rating_kw), _MIN_KW)
        dss.Text.Command(f"edit PVSystem.{name} Pmpp={kw:.6g} kVA={_kva(kw, pf):.6g}")
    dss.PVsystems.Name(name)
    dss.PVsystems.Irradiance(float(irradiance))
