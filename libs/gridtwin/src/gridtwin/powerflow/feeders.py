"""Power flow on a feeder from a ``FeederSource``: the snapshot path every caller (the PowerFlow
service, validation against another tool, the CLI's local mode) takes.

The engine's script cache is keyed by the feeder version, so a warm snapshot costs one version check
at the source and one solve: no export, no script writing, no recompile.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridtwin.grid.source import FeederSource, check_feeder_id
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.results import SnapshotResult
from gridtwin.powerflow.solver import SolverSettings

__all__ = ["FeederSnapshot", "snapshot_feeder"]


@dataclass(frozen=True)
class FeederSnapshot:
    result: SnapshotResult
    version: str  # the feeder version solved
    recompiled: bool  # False: the engine held this version already (a warm solve)


def snapshot_feeder(
    engine: Engine,
    source: FeederSource,
    feeder: str,
    limits: ViolationLimits,
    *,
    solver: SolverSettings | None = None,
) -> FeederSnapshot:
    """Solve ``feeder`` as stored now in snapshot mode and judge it against ``limits``; ``solver``:
    iteration caps and tolerance (``gridtwin.powerflow.solver``; default: the built-in defaults)."""
    check_feeder_id(feeder)
    version = source.feeder_version(feeder)
    # Load and solve as one sequence: no other caller's circuit (or settings) in between.
    with engine.solving_with(solver):
        recompiled = engine.load_feeder(feeder, version, lambda: source.feeder_model(feeder))
        loaded = engine.loaded
        result = engine.snapshot(limits)
    solved = loaded[1] if loaded else version
    return FeederSnapshot(result, solved, recompiled)
