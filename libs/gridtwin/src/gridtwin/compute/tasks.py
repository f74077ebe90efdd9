"""What every feeder task returns, and the facts about the worker it ran on (any job kind)."""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gridtwin.errors import GridTwinError

__all__ = ["TaskOutcome", "failed_outcome", "peak_rss_mb", "worker_name"]


@dataclass
class TaskOutcome:
    """What a worker returns. ``error`` set means the feeder failed (details, not retried)."""

    feeder: str
    version: str
    summary: dict[str, Any]
    elements: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    worker: str = ""
    peak_rss_mb: float = 0.0
    error: list[dict[str, str]] | None = None
    info: dict[str, Any] = field(default_factory=dict)  # extra facts for the run manifest (scenario)

    @property
    def ok(self) -> bool:
        return self.error is None


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak) / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)  # bytes vs KiB


def worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except ValueError:  # not on a Dask worker (tests call task functions directly)
        return f"pid-{os.getpid()}"


def failed_outcome(feeder: str, version: str, exc: GridTwinError, timings: dict[str, float]) -> TaskOutcome:
    """A feeder that failed on its input: the error's own message first, then its details."""
    head = {"where": feeder, "message": str(exc.message), "code": type(exc).__name__}
    details = [head, *(d.to_dict() for d in exc.details)]
    return TaskOutcome(
        feeder=feeder,
        version=version,
        summary={},
        elements=pd.DataFrame(),
        timings=timings,
        worker=worker_name(),
        peak_rss_mb=peak_rss_mb(),
        error=details,
    )
