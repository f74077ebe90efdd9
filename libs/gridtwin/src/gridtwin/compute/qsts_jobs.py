"""QSTS jobs as a planner uses them: run over a feeder selection, follow, read results, compare.

The PowerFlow service turns protobuf into these calls and back; nothing here knows gRPC. Jobs run on
the process's ``JobRunner`` (the QSTS kind registered on it), results come from ``QstsResultStore``.
Every call takes the caller's ``principal`` (None: a trusted caller): jobs of sites it does not hold
do not exist for it, and neither do their results (``JobStore``, ``JobRunner.submit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from gridtwin.access.principal import Principal
from gridtwin.compute.qsts_task import QSTS_KIND, qsts_job_params, qsts_kind
from gridtwin.compute.runner import JobRunner
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.source import select_feeders
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.powerflow.solver import SolverSettings
from gridtwin.store.jobs import JobRecord, JobStore, TaskRecord
from gridtwin.store.results import QstsResultStore
from gridtwin.twin.records import FEEDER_RE

__all__ = ["LEVELS", "FeederSelection", "QstsJobs", "job_eta_s", "qsts_spec"]

LEVELS = ("feeders", "elements", "buses", "hourly")
COMPARE_LEVELS = ("feeders", "elements")


@dataclass(frozen=True)
class FeederSelection:
    """Which feeders a request means: explicit ids, or a site and/or an fnmatch pattern."""

    feeders: Sequence[str] = ()
    site: str = ""
    glob: str = ""

    @property
    def given(self) -> bool:
        return bool(self.feeders or self.site or self.glob)


def qsts_spec(
    hours: int,
    start_hour: int,
    step_minutes: int,
    ambient_c: float | None,
    limits: ViolationLimits,
    *,
    solver: SolverSettings | None = None,
) -> QstsSpec:
    """A checked ``QstsSpec`` from a request's period (0 = the default: a year of hourly steps) and
    solver settings (``None``: the built-in defaults)."""
    hours = int(hours) or 8760
    step = int(step_minutes) or 60
    details = []
    if step not in (15, 60):
        details.append(ErrorDetail(where="period.step_minutes", message=f"must be 15 or 60, not {step}"))
    if not 1 <= hours <= 8784:
        details.append(ErrorDetail(where="period.hours", message=f"must be 1..8784, not {hours}"))
    if not 0 <= start_hour < 8784:
        details.append(ErrorDetail(where="period.start_hour", message=f"must be 0..8783, not {start_hour}"))
    if ambient_c is not None and not -60.0 <= ambient_c <= 60.0:
        details.append(ErrorDetail(where="ambient_c", message=f"{ambient_c} degC is not a plausible ambient"))
    if details:
        raise InputError("bad QSTS period", details)
    chosen = solver or SolverSettings()
    chosen.check("solver")
    if ambient_c is None:
        return QstsSpec(hours=hours, start_hour=start_hour, step_minutes=step, limits=limits, solver=chosen)
    return QstsSpec(
        hours=hours,
        start_hour=start_hour,
        step_minutes=step,
        limits=limits,
        ambient_c=ambient_c,
        solver=chosen,
    )


def job_eta_s(job: JobRecord) -> float:
    """Seconds to go at the rate so far; -1 when there is no rate yet or the job is not running."""
    if job.status != "running" or job.started_at is None or job.done_tasks + job.failed_tasks == 0:
        return -1.0
    elapsed = (datetime.now(job.started_at.tzinfo) - job.started_at).total_seconds()
    finished = job.done_tasks + job.failed_tasks
    return max(0.0, elapsed / finished * (job.total_tasks - finished))


def _check_job_id(job_id: str | None) -> str | None:
    if job_id and not FEEDER_RE.fullmatch(job_id):
        raise InputError(
            "bad job id", [ErrorDetail(where="job_id", message="must match [A-Za-z0-9_-]{1,64}")]
        )
    return job_id or None


class QstsJobs:
    """QSTS jobs on ``runner`` (its QSTS kind is registered here), results in ``results``."""

    def __init__(self, runner: JobRunner, results: QstsResultStore, profile_root: Path) -> None:
        self.runner = runner
        self.jobs: JobStore = runner.jobs
        self.results = results
        runner.register(qsts_kind(results, profile_root))

    def select(self, selection: FeederSelection) -> list[str]:
        return select_feeders(self.runner.feeders, selection.feeders, selection.site, selection.glob)

    def run(
        self,
        selection: FeederSelection,
        spec: QstsSpec,
        *,
        job_id: str | None = None,
        scenario: Mapping[str, Any] | None = None,
        scenario_id: str = "",
        extra: Mapping[str, Any] | None = None,
        feeders: Sequence[str] | None = None,
        principal: Principal | None = None,
        quota: bool = True,
        site: str | None = None,
    ) -> JobRecord:
        """Start (or resume ``job_id``) a QSTS job; ``feeders`` when the caller chose them already
        (``site``: their sites, ``JobRunner.job_site``, when worked out already; ``quota``: False for
        the later jobs of a sweep, admitted as one)."""
        chosen = list(feeders) if feeders is not None else self.select(selection)
        more = {"selection": {"site": selection.site, "feeder_glob": selection.glob}, **(extra or {})}
        params = qsts_job_params(chosen, spec, extra=more, scenario=scenario, scenario_id=scenario_id)
        return self.runner.submit(
            QSTS_KIND,
            chosen,
            params,
            job_id=_check_job_id(job_id),
            principal=principal,
            quota=quota,
            site=site,
        )

    def get(
        self, job_id: str, *, all_tasks: bool = False, principal: Principal | None = None
    ) -> tuple[JobRecord, list[TaskRecord]]:
        """The job and its tasks (all, or the failed ones)."""
        job = self.jobs.get(job_id, principal=principal)
        tasks = self.jobs.tasks(job.id) if all_tasks else self.jobs.tasks(job.id, status="failed")
        return job, tasks

    def list(
        self,
        *,
        status: str | None,
        kind: str | None,
        limit: int,
        offset: int,
        principal: Principal | None = None,
    ) -> tuple[list[JobRecord], int]:
        limit = limit or 50
        if not 1 <= limit <= 1000 or offset < 0:
            raise InputError("bad paging", [ErrorDetail(where="limit", message="limit 1..1000, offset >= 0")])
        return self.jobs.list(
            status=status or None, kind=kind or None, limit=limit, offset=offset, principal=principal
        )

    def cancel(self, job_id: str, *, principal: Principal | None = None) -> JobRecord:
        self.jobs.get(job_id, principal=principal)  # NotFoundError before anything else
        return self.runner.cancel(job_id, principal=principal)

    def table(
        self,
        job_id: str,
        level: str,
        *,
        feeder: str = "",
        kind: str = "",
        order_by: str = "",
        descending: bool = True,
        limit: int = 100,
        offset: int = 0,
        principal: Principal | None = None,
    ) -> tuple[pd.DataFrame, int]:
        """One page of a job's results at ``level`` (feeders, elements, buses, hourly) and the total."""
        self.jobs.get(job_id, principal=principal)
        level = level or "feeders"
        if level not in LEVELS:
            raise InputError("bad level", [ErrorDetail(where="level", message=f"one of {', '.join(LEVELS)}")])
        limit = limit or 100
        # Only pass order_by when asked: each level has its own headline default.
        paging: dict[str, Any] = {"limit": limit, "offset": offset, "descending": descending}
        if order_by:
            paging["order_by"] = order_by
        if level == "feeders":
            return self.results.feeders(job_id, feeder=feeder or None, **paging)
        if level == "elements":
            return self.results.elements(job_id, feeder=feeder or None, kind=kind or None, **paging)
        if not feeder:
            raise InputError(
                "feeder is required", [ErrorDetail(where="feeder", message=f"needed for {level}")]
            )
        if level == "buses":
            return self.results.buses(job_id, feeder, **paging)
        hourly = self.results.hourly(job_id, feeder)
        return hourly.iloc[offset : offset + limit], len(hourly)

    def compare(
        self,
        job_id: str,
        base_job_id: str,
        level: str,
        *,
        order_by: str = "",
        limit: int = 100,
        offset: int = 0,
        principal: Principal | None = None,
    ) -> tuple[pd.DataFrame, int]:
        level = level or "feeders"
        if level not in COMPARE_LEVELS:
            raise InputError("bad level", [ErrorDetail(where="level", message="feeders or elements")])
        if not base_job_id:
            raise InputError("base job is required", [ErrorDetail(where="base_job_id", message="empty")])
        self.jobs.get(job_id, principal=principal)
        self.jobs.get(base_job_id, principal=principal)
        return self.results.compare(
            job_id, base_job_id, level=level, order_by=order_by or None, limit=limit or 100, offset=offset
        )
