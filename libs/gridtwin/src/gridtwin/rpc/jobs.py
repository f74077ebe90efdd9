"""Jobs on the wire: a ``JobRecord`` (and its tasks) as the ``gridtwin.v1.Job`` message, shared by every
service that runs jobs (PowerFlow's QSTS, HostingCapacity's stochastic runs)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gridtwin.rpc.v1 import powerflow_pb2
from gridtwin.store.jobs import JobRecord, TaskRecord

__all__ = ["job_to_proto"]


def _iso(when: datetime | None) -> str:
    return when.isoformat() if when is not None else ""


def _task_to_proto(task: TaskRecord) -> Any:
    return powerflow_pb2.JobTask(
        feeder=task.task_key,
        status=task.status,
        attempts=task.attempts,
        error_json=json.dumps(task.error) if task.error else "",
        duration_s=task.duration_s or 0.0,
        worker=task.worker,
    )


def job_to_proto(job: JobRecord, tasks: list[TaskRecord], eta_s: float = -1.0) -> Any:
    return powerflow_pb2.Job(
        id=job.id,
        kind=job.kind,
        status=job.status,
        site=job.site,
        params_json=json.dumps(job.params, sort_keys=True),
        created_at=_iso(job.created_at),
        started_at=_iso(job.started_at),
        finished_at=_iso(job.finished_at),
        total_tasks=job.total_tasks,
        done_tasks=job.done_tasks,
        failed_tasks=job.failed_tasks,
        message=job.message,
        eta_s=eta_s,
        tasks=[_task_to_proto(t) for t in tasks],
    )
