"""Power flow on OpenDSS: the engine adapter (one per process), snapshot results and limits."""

from gridtwin.powerflow.engine import Engine, get_engine
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.results import SnapshotResult, find_violations

__all__ = ["Engine", "SnapshotResult", "ViolationLimits", "find_violations", "get_engine"]
