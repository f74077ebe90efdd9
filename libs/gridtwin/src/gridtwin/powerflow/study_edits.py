"""Changing a compiled OpenDSS circuit for studies: test DER, operating point, controls, solving.

The test PV is a PVSystem at irradiance 1 with Pmpp = the size in kW, on every phase of the bus it
connects to: in grounded wye (line-to-line kV for 2 and 3 phases, line-to-neutral for 1), except on
a 3-wire delta section (``BusTarget.delta``), where it connects line to line as an inverter there
would: 3 phases in delta, 2 nodes as one single-phase branch between them (line-to-line kV). Test
loads connect the same way. Its kVA is 1.1 x kW (headroom for reactive power, IEEE 1547) or
kW / |pf| when that is larger. Inverter modes:

* ``none``: unity power factor;
* ``pf``: fixed power factor ``pf`` (negative = absorbing vars, OpenDSS sign convention);
* ``volt_var``: an InvControl in VOLTVAR mode on an XYcurve (default IEEE 1547 Category B),
  ``voltage_curvex_ref=rated``.

Re-adding a name that exists edits it (new bus, size, mode) instead of creating another element, so
a study moving one test DER over thousands of buses does not grow the circuit. Functions of an
``opendssdirect`` context, run on the OpenDSS thread (``DerStudyCircuit`` binds them to an engine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gridtwin._dsslib import opendssdirect
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.powerflow.study_reads import bus_target
from gridtwin.powerflow.study_types import (
    CAT_B_CURVE_Q_PU,
    CAT_B_CURVE_V_PU,
    INVERTER_MODES,
    BusTarget,
    ControlState,
    Solved,
)

__all__ = [
    "KVA_HEADROOM",
    "add_load",
    "add_pv",
    "add_pv_pool",
    "flat_start",
    "lock_controls",
    "remove_der",
    "reset_inverter",
    "restore_control_state",
    "set_load_kw",
    "set_operating_point",
    "set_pool_enabled",
    "set_pv_irradiance",
    "set_pv_kw",
    "set_tap_positions",
    "solve",
    "unlock_controls",
    "use_snapshot_mode",
]

KVA_HEADROOM = 1.1
_MIN_KW = 1e-3  # OpenDSS rejects a zero-sized PVSystem
_SNAPSHOT_MODE = 0
_MAX_CONTROL_ITERATIONS = 485  # OpenDSS error number: "Max Control Iterations Exceeded"
_WHOLE_SYSTEM_Y = 2


def _kv(target: BusTarget) -> float:
    return target.kv_base_ll if target.phases > 1 else target.kv_base_ll / math.sqrt(3.0)


def _connection(target: BusTarget) -> str:
    """``bus1=... phases=... kV=... conn=...`` of a device at ``target`` (see the module notes)."""
    if not target.delta:
        return f"bus1={target.bus_spec} phases={target.phases} kV={_kv(target):.6g} conn=wye"
    if target.phases not in (2, 3):
        raise InputError(
            "a single conductor of a 3-wire delta section",
            [ErrorDetail(where=f"bus {target.bus_spec}", message="a device there connects line to line")],
        )
    # conn before bus1: the conductor count follows the connection.
    phases = 3 if target.phases == 3 else 1
    return f"conn=delta phases={phases} bus1={target.bus_spec} kV={target.kv_base_ll:.6g}"


def _exists(dss: Any, element: str) -> bool:
    return bool(dss.Circuit.SetActiveElement(element) >= 0)


def _kva(kw: float, pf: float) -> float:
    return max(KVA_HEADROOM, 1.0 / abs(pf)) * kw


def _check_pf(pf: float) -> None:
    if not (math.isfinite(pf) and 0.0 < abs(pf) <= 1.0):
        raise InputError("invalid power factor", [ErrorDetail(where="pf", message=f"{pf} not in (0, 1]")])


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
    """Connect (or move and resize) the PV ``name`` at ``bus`` producing ``kw`` at irradiance 1."""
    if inverter not in INVERTER_MODES:
        raise InputError(
            "unknown inverter mode",
            [ErrorDetail(where="inverter", message=f"{inverter!r} not in {INVERTER_MODES}")],
        )
    _check_pf(pf)
    target = bus if isinstance(bus, BusTarget) else bus_target(dss, bus)
    kw = max(float(kw), _MIN_KW)
    use_pf = pf if inverter == "pf" else 1.0
    verb = "edit" if _exists(dss, f"pvsystem.{name}") else "new"
    kva = _kva(kw, use_pf)
    dss.Text.Command(
        f"{verb} PVSystem.{name} {_connection(target)}"
        f" Pmpp={kw:.6g} kVA={kva:.6g} kvarMax={kva:.6g} kvarMaxAbs={kva:.6g}"
        f" irradiance={irradiance:.6g} pf={use_pf:.6g}"
        " %cutin=0.0001 %cutout=0.0001 enabled=yes"
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
        dss.Text.Command(f"{curve_verb} XYcurve.{name}_vv npts={len(xs.split())} Xarray=[{xs}] Yarray=[{ys}]")
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
    """Resize the PV ``name`` (kVA and var limits follow with the same headroom and power factor)."""
    kw = max(float(kw), _MIN_KW)
    dss.Circuit.SetActiveElement(f"pvsystem.{name}")
    dss.PVsystems.Name(name)
    pf = float(dss.PVsystems.pf())
    kva = _kva(kw, pf)
    # kvarMax defaults to kVA only at creation; volt-var (VARMAX) scales with it, so set it too.
    dss.Text.Command(
        f"edit PVSystem.{name} Pmpp={kw:.6g} kVA={kva:.6g} kvarMax={kva:.6g} kvarMaxAbs={kva:.6g}"
    )


def set_pv_irradiance(
    dss: Any, name: str, irradiance: float, rating_kw: float | None = None, pf: float = 1.0
) -> None:
    """Set one PV's irradiance (and, when given, re-rate it: that costs a Y rebuild)."""
    if rating_kw is not None:
        kw = max(float(rating_kw), _MIN_KW)
        dss.Text.Command(f"edit PVSystem.{name} Pmpp={kw:.6g} kVA={_kva(kw, pf):.6g}")
    dss.PVsystems.Name(name)
    dss.PVsystems.Irradiance(float(irradiance))


def add_load(dss: Any, name: str, bus: str | BusTarget, kw: float, pf: float = 1.0) -> None:
    """Connect (or move and resize) a constant-power load ``name`` (EV or storage charging)."""
    _check_pf(pf)
    target = bus if isinstance(bus, BusTarget) else bus_target(dss, bus)
    verb = "edit" if _exists(dss, f"load.{name}") else "new"
    # status=fixed: the test load ignores the snapshot's load multiplier.
    dss.Text.Command(
        f"{verb} Load.{name} {_connection(target)}"
        f" kW={max(float(kw), _MIN_KW):.6g} pf={pf:.6g} model=1 status=fixed"
        " vminpu=0.7 vmaxpu=1.3 enabled=yes"
    )


def set_load_kw(dss: Any, name: str, kw: float) -> None:
    """Resize the load ``name``."""
    dss.Loads.Name(name)
    dss.Loads.kW(max(float(kw), _MIN_KW))


def remove_der(dss: Any, name: str) -> None:
    """Take the test DER ``name`` out (PV, its inverter control, or load); missing names are ignored."""
    if _exists(dss, f"invcontrol.{name}_vv0"):
        _disable_controls(dss, name)
    for element in (f"pvsystem.{name}", f"load.{name}"):
        if _exists(dss, element):
            dss.CktElement.Enabled(False)


def add_pv_pool(
    dss: Any, prefix: str, targets: Sequence[BusTarget], rating_kw: Sequence[float], pf: float = 1.0
) -> list[str]:
    """One idle PV (irradiance 0) per target, named ``prefix`` + index; returns the names.

    Moving one PV from bus to bus rebuilds the system Y matrix at every move; a pool of idle PVs,
    one per bus, sized through irradiance, never does (an idle PV injects nothing). Not for
    volt-var: an idle inverter would still absorb or supply vars.
    """
    commands: list[str] = []
    names: list[str] = []
    for i, (target, kw) in enumerate(zip(targets, rating_kw, strict=True)):
        name = f"{prefix}{i}"
        verb = "edit" if _exists(dss, f"pvsystem.{name}") else "new"
        kw = max(float(kw), _MIN_KW)
        commands.append(
            f"{verb} PVSystem.{name} {_connection(target)}"
            f" Pmpp={kw:.6g} kVA={_kva(kw, pf):.6g} irradiance=0 pf={pf:.6g}"
            " %cutin=0 %cutout=0 enabled=yes"
        )
        names.append(name)
    if commands:
        dss.Text.Commands("\n".join(commands))
    return names


def set_pool_enabled(dss: Any, prefix: str, enabled: bool) -> None:
    """Put every PV of the pool ``prefix`` in service (idle, irradiance 0) or out of it."""
    state = "irradiance=0 enabled=yes" if enabled else "enabled=no"
    dss.Text.Command(f"batchedit PVSystem.{prefix}.* {state}")


# -- operating point, controls, solving ------------------------------------------------------


def use_snapshot_mode(dss: Any) -> None:
    """Solve in snapshot mode from now on, keeping the model's control mode."""
    mode = dss.Solution.ControlMode()
    dss.Solution.Mode(_SNAPSHOT_MODE)
    dss.Solution.ControlMode(mode)


def set_operating_point(dss: Any, load_mult: float, irradiance: float) -> None:
    """Scale every load by ``load_mult`` and set every PV's irradiance (1.0 = rated output)."""
    dss.Solution.LoadMult(float(load_mult))
    idx = dss.PVsystems.First()
    while idx:
        dss.PVsystems.Irradiance(float(irradiance))
        idx = dss.PVsystems.Next()


def _solve_once(dss: Any) -> bool:
    try:
        dss.Solution.Solve()
    except opendssdirect.DSSException as exc:
        if exc.args and exc.args[0] == _MAX_CONTROL_ITERATIONS:
            # OpenDSS keeps the aborted control loop's state: every later Solve() would fail with error
            # 99 until the mode is set again (voltages and control mode stay).
            dss.Text.Command("set mode=snapshot")
        return False  # e.g. "max control iterations exceeded": not a valid operating point
    return bool(dss.Solution.Converged())


def flat_start(dss: Any) -> None:
    """Make the next solve start from the no-load voltages.

    ``calcvoltagebases`` solves the circuit without loads and generation (the bases it sets are
    the compile-time ones); it leaves a Y matrix without the power-conversion elements behind, so
    the full matrix is rebuilt right after (otherwise the next solve converges to a wrong point).
    """
    dss.Text.Command("calcvoltagebases")
    dss.Solution.BuildYMatrix(_WHOLE_SYSTEM_Y, False)


def solve(dss: Any) -> Solved:
    """Solve with the control loop (inverter controls need it); not converged when it does not
    converge or the controls do not settle.

    A failed solve leaves a diverged voltage vector as the next starting point; one retry from the
    no-load voltages (``flat_start``) removes that memory.
    """
    ok = _solve_once(dss)
    if not ok:
        flat_start(dss)
        ok = _solve_once(dss)
    return Solved(ok, int(dss.Solution.Iterations()))


def lock_controls(dss: Any) -> list[str]:
    """Take the regulator and capacitor controls in service out of it, so taps and capacitor steps
    stay where the last solve left them. Returns the controls' names for ``unlock_controls``."""
    names: list[str] = []
    for iface, cls in ((dss.RegControls, "regcontrol"), (dss.CapControls, "capcontrol")):
        idx = iface.First()
        while idx:
            names.append(f"{cls}.{str(iface.Name()).lower()}")
            idx = iface.Next()
    locked = []
    for name in names:
        dss.Circuit.SetActiveElement(name)
        if dss.CktElement.Enabled():
            dss.CktElement.Enabled(False)
            locked.append(name)
    return locked


def unlock_controls(dss: Any, names: Sequence[str]) -> None:
    """Put the controls locked by ``lock_controls`` back in service."""
    for name in names:
        dss.Circuit.SetActiveElement(name)
        dss.CktElement.Enabled(True)


def set_tap_positions(dss: Any, taps: dict[str, int]) -> None:
    """Move regulators to the tap positions ``study_reads.tap_positions`` read."""
    for name, tap in taps.items():
        dss.RegControls.Name(name)
        dss.RegControls.TapNumber(tap)


def restore_control_state(dss: Any, state: ControlState) -> None:
    """Put taps and capacitor steps back as ``study_reads.control_state`` read them."""
    for xf, winding, tap in state.taps:
        dss.Transformers.Name(xf)
        dss.Transformers.Wdg(winding)
        dss.Transformers.Tap(tap)
    ok, i = dss.Capacitors.First(), 0
    while ok:
        dss.Capacitors.States(list(state.capacitor_steps[i]))
        ok, i = dss.Capacitors.Next(), i + 1
