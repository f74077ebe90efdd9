"""Quasi-static time series (QSTS): one feeder stepped through a year in OpenDSS's own yearly mode.

The circuit is put in ``mode=yearly`` (load shapes drive every load, generator and PV; no per-hour
Python load setting) with time-driven controls, and each step is solved by OpenDSS; after each step
a few bulk getters are read and folded into running per-bus/per-element statistics in numpy, so no
(steps x nodes) matrix is kept. Only (steps x transformers) loading is kept, for aging.

How a step is solved (evidence, opendssdirect 0.9.4 / DSS C-API 0.15.7, measured in this repo):
``Solution.Hour(h)``, ``Solution.Seconds(s)``, ``Solution.SolveSnap()`` gives, at every step of a
full year, bit-identical voltages (``AllBusMagPu``), powers, losses, loadings and regulator taps
(tap monitors) to OpenDSS's own loop (``Solve()`` with ``number=1`` per step, and ``number=8760``
in one ``Solve()``: same final voltages and same tap-monitor channels) on IEEE 123 with LoadShape1
(four regulators with time delays, time control mode) and EPRI ckt5. It is cheaper because the
native step also samples every EnergyMeter/Monitor: ckt5 (one meter) 0.92 ms vs 3.15 ms per
step. Other checks (200 h, IEEE 123): loads without a yearly shape, a generator without a shape,
a PVSystem and ``set defaultyearly`` are identical; Storage differs (its state of charge is
updated at the end of the native step) and matches again with ``Circuit.UpdateStorage()`` after
each step, which we call when the circuit has storage. Classes with other end-of-step state
(InvControl, ExpControl, StorageController, ...) fall back to the native ``Solve()`` per step.
The user's EnergyMeters and Monitors therefore do not sample on the fast path; results come from
our own accumulation. Native ``Solve()`` with ``number=1`` costs the same as one ``number=8760``
solve (IEEE 123: 1.23 s vs 1.24 s a year), so stepping from Python loses nothing. The tests keep
this evidence alive: ``tests/powerflow/test_qsts.py`` compares every run with a reference stepping
OpenDSS natively (IEEE 123 and ckt5 full year, storage and InvControl circuits, 15-minute steps).
Per step only bulk getters are read: ``AllBusMagPu``, ``TotalPower``, ``PDElements.AllPowers``
(total and line losses, transformer kVA), ``AllMaxCurrents`` (loading against the ampacities read
once; identical to ``AllPctNorm``/``AllPctEmerg``) and ``Transformers.AllLossesByType`` (W).

Control mode: a model in ``static`` control mode (the OpenDSS default, and what ``write_dss`` gives)
is switched to ``time`` so regulator and capacitor delays act across steps as in the field; a model
that already chose a time-series-capable mode (event, time, multirate) or switched controls off keeps
its choice.

Time: step ``k`` (0-based) solves at ``start_hour + (k + 1) * step`` as OpenDSS's yearly loop does
(the first point of an hourly shape is hour 1), so step ``k`` uses shape value ``start_hour + k``
(0-based) and ``time_utc = start_utc + start_hour h + k * step``, the start of that interval.

Unconverged steps (``Converged()`` false, or error 485 "max control iterations") are counted and
left out of every energy and violation figure; the next step starts from whatever state OpenDSS
left, exactly as its own yearly loop would. For aging they hold the last converged loading.
Iteration caps and tolerance come from ``spec.solver`` (``gridtwin.powerflow.solver``: by default
at least ``GRIDTWIN_MAX_ITERATIONS`` / ``GRIDTWIN_MAX_CONTROL_ITERATIONS``, the model's own when
larger); a step that converges does not depend on the caps.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridtwin._dsslib import opendssdirect
from gridtwin.errors import EngineError, ErrorDetail
from gridtwin.grid.model import FeederModel
from gridtwin.powerflow.aging import AgingParams, equivalent_aging
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.qsts_inputs import (
    ambient_per_step,
    check_spec,
    check_yearly_shapes,
    profile_values,
    set_shape_values,
)
from gridtwin.powerflow.qsts_layout import QstsLayout, read_qsts_layout
from gridtwin.powerflow.qsts_results import (
    BUS_COLUMNS,
    ELEMENT_COLUMNS,
    HOURLY_COLUMNS,
    QstsResult,
    QstsSpec,
)
from gridtwin.powerflow.snapshot import as_complex, real_pair

__all__ = ["run_qsts", "run_qsts_loaded"]

FloatArray = npt.NDArray[np.float64]

_MAX_CONTROL_ITERATIONS = 485
_STATIC, _TIME = 0, 2
# Classes updated at the end of OpenDSS's native time step in ways the fast path does not replicate.
_NATIVE_STEP_CLASSES = (
    "InvControl",
    "ExpControl",
    "StorageController",
    "UPFC",
    "UPFCControl",
    "ESPVLControl",
    "IndMach012",
    "DynamicExp",
    "GenDispatcher",
    "VCCS",
)


def run_qsts(
    engine: Engine,
    model: FeederModel,
    spec: QstsSpec,
    *,
    profiles: Mapping[str, np.ndarray] | None = None,
    aging: AgingParams | None = None,
    variant: str = "",
) -> QstsResult:
    """Compile ``model`` (through the engine's script cache), load its profile-backed shapes, and run
    the time loop. ``variant`` names content that differs from the stored feeder version (a scenario
    composed on it), so the engine never reuses the base feeder's script for it."""
    start = time.perf_counter()
    check_spec(spec)
    values = profile_values(model, profiles)
    refs = _profile_refs(model)
    # Compile, shapes and time loop as one sequence on this engine's circuit, with the run's solver.
    with engine.solving_with(spec.solver):
        engine.load_model(model, variant=variant)
        version = engine.loaded[1] if engine.loaded else ""
        if model.version:
            version = str(model.version)
        compiled = time.perf_counter()
        engine.call(model.feeder_id, set_shape_values, engine.dss, values)
        loaded = time.perf_counter()
        result = run_qsts_loaded(
            engine, spec, feeder=model.feeder_id, version=version, aging=aging, refs=refs
        )
    result.timings_s["compile"] = compiled - start
    result.timings_s["load_profiles"] = loaded - compiled
    result.timings_s["total"] = time.perf_counter() - start
    return result


def run_qsts_loaded(
    engine: Engine,
    spec: QstsSpec,
    *,
    feeder: str,
    version: str = "",
    aging: AgingParams | None = None,
    refs: Mapping[str, str] | None = None,
) -> QstsResult:
    """Run QSTS on whatever circuit ``engine`` holds (``refs``: shape -> profile ref, for messages)."""
    start = time.perf_counter()
    check_spec(spec)
    ambient_c = ambient_per_step(spec)

    def run() -> tuple[QstsLayout, _Accumulator, float]:
        dss = engine.dss
        try:
            if not dss.Basic.NumCircuits():
                raise EngineError(
                    "no circuit loaded", [ErrorDetail(where=feeder, message="load a feeder first")]
                )
            check_yearly_shapes(dss, spec, refs)
            layout = read_qsts_layout(dss)
            t0 = time.perf_counter()
            acc = _time_loop(dss, layout, spec)
            return layout, acc, time.perf_counter() - t0
        finally:
            engine.mark_changed()  # taps and time moved: a later snapshot must recompile

    with engine.solving_with(spec.solver):  # the run's iteration caps and tolerance on every step
        layout, acc, solve_s = engine.call(feeder, run)
    t_extract = time.perf_counter()
    result = _result(feeder, version, spec, layout, acc, ambient_c, aging or AgingParams())
    now = time.perf_counter()
    result.timings_s.update(
        {
            "solve": solve_s,
            "extract": now - t_extract,
            "total": now - start,
            "compile": 0.0,
            "load_profiles": 0.0,
        }
    )
    return result


def _profile_refs(model: FeederModel) -> dict[str, str]:
    shapes = model.table("loadshapes")
    if not len(shapes) or "profile" not in shapes:
        return {}
    return {str(n).lower(): str(r) for n, r in zip(shapes["name"], shapes["profile"], strict=True) if r}


def _class_count(dss: Any, cls: str) -> int:
    if cls not in set(dss.Basic.Classes()):
        return 0
    dss.Circuit.SetActiveClass(cls)
    return int(dss.ActiveClass.NumElements())


@dataclass
class _Accumulator:
    """Running results of the loop: per step (hourly), per bus and per element."""

    converged: npt.NDArray[np.bool_]
    hourly: dict[str, FloatArray]  # source_kw ... xfmr_noload_losses_kw, vmin_pu, vmax_pu
    vmin_node: npt.NDArray[np.int64]  # kept-node position of the step's extreme (-1 unconverged)
    vmax_node: npt.NDArray[np.int64]
    outside_a: npt.NDArray[np.int64]
    outside_b: npt.NDArray[np.int64]
    bus_out_a: npt.NDArray[np.int64]  # steps per bus
    bus_out_b: npt.NDArray[np.int64]
    bus_vmin: FloatArray
    bus_vmin_step: npt.NDArray[np.int64]
    bus_vmax: FloatArray
    bus_vmax_step: npt.NDArray[np.int64]
    el_over_normal: npt.NDArray[np.int64]
    el_over_emergency: npt.NDArray[np.int64]
    el_max: FloatArray
    el_max_step: npt.NDArray[np.int64]
    xf_loading_pct: npt.NDArray[np.float32]  # (steps, transformers)


def _new_accumulator(steps: int, layout: QstsLayout) -> _Accumulator:
    n_bus, n_el = len(layout.bus_names), len(layout.element_rows)
    keys = (
        "source_kw",
        "source_kvar",
        "losses_kw",
        "line_losses_kw",
        "xfmr_load_losses_kw",
        "xfmr_noload_losses_kw",
        "vmin_pu",
        "vmax_pu",
    )
    return _Accumulator(
        converged=np.zeros(steps, dtype=bool),
        hourly={k: np.full(steps, np.nan) for k in keys},
        vmin_node=np.full(steps, -1, dtype=np.int64),
        vmax_node=np.full(steps, -1, dtype=np.int64),
        outside_a=np.zeros(steps, dtype=np.int64),
        outside_b=np.zeros(steps, dtype=np.int64),
        bus_out_a=np.zeros(n_bus, dtype=np.int64),
        bus_out_b=np.zeros(n_bus, dtype=np.int64),
        bus_vmin=np.full(n_bus, np.inf),
        bus_vmin_step=np.full(n_bus, -1, dtype=np.int64),
        bus_vmax=np.full(n_bus, -np.inf),
        bus_vmax_step=np.full(n_bus, -1, dtype=np.int64),
        el_over_normal=np.zeros(n_el, dtype=np.int64),
        el_over_emergency=np.zeros(n_el, dtype=np.int64),
        el_max=np.full(n_el, -np.inf),
        el_max_step=np.full(n_el, -1, dtype=np.int64),
        xf_loading_pct=np.zeros((steps, len(layout.xf_pos)), dtype=np.float32),
    )


def _prepare_mode(dss: Any, spec: QstsSpec) -> None:
    control_mode = int(dss.Solution.ControlMode())
    dss.Text.Command(f"set mode=yearly number=1 stepsize={spec.step_minutes}m")
    dss.Solution.ControlMode(_TIME if control_mode == _STATIC else control_mode)
    dss.Solution.Hour(spec.start_hour)
    dss.Solution.Seconds(0.0)


def _time_loop(dss: Any, layout: QstsLayout, spec: QstsSpec) -> _Accumulator:
    """Solve every step and fold the bulk readings into ``_Accumulator`` (hot loop: bound methods)."""
    _prepare_mode(dss, spec)
    native = any(_class_count(dss, c) for c in _NATIVE_STEP_CLASSES)
    has_storage = _class_count(dss, "Storage") > 0
    steps, lim = spec.steps, spec.limits
    acc = _new_accumulator(steps, layout)
    h = acc.hourly
    sol, ckt, pd_el = dss.Solution, dss.Circuit, dss.PDElements
    set_hour, set_seconds, solve_snap, solve = sol.Hour, sol.Seconds, sol.SolveSnap, sol.Solve
    converged, update_storage = sol.Converged, ckt.UpdateStorage
    mag_pu, total_power, all_powers = ckt.AllBusMagPu, ckt.TotalPower, pd_el.AllPowers
    max_currents, losses_by_type = pd_el.AllMaxCurrents, dss.Transformers.AllLossesByType
    node_keep, bus_starts = layout.node_keep, layout.bus_starts
    base = layout.base
    block_starts, line_w = base.block_starts, layout.is_line.astype(np.float64)
    xf_t1, xf_t1_starts = layout.xf_term1_index, layout.xf_term1_starts
    rows, xf_pos = layout.element_rows, layout.xf_pos
    inv_norm, inv_emerg = layout.inv_norm_amps, layout.inv_emerg_amps
    xf_inv_kva, xf_inv_emerg = layout.xf_inv_kva, layout.xf_inv_emerg_kva
    a_lo, a_hi, b_lo, b_hi = lim.range_a_min_pu, lim.range_a_max_pu, lim.range_b_min_pu, lim.range_b_max_pu
    normal_pct, emerg_pct_lim = lim.thermal_normal_pct, lim.thermal_emergency_pct
    has_xf = len(xf_pos) > 0
    step_s = spec.step_minutes * 60
    mask_bus = np.zeros(len(layout.bus_names), dtype=bool)
    mask_el = np.zeros(len(rows), dtype=bool)
    last_xf = np.zeros(len(xf_pos), dtype=np.float32)
    for k in range(steps):
        ok = True
        try:
            if native:
                solve()
            else:
                elapsed_s = (k + 1) * step_s
                set_hour(spec.start_hour + elapsed_s // 3600)
                set_seconds(float(elapsed_s % 3600))
                solve_snap()
                if has_storage:
                    update_storage()
        except opendssdirect.DSSException as exc:
            if not exc.args or exc.args[0] != _MAX_CONTROL_ITERATIONS:
                raise
            ok = False
        if not (ok and converged()):
            acc.xf_loading_pct[k] = last_xf
            continue
        acc.converged[k] = True
        # Voltages: node extremes per step, bus extremes folded into the running per-bus figures.
        v = mag_pu()[node_keep]
        if len(v):
            i_min, i_max = int(v.argmin()), int(v.argmax())
            acc.vmin_node[k], acc.vmax_node[k] = i_min, i_max
            h["vmin_pu"][k], h["vmax_pu"][k] = v[i_min], v[i_max]
            bmin = np.minimum.reduceat(v, bus_starts)
            bmax = np.maximum.reduceat(v, bus_starts)
            out_a = (bmin < a_lo) | (bmax > a_hi)
            out_b = (bmin < b_lo) | (bmax > b_hi)
            acc.bus_out_a += out_a
            acc.bus_out_b += out_b
            acc.outside_a[k] = np.count_nonzero(out_a)
            acc.outside_b[k] = np.count_nonzero(out_b)
            np.less(bmin, acc.bus_vmin, out=mask_bus)
            np.copyto(acc.bus_vmin, bmin, where=mask_bus)
            acc.bus_vmin_step[mask_bus] = k
            np.greater(bmax, acc.bus_vmax, out=mask_bus)
            np.copyto(acc.bus_vmax, bmax, where=mask_bus)
            acc.bus_vmax_step[mask_bus] = k
        # Powers and losses: PD element terminal powers (kW) give total and line losses in one read.
        p_kw, q_kvar = real_pair(total_power())
        h["source_kw"][k], h["source_kvar"][k] = -p_kw, -q_kvar
        powers = as_complex(all_powers())
        if len(powers):
            h["losses_kw"][k] = powers.real.sum()
            h["line_losses_kw"][k] = np.add.reduceat(powers.real, block_starts) @ line_w
        else:
            h["losses_kw"][k] = h["line_losses_kw"][k] = 0.0
        # Loading: % of normal/emergency ampacity; transformers by kVA through winding 1 (DOMAIN.md).
        current_a = max_currents(False)[rows]
        load_pct = current_a * inv_norm
        emerg_pct = current_a * inv_emerg
        if has_xf:
            kva = np.abs(np.add.reduceat(powers[xf_t1], xf_t1_starts))
            load_pct[xf_pos] = kva * xf_inv_kva
            emerg_pct[xf_pos] = kva * xf_inv_emerg
            last_xf = acc.xf_loading_pct[k] = load_pct[xf_pos]
            by_type = as_complex(losses_by_type()).real.reshape(-1, 3)  # W: total, load, no-load
            h["xfmr_load_losses_kw"][k] = by_type[:, 1].sum() / 1000.0
            h["xfmr_noload_losses_kw"][k] = by_type[:, 2].sum() / 1000.0
        else:
            h["xfmr_load_losses_kw"][k] = h["xfmr_noload_losses_kw"][k] = 0.0
        acc.el_over_normal += load_pct > normal_pct
        acc.el_over_emergency += emerg_pct > emerg_pct_lim
        np.greater(load_pct, acc.el_max, out=mask_el)
        np.copyto(acc.el_max, load_pct, where=mask_el)
        acc.el_max_step[mask_el] = k
    return acc


def _result(
    feeder: str,
    version: str,
    spec: QstsSpec,
    layout: QstsLayout,
    acc: _Accumulator,
    ambient_c: FloatArray,
    aging: AgingParams,
) -> QstsResult:
    steps, step_h = spec.steps, spec.step_h
    ok = acc.converged
    unconverged = np.flatnonzero(~ok)
    h = acc.hourly
    start = pd.Timestamp(spec.start_utc + timedelta(hours=spec.start_hour))
    if start.tzinfo is None:
        start = start.tz_localize("UTC")
    step_idx = np.arange(steps, dtype=np.int64)
    times = (start + pd.to_timedelta(step_idx * spec.step_minutes, unit="min")).tz_convert("UTC")
    node_bus = layout.bus_names[layout.node_bus_index] if len(layout.node_bus_index) else np.array([], object)

    def bus_at(nodes: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
        out = np.full(steps, None, dtype=object)
        good = nodes >= 0
        out[good] = node_bus[nodes[good]]
        return out

    hourly = pd.DataFrame(
        {
            "step": step_idx,
            "time_utc": times.as_unit("us"),
            "converged": ok,
            **{k: h[k] for k in ("source_kw", "source_kvar", "losses_kw", "line_losses_kw")},
            "xfmr_load_losses_kw": h["xfmr_load_losses_kw"],
            "xfmr_noload_losses_kw": h["xfmr_noload_losses_kw"],
            "vmin_pu": h["vmin_pu"],
            "vmin_bus": bus_at(acc.vmin_node),
            "vmax_pu": h["vmax_pu"],
            "vmax_bus": bus_at(acc.vmax_node),
            "buses_outside_a": acc.outside_a,
            "buses_outside_b": acc.outside_b,
        },
        columns=list(HOURLY_COLUMNS),
    )
    seen = acc.bus_vmin_step >= 0
    buses = pd.DataFrame(
        {
            "bus": layout.bus_names.astype(str),
            "base_kv": layout.bus_base_kv,
            "hours_outside_a": acc.bus_out_a * step_h,
            "hours_outside_b": acc.bus_out_b * step_h,
            "vmin_pu": np.where(seen, acc.bus_vmin, np.nan),
            "vmin_step": acc.bus_vmin_step,
            "vmax_pu": np.where(seen, acc.bus_vmax, np.nan),
            "vmax_step": acc.bus_vmax_step,
        },
        columns=list(BUS_COLUMNS),
    )
    n_el = len(layout.element_rows)
    f_eqa = np.full(n_el, np.nan)
    lol_h = np.full(n_el, np.nan)
    if len(layout.xf_pos) and ok.any():
        eqa, lol = equivalent_aging(acc.xf_loading_pct.astype(np.float64) / 100.0, ambient_c, step_h, aging)
        f_eqa[layout.xf_pos], lol_h[layout.xf_pos] = eqa, lol
    elements = pd.DataFrame(
        {
            "element": layout.element_names.astype(str),
            "kind": layout.element_kinds.astype(str),
            "hours_over_normal": acc.el_over_normal * step_h,
            "hours_over_emergency": acc.el_over_emergency * step_h,
            "max_loading_pct": np.where(acc.el_max_step >= 0, acc.el_max, np.nan),
            "max_loading_step": acc.el_max_step,
            "equivalent_aging_factor": f_eqa,
            "loss_of_life_h": lol_h,
        },
        columns=list(ELEMENT_COLUMNS),
    )
    energy = {
        "delivered_kwh": float(np.nansum(h["source_kw"]) * step_h),
        "source_kvarh": float(np.nansum(h["source_kvar"]) * step_h),
        "losses_kwh": float(np.nansum(h["losses_kw"]) * step_h),
        "line_losses_kwh": float(np.nansum(h["line_losses_kw"]) * step_h),
        "xfmr_load_losses_kwh": float(np.nansum(h["xfmr_load_losses_kw"]) * step_h),
        "xfmr_noload_losses_kwh": float(np.nansum(h["xfmr_noload_losses_kw"]) * step_h),
    }
    delivered = energy["delivered_kwh"]
    energy["loss_pct"] = 100.0 * energy["losses_kwh"] / delivered if delivered else float("nan")
    return QstsResult(
        feeder=feeder,
        version=version,
        spec=spec,
        steps=steps,
        unconverged_steps=len(unconverged),
        unconverged_step_list=[int(s) for s in unconverged],
        hourly=hourly,
        buses=buses,
        elements=elements,
        energy=energy,
    )
