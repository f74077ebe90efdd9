"""Hosting capacity (DOMAIN.md): criteria, worst-case snapshots, per-bus exact and fast methods,
connection checks. The stochastic (Monte Carlo) method lives in ``stochastic``.

Modules: ``circuit`` (what a study needs from the engine, in study words: ``StudyCircuit``, implemented
by ``gridtwin.powerflow.der_study``), ``criteria`` (what counts as a violation), ``snapshots`` (which
operating points), ``perbus`` (exact, bisection), ``sensitivity`` (fast), ``connection`` (answers
from stored per-bus results), ``types`` (result schema).
"""

from __future__ import annotations

from gridtwin.hosting.criteria import CRITERIA, Baseline, Criteria, Violation, capture_baseline, evaluate
from gridtwin.hosting.snapshots import DEFAULT_SNAPSHOTS, Snapshot, apply_snapshot, snapshots_for
from gridtwin.hosting.types import FAST_COLUMNS, PERBUS_COLUMNS, ConnectionAnswer

__all__ = [
    "CRITERIA",
    "DEFAULT_SNAPSHOTS",
    "FAST_COLUMNS",
    "PERBUS_COLUMNS",
    "Baseline",
    "ConnectionAnswer",
    "Criteria",
    "Snapshot",
    "Violation",
    "apply_snapshot",
    "capture_baseline",
    "evaluate",
    "snapshots_for",
]
