"""Per-bus hosting capacity, exact: the largest single DER at each bus found by bisection with full
power flows (DOMAIN.md), capacity = the minimum over the worst-case snapshots.

The test DER connects to every phase node of the bus (3-phase DER at 3-phase buses, 1-phase at
1-phase nodes, 2-phase at 2-phase buses), in grounded wye; on 3-wire delta sections (no ground
reference, ``BusTarget.delta``) line to line instead, as an inverter there is connected: 3-phase
delta, or one line-to-line branch at 2-node buses (voltages there are judged line to line, see
``criteria``). A PV's output scales with the snapshot's ``pv_mult``, so
snapshots without PV (``pv_mult`` 0) do not limit PV; load-type DER (``der="load"``: EV or storage
charging, a constant-power load that ignores the load multiplier) is judged at every snapshot on
thermal loading and undervoltage. Regulator taps and capacitor controls act in each snapshot's
baseline solve and are locked for the DER trials (deviations are then the DER's own); taps are put
back as found before every baseline and at the end. A base case that already breaks a
criterion gives capacity 0 with ``base_ok`` False and the base violation as the limit; a trial that
does not converge counts as a violation ``not_converged``.

Search per bus and snapshot: from ``start_kw`` (default 25 kW on secondary buses, 250 kW on
primary ones) the size doubles until a violation or ``max_kw`` (the expanding upper bound), then
bisection until the bracket [largest size without violation, smallest with one] is no wider than
``max(tol_kw, rel_tol_pct % of its upper end)``: by default (``EXACT_TOL_KW`` 0.1 kW,
``EXACT_REL_TOL_PCT`` 0.1 %) the absolute floor binds below 100 kW and the relative one above, so
the reported capacity (the bracket's lower end) is at most 0.1 kW or 0.1 % below the true limit,
fine enough to judge the fast method's error against. A bus that hosts ``max_kw`` reports
``limiting_criterion`` "none".

Speed: PV without volt-var uses an idle PV per bus (``StudyCircuit.add_pv_pool``) sized through
its irradiance, so trials never rebuild the network matrix; volt-var and loads move one element around.
A whole study runs as one batch on the engine (``StudyCircuit.run``) inside ``open_study``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from gridtwin.errors import ErrorDetail, InputError, NotConvergedError
from gridtwin.hosting.circuit import StudyCircuit, open_study
from gridtwin.hosting.criteria import (
    Baseline,
    CircuitInfo,
    Criteria,
    Violation,
    capture_baseline,
    evaluate,
    first_violation,
)
from gridtwin.hosting.snapshots import DEFAULT_SNAPSHOTS, Snapshot, apply_snapshot
from gridtwin.hosting.types import DER_KINDS, INVERTER_MODES, NOT_CONVERGED, PERBUS_COLUMNS, BusTarget
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.solver import SolverSettings

__all__ = [
    "EXACT_REL_TOL_PCT",
    "EXACT_TOL_KW",
    "BusResult",
    "Study",
    "exact_hosting_capacity",
    "resolve_buses",
    "validate_inputs",
]

TEST_DER = "hc_test_der"
POOL = "hc_pool"
NONE = "none"
# The exact method's default stopping tolerance: bisect until the bracket is no wider than
# max(EXACT_TOL_KW, EXACT_REL_TOL_PCT % of its upper end).
EXACT_TOL_KW = 0.1
EXACT_REL_TOL_PCT = 0.1


@dataclass
class BusResult:
    """Capacity of one bus at one snapshot (or the minimum over snapshots)."""

    capacity_kw: float
    criterion: str = NONE
    element: str = ""
    snapshot: str = ""
    base_ok: bool = True
    trials: int = 0


def validate_inputs(
    criteria: Criteria,
    der: str,
    inverter: str,
    max_kw: float,
    tol_kw: float,
    snapshots: Sequence[Snapshot],
    rel_tol_pct: float = 0.0,
) -> None:
    """``InputError`` listing every bad argument of a per-bus study."""
    problems: list[ErrorDetail] = []
    if der not in DER_KINDS:
        problems.append(ErrorDetail(where="der", message=f"{der!r} not in {DER_KINDS}"))
    if inverter not in INVERTER_MODES:
        problems.append(ErrorDetail(where="inverter", message=f"{inverter!r} not in {INVERTER_MODES}"))
    if not (math.isfinite(max_kw) and max_kw > 0):
        problems.append(ErrorDetail(where="max_kw", message=f"must be a positive size, got {max_kw}"))
    if not (math.isfinite(tol_kw) and tol_kw > 0):
        problems.append(ErrorDetail(where="tol_kw", message=f"must be > 0, got {tol_kw}"))
    if not (math.isfinite(rel_tol_pct) and 0 <= rel_tol_pct < 100):
        problems.append(
            ErrorDetail(where="rel_tol_pct", message=f"must be >= 0 and < 100, got {rel_tol_pct}")
        )
    if not snapshots:
        problems.append(ErrorDetail(where="snapshots", message="no snapshot to study"))
    elif der == "pv" and not any(s.pv_mult > 0 for s in snapshots):
        problems.append(ErrorDetail(where="snapshots", message="no snapshot with PV output (pv_mult > 0)"))
    if problems:
        raise InputError("invalid hosting-capacity request", problems)
    criteria.check(der)


def resolve_buses(circuit: StudyCircuit, buses: Sequence[str] | None, info: CircuitInfo) -> list[BusTarget]:
    """Targets for ``buses`` (default: every bus with phase nodes and a base, except the source)."""
    if buses is None:
        return circuit.bus_targets(exclude=(info.source_bus,))
    targets: list[BusTarget] = []
    problems: list[ErrorDetail] = []
    for bus in buses:
        try:
            targets.append(circuit.bus_target(str(bus)))
        except InputError as exc:
            problems.extend(exc.details)
    if problems:
        raise InputError("unknown buses", problems)
    return targets


@dataclass
class Study:
    """One per-bus study on the engine's circuit: a baseline per snapshot and trial solves.

    Runs inside ``StudyCircuit.run`` (one batch on the engine).
    """

    circuit: StudyCircuit
    criteria: Criteria
    der: str = "pv"
    inverter: str = "none"
    pf: float = 1.0
    info: CircuitInfo = field(init=False)
    baseline: Baseline | None = None
    snapshot: Snapshot | None = None
    _locked: list[str] = field(default_factory=list)
    _placed: str = ""  # bus_spec where the test DER currently sits
    _rating_kw: float = 0.0  # the placed PV's Pmpp when sized by irradiance
    _pool: dict[str, tuple[str, float]] = field(default_factory=dict)  # bus_spec -> (PV name, kW rating)
    _pool_on: bool = False
    _active: str = ""  # the pool PV producing now
    _prefixes: list[str] = field(default_factory=list)
    solves: int = 0

    def __post_init__(self) -> None:
        self.info = self.circuit.circuit_info()
        self._taps = self.circuit.tap_positions()

    def restore_taps(self) -> None:
        """Put regulator taps back where the study found them: every snapshot's baseline starts
        from the same taps (regulators have hysteresis), and the engine is left as it was."""
        self.circuit.set_tap_positions(self._taps)

    @property
    def pooled(self) -> bool:
        """PV without volt-var uses an idle PV per bus (no network matrix rebuild per bus)."""
        return self.der == "pv" and self.inverter != "volt_var"

    def ensure_pool(self, targets: Sequence[BusTarget], rating_kw: Sequence[float]) -> None:
        """Create the idle PV pool for ``targets`` (call after the baseline: it changes the network)."""
        if not self.pooled:
            return
        missing = [(t, r) for t, r in zip(targets, rating_kw, strict=True) if t.bus_spec not in self._pool]
        if not missing:
            return
        prefix = f"{POOL}{len(self._pool)}_"
        names = self.circuit.add_pv_pool(
            prefix,
            [t for t, _ in missing],
            [r for _, r in missing],
            self.pf if self.inverter == "pf" else 1.0,
        )
        self._prefixes.append(prefix)
        for (t, r), name in zip(missing, names, strict=True):
            self._pool[t.bus_spec] = (name, max(float(r), 1e-3))
        self._pool_on = True

    def _pool_off(self) -> None:
        if self._pool_on:
            for prefix in self._prefixes:
                self.circuit.set_pool_enabled(prefix, False)
            self._pool_on = False
        self._active = ""

    def start(self, snapshot: Snapshot) -> Baseline:
        """Solve ``snapshot`` without the test DER (taps free), record the baseline, lock taps."""
        self.finish()
        self.restore_taps()
        apply_snapshot(self.circuit, snapshot)
        self.solves += 1
        if not self.circuit.solve().converged:
            raise NotConvergedError(
                "the base case does not converge",
                [
                    ErrorDetail(
                        where=f"snapshot {snapshot.name}",
                        message=f"no DER, load_mult={snapshot.load_mult}, pv_mult={snapshot.pv_mult}",
                        code="not_converged",
                    )
                ],
            )
        self.baseline = capture_baseline(self.circuit, snapshot.name, self.criteria, self.info, der=self.der)
        self.snapshot = snapshot
        self._locked = self.circuit.lock_controls()
        self._placed = ""
        return self.baseline

    def finish(self) -> None:
        """Unlock the taps and take the test DER out."""
        if self._locked:
            self.circuit.unlock_controls(self._locked)
            self._locked = []
        self.circuit.remove_der(TEST_DER)
        self._pool_off()
        self._placed = ""

    def place(self, target: BusTarget, kw: float) -> None:
        """Put the test DER of ``kw`` at ``target`` (moving it if it sits elsewhere).

        Without volt-var, a PV is rated generously and sized through its irradiance: that leaves
        its admittance unchanged, so resizing costs no network matrix rebuild (volt-var vars scale
        with kVA, so there the rating follows the size).
        """
        assert self.snapshot is not None
        pv_mult = self.snapshot.pv_mult
        if target.bus_spec in self._pool:
            self._place_pooled(target, kw, pv_mult)
            return
        by_irradiance = self.der == "pv" and self.inverter != "volt_var" and pv_mult > 0
        if self._placed == target.bus_spec:
            if self.der == "load":
                self.circuit.resize_load(TEST_DER, kw)
                return
            if not by_irradiance:
                self.circuit.resize_pv(TEST_DER, kw)
                return
            if kw <= self._rating_kw:
                self.circuit.set_pv_irradiance(TEST_DER, pv_mult * kw / self._rating_kw)
                return
        if self.der == "load":
            self.circuit.add_load(TEST_DER, target, kw)
        else:
            self._rating_kw = 2.0 * kw if by_irradiance else kw
            self.circuit.add_pv(
                TEST_DER,
                target,
                self._rating_kw,
                inverter=self.inverter,
                pf=self.pf,
                irradiance=pv_mult * kw / self._rating_kw,
            )
        self._placed = target.bus_spec

    def _place_pooled(self, target: BusTarget, kw: float, pv_mult: float) -> None:
        if not self._pool_on:
            for prefix in self._prefixes:
                self.circuit.set_pool_enabled(prefix, True)
            self._pool_on = True
        name, rating = self._pool[target.bus_spec]
        if self._active and self._active != name:
            self.circuit.set_pv_irradiance(self._active, 0.0)
        new_rating: float | None = None
        if kw > rating:
            new_rating = 2.0 * kw
            self._pool[target.bus_spec] = (name, new_rating)
            rating = new_rating
        pf = self.pf if self.inverter == "pf" else 1.0
        self.circuit.set_pv_irradiance(name, pv_mult * kw / rating, new_rating, pf)
        self._active = name

    def solve_trial(self) -> bool:
        """Solve with the test DER in place (control loop on); False when it does not converge.

        Volt-var's converged point depends on where the control loop starts (the inverter control's
        remembered vars, the previous voltages): every trial starts from a fresh inverter control and
        the no-load voltages, so results do not depend on the trial order.
        """
        self.solves += 1
        if self.der == "pv" and self.inverter == "volt_var":
            self.circuit.restart_inverter(TEST_DER)
            self.circuit.flat_start()
        return self.circuit.solve().converged

    def trial(self, target: BusTarget, kw: float) -> Violation | None:
        """Solve with ``kw`` at ``target``; the most severe violation or None."""
        assert self.baseline is not None
        self.place(target, kw)
        if not self.solve_trial():
            return Violation(NOT_CONVERGED, "circuit", float("nan"), float("nan"), math.inf)
        return first_violation(evaluate(self.circuit, self.baseline, self.criteria, der=self.der))

    def search(
        self,
        target: BusTarget,
        max_kw: float,
        tol_kw: float,
        start_kw: float,
        rel_tol_pct: float = 0.0,
        known_ok_kw: float = 0.0,
    ) -> BusResult:
        """Largest size at ``target`` with no violation (expanding bound, then bisection until the
        bracket is no wider than ``max(tol_kw, rel_tol_pct % of its upper end)``)."""
        assert self.baseline is not None and self.snapshot is not None
        name = self.snapshot.name
        base = first_violation(self.baseline.violations)
        if base is not None:
            return BusResult(0.0, base.criterion, base.element, name, base_ok=False)
        lo, hi = max(0.0, known_ok_kw), min(max(start_kw, tol_kw), max_kw)
        trials = 0
        failing: Violation | None = None
        while True:  # expanding upper bound
            trials += 1
            v = self.trial(target, hi)
            if v is not None:
                failing = v
                break
            lo = hi
            if hi >= max_kw:
                return BusResult(max_kw, NONE, "", name, trials=trials)
            hi = min(2.0 * hi, max_kw)
        while hi - lo > max(tol_kw, rel_tol_pct / 100.0 * hi):
            mid = 0.5 * (lo + hi)
            trials += 1
            v = self.trial(target, mid)
            if v is None:
                lo = mid
            else:
                hi, failing = mid, v
        return BusResult(lo, failing.criterion, failing.element, name, trials=trials)


def _start_kw(target: BusTarget, criteria: Criteria) -> float:
    """First trial size: secondary buses host tens of kW, primary ones hundreds."""
    return 25.0 if target.kv_base_ll <= criteria.secondary_max_kv_ll else 250.0


def relevant_snapshots(snapshots: Sequence[Snapshot], der: str) -> list[Snapshot]:
    """PV is limited only where it produces; loads at every snapshot."""
    return [s for s in snapshots if der == "load" or s.pv_mult > 0]


def combine(results: list[BusResult]) -> BusResult:
    """Minimum capacity over snapshots (a failed base case wins: capacity 0)."""
    return min(results, key=lambda r: (r.capacity_kw, r.base_ok))


def result_frame(
    targets: Sequence[BusTarget], results: Sequence[BusResult], method: str, der: str, inverter: str
) -> pd.DataFrame:
    """The per-bus table (``PERBUS_COLUMNS``)."""
    rows = [
        {
            "bus": t.bus,
            "phases": t.phases,
            "kv_base": t.kv_base_ll,
            "x": t.x,
            "y": t.y,
            "capacity_kw": r.capacity_kw,
            "limiting_criterion": r.criterion,
            "limiting_element": r.element,
            "limiting_snapshot": r.snapshot,
            "base_ok": r.base_ok,
            "method": method,
            "der": der,
            "inverter": inverter if der == "pv" else NONE,
        }
        for t, r in zip(targets, results, strict=True)
    ]
    return pd.DataFrame(rows, columns=list(PERBUS_COLUMNS))


def run_study(engine: Engine, where: str, fn: Callable[[StudyCircuit], pd.DataFrame]) -> pd.DataFrame:
    """Run a study function as one batch on the engine, held for the whole study (the circuit counts
    as changed afterwards); the frame's attrs name the feeder and version studied (and ``solves``,
    the power flows the study ran)."""
    with open_study(engine) as circuit:
        loaded = engine.loaded
        frame = circuit.run(where, fn, circuit)
    frame.attrs["version"] = loaded[1] if loaded else ""
    frame.attrs["feeder"] = loaded[0] if loaded else ""
    return frame


def exact_hosting_capacity(
    engine: Engine,
    buses: Sequence[str] | None = None,
    criteria: Criteria | None = None,
    snapshots: Sequence[Snapshot] = DEFAULT_SNAPSHOTS,
    der: str = "pv",
    inverter: str = "none",
    *,
    pf: float = 1.0,
    max_kw: float = 10_000.0,
    tol_kw: float = EXACT_TOL_KW,
    rel_tol_pct: float = EXACT_REL_TOL_PCT,
    start_kw: float | None = None,
    solver: SolverSettings | None = None,
) -> pd.DataFrame:
    """Per-bus hosting capacity by bisection with full power flows on the engine's compiled circuit.
    ``solver``: iteration caps and tolerance of every solve (None: the engine's settings in force).

    Returns one row per bus (``PERBUS_COLUMNS``, method "exact"); the capacity is the largest size
    solved without violation, at most ``max(tol_kw, rel_tol_pct % of the bracket's upper end)``
    below the true limit (the bisection stops when its bracket is no wider than that; ``tol_kw`` > 0,
    ``rel_tol_pct`` >= 0). ``InputError`` for unknown buses and bad arguments, ``NotConvergedError`` when a
    snapshot's base case does not converge. The study holds the engine throughout and leaves the
    circuit marked changed (test DER stays in it).
    """
    chosen = criteria or Criteria()
    validate_inputs(chosen, der, inverter, max_kw, tol_kw, snapshots, rel_tol_pct)
    snaps = relevant_snapshots(snapshots, der)

    def run(circuit: StudyCircuit) -> pd.DataFrame:
        study = Study(circuit, chosen, der, inverter, pf)
        targets = resolve_buses(circuit, buses, study.info)
        per_snap: list[list[BusResult]] = [[] for _ in targets]
        try:
            for snap in snaps:
                study.start(snap)
                study.ensure_pool(targets, [2.0 * (start_kw or _start_kw(t, chosen)) for t in targets])
                for i, target in enumerate(targets):
                    first = start_kw or _start_kw(target, chosen)
                    per_snap[i].append(study.search(target, max_kw, tol_kw, first, rel_tol_pct))
        finally:
            study.finish()
            study.restore_taps()
        frame = result_frame(targets, [combine(r) for r in per_snap], "exact", der, inverter)
        frame.attrs["solves"] = study.solves  # power flows run (baselines and trials)
        return frame

    with engine.solving_with(solver):
        return run_study(engine, "hosting.exact", run)
