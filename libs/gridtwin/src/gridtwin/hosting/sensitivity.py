"""Per-bus hosting capacity, fast: linear sensitivities for every bus at once, then one verifying
power flow per bus and secant corrections.

Prediction (per snapshot, taps locked as in the exact method): the solved circuit's admittance
matrix Y (``StudyCircuit.network_matrix``, loads included as their nominal admittance) is factorised once (scipy
``splu``); an injection of 1 kW (split evenly over the bus's phases, with the fixed power factor's
vars; on 3-wire delta sections over its line-to-line branches, as the test DER connects there) at
every candidate bus gives dV = Y^-1 dI for all buses in batched right-hand sides. From dV:
voltage magnitude sensitivities (overvoltage, deviation, regulator deviation, undervoltage for
loads; line-to-line magnitudes where the criteria judge those), terminal-1 current changes
dI = Yprim dV of every PD element (thermal: the size where |I0 + dI P| reaches the rating) and
power-flow changes through the substation transformer and regulators (reverse flow). The predicted
capacity is the smallest over criteria, scaled by the own-bus voltage rise (a constant-power
injection draws less current at a higher voltage).

Verification: a full power flow just below the prediction, then per-element secant steps on the
criteria's normalised excess until a verified size is within ``accept_pct`` of the next secant
estimate (or the bracket is narrower than ``tol_kw``); bisection if secants stall. The reported
capacity is always a size that was solved without violation (``verified``); ``corrections``
counts the solves after the first. Volt-var ignores the vars in the prediction and accepts a size
only after a solve just above it failed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from gridtwin.hosting.circuit import StudyCircuit
from gridtwin.hosting.criteria import Criteria, Measure, Violation, first_violation, measure, regulator_refs
from gridtwin.hosting.perbus import (
    NONE,
    BusResult,
    Study,
    combine,
    relevant_snapshots,
    resolve_buses,
    result_frame,
    run_study,
    validate_inputs,
)
from gridtwin.hosting.snapshots import DEFAULT_SNAPSHOTS, Snapshot
from gridtwin.hosting.types import FAST_COLUMNS, NOT_CONVERGED, BusTarget
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.solver import SolverSettings

__all__ = ["LinearModel", "build_linear_model", "fast_hosting_capacity", "predict_capacity"]

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]
IntArray = npt.NDArray[np.int64]

_CHUNK = 64  # right-hand sides per batched solve (SuperLU slows down sharply beyond ~100)
_EPS = 1e-12
_MAX_CORRECTIONS = 6  # secant steps before falling back to bisection
_MAX_SOLVES = 40


@dataclass
class LinearModel:
    """The factorised network of one snapshot and the rows that turn dV into element quantities."""

    lu: Any
    y_pos: dict[str, int]  # node name -> Y order index
    y_of_node: IntArray  # for each node of AllNodeNames, its Y index
    v0: ComplexArray  # Y order, volts
    m_rows: sp.csr_matrix  # terminal-1 conductor currents (A) = m_rows @ V (Y order)
    row_v: IntArray  # Y index of each row's conductor node (-1 = ground)
    i0: ComplexArray  # per row, baseline current into the element
    thermal_row_elem: IntArray  # per thermal row, its element (for the minimum)
    thermal_rows: IntArray
    thermal_limit_a: FloatArray  # per thermal row, current at the thermal limit
    flow_rows: list[IntArray]  # per flow element, its rows
    flow_sign: FloatArray  # +1: flow = power into terminal 1, -1 for the source
    flow_kw0: FloatArray


def build_linear_model(study: Study, criteria: Criteria) -> LinearModel:
    """Factorise Y and collect element rows for the study's current (baseline, taps locked) state."""
    info = study.info
    assert study.baseline is not None
    net = study.circuit.network_matrix()
    n = net.y.shape[0]
    # Y is symmetric: a symmetric ordering with diagonal pivots keeps the factors as sparse as the
    # feeder (COLAMD's factors solve many right-hand sides far slower).
    lu = splu(net.y, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    y_pos = {name: i for i, name in enumerate(net.node_names)}
    y_of_node = np.array([y_pos.get(name, -1) for name in info.node_names], dtype=np.int64)

    pct = study.baseline.loading_pct
    wanted = {name: i for i, name in enumerate(info.pd_names) if info.thermal_mask[i]}
    flow_index = {name: i for i, name in enumerate(info.flow_elements)}
    names = [n for n in info.pd_names if n in wanted or n in flow_index]
    names += [f for f, at_source in zip(info.flow_elements, info.flow_at_source, strict=True) if at_source]
    rows_of = study.circuit.terminal_rows(names, y_pos)
    t_rows: list[int] = []
    t_elem: list[int] = []
    t_lim: list[float] = []
    flow_rows: list[list[int]] = [[] for _ in info.flow_elements]
    for k, position in enumerate(rows_of.element):
        name = names[position]
        start, n_cond = rows_of.first_row[k], rows_of.conductors[k]
        rows = list(range(start, start + n_cond))
        if name in wanted:
            e = wanted[name]
            cur = rows_of.current[start : start + n_cond]
            imax = float(np.abs(cur).max()) if len(cur) else 0.0
            norm_a = float(rows_of.normal_amps[k])
            # Scale to the engine's own % loading where it has one (transformers rate on kVA).
            per_amp = pct[e] / imax if imax > 1e-6 and pct[e] > 0 else (100.0 / norm_a if norm_a > 0 else 0.0)
            if per_amp > 0:
                t_rows.extend(rows)
                t_elem.extend([e] * n_cond)
                t_lim.extend([criteria.thermal_pct / per_amp] * n_cond)
        if name in flow_index:
            flow_rows[flow_index[name]] = rows
    m_rows = sp.csr_matrix(
        (rows_of.values, (rows_of.rows, rows_of.cols)), shape=(len(rows_of.row_node), n), dtype=np.complex128
    )
    return LinearModel(
        lu=lu,
        y_pos=y_pos,
        y_of_node=y_of_node,
        v0=net.voltages,
        m_rows=m_rows,
        row_v=rows_of.row_node,
        i0=rows_of.current,
        thermal_row_elem=np.array(t_elem, dtype=np.int64),
        thermal_rows=np.array(t_rows, dtype=np.int64),
        thermal_limit_a=np.array(t_lim, dtype=np.float64),
        flow_rows=[np.array(r, dtype=np.int64) for r in flow_rows],
        flow_sign=np.array([-1.0 if at_source else 1.0 for at_source in info.flow_at_source]),
        flow_kw0=study.baseline.flow_kw,
    )


def _branches(idx: Sequence[int]) -> list[tuple[int, int]]:
    """The line-to-line branches of a delta connection over ``idx`` (2 nodes: one branch)."""
    if len(idx) == 2:
        return [(idx[0], idx[1])]
    if len(idx) == 3:
        return [(idx[0], idx[1]), (idx[1], idx[2]), (idx[2], idx[0])]
    return []


def _injection(model: LinearModel, targets: Sequence[BusTarget], s_per_kw: complex) -> ComplexArray:
    """Right-hand sides: current injected by ``s_per_kw`` (VA per kW of size) at each target, node to
    ground, or over line-to-line branches on delta targets (into one node, out of the other)."""
    rhs = np.zeros((len(model.v0), len(targets)), dtype=np.complex128)
    for j, t in enumerate(targets):
        idx = [model.y_pos[f"{t.bus}.{n}"] for n in t.nodes if f"{t.bus}.{n}" in model.y_pos]
        if t.delta:
            branches = _branches(idx)
            for a, b in branches:
                current = np.conj(s_per_kw / len(branches) / (model.v0[a] - model.v0[b]))
                rhs[a, j] += current
                rhs[b, j] -= current
            continue
        for k in idx:
            rhs[k, j] = np.conj(s_per_kw / len(idx) / model.v0[k])
    return rhs


def _own_voltages(study: Study, targets: Sequence[BusTarget]) -> list[list[int]]:
    """Per target, its own judged voltages (positions in the baseline's voltage arrays): its nodes,
    or on delta targets the line-to-line pairs between its nodes."""
    info = study.info
    node_at = {name: i for i, name in enumerate(info.node_names)}
    pairs: dict[str, list[tuple[int, int, int]]] = {}
    for k, (a, b) in enumerate(info.pair_nodes.tolist()):
        bus, _, na = info.node_names[a].rpartition(".")
        nb = info.node_names[b].rpartition(".")[2]
        pairs.setdefault(bus, []).append((len(info.node_names) + k, int(na), int(nb)))
    out: list[list[int]] = []
    for t in targets:
        if t.delta:
            out.append([k for k, na, nb in pairs.get(t.bus, []) if na in t.nodes and nb in t.nodes])
        else:
            out.append([node_at[f"{t.bus}.{n}"] for n in t.nodes if f"{t.bus}.{n}" in node_at])
    return out


def _min_positive(values: FloatArray) -> tuple[FloatArray, IntArray]:
    """Column-wise minimum of non-negative finite entries (inf when none) and its row."""
    clean = np.where(np.isfinite(values) & (values >= 0), values, np.inf)
    arg = np.argmin(clean, axis=0)
    return clean[arg, np.arange(clean.shape[1])], arg


def predict_capacity(
    study: Study, model: LinearModel, targets: Sequence[BusTarget], criteria: Criteria, s_per_kw: complex
) -> tuple[FloatArray, list[str], list[str]]:
    """Linear capacity (kW of injection) per target, its criterion and element."""
    base = study.baseline
    info = study.info
    assert base is not None
    on = set(criteria.enabled(study.der))
    caps = np.full(len(targets), np.inf)
    crit = [NONE] * len(targets)
    elem = [""] * len(targets)
    names = base.node_names  # the judged voltages: nodes, then line-to-line pairs
    n_nodes = len(info.node_names)
    node_valid = base.node_valid[:n_nodes]
    base_v = np.where(node_valid, info.node_base_kv_ln * 1000.0, np.nan)
    node_ok = node_valid & (model.y_of_node >= 0)
    yn = np.where(model.y_of_node >= 0, model.y_of_node, 0)
    unit = model.v0 / np.maximum(np.abs(model.v0), _EPS)
    # Line-to-line pairs: d|Va - Vb| = Re((dVa - dVb) conj(u_ab)), u_ab the baseline's direction.
    pa, pb = model.y_of_node[info.pair_nodes[:, 0]], model.y_of_node[info.pair_nodes[:, 1]]
    pair_ok = base.node_valid[n_nodes:] & (pa >= 0) & (pb >= 0)
    pa, pb = np.where(pa >= 0, pa, 0), np.where(pb >= 0, pb, 0)
    line0 = model.v0[pa] - model.v0[pb]
    pair_unit = line0 / np.maximum(np.abs(line0), _EPS)
    pair_v = np.where(pair_ok, info.pair_base_kv_ll * 1000.0, np.nan)
    refs = regulator_refs(info)
    reg_line = np.flatnonzero(refs >= 0)
    reg_a = model.y_of_node[info.reg_node_index[reg_line]]
    reg_b = model.y_of_node[refs[reg_line]]
    reg_line0 = model.v0[reg_a] - model.v0[reg_b]
    reg_unit = reg_line0 / np.maximum(np.abs(reg_line0), _EPS)

    own = _own_voltages(study, targets)
    rise = np.zeros(len(targets))  # own-bus voltage rise per kW (pu), for the injection correction

    def take(j0: int, cand: FloatArray, arg: IntArray, name: str, names: Sequence[str]) -> None:
        for j in range(len(cand)):
            if cand[j] < caps[j0 + j]:
                caps[j0 + j], crit[j0 + j], elem[j0 + j] = cand[j], name, names[int(arg[j])]

    for j0 in range(0, len(targets), _CHUNK):
        chunk = targets[j0 : j0 + _CHUNK]
        dv = model.lu.solve(_injection(model, chunk, s_per_kw))  # volts per kW, Y order
        dmag_y = np.real(dv * np.conj(unit)[:, None])
        dmag = np.where(node_ok[:, None], dmag_y[yn] / base_v[:, None], np.nan)  # pu per kW
        if len(pa):
            dline = np.real((dv[pa] - dv[pb]) * np.conj(pair_unit)[:, None])
            dmag = np.vstack([dmag, np.where(pair_ok[:, None], dline / pair_v[:, None], np.nan)])
        v0 = base.vmag_pu[:, None]
        for j in range(len(chunk)):
            if own[j0 + j]:
                rise[j0 + j] = float(
                    np.nanmax(dmag[own[j0 + j], j]) / max(base.vmag_pu[own[j0 + j]].max(), _EPS)
                )
        with np.errstate(divide="ignore", invalid="ignore"):
            if "overvoltage" in on:
                cand, arg = _min_positive(
                    np.where(dmag > _EPS, (criteria.overvoltage_pu - v0) / dmag, np.inf)
                )
                take(j0, cand, arg, "overvoltage", names)
            if "undervoltage" in on:
                cand, arg = _min_positive(
                    np.where(dmag < -_EPS, (v0 - criteria.undervoltage_pu) / -dmag, np.inf)
                )
                take(j0, cand, arg, "undervoltage", names)
            if "voltage_deviation" in on:
                lim = np.where(
                    base.node_is_secondary, criteria.deviation_secondary_pct, criteria.deviation_primary_pct
                )
                cand, arg = _min_positive(lim[:, None] / 100.0 / np.abs(dmag))  # pu of nominal
                take(j0, cand, arg, "voltage_deviation", names)
            if "regulator_deviation" in on and len(base.reg_names):
                dreg = dmag_y[model.y_of_node[info.reg_node_index]] / info.reg_pt_ratio[:, None]
                if len(reg_line):  # delta regulators watch a line-to-line voltage
                    dline = np.real((dv[reg_a] - dv[reg_b]) * np.conj(reg_unit)[:, None])
                    dreg[reg_line] = dline / info.reg_pt_ratio[reg_line][:, None]
                cand, arg = _min_positive(base.reg_half_band_v[:, None] / np.abs(dreg))
                take(j0, cand, arg, "regulator_deviation", base.reg_names)
            di = model.m_rows @ dv
            if "thermal" in on and len(model.thermal_rows):
                a = di[model.thermal_rows]
                i0 = model.i0[model.thermal_rows][:, None]
                qa = np.abs(a) ** 2
                qb = 2.0 * np.real(np.conj(i0) * a)
                qc = (np.abs(i0) ** 2 - model.thermal_limit_a[:, None] ** 2) * np.ones_like(qa)
                root = (-qb + np.sqrt(np.maximum(qb**2 - 4 * qa * qc, 0.0))) / (2 * qa)
                cand, arg = _min_positive(np.where(qa > _EPS, root, np.inf))
                pd_names = info.pd_names
                take(j0, cand, model.thermal_row_elem[arg], "thermal", pd_names)
            if "reverse_power" in on:
                vg = np.append(model.v0, 0.0)
                for f, rows in enumerate(model.flow_rows):
                    if not len(rows):
                        continue
                    vr = vg[model.row_v[rows]]
                    dvr = np.vstack([dv, np.zeros((1, dv.shape[1]))])[model.row_v[rows]]
                    dp = np.real(
                        dvr * np.conj(model.i0[rows])[:, None] + vr[:, None] * np.conj(di[rows])
                    ).sum(0)
                    dflow = model.flow_sign[f] * dp / 1000.0
                    cand = np.where(dflow < -_EPS, (model.flow_kw0[f] + 0.5) / -dflow, np.inf)
                    take(j0, cand, np.full(len(cand), f), "reverse_power", info.flow_elements)
    # A constant-power injection draws less current where it raised the voltage: scale the
    # current-driven limits (all but reverse flow) by the own-bus rise at the predicted size.
    current_driven = np.array([c not in ("reverse_power", NONE) for c in crit])
    finite = np.isfinite(caps) & current_driven
    caps[finite] = caps[finite] * (1.0 + np.clip(rise[finite] * caps[finite], -0.5, 0.5))
    return caps, crit, elem


def _excess(study: Study, criteria: Criteria) -> tuple[FloatArray, Violation | None, list[Measure]]:
    """(all criteria's excess in one vector, the worst violation or None, the measures)."""
    assert study.baseline is not None
    ms = measure(study.circuit, study.baseline, criteria, der=study.der)
    vec = np.concatenate([m.excess for m in ms]) if ms else np.zeros(0)
    worst = first_violation(v for m in ms if (v := m.worst()) is not None)
    return vec, worst, ms


def _label(ms: list[Measure], index: int) -> Violation:
    """The criterion and element at ``index`` of the concatenated excess vector."""
    for m in ms:
        if index < len(m.excess):
            return Violation(m.criterion, m.names[index], float(m.values[index]), float(m.limits[index]))
        index -= len(m.excess)
    raise IndexError(index)


def _secant(p_a: float, r_a: FloatArray, p_b: float, r_b: FloatArray) -> tuple[float, int]:
    """Smallest size where an element's excess, extrapolated linearly, reaches 0, and that element
    (inf and -1 when nothing rises)."""
    slope = (r_b - r_a) / (p_b - p_a)
    rising = np.flatnonzero(slope > _EPS)
    if not len(rising):
        return math.inf, -1
    cross = p_b - r_b[rising] / slope[rising]
    cross = np.where(cross > 0, cross, np.inf) if (cross > 0).any() else np.zeros(len(cross))
    k = int(np.argmin(cross))
    return float(cross[k]), int(rising[k])


def verify(
    study: Study,
    target: BusTarget,
    predicted_kw: float,
    criteria: Criteria,
    limits: tuple[float, float, float],
    r_base: FloatArray,
) -> tuple[BusResult, int]:
    """Full power flows from the prediction to a verified capacity; (result, corrections).

    ``limits`` = (max_kw, tol_kw, accept_pct). Stops at a size solved without violation whose
    secant estimate of the limit is within ``accept_pct`` above it (for volt-var: a solve there
    failed), or when the bracket between the largest good and the smallest bad size is within
    ``max(tol_kw, accept_pct)``. The limit named is the violation found above the capacity or,
    when none was solved, the element whose secant reaches its limit first.
    """
    max_kw, tol_kw, accept_pct = limits
    assert study.baseline is not None and study.snapshot is not None
    snap = study.snapshot.name
    base = first_violation(study.baseline.violations)
    if base is not None:
        return BusResult(0.0, base.criterion, base.element, snap, base_ok=False), 0
    accept = accept_pct / 100.0
    # Volt-var flattens the voltage rise, so a secant from below is no proof: accept a size only
    # once a size within ``accept_pct`` above it has failed.
    confirm = study.der == "pv" and study.inverter == "volt_var"
    lo, hi = 0.0, math.inf
    failing: Violation | None = None
    closest: Violation | None = None
    prev: tuple[float, FloatArray] = (0.0, r_base)
    p = min(max(predicted_kw * (1.0 - accept / 3.0), tol_kw), max_kw)  # aim just below: one solve
    solves = 0
    while solves < _MAX_SOLVES:
        study.place(target, p)
        solves += 1
        r: FloatArray | None = None
        ms: list[Measure] = []
        if study.solve_trial():
            r, viol, ms = _excess(study, criteria)
        else:
            viol = Violation(NOT_CONVERGED, "circuit", math.nan, math.nan, math.inf)
        if viol is None:
            lo = p
            if p >= max_kw:
                return BusResult(max_kw, NONE, "", snap), solves - 1
        else:
            hi, failing = p, viol
        nxt, binding = _secant(prev[0], prev[1], p, r) if r is not None and prev[0] != p else (math.nan, -1)
        if viol is None and binding >= 0:
            closest = _label(ms, binding)  # what would bind next, by the secant
        if r is not None:
            prev = (p, r)
        if hi - lo <= max(tol_kw, lo * accept):
            break
        probe = math.nan
        if viol is None and nxt <= p * (1.0 + accept):
            if not confirm:
                break
            probe = p * (1.0 + accept)  # volt-var bends the curve: check just above instead
        aim = (
            probe
            if math.isfinite(probe)
            else (nxt * (1.0 - accept / 2.0) if math.isfinite(nxt) else math.nan)
        )
        if solves > _MAX_CORRECTIONS or not (lo < aim < hi):
            aim = 0.5 * (lo + hi) if math.isfinite(hi) else 2.0 * max(lo, tol_kw)
        p = min(aim, max_kw)
    limit = failing or closest
    if limit is None:
        return BusResult(lo, NONE, "", snap), solves - 1
    return BusResult(lo, limit.criterion, limit.element, snap), solves - 1


def fast_hosting_capacity(
    engine: Engine,
    buses: Sequence[str] | None = None,
    criteria: Criteria | None = None,
    snapshots: Sequence[Snapshot] = DEFAULT_SNAPSHOTS,
    der: str = "pv",
    inverter: str = "none",
    *,
    pf: float = 1.0,
    max_kw: float = 10_000.0,
    tol_kw: float = 0.5,
    accept_pct: float = 3.0,
    solver: SolverSettings | None = None,
) -> pd.DataFrame:
    """Per-bus hosting capacity from sensitivities, verified by one power flow per bus (and
    corrections). Columns ``FAST_COLUMNS`` (method "fast"); same errors as the exact method.
    ``solver``: iteration caps and tolerance of every solve (None: the engine's settings in force)."""
    chosen = criteria or Criteria()
    validate_inputs(chosen, der, inverter, max_kw, tol_kw, snapshots)
    snaps = relevant_snapshots(snapshots, der)
    q_per_p = 0.0
    if der == "pv" and inverter == "pf":
        q_per_p = math.copysign(math.tan(math.acos(min(abs(pf), 1.0))), pf)

    def run(circuit: StudyCircuit) -> pd.DataFrame:
        study = Study(circuit, chosen, der, inverter, pf)
        targets = resolve_buses(circuit, buses, study.info)
        per_snap: list[list[BusResult]] = [[] for _ in targets]
        predicted = np.full(len(targets), np.inf)
        corrections = np.zeros(len(targets), dtype=np.int64)
        limits = (max_kw, tol_kw, accept_pct)
        try:
            for snap in snaps:
                study.start(snap)
                scale = snap.pv_mult if der == "pv" else -1.0
                s_per_kw = 1000.0 * scale * complex(1.0, q_per_p if der == "pv" else 0.0)
                model = build_linear_model(study, chosen)
                caps, _, _ = predict_capacity(study, model, targets, chosen, s_per_kw)
                caps = caps / abs(scale)
                r_base = _excess(study, chosen)[0]  # the baseline solve is still the engine's state
                study.ensure_pool(targets, np.clip(2.0 * caps, tol_kw, 2.0 * max_kw).tolist())
                for i, target in enumerate(targets):
                    res, extra = verify(study, target, float(caps[i]), chosen, limits, r_base)
                    per_snap[i].append(res)
                    corrections[i] += extra
                    predicted[i] = min(predicted[i], float(caps[i]))
        finally:
            study.finish()
            study.restore_taps()
        results = [combine(r) for r in per_snap]
        frame = result_frame(targets, results, "fast", der, inverter)
        frame["verified"] = True
        cap = frame["capacity_kw"].to_numpy()
        pred = np.minimum(predicted, max_kw)
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["error_pct"] = np.where(cap > 0, 100.0 * (pred - cap) / cap, np.nan)
        frame["predicted_kw"] = pred
        frame["corrections"] = corrections
        out = frame[list(FAST_COLUMNS)]
        out.attrs["solves"] = study.solves  # power flows run (baselines and verifications)
        return out

    with engine.solving_with(solver):
        return run_study(engine, "hosting.fast", run)
