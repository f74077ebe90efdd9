"""Snapshot results as tables (one row per bus-node, one per element) and their JSON form.

Nothing here speaks OpenDSS: the engine adapter fills these tables with our unit-suffixed names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.solver import EffectiveSolver

__all__ = [
    "ELEMENT_COLUMNS",
    "VIOLATION_COLUMNS",
    "VIOLATION_KINDS",
    "VOLTAGE_COLUMNS",
    "SnapshotResult",
    "find_violations",
]

# Column types declared in one place (pandapower style result tables).
VOLTAGE_COLUMNS: dict[str, str] = {
    "bus": "str",  # bus name as in the source model, lower case
    "node": "int64",  # OpenDSS node number (1, 2, 3 = phases A, B, C)
    "pu": "float64",  # magnitude over the line-to-neutral base (0 where the bus has no base)
    "kv": "float64",  # magnitude, line-to-neutral
    "angle_deg": "float64",
    "base_kv": "float64",  # line-to-neutral base, 0 when the bus has none
}
ELEMENT_COLUMNS: dict[str, str] = {
    "name": "str",  # Class.name, lower case
    "element_class": "str",  # line, transformer, capacitor, reactor, ...
    "current_a": "float64",  # max conductor current at terminal 1
    "loading_pct": "float64",  # of the normal rating (transformers: kVA through winding 1 / kVA rating)
    "loading_emerg_pct": "float64",  # of the emergency rating
    "losses_kw": "float64",
    "losses_kvar": "float64",
    "p_kw": "float64",  # power into terminal 1
    "q_kvar": "float64",
}
VIOLATION_COLUMNS: dict[str, str] = {
    "kind": "str",
    "element": "str",  # bus.node or Class.name
    "value": "float64",  # pu or %
    "limit": "float64",
}
VIOLATION_KINDS = (
    "range_a_low",
    "range_a_high",
    "range_b_low",
    "range_b_high",
    "thermal_normal",
    "thermal_emergency",
)
# Nodes above 3 are neutrals (or split-phase secondary conductors' neutral): not judged on voltage.
_MAX_PHASE_NODE = 3


def find_violations(voltages: pd.DataFrame, elements: pd.DataFrame, limits: ViolationLimits) -> pd.DataFrame:
    """Every ANSI C84.1 range A/B breach per bus-node and every thermal overload per element.

    A node below range B is also below range A: both rows are reported, because planning counts
    hours outside each range separately. Nodes without a voltage base and neutral nodes are skipped.
    """
    kinds: list[str] = []
    names: list[Any] = []
    values: list[float] = []
    limit_values: list[float] = []

    def add(kind: str, labels: list[Any], found: npt.NDArray[np.float64], limit: float) -> None:
        kinds.extend([kind] * len(labels))
        names.extend(labels)
        values.extend(found.tolist())
        limit_values.extend([limit] * len(labels))

    pu = voltages["pu"].to_numpy(dtype=np.float64)
    node = voltages["node"].to_numpy()
    judged = (voltages["base_kv"].to_numpy(dtype=np.float64) > 0) & (node >= 1) & (node <= _MAX_PHASE_NODE)
    bus = voltages["bus"].to_numpy()
    for kind, breach, limit in (
        ("range_a_low", pu < limits.range_a_min_pu, limits.range_a_min_pu),
        ("range_a_high", pu > limits.range_a_max_pu, limits.range_a_max_pu),
        ("range_b_low", pu < limits.range_b_min_pu, limits.range_b_min_pu),
        ("range_b_high", pu > limits.range_b_max_pu, limits.range_b_max_pu),
    ):
        (rows,) = np.nonzero(judged & breach)
        if len(rows):
            add(kind, [f"{bus[i]}.{node[i]}" for i in rows], pu[rows], limit)
    element_names = elements["name"].to_numpy()
    for kind, column, limit in (
        ("thermal_normal", "loading_pct", limits.thermal_normal_pct),
        ("thermal_emergency", "loading_emerg_pct", limits.thermal_emergency_pct),
    ):
        loading = elements[column].to_numpy(dtype=np.float64)
        (rows,) = np.nonzero(np.isfinite(loading) & (loading > limit))
        if len(rows):
            add(kind, element_names[rows].tolist(), loading[rows], limit)
    return pd.DataFrame(
        {
            "kind": pd.Series(kinds, dtype="str"),
            "element": pd.Series(names, dtype="str"),
            "value": np.array(values, dtype=np.float64),
            "limit": np.array(limit_values, dtype=np.float64),
        }
    )


def _column_values(frame: pd.DataFrame, column: str) -> list[Any]:
    """A column as plain Python values (JSON-ready: no numpy scalars, NaN/inf as None)."""
    values = frame[column].to_numpy()
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            out = values.astype(object)
            out[~finite] = None
            return list(out.tolist())
    return list(values.tolist())


def _voltage_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    # Dict literals rather than dict(zip(...)): three times faster on feeders with thousands of nodes.
    cols = [_column_values(frame, c) for c in ("bus", "node", "pu", "angle_deg")]
    return [{"bus": b, "node": n, "pu": p, "angle_deg": a} for b, n, p, a in zip(*cols, strict=True)]


def _element_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cols = [
        _column_values(frame, c)
        for c in ("name", "loading_pct", "current_a", "loading_emerg_pct", "losses_kw")
    ]
    return [
        {"name": n, "loading_pct": ld, "current_a": i, "loading_emerg_pct": le, "losses_kw": lk}
        for n, ld, i, le, lk in zip(*cols, strict=True)
    ]


def _violation_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cols = [_column_values(frame, c) for c in ("kind", "element", "value", "limit")]
    return [{"kind": k, "element": e, "value": v, "limit": lim} for k, e, v, lim in zip(*cols, strict=True)]


@dataclass(frozen=True)
class SnapshotResult:
    """One solved snapshot. ``voltages``/``elements``/``violations`` follow the ``*_COLUMNS`` specs."""

    feeder: str
    version: str
    converged: bool
    iterations: int
    control_iterations: int
    losses_kw: float
    losses_kvar: float
    line_losses_kw: float
    transformer_losses_kw: float
    source_kw: float  # delivered by the source(s): positive when the feeder imports
    source_kvar: float
    voltages: pd.DataFrame
    elements: pd.DataFrame
    violations: pd.DataFrame
    limits: ViolationLimits = field(default_factory=ViolationLimits)
    message: str = ""  # why the solution is not trustworthy (empty when converged)
    solve_ms: float = 0.0
    solver: EffectiveSolver | None = None  # the iteration caps and tolerance the solve used

    def to_dict(self) -> dict[str, Any]:
        """The CLI JSON shape (docs/CONTRACTS.md "Power flow")."""
        return {
            "feeder": self.feeder,
            "converged": self.converged,
            "iterations": self.iterations,
            "losses_kw": self.losses_kw,
            "losses_kvar": self.losses_kvar,
            "source_kw": self.source_kw,
            "source_kvar": self.source_kvar,
            "voltages": _voltage_records(self.voltages),
            "elements": _element_records(self.elements),
            "violations": _violation_records(self.violations),
            "line_losses_kw": self.line_losses_kw,
            "transformer_losses_kw": self.transformer_losses_kw,
            "message": self.message,
            "solver": self.solver.to_dict() if self.solver else None,
        }
