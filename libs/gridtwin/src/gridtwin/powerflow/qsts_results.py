"""What a quasi-static time-series (QSTS) run takes and gives back: the contract between the QSTS
engine loop (``gridtwin.powerflow.qsts``), the job runner (``gridtwin.compute``) and the result store.

Column sets are declared once, in ``gridtwin.store.qsts_columns`` (re-exported here).
Counts of time are in hours (a 15-minute step counts 0.25 h); ``*_step`` columns are 0-based step
indices from the start of the run (``time_utc = start_utc + step * step_minutes``).
Steps whose power flow did not converge are counted in ``unconverged_steps`` and listed; their
voltages and loadings are not counted in any violation figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.solver import SolverSettings
from gridtwin.store.qsts_columns import (
    BUS_COLUMNS,
    ELEMENT_COLUMNS,
    ENERGY_KEYS,
    FEEDER_SUMMARY_COLUMNS,
    HOURLY_COLUMNS,
)

__all__ = [
    "BUS_COLUMNS",
    "ELEMENT_COLUMNS",
    "ENERGY_KEYS",
    "FEEDER_SUMMARY_COLUMNS",
    "HOURLY_COLUMNS",
    "QstsResult",
    "QstsSpec",
]


@dataclass(frozen=True)
class QstsSpec:
    """The period and resolution of a run, and what it is judged against."""

    hours: int = 8760  # length of the run in hours
    start_hour: int = 0  # hour of the year the run starts at (0 = Jan 1 00:00)
    step_minutes: int = 60  # 60 (hourly) or 15
    limits: ViolationLimits = field(default_factory=ViolationLimits)
    # Ambient temperature for transformer aging (degC): a constant, or one value per hour of the
    # run (len >= hours). The synthetic utility supplies its weather year.
    ambient_c: float | np.ndarray = 30.0
    start_utc: datetime = datetime(2025, 1, 1, tzinfo=UTC)  # time of hour 0 (a non-leap year)
    # Iteration caps and tolerance of every step (gridtwin.powerflow.solver; default: the built-in
    # defaults). A converged step does not depend on the caps.
    solver: SolverSettings = field(default_factory=SolverSettings)

    @property
    def steps(self) -> int:
        return self.hours * 60 // self.step_minutes

    @property
    def step_h(self) -> float:
        return self.step_minutes / 60.0


@dataclass
class QstsResult:
    """One feeder's run. Tables carry exactly the columns declared above, in that order."""

    feeder: str
    version: str
    spec: QstsSpec
    steps: int
    unconverged_steps: int
    unconverged_step_list: list[int]
    hourly: pd.DataFrame  # HOURLY_COLUMNS
    buses: pd.DataFrame  # BUS_COLUMNS
    elements: pd.DataFrame  # ELEMENT_COLUMNS
    energy: dict[str, float]  # ENERGY_KEYS
    timings_s: dict[str, float] = field(default_factory=dict)  # compile, load_profiles, solve, extract, total

    def summary(self) -> dict[str, Any]:
        """One flat row with exactly ``FEEDER_SUMMARY_COLUMNS`` (plain Python values, None for absent)."""
        h, b, e = self.hourly, self.buses, self.elements
        ok = h[h["converged"]] if len(h) else h
        row: dict[str, Any] = {
            "feeder": self.feeder,
            "version": self.version,
            "steps": int(self.steps),
            "step_minutes": int(self.spec.step_minutes),
            "unconverged_steps": int(self.unconverged_steps),
        }
        row.update({k: float(self.energy.get(k, 0.0)) for k in ENERGY_KEYS})
        row.update(_extreme(ok, "source_kw", "peak_kw", "peak_step", None, largest=True))
        row.update(
            _extreme(b, "vmin_pu", "vmin_pu", "vmin_step", "vmin_bus", largest=False, step="vmin_step")
        )
        row.update(_extreme(b, "vmax_pu", "vmax_pu", "vmax_step", "vmax_bus", largest=True, step="vmax_step"))
        row["buses"] = len(b)
        row["buses_outside_a"] = int((b["hours_outside_a"] > 0).sum()) if len(b) else 0
        row["buses_outside_b"] = int((b["hours_outside_b"] > 0).sum()) if len(b) else 0
        row["bus_hours_outside_a"] = float(b["hours_outside_a"].sum()) if len(b) else 0.0
        row["bus_hours_outside_b"] = float(b["hours_outside_b"].sum()) if len(b) else 0.0
        row["elements"] = len(e)
        row["elements_over_normal"] = int((e["hours_over_normal"] > 0).sum()) if len(e) else 0
        row["elements_over_emergency"] = int((e["hours_over_emergency"] > 0).sum()) if len(e) else 0
        loading = _extreme(e, "max_loading_pct", "max_loading_pct", None, "max_loading_element", largest=True)
        loading["max_loading_element"] = loading.pop("max_loading_element", None)
        row.update(loading)
        aging = _extreme(
            e, "equivalent_aging_factor", "max_aging_factor", None, "max_aging_element", largest=True
        )
        row.update(aging)
        source = pd.to_numeric(ok["source_kw"], errors="coerce") if len(ok) else pd.Series(dtype=float)
        row["min_source_kw"] = float(source.min()) if len(source) else None
        row["reverse_flow_hours"] = float((source < 0).sum()) * self.spec.step_h
        row["solve_s"] = float(self.timings_s.get("solve", 0.0))
        row["total_s"] = float(self.timings_s.get("total", 0.0))
        return {k: row.get(k) for k in FEEDER_SUMMARY_COLUMNS}


def _extreme(
    frame: pd.DataFrame,
    column: str,
    value_key: str,
    step_key: str | None,
    name_key: str | None,
    *,
    largest: bool,
    step: str = "step",
) -> dict[str, Any]:
    """The largest (or smallest) finite value of ``column`` with its step and the row's name."""
    out: dict[str, Any] = {value_key: None}
    if step_key:
        out[step_key] = None
    if name_key:
        out[name_key] = None
    if not len(frame) or column not in frame:
        return out
    values = pd.to_numeric(frame[column], errors="coerce")
    values = values[np.isfinite(values)]
    if not len(values):
        return out
    idx = values.idxmax() if largest else values.idxmin()
    out[value_key] = float(values[idx])
    if step_key and step in frame:
        out[step_key] = int(frame[step].loc[idx])
    if name_key:
        name_col = next((c for c in ("bus", "element") if c in frame), None)
        if name_col:
            out[name_key] = str(frame.at[idx, name_col])
    return out
