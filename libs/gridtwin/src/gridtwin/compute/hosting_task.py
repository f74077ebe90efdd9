"""Stochastic hosting capacity as a feeder job: the per-feeder task a Dask worker runs, its spec as
JSON (a job's stored params, so a restart resumes it), and the job kind for ``JobRunner``.

The worker compiles the feeder on its warm engine, runs every sample (``hosting.stochastic``), writes
the per-sample tables as Parquet and returns the summary; the runner writes the summary row in the
checkpoint transaction. A ``GridTwinError`` (a feeder that does not compile or whose base case does
not converge) fails that feeder alone, with its details; samples that fail inside a feeder are
recorded in its summary and the rest go on.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gridtwin.compute.kinds import JobKind, TaskFactory
from gridtwin.compute.tasks import TaskOutcome, failed_outcome, peak_rss_mb, worker_name
from gridtwin.errors import ErrorDetail, GridTwinError, InputError
from gridtwin.hosting.criteria import Criteria
from gridtwin.hosting.stochastic import StochasticSpec
from gridtwin.powerflow.solver import SolverSettings

__all__ = [
    "STOCHASTIC_KIND",
    "StochasticTask",
    "run_feeder_stochastic",
    "stochastic_kind",
    "stochastic_params",
    "stochastic_spec_from_json",
    "stochastic_spec_to_json",
]

STOCHASTIC_KIND = "hosting_stochastic"


@dataclass(frozen=True)
class StochasticTask:
    job_id: str
    feeder: str
    model_ipc: bytes
    spec: StochasticSpec
    results_root: str
    solver: SolverSettings = field(default_factory=SolverSettings)


def stochastic_spec_to_json(spec: StochasticSpec) -> dict[str, Any]:
    return {
        "samples": spec.samples,
        "placement": spec.placement,
        "steps_pct": [float(s) for s in spec.steps_pct],
        "seed": int(spec.seed),
        "full_curve": bool(spec.full_curve),
        "inverter": spec.inverter,
        "criteria": dataclasses.asdict(spec.criteria),
    }


def stochastic_spec_from_json(data: dict[str, Any]) -> StochasticSpec:
    known = {"samples", "placement", "steps_pct", "seed", "full_curve", "inverter", "criteria"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(
            "unknown spec fields", [ErrorDetail(where=f"spec.{k}", message="unknown") for k in unknown]
        )
    kwargs: dict[str, Any] = {
        k: data[k] for k in ("samples", "placement", "seed", "full_curve", "inverter") if k in data
    }
    if "steps_pct" in data:
        kwargs["steps_pct"] = tuple(float(s) for s in data["steps_pct"])
    if "criteria" in data:
        try:
            kwargs["criteria"] = Criteria(**data["criteria"])
        except TypeError as exc:
            raise InputError("bad criteria", [ErrorDetail(where="spec.criteria", message=str(exc))]) from exc
    spec = StochasticSpec(**kwargs)
    spec.check()
    return spec


def stochastic_params(spec: StochasticSpec, solver: SolverSettings | None = None) -> dict[str, Any]:
    """A stochastic job's stored params: the spec and the solver settings (kept for a resumed job)."""
    return {"spec": stochastic_spec_to_json(spec), "solver": (solver or SolverSettings()).to_json()}


@functools.lru_cache(maxsize=8)
def _files_store(results_root: str) -> Any:
    """A hosting store used for its files only (workers never touch SQL; the engine never connects)."""
    import sqlalchemy as sa

    from gridtwin.store.hosting import HostingStore

    return HostingStore(sa.create_engine("sqlite://"), Path(results_root))


def run_feeder_stochastic(task: StochasticTask) -> TaskOutcome:
    from gridtwin.grid.model import FeederModel
    from gridtwin.hosting.stochastic import run_chunk, summarize
    from gridtwin.powerflow.engine import get_engine

    start = time.perf_counter()
    version = ""
    try:
        model = FeederModel.from_ipc(task.model_ipc)
        version = model.version
        chunk = run_chunk(get_engine(), model, task.spec, range(task.spec.samples), solver=task.solver)
        summary = summarize(chunk, task.spec.steps_pct).to_dict()
        summary["version"] = version
        _files_store(task.results_root).write_samples(task.job_id, task.feeder, chunk.steps, chunk.capacities)
    except GridTwinError as exc:
        return failed_outcome(task.feeder, version, exc, {"total": time.perf_counter() - start})
    return TaskOutcome(
        feeder=task.feeder, version=version, summary=summary, elements=pd.DataFrame(),
        timings={**chunk.timings_s, "total": time.perf_counter() - start}, worker=worker_name(),
        peak_rss_mb=peak_rss_mb(),
    )  # fmt: skip


def stochastic_kind(store: Any) -> JobKind:
    """The stochastic hosting ``JobKind``: a ``HostingStore`` gets each done feeder's summary row in
    its checkpoint, its sample tables (written by the worker) and the run manifest."""

    def prepare(job_id: str, params: Mapping[str, Any]) -> TaskFactory:
        spec = stochastic_spec_from_json(dict(params.get("spec") or {}))
        # Jobs stored before solver settings existed get the built-in defaults.
        solver = SolverSettings.from_json(params.get("solver"))

        def make_task(feeder: str, ipc: bytes) -> StochasticTask:
            return StochasticTask(job_id, feeder, ipc, spec, str(store.root), solver)

        return make_task

    def rows_writer(job_id: str, outcome: TaskOutcome) -> Any:
        return store.stochastic_rows_writer(job_id, outcome.feeder, outcome.summary)

    return JobKind(STOCHASTIC_KIND, prepare, run_feeder_stochastic, rows_writer, store)
