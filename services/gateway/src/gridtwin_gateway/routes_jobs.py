"""QSTS jobs: submit, list, get, cancel, results with paging, worst-N, comparison, and live events.

HTTP <-> the PowerFlow service's job RPCs. Result tables arrive as Arrow IPC and leave as JSON rows.
``/api/v1/jobs/{id}/events`` is a WebSocket that forwards the job's Redis pub/sub events (the last
one first, so a late subscriber sees where the job is) until the job ends or the client leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Depends, Path, Query, Request, WebSocket, WebSocketDisconnect
from gridtwin.compute.events import channel as events_channel
from gridtwin.compute.events import last_key
from gridtwin.config import Settings
from gridtwin.rpc.v1 import powerflow_pb2
from gridtwin.store.redis import make_redis
from pydantic import BaseModel, Field

from gridtwin_gateway.clients import Backends
from gridtwin_gateway.context import request_info
from gridtwin_gateway.deps import get_backends, get_settings_dep
from gridtwin_gateway.errors import ErrorBody
from gridtwin_gateway.schemas import INT32_MAX, SolverIn

router = APIRouter(prefix="/api/v1", tags=["jobs"])

JOB_ID = Path(description="job id", pattern=r"^[A-Za-z0-9_-]{1,64}$")
TIMEOUT_S = 120.0
TERMINAL = ("succeeded", "partial", "failed", "cancelled")
EVENTS_POLL_S = 1.0
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input; details say where"},
    404: {"model": ErrorBody, "description": "no such job or feeder"},
    503: {"model": ErrorBody, "description": "a back end is unreachable"},
}


class JobIn(SolverIn):
    """A QSTS job; ``max_iterations``, ``max_control_iterations``, ``tolerance`` apply to every step."""

    kind: Literal["qsts"] = "qsts"
    feeders: list[str] = Field(
        default_factory=list, description="feeder ids; or select by site / feeder_glob"
    )
    site: str = Field(default="", description="every feeder of this site")
    feeder_glob: str = Field(default="", description="fnmatch pattern over feeder ids, e.g. synth-s42-*")
    hours: int = Field(default=8760, ge=1, le=8784, description="length of the run")
    start_hour: int = Field(default=0, ge=0, le=8783, description="hour of the year the run starts at")
    step_minutes: Literal[15, 60] = 60
    ambient_c: float | None = Field(default=None, description="ambient when a feeder has no weather profile")
    job_id: str = Field(default="", description="resume/resubmit this job: finished feeders are skipped")


class TaskOut(BaseModel):
    feeder: str
    status: str
    attempts: int
    error: list[dict[str, str]] | None
    duration_s: float
    worker: str


class JobOut(BaseModel):
    id: str
    kind: str
    status: str = Field(description="queued | running | succeeded | partial | failed | cancelled")
    site: str
    params: dict[str, Any]
    created_at: str
    started_at: str | None
    finished_at: str | None
    total_tasks: int
    done_tasks: int
    failed_tasks: int
    message: str
    eta_s: float | None = Field(description="estimated seconds to finish (null when unknown)")
    tasks: list[TaskOut] = Field(description="failed tasks, or every task with ?tasks=true")
    links: dict[str, str]


class JobList(BaseModel):
    jobs: list[JobOut]
    total: int


class ResultPage(BaseModel):
    job_id: str
    level: str
    total: int = Field(description="rows before paging")
    limit: int
    offset: int
    rows: list[dict[str, Any]]


class WorstOut(BaseModel):
    job_id: str
    feeders: list[dict[str, Any]] = Field(description="worst feeders by bus-hours outside ANSI Range A")
    elements: list[dict[str, Any]] = Field(description="most loaded elements")
    aging: list[dict[str, Any]] = Field(description="transformers with the highest equivalent aging")


def job_out(job: Any) -> dict[str, Any]:
    def task(t: Any) -> dict[str, Any]:
        return {
            "feeder": t.feeder,
            "status": t.status,
            "attempts": t.attempts,
            "error": json.loads(t.error_json) if t.error_json else None,
            "duration_s": t.duration_s,
            "worker": t.worker,
        }

    base = f"/api/v1/jobs/{job.id}"
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "site": job.site,
        "params": json.loads(job.params_json) if job.params_json else {},
        "created_at": job.created_at,
        "started_at": job.started_at or None,
        "finished_at": job.finished_at or None,
        "total_tasks": job.total_tasks,
        "done_tasks": job.done_tasks,
        "failed_tasks": job.failed_tasks,
        "message": job.message,
        "eta_s": job.eta_s if job.eta_s >= 0 else None,
        "tasks": [task(t) for t in job.tasks],
        "links": {
            "self": base,
            "results": f"{base}/results",
            "worst": f"{base}/worst",
            "events": f"{base}/events",
        },
    }


def rows_of(table: Any) -> list[dict[str, Any]]:
    """Arrow IPC rows as JSON-ready dicts (NaN -> null, timestamps ISO)."""
    if not table.arrow_ipc:
        return []
    arrow = pa.ipc.open_stream(pa.py_buffer(table.arrow_ipc)).read_all()
    rows: list[dict[str, Any]] = arrow.to_pylist()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):
                row[key] = None
            elif hasattr(value, "isoformat"):
                row[key] = value.isoformat()
    return rows


def _page(job_id: str, level: str, reply: Any, limit: int, offset: int) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "level": level,
        "total": reply.total,
        "limit": limit,
        "offset": offset,
        "rows": rows_of(reply),
    }


def _events_redis(websocket: WebSocket, settings: Settings) -> Any:
    """One Redis client per app for the event streams (each stream still has its own subscription)."""
    state = websocket.app.state
    client = getattr(state, "events_redis", None)
    if client is None:
        client = state.events_redis = make_redis(settings.redis_url)
    return client


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobOut,
    responses={**ERRORS, 409: {"model": ErrorBody, "description": "job_id names a job of another kind"}},
    summary="Submit a QSTS job",
)
async def submit(
    body: JobIn, http: Request, backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    request = powerflow_pb2.RunQstsRequest(
        feeders=body.feeders,
        site=body.site,
        feeder_glob=body.feeder_glob,
        period=powerflow_pb2.QstsPeriod(
            hours=body.hours, start_hour=body.start_hour, step_minutes=body.step_minutes
        ),
        job_id=body.job_id,
        solver=body.solver_proto(),
    )
    if body.ambient_c is not None:
        request.ambient_c = body.ambient_c
    job = await backends.powerflow_stub.RunQSTS(request, timeout=TIMEOUT_S)
    info = request_info(http)
    info.site = info.site or job.site  # the audit row names the sites the job covers
    return job_out(job)


@router.get("/jobs", response_model=JobList, responses=ERRORS, summary="List jobs, newest first")
async def list_jobs(
    backends: Annotated[Backends, Depends(get_backends)],
    status: Annotated[str, Query(description="only jobs in this status")] = "",
    kind: Annotated[str, Query()] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> dict[str, Any]:
    reply = await backends.powerflow_stub.ListJobs(
        powerflow_pb2.ListJobsRequest(status=status, kind=kind, limit=limit, offset=offset), timeout=TIMEOUT_S
    )
    return {"jobs": [job_out(j) for j in reply.jobs], "total": reply.total}


@router.get("/jobs/{job_id}", response_model=JobOut, responses=ERRORS, summary="A job's status and progress")
async def get_job(
    job_id: Annotated[str, JOB_ID],
    backends: Annotated[Backends, Depends(get_backends)],
    tasks: Annotated[bool, Query(description="list every task, not only failed ones")] = False,
) -> dict[str, Any]:
    reply = await backends.powerflow_stub.GetJob(
        powerflow_pb2.GetJobRequest(job_id=job_id, with_tasks=tasks), timeout=TIMEOUT_S
    )
    return job_out(reply)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, responses=ERRORS, summary="Cancel a job")
async def cancel_job(
    job_id: Annotated[str, JOB_ID], backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    reply = await backends.powerflow_stub.CancelJob(
        powerflow_pb2.CancelJobRequest(job_id=job_id), timeout=TIMEOUT_S
    )
    return job_out(reply)


@router.get(
    "/jobs/{job_id}/results",
    response_model=ResultPage,
    responses=ERRORS,
    summary="Result rows of a job, worst first, with paging",
    description="level=feeders (one row per feeder), elements (lines/transformers), buses or hourly "
    "(these two need feeder=). order_by names a column of the level.",
)
async def results(
    job_id: Annotated[str, JOB_ID],
    backends: Annotated[Backends, Depends(get_backends)],
    level: Annotated[Literal["feeders", "elements", "buses", "hourly"], Query()] = "feeders",
    feeder: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{0,64}$")] = "",
    kind: Annotated[str, Query(description="elements: line | transformer | reactor")] = "",
    order_by: Annotated[str, Query(max_length=64)] = "",
    ascending: bool = False,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> dict[str, Any]:
    reply = await backends.powerflow_stub.GetQstsResults(
        powerflow_pb2.QstsResultsRequest(
            job_id=job_id,
            level=level,
            feeder=feeder,
            kind=kind,
            order_by=order_by,
            ascending=ascending,
            limit=limit,
            offset=offset,
        ),
        timeout=TIMEOUT_S,
    )
    return _page(job_id, level, reply, limit, offset)


@router.get(
    "/jobs/{job_id}/worst", response_model=WorstOut, responses=ERRORS, summary="Worst feeders and assets"
)
async def worst(
    job_id: Annotated[str, JOB_ID],
    backends: Annotated[Backends, Depends(get_backends)],
    n: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> dict[str, Any]:
    stub = backends.powerflow_stub

    async def table(level: str, order_by: str, kind: str = "") -> list[dict[str, Any]]:
        request = powerflow_pb2.QstsResultsRequest(
            job_id=job_id, level=level, order_by=order_by, kind=kind, limit=n
        )
        return rows_of(await stub.GetQstsResults(request, timeout=TIMEOUT_S))

    feeders, elements, aging = await asyncio.gather(
        table("feeders", "bus_hours_outside_a"),
        table("elements", "max_loading_pct"),
        table("elements", "equivalent_aging_factor", "transformer"),
    )
    return {"job_id": job_id, "feeders": feeders, "elements": elements, "aging": aging}


@router.get(
    "/jobs/{job_id}/compare/{base_job_id}",
    response_model=ResultPage,
    responses=ERRORS,
    summary="Compare a job with another: value, base value and delta per feeder or element",
)
async def compare(
    job_id: Annotated[str, JOB_ID],
    base_job_id: Annotated[str, JOB_ID],
    backends: Annotated[Backends, Depends(get_backends)],
    level: Annotated[Literal["feeders", "elements"], Query()] = "feeders",
    order_by: Annotated[str, Query(max_length=64)] = "",
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> dict[str, Any]:
    reply = await backends.powerflow_stub.CompareJobs(
        powerflow_pb2.CompareJobsRequest(
            job_id=job_id, base_job_id=base_job_id, level=level, order_by=order_by, limit=limit, offset=offset
        ),
        timeout=TIMEOUT_S,
    )
    return _page(job_id, level, reply, limit, offset)


@router.websocket("/jobs/{job_id}/events")
async def events(
    websocket: WebSocket,
    job_id: Annotated[str, JOB_ID],
    backends: Annotated[Backends, Depends(get_backends)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> None:
    """Forward the job's progress events as JSON text messages until it ends or the client leaves."""
    # 404 as a close code before accepting: the job must exist.
    try:
        job = await backends.powerflow_stub.GetJob(
            powerflow_pb2.GetJobRequest(job_id=job_id), timeout=TIMEOUT_S
        )
    except Exception:
        await websocket.close(code=4404, reason="no such job")
        return
    await websocket.accept()
    redis = _events_redis(websocket, settings)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    instance = settings.resolved_instance_id()
    try:
        await asyncio.to_thread(pubsub.subscribe, events_channel(job_id, instance))
        last = await asyncio.to_thread(redis.get, last_key(job_id, instance))
        await websocket.send_json({"type": "status", "job": job_out(job)})
        if last:
            await websocket.send_text(last.decode() if isinstance(last, bytes) else str(last))
        if job.status in TERMINAL:
            return
        while True:
            message = await asyncio.to_thread(pubsub.get_message, True, EVENTS_POLL_S)
            if message is None:
                # Quiet: make sure the job has not ended between our GetJob and the subscription.
                job = await backends.powerflow_stub.GetJob(
                    powerflow_pb2.GetJobRequest(job_id=job_id), timeout=TIMEOUT_S
                )
                if job.status in TERMINAL:
                    await websocket.send_json({"type": "status", "job": job_out(job)})
                    return
                continue
            data = message.get("data")
            text = data.decode() if isinstance(data, bytes) else str(data)
            await websocket.send_text(text)
            with contextlib.suppress(ValueError):
                if json.loads(text).get("type") in ("finished", "cancelled"):
                    return
    except WebSocketDisconnect:
        return
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(pubsub.close)
        with contextlib.suppress(Exception):
            await websocket.close()
