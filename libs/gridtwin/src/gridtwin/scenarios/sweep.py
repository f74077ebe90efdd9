"""Sensitivity sweeps: the points of a grid or a Latin Hypercube over scenario parameters, and the
result table (parameter values -> violation hours, worst loading, losses, peak) over the sweep's jobs.

Latin Hypercube from ``scipy.stats.qmc`` (seeded, so the same sweep draws the same points); every
point is checked by building its scenario (``apply_overrides``) before any job starts.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import qmc

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.scenarios.loader import apply_overrides
from gridtwin.scenarios.schema import Scenario, Sweep, SweepParameter

__all__ = ["SWEEP_METRICS", "sweep_points", "sweep_scenarios", "sweep_table"]

# Per job, summed (or max) over the job's feeders: what a planner plots against the parameters.
SWEEP_METRICS: dict[str, str] = {
    "bus_hours_outside_a": "sum",
    "bus_hours_outside_b": "sum",
    "buses_outside_a": "sum",
    "elements_over_normal": "sum",
    "max_loading_pct": "max",
    "vmax_pu": "max",
    "vmin_pu": "min",
    "losses_kwh": "sum",
    "delivered_kwh": "sum",
    "peak_kw": "sum",
    "reverse_flow_hours": "sum",
    "max_aging_factor": "max",
}


def _grid_values(p: SweepParameter) -> list[float]:
    if p.values is not None:
        return [float(v) for v in p.values]
    assert p.low is not None and p.high is not None
    return [float(v) for v in np.linspace(p.low, p.high, p.steps or 5)]


def _cast(p: SweepParameter, value: float) -> float:
    return float(round(value)) if p.integer else float(value)


def sweep_points(sweep: Sweep) -> list[dict[str, float]]:
    """The parameter values of every point, in a stable order."""
    params = sweep.parameters
    paths = [p.path for p in params]
    if len(set(paths)) != len(paths):
        raise InputError(
            "a sweep parameter is listed twice", [ErrorDetail(where="sweep.parameters", message=str(paths))]
        )
    if sweep.method == "grid":
        axes = [[_cast(p, v) for v in _grid_values(p)] for p in params]
        points = [dict(zip(paths, combo, strict=True)) for combo in itertools.product(*axes)]
    else:
        if not sweep.samples:
            raise InputError("lhs needs samples", [ErrorDetail(where="sweep.samples", message="missing")])
        missing = [p.path for p in params if p.low is None or p.high is None]
        if missing:
            raise InputError(
                "lhs needs low and high",
                [ErrorDetail(where=f"sweep.parameters.{m}", message="low/high") for m in missing],
            )
        unit = qmc.LatinHypercube(d=len(params), seed=np.random.default_rng(sweep.seed)).random(sweep.samples)
        lows = np.array([p.low for p in params], dtype=np.float64)
        highs = np.array([p.high for p in params], dtype=np.float64)
        scaled = qmc.scale(unit, lows, highs) if np.all(highs > lows) else lows + unit * (highs - lows)
        points = [{p.path: _cast(p, float(row[j])) for j, p in enumerate(params)} for row in scaled]
    if len(points) > sweep.max_jobs:
        raise InputError(
            "sweep too large",
            [ErrorDetail(where="sweep", message=f"{len(points)} points over max_jobs {sweep.max_jobs}")],
        )
    return points


def sweep_scenarios(
    scenario: Scenario, sweep: Sweep | None = None
) -> list[tuple[dict[str, float], Scenario]]:
    """(point, scenario at that point) for every point; all built before anything runs."""
    sweep = sweep or scenario.sweep
    if sweep is None:
        raise InputError(
            "the scenario has no sweep", [ErrorDetail(where="sweep", message="add a sweep section")]
        )
    base = scenario.model_copy(update={"sweep": None})
    return [(point, apply_overrides(base, point)) for point in sweep_points(sweep)]


def sweep_table(samples: list[dict[str, Any]], feeder_rows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per sample: its parameter values, job id and status, and ``SWEEP_METRICS`` over the
    job's feeders (``feeder_rows``: job id -> its feeder summaries)."""
    rows = []
    for s in samples:
        row: dict[str, Any] = {"sample": int(s["sample"]), "job_id": s.get("job_id", "")}
        row.update({k: float(v) for k, v in (s.get("values") or {}).items()})
        frame = feeder_rows.get(str(s.get("job_id")), pd.DataFrame())
        row["feeders"] = len(frame)
        for metric, how in SWEEP_METRICS.items():
            col = pd.to_numeric(frame[metric], errors="coerce") if metric in frame else pd.Series(dtype=float)
            col = col.dropna()
            row[metric] = float(getattr(col, how)()) if len(col) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)
