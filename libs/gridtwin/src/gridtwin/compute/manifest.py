"""The run manifest (``run.json``): what ran, with what inputs and software, how long, what failed."""

from __future__ import annotations

import platform
from datetime import datetime
from functools import lru_cache
from importlib import metadata
from typing import Any

__all__ = ["build_manifest", "software_versions"]

_PACKAGES = (
    "gridtwin",
    "opendssdirect.py",
    "dss-python",
    "dask",
    "distributed",
    "numpy",
    "pandas",
    "pyarrow",
)


def _engine_version() -> str:
    try:
        from gridtwin.powerflow.engine import engine_version

        return engine_version()
    except Exception as exc:  # a manifest must be written even if the engine cannot be asked
        return f"unknown ({type(exc).__name__})"


@lru_cache(maxsize=1)
def software_versions() -> dict[str, str]:
    """Versions of the packages a result depends on, and the OpenDSS engine's own version string."""
    versions: dict[str, str] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["opendss_engine"] = _engine_version()
    return versions


def build_manifest(
    *,
    job_id: str,
    kind: str,
    status: str,
    params: dict[str, Any],
    feeders: dict[str, dict[str, Any]],
    started: datetime | None,
    finished: datetime | None,
    runs: list[dict[str, Any]],
) -> dict[str, Any]:
    """``feeders``: per feeder ``{status, version, timings_s, worker, peak_rss_mb, error}``; ``runs``:
    one entry per time the job was (re)started in a runner (started/finished/wall/tasks submitted)."""
    failures = [
        {"feeder": name, "error": info.get("error") or []}
        for name, info in sorted(feeders.items())
        if info.get("status") == "failed"
    ]
    workers: dict[str, float] = {}
    for info in feeders.values():
        worker = str(info.get("worker") or "")
        if worker:
            workers[worker] = max(workers.get(worker, 0.0), float(info.get("peak_rss_mb") or 0.0))
    seeds = {k: v for k, v in params.items() if "seed" in k.lower()}
    return {
        "job_id": job_id,
        "kind": kind,
        "status": status,
        "spec": params.get("spec"),
        "params": params,
        "seeds": seeds,
        "versions": software_versions(),
        "started_utc": started.isoformat() if started else None,
        "finished_utc": finished.isoformat() if finished else None,
        "runs": runs,
        "feeders": dict(sorted(feeders.items())),
        "failures": failures,
        "worker_peak_rss_mb": dict(sorted(workers.items())),
    }
