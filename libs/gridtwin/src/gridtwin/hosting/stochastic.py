"""Stochastic (Monte Carlo, DISCO-like) hosting capacity: many random PV deployments per feeder.

A sample is one random deployment (``placement.draw_deployment``) grown through the penetration steps
(percent of the feeder's peak load); each step is judged at every snapshot (minimum daytime load with
full PV, peak load with no PV) against that snapshot's no-PV baseline. The sample's capacity is the PV
kW of the last step before its first violation (0 when the first step fails); a sample that never
violates is ``censored`` (its capacity is at least the last step's kW).

``run_chunk`` runs a range of samples on one engine (one Dask task); ``summarize`` aggregates chunks.

Engine use: the whole chunk holds the engine (``open_study``); the feeder is compiled once per chunk
and one PV system per customer is added once, at 0 kW; a step only resizes the systems that grew, so
a step costs one solve per snapshot and no network matrix rebuild from new elements (adding or
enabling elements per step measured ~20x slower on ckt5). Each sample is one batch on the engine.
Regulator taps are solved free in the baseline and locked for the PV trials (DRIVE). Between samples
the systems go back to 0 kW.

Early stop vs full curve: by default a sample stops at its first violation (enough for the capacity
distribution, ~half the solves); ``full_curve=True`` walks every step, so the violation probability
at each step is measured rather than inferred (steps after an early stop count as violated: the
deployments are nested, so more PV is assumed not to clear a violation).

Errors: a sample whose engine calls fail (``GridTwinError``) is recorded in ``failed`` with its
details; the circuit is rebuilt and the other samples go on. Other exceptions propagate (a Dask
retry). A violation already present with no PV does not count unless the PV makes it worse.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridtwin.errors import ErrorDetail, GridTwinError, InputError, NotConvergedError
from gridtwin.grid.model import FeederModel
from gridtwin.hosting import snapshots
from gridtwin.hosting.circuit import StudyCircuit, open_study
from gridtwin.hosting.criteria import Baseline, Criteria, Violation, capture_baseline, evaluate
from gridtwin.hosting.placement import (
    DEFAULT_PV_SIZES,
    PLACEMENTS,
    Candidates,
    SizeDistribution,
    default_steps_pct,
    draw_deployment,
    read_candidates,
    step_kw,
)
from gridtwin.hosting.snapshots import Snapshot
from gridtwin.hosting.types import INVERTER_MODES, NOT_CONVERGED, BusTarget
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.solver import SolverSettings
from gridtwin.powerflow.study_types import ControlState

__all__ = [
    "CAPACITY_COLUMNS",
    "STEP_COLUMNS",
    "ChunkResult",
    "FailedSample",
    "StochasticSpec",
    "StochasticSummary",
    "chunk_ranges",
    "run_chunk",
    "summarize",
]

STEP_COLUMNS = (
    "sample",
    "step",
    "penetration_pct",
    "pv_kw",
    "n_systems",
    "violated",
    "criterion",
    "element",
    "snapshot",
    "value",
    "limit",
)
CAPACITY_COLUMNS = (
    "sample",
    "capacity_kw",
    "capacity_pct",
    "censored",
    "limiting_criterion",
    "limiting_element",
    "limiting_snapshot",
    "steps_run",
)
_PV_PREFIX = "hcs"
_WORSE_TOL = 1e-6  # relative: a pre-existing violation must grow by more than this to count


@dataclass(frozen=True)
class StochasticSpec:
    """What to run. ``sizes`` maps customer class (res | com | ind) to its PV size distribution;
    ``peak_load_kw`` overrides the feeder peak (default: the sum of the loads' base kW)."""

    samples: int = 10
    placement: str = "random"
    steps_pct: tuple[float, ...] = field(default_factory=default_steps_pct)
    seed: int = 0
    sizes: Mapping[str, SizeDistribution] = field(default_factory=lambda: dict(DEFAULT_PV_SIZES))
    criteria: Criteria = field(default_factory=Criteria)
    snapshots: tuple[Snapshot, ...] = field(default_factory=lambda: tuple(snapshots.DEFAULT_SNAPSHOTS))
    full_curve: bool = False
    inverter: str = "none"
    peak_load_kw: float | None = None

    def check(self) -> None:
        """``InputError`` naming every bad field."""
        problems: list[ErrorDetail] = []
        if self.samples < 1:
            problems.append(ErrorDetail(where="samples", message=f"must be >= 1, got {self.samples}"))
        if self.placement not in PLACEMENTS:
            problems.append(ErrorDetail(where="placement", message=f"one of {', '.join(PLACEMENTS)}"))
        steps = np.asarray(self.steps_pct, dtype=np.float64)
        if (
            not len(steps)
            or not np.all(np.isfinite(steps))
            or np.any(steps <= 0)
            or np.any(np.diff(steps) <= 0)
        ):
            problems.append(ErrorDetail(where="steps_pct", message="must be positive and increasing"))
        if self.inverter not in INVERTER_MODES:
            problems.append(ErrorDetail(where="inverter", message=f"one of {', '.join(INVERTER_MODES)}"))
        if not self.snapshots:
            problems.append(ErrorDetail(where="snapshots", message="at least one snapshot"))
        if self.peak_load_kw is not None and not (np.isfinite(self.peak_load_kw) and self.peak_load_kw > 0):
            problems.append(ErrorDetail(where="peak_load_kw", message="must be > 0"))
        for klass, dist in self.sizes.items():
            try:
                dist.check(f"sizes.{klass}")
            except InputError as exc:
                problems.extend(exc.details)
        if problems:
            raise InputError("invalid stochastic hosting-capacity spec", problems)
        self.criteria.check("pv")


@dataclass(frozen=True)
class FailedSample:
    sample: int
    message: str
    details: list[dict[str, str]]


@dataclass
class ChunkResult:
    """One chunk's samples: ``steps`` (STEP_COLUMNS, one row per judged (sample, step)), ``capacities``
    (CAPACITY_COLUMNS, one row per finished sample), ``failed`` samples, and the base-case violations."""

    feeder: str
    placement: str
    peak_load_kw: float
    steps: pd.DataFrame
    capacities: pd.DataFrame
    failed: list[FailedSample] = field(default_factory=list)
    base_violations: list[dict[str, Any]] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)


def chunk_ranges(samples: int, chunk_size: int) -> list[range]:
    """Split ``range(samples)`` into consecutive chunks (the Dask tasks)."""
    if chunk_size < 1:
        raise InputError("bad chunk size", [ErrorDetail(where="chunk_size", message="must be >= 1")])
    return [range(s, min(s + chunk_size, samples)) for s in range(0, samples, chunk_size)]


# -- loading -----------------------------------------------------------------------------


def _load(engine: Engine, circuit: StudyCircuit, source: FeederModel | bytes | str | Path) -> str:
    """Compile the feeder (a model, its IPC bytes, a script or a master file); returns its name."""
    if isinstance(source, bytes):
        source = FeederModel.from_ipc(source)
    engine.mark_changed()  # a previous chunk left PV systems in the circuit: always recompile
    if isinstance(source, FeederModel):
        engine.load_model(source)  # through the engine's script cache
        return source.feeder_id
    if isinstance(source, Path):
        engine.compile_file(source)
    else:
        engine.load_script("stochastic-script", hashlib.sha256(source.encode()).hexdigest(), source)
    return circuit.name()


@dataclass
class _Prepared:
    """The prepared circuit of one chunk: candidates, per-snapshot baselines and control states."""

    candidates: Candidates
    baselines: list[Baseline]
    states: list[ControlState]  # per snapshot: regulator taps and capacitor steps of the baseline
    pv_names: list[str]
    kw: np.ndarray  # current kW per candidate's PV


def _prepare(circuit: StudyCircuit, spec: StochasticSpec) -> _Prepared:
    """Baselines (no PV, controls free), then lock taps and add one PV per customer at 0 kW."""
    candidates = read_candidates(circuit)
    circuit.use_snapshot_mode()
    info = circuit.circuit_info()
    baselines, states = [], []
    for snap in spec.snapshots:
        snapshots.apply_snapshot(circuit, snap)
        if not circuit.solve().converged:
            raise NotConvergedError(
                "the base case does not converge",
                [ErrorDetail(where=f"snapshot.{snap.name}", message="no-PV power flow did not converge")],
            )
        baselines.append(capture_baseline(circuit, snap.name, spec.criteria, info))
        # Every trial starts from this control state whatever ran before (results independent of
        # chunking); read before locking (locked regulators are not listed).
        states.append(circuit.control_state())
    circuit.lock_controls()  # DRIVE: deviations caused by the PV, taps as in the baseline
    names = [f"{_PV_PREFIX}{i}" for i in range(len(candidates))]
    for name, bus in zip(names, candidates.buses, strict=True):
        circuit.add_pv(name, _customer_target(circuit, bus), 0.0, inverter=spec.inverter)
    return _Prepared(candidates, baselines, states, names, np.zeros(len(candidates)))


def _customer_target(circuit: StudyCircuit, bus: str) -> BusTarget:
    """Where a customer's PV connects: the load's bus and nodes. A load wired to a single conductor
    of a 3-wire delta section (nothing connects to one conductor there) gets its PV across the
    bus's phases, line to line."""
    try:
        return circuit.bus_target(bus)
    except InputError:
        whole = circuit.bus_target(bus.partition(".")[0])
        if not whole.delta:
            raise
        return whole


def _set_kw(circuit: StudyCircuit, prepared: _Prepared, kw: np.ndarray) -> None:
    """Resize the systems whose kW changed (their var limits follow the size)."""
    for i in np.flatnonzero(kw != prepared.kw):
        circuit.resize_pv(prepared.pv_names[i], float(kw[i]))
    prepared.kw = kw.copy()


def _new(v: Violation, base: Baseline) -> bool:
    """A violation counts unless it was there with no PV and the PV did not make it worse."""
    for old in base.violations:
        if old.criterion == v.criterion and old.element == v.element:
            return v.excess > old.excess + _WORSE_TOL * max(1.0, abs(old.excess))
    return True


def _judge(circuit: StudyCircuit, prepared: _Prepared, spec: StochasticSpec) -> tuple[Violation, str] | None:
    """Solve every snapshot; the worst new violation over them and its snapshot, None when clean."""
    worst: tuple[Violation, str] | None = None
    for snap, base, state in zip(spec.snapshots, prepared.baselines, prepared.states, strict=True):
        circuit.restore_control_state(state)
        snapshots.apply_snapshot(circuit, snap)
        if not circuit.solve().converged:
            found = [Violation(NOT_CONVERGED, "circuit", float("nan"), float("nan"), float("inf"))]
        else:
            found = [v for v in evaluate(circuit, base, spec.criteria) if _new(v, base)]
        for v in found:
            if worst is None or v.excess > worst[0].excess:
                worst = (v, snap.name)
    return worst


def _row(
    sample: int, k: int, pct: float, in_order: np.ndarray, found: tuple[Violation, str] | None
) -> tuple[Any, ...]:
    """One STEP_COLUMNS row."""
    head = (sample, k, pct, float(in_order.sum()), int(np.count_nonzero(in_order)))
    if found is None:
        return (*head, False, "", "", "", np.nan, np.nan)
    v, snap = found
    return (*head, True, v.criterion, v.element, snap, v.value, v.limit)


def _run_sample(
    circuit: StudyCircuit, prepared: _Prepared, spec: StochasticSpec, sample: int, peak_kw: float
) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    """Walk one sample's steps (one batch on the engine): its STEP_COLUMNS rows and CAPACITY_COLUMNS row."""
    deployment = draw_deployment(
        prepared.candidates, seed=spec.seed, sample=sample, placement=spec.placement, sizes=spec.sizes
    )
    rows: list[tuple[Any, ...]] = []
    capacity_kw, first = 0.0, None
    try:
        for k, (pct, target) in enumerate(zip(spec.steps_pct, step_kw(spec.steps_pct, peak_kw), strict=True)):
            in_order = deployment.kw_at(float(target))
            kw = np.zeros(len(prepared.candidates))
            kw[deployment.order] = in_order
            _set_kw(circuit, prepared, kw)
            found = _judge(circuit, prepared, spec)
            rows.append(_row(sample, k, pct, in_order, found))
            if found is None:
                capacity_kw = capacity_kw if first else float(in_order.sum())
                continue
            first = first or found
            if not spec.full_curve:
                break
    finally:
        _set_kw(circuit, prepared, np.zeros(len(prepared.candidates)))
    v, snap = first if first else (None, "")
    capacity = (
        sample,
        capacity_kw,
        100.0 * capacity_kw / peak_kw,
        first is None,
        v.criterion if v else "",
        v.element if v else "",
        snap,
        len(rows),
    )
    return rows, capacity


def run_chunk(
    engine: Engine,
    source: FeederModel | bytes | str | Path,
    spec: StochasticSpec,
    samples: Iterable[int],
    *,
    solver: SolverSettings | None = None,
) -> ChunkResult:
    """Run ``samples`` of ``spec`` on ``source`` (a model, its IPC bytes, a script or a master path).
    ``solver``: iteration caps and tolerance of every solve (None: the engine's settings in force).

    Holds the engine for the whole chunk, compiles once, adds the PV systems once, then walks each
    sample's steps; the circuit is marked changed at the end. A sample that fails with a
    ``GridTwinError`` is recorded (the circuit is rebuilt) and the others go on; a feeder that does
    not compile or whose base case does not converge raises.
    """
    spec.check()
    with engine.solving_with(solver), open_study(engine) as circuit:
        return _run_chunk(engine, circuit, source, spec, samples)


def _run_chunk(
    engine: Engine,
    circuit: StudyCircuit,
    source: FeederModel | bytes | str | Path,
    spec: StochasticSpec,
    samples: Iterable[int],
) -> ChunkResult:
    timings: dict[str, float] = {}
    start = time.perf_counter()
    feeder = _load(engine, circuit, source)
    timings["compile_s"] = time.perf_counter() - start
    start = time.perf_counter()
    prepared = circuit.run(feeder, _prepare, circuit, spec)
    peak_kw = float(spec.peak_load_kw or prepared.candidates.peak_load_kw)
    timings["prepare_s"] = time.perf_counter() - start
    base_violations = [
        {"snapshot": b.snapshot, **asdict(v)} for b in prepared.baselines for v in b.violations
    ]

    rows: list[tuple[Any, ...]] = []
    caps: list[tuple[Any, ...]] = []
    failed: list[FailedSample] = []
    start = time.perf_counter()
    for sample in samples:
        try:
            sample_rows, cap = circuit.run(
                f"{feeder} sample {sample}", _run_sample, circuit, prepared, spec, sample, peak_kw
            )
        except GridTwinError as exc:
            details = [d.to_dict() for d in exc.details] or [
                {"where": f"sample {sample}", "message": exc.message, "code": "failed"}
            ]
            failed.append(FailedSample(sample, exc.message, details))
            _load(engine, circuit, source)  # the failed sample may have left the circuit broken
            prepared = circuit.run(feeder, _prepare, circuit, spec)
            continue
        rows.extend(sample_rows)
        caps.append(cap)
    timings["samples_s"] = time.perf_counter() - start
    return ChunkResult(
        feeder=feeder,
        placement=spec.placement,
        peak_load_kw=peak_kw,
        steps=pd.DataFrame(rows, columns=list(STEP_COLUMNS)),
        capacities=pd.DataFrame(caps, columns=list(CAPACITY_COLUMNS)),
        failed=failed,
        base_violations=base_violations,
        timings_s=timings,
    )


# -- aggregation -------------------------------------------------------------------------


@dataclass
class StochasticSummary:
    """Per-feeder distribution of hosting capacity over the samples that finished.

    Percentiles are ``numpy.percentile`` with its default ``linear`` method (Hyndman & Fan type 7).
    ``violation`` has one row per step: ``p_violated`` is the share of samples whose deployment at
    that step violates (measured at every step with ``full_curve``; after an early stop a sample
    counts as violated), ``p_first_by`` the share whose first violation is at or before that step.
    ``limiting`` counts the samples by their first violation's criterion and snapshot ("none" for
    censored samples)."""

    feeder: str
    placement: str
    peak_load_kw: float
    samples_ok: int
    samples_failed: int
    censored: int
    capacity_kw_p5: float
    capacity_kw_mean: float
    capacity_kw_p95: float
    capacity_pct_p5: float
    capacity_pct_mean: float
    capacity_pct_p95: float
    violation: pd.DataFrame
    limiting: pd.DataFrame
    failed: list[FailedSample] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (NaN as None)."""
        scalars = {k: v for k, v in self.__dict__.items() if not isinstance(v, pd.DataFrame | list)}
        return {
            **{k: None if isinstance(v, float) and np.isnan(v) else v for k, v in scalars.items()},
            "violation": _records(self.violation),
            "limiting": _records(self.limiting),
            "failed": [asdict(f) for f in self.failed],
        }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    clean = df.astype(object).where(df.notna(), None)
    return [{str(k): v for k, v in row.items()} for row in clean.to_dict(orient="records")]


def _merge(results: Sequence[ChunkResult]) -> tuple[pd.DataFrame, pd.DataFrame, list[FailedSample]]:
    """All chunks' rows; a sample run twice (a retried chunk) keeps its last run."""
    caps = pd.concat([r.capacities for r in results], ignore_index=True)
    steps = pd.concat([r.steps for r in results], ignore_index=True)
    caps = caps.drop_duplicates("sample", keep="last").sort_values("sample", ignore_index=True)
    steps = steps.drop_duplicates(["sample", "step"], keep="last")
    done = set(caps["sample"].tolist())
    failed: dict[int, FailedSample] = {}
    for r in results:
        failed.update({f.sample: f for f in r.failed if f.sample not in done})
    return steps, caps, [failed[s] for s in sorted(failed)]


def _pctl(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def summarize(
    results: ChunkResult | Sequence[ChunkResult], steps_pct: Sequence[float] | None = None
) -> StochasticSummary:
    """Aggregate the chunks of one feeder and placement (``steps_pct``: the spec's steps, default
    those seen in the results)."""
    chunks = [results] if isinstance(results, ChunkResult) else list(results)
    if not chunks:
        raise InputError("nothing to summarize", [ErrorDetail(where="results", message="no chunk results")])
    steps, caps, failed = _merge(chunks)
    first = chunks[0]
    cap_kw = caps["capacity_kw"].to_numpy(dtype=np.float64)
    cap_pct = caps["capacity_pct"].to_numpy(dtype=np.float64)

    levels = list(steps_pct) if steps_pct is not None else sorted(set(steps["penetration_pct"].tolist()))
    n = len(caps)
    done = steps[steps["sample"].isin(caps["sample"])]
    # Step index of each sample's first violation (len(levels) when censored).
    first_k = done[done["violated"]].groupby("sample")["step"].min()
    first_of = caps["sample"].map(first_k).fillna(len(levels)).to_numpy(dtype=np.int64)
    violated_at = done[done["violated"]].groupby("step")["sample"].nunique()
    evaluated_at = done.groupby("step")["sample"].nunique()
    pv_mean = done.groupby("step")["pv_kw"].mean()
    rows = []
    for k, pct in enumerate(levels):
        evaluated = int(evaluated_at.get(k, 0))
        # A finished sample not evaluated at a step stopped early at an earlier violation: nested
        # deployments only grow, so it counts as violated.
        violated = int(violated_at.get(k, 0)) + (n - evaluated)
        rows.append(
            {
                "step": k,
                "penetration_pct": float(pct),
                "pv_kw_mean": float(pv_mean.get(k, np.nan)),
                "evaluated": evaluated,
                "p_violated": violated / n if n else np.nan,
                "p_first_by": float(np.count_nonzero(first_of <= k)) / n if n else np.nan,
            }
        )
    limiting = (
        caps.assign(
            criterion=caps["limiting_criterion"].replace("", "none"), snapshot=caps["limiting_snapshot"]
        )
        .groupby(["criterion", "snapshot"], as_index=False)
        .size()
        .rename(columns={"size": "samples"})
        .sort_values(["samples", "criterion"], ascending=[False, True], ignore_index=True)
    )
    return StochasticSummary(
        feeder=first.feeder,
        placement=first.placement,
        peak_load_kw=first.peak_load_kw,
        samples_ok=n,
        samples_failed=len(failed),
        censored=int(caps["censored"].sum()),
        capacity_kw_p5=_pctl(cap_kw, 5),
        capacity_kw_mean=float(cap_kw.mean()) if n else float("nan"),
        capacity_kw_p95=_pctl(cap_kw, 95),
        capacity_pct_p5=_pctl(cap_pct, 5),
        capacity_pct_mean=float(cap_pct.mean()) if n else float("nan"),
        capacity_pct_p95=_pctl(cap_pct, 95),
        violation=pd.DataFrame(rows),
        limiting=limiting,
        failed=failed,
    )
