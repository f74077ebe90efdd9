"""The PowerFlow service's QSTS jobs: RunQSTS, GetJob, ListJobs, CancelJob, results and comparison.

Thin: ``gridtwin.compute.JobRunner`` runs jobs on Dask, ``gridtwin.store.jobs.JobStore`` and
``gridtwin.store.results.QstsResultStore`` hold their state and results. This module turns protobuf
into those calls and back. The Dask cluster starts with the first job (or at start-up when a job was
left unfinished by a restart), not with the service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import grpc
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from gridtwin.compute import JobEvents, JobRunner, make_client
from gridtwin.config import Settings
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.rpc.errors import error_from_rpc_error
from gridtwin.rpc.jobs import job_to_proto
from gridtwin.rpc.selection import select_feeders
from gridtwin.rpc.v1 import powerflow_pb2, twin_registry_pb2
from gridtwin.store.jobs import JobRecord, JobStore
from gridtwin.store.redis import make_redis
from gridtwin.store.results import QstsResultStore
from gridtwin.twin.records import FEEDER_RE

__all__ = ["QstsJobs", "job_to_proto", "spec_from_request", "table_to_proto"]

log = logging.getLogger(__name__)

REGISTRY_TIMEOUT_S = 300.0
LEVELS = ("feeders", "elements", "buses", "hourly")


def spec_from_request(period: Any, ambient_c: float | None, limits: ViolationLimits) -> QstsSpec:
    """A ``QstsSpec`` from the request's period, defaults for zeros, checked."""
    hours = int(period.hours) or 8760
    start = int(period.start_hour)
    step = int(period.step_minutes) or 60
    details = []
    if step not in (15, 60):
        details.append(ErrorDetail(where="period.step_minutes", message=f"must be 15 or 60, not {step}"))
    if not 1 <= hours <= 8784:
        details.append(ErrorDetail(where="period.hours", message=f"must be 1..8784, not {hours}"))
    if not 0 <= start < 8784:
        details.append(ErrorDetail(where="period.start_hour", message=f"must be 0..8783, not {start}"))
    if ambient_c is not None and not -60.0 <= ambient_c <= 60.0:
        details.append(ErrorDetail(where="ambient_c", message=f"{ambient_c} degC is not a plausible ambient"))
    if details:
        raise InputError("bad QSTS period", details)
    if ambient_c is None:
        return QstsSpec(hours=hours, start_hour=start, step_minutes=step, limits=limits)
    return QstsSpec(hours=hours, start_hour=start, step_minutes=step, limits=limits, ambient_c=ambient_c)


def table_to_proto(frame: pd.DataFrame, total: int, level: str) -> Any:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return powerflow_pb2.ResultTable(arrow_ipc=sink.getvalue().to_pybytes(), total=total, level=level)


def _eta(job: JobRecord) -> float:
    """Seconds to go at the rate so far; -1 when there is no rate yet or the job is not running."""
    if job.status != "running" or job.started_at is None or job.done_tasks + job.failed_tasks == 0:
        return -1.0
    elapsed = (datetime.now(job.started_at.tzinfo) - job.started_at).total_seconds()
    finished = job.done_tasks + job.failed_tasks
    return max(0.0, elapsed / finished * (job.total_tasks - finished))


class QstsJobs:
    """QSTS job handlers. ``registry`` is a TwinRegistry stub (feeder lists and exports)."""

    def __init__(
        self,
        registry: Any,
        engine: sa.Engine,
        settings: Settings,
        limits: ViolationLimits,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._registry = registry
        self._settings = settings
        self._limits = limits
        self.jobs = JobStore(engine)
        self.results = QstsResultStore(engine, settings.data_dir / "results")
        self._client_factory = client_factory or (lambda: make_client(settings))
        self._runner: JobRunner | None = None
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._registry, method)(request, timeout=REGISTRY_TIMEOUT_S)
        except grpc.RpcError as err:
            raise error_from_rpc_error(err) from err

    def _export(self, feeder: str) -> bytes:
        reply = self._call("ExportFeeder", twin_registry_pb2.ExportFeederRequest(feeder=feeder))
        return bytes(reply.feeder_model_ipc)

    def runner(self) -> JobRunner:
        with self._lock:
            if self._runner is None:
                self._runner = JobRunner(
                    self.jobs,
                    self.results,
                    JobEvents(make_redis(self._settings.redis_url)),
                    self._client_factory,
                    self._export,
                    self._settings.data_dir / "profiles",
                    retries=self._settings.task_retries,
                )
            return self._runner

    def resume_in_background(self) -> None:
        """Resume jobs a restart left unfinished (finished feeders are skipped), off the start-up path."""

        def resume() -> None:
            try:
                if self.jobs.unfinished():
                    self.runner().resume_unfinished()
            except Exception:  # a broken job must not take the service down; it stays listed
                log.exception("resuming unfinished jobs failed")

        threading.Thread(target=resume, name="qsts-resume", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()

    def _select(self, request: Any) -> list[str]:
        return select_feeders(
            lambda site: self._call("ListFeeders", twin_registry_pb2.ListFeedersRequest(site=site)),
            request.feeders,
            str(request.site),
            str(request.feeder_glob),
        )

    # -- handlers ---------------------------------------------------------------------------

    def run(self, request: Any) -> Any:
        ambient = float(request.ambient_c) if request.HasField("ambient_c") else None
        spec = spec_from_request(request.period, ambient, self._limits)
        job_id = str(request.job_id) or None
        if job_id is not None and not FEEDER_RE.fullmatch(job_id):
            raise InputError(
                "bad job id", [ErrorDetail(where="job_id", message="must match [A-Za-z0-9_-]{1,64}")]
            )
        feeders = self._select(request)
        job = self.runner().submit_qsts(
            feeders,
            spec,
            site=str(request.site),
            job_id=job_id,
            params_extra={"selection": {"site": request.site, "feeder_glob": request.feeder_glob}},
        )
        return job_to_proto(job, [])

    def get(self, request: Any) -> Any:
        job = self.jobs.get(str(request.job_id))
        tasks = self.jobs.tasks(job.id) if request.with_tasks else self.jobs.tasks(job.id, status="failed")
        return job_to_proto(job, tasks, _eta(job))

    def list(self, request: Any) -> Any:
        limit = int(request.limit) or 50
        if not 1 <= limit <= 1000 or request.offset < 0:
            raise InputError("bad paging", [ErrorDetail(where="limit", message="limit 1..1000, offset >= 0")])
        jobs, total = self.jobs.list(
            status=str(request.status) or None,
            kind=str(request.kind) or None,
            limit=limit,
            offset=int(request.offset),
        )
        return powerflow_pb2.ListJobsResponse(jobs=[job_to_proto(j, [], _eta(j)) for j in jobs], total=total)

    def cancel(self, request: Any) -> Any:
        job_id = str(request.job_id)
        self.jobs.get(job_id)  # NotFoundError before anything else
        job = self.runner().cancel(job_id) if self._runner is not None else self.jobs.cancel(job_id)
        return job_to_proto(job, [])

    def results_table(self, request: Any) -> Any:
        job_id = str(request.job_id)
        self.jobs.get(job_id)
        level = str(request.level) or "feeders"
        if level not in LEVELS:
            raise InputError("bad level", [ErrorDetail(where="level", message=f"one of {', '.join(LEVELS)}")])
        feeder = str(request.feeder) or None
        order = str(request.order_by) or None
        limit = int(request.limit) or 100
        offset = int(request.offset)
        descending = not request.ascending
        # Only pass order_by when asked: each level has its own headline default.
        paging: dict[str, Any] = {"limit": limit, "offset": offset, "descending": descending}
        if order:
            paging["order_by"] = order
        if level == "feeders":
            frame, total = self.results.feeders(job_id, feeder=feeder, **paging)
        elif level == "elements":
            frame, total = self.results.elements(
                job_id, feeder=feeder, kind=str(request.kind) or None, **paging
            )
        else:
            if feeder is None:
                raise InputError(
                    "feeder is required", [ErrorDetail(where="feeder", message=f"needed for {level}")]
                )
            if level == "buses":
                frame, total = self.results.buses(job_id, feeder, **paging)
            else:
                hourly = self.results.hourly(job_id, feeder)
                total = len(hourly)
                frame = hourly.iloc[offset : offset + limit]
        return table_to_proto(frame, total, level)

    def compare(self, request: Any) -> Any:
        level = str(request.level) or "feeders"
        if level not in ("feeders", "elements"):
            raise InputError("bad level", [ErrorDetail(where="level", message="feeders or elements")])
        job_id, base = str(request.job_id), str(request.base_job_id)
        if not base:
            raise InputError("base job is required", [ErrorDetail(where="base_job_id", message="empty")])
        self.jobs.get(job_id)
        self.jobs.get(base)
        frame, total = self.results.compare(
            job_id,
            base,
            level=level,
            order_by=str(request.order_by) or None,
            limit=int(request.limit) or 100,
            offset=int(request.offset),
        )
        return table_to_proto(frame, total, level)
