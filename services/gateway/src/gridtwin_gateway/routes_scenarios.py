"""Scenarios over REST: CRUD (the body is the scenario's YAML or JSON text), run, sweep and diff.

HTTP <-> the PowerFlow service's scenario RPCs. Scenario text is read as a size-capped stream; file
references inside it must already be inline (the CLI resolves them next to the scenario file).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from gridtwin.config import Settings
from gridtwin.rpc.v1 import powerflow_pb2
from pydantic import BaseModel, Field

from gridtwin_gateway.clients import Backends
from gridtwin_gateway.deps import get_backends, get_settings_dep
from gridtwin_gateway.errors import ApiError, ErrorBody
from gridtwin_gateway.routes_jobs import JobOut, job_out, rows_of
from gridtwin_gateway.schemas import INT32_MAX, SolverIn

router = APIRouter(prefix="/api/v1", tags=["scenarios"])

ID = Path(description="scenario id", pattern=r"^[A-Za-z0-9_-]{1,64}$")
TIMEOUT_S = 120.0
MAX_SCENARIO_BYTES = 32 * 1024 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input; details name the field path"},
    404: {"model": ErrorBody, "description": "no such scenario, sweep or job"},
    409: {"model": ErrorBody, "description": "the id exists, or the revision changed"},
    413: {"model": ErrorBody, "description": "scenario text too large"},
    503: {"model": ErrorBody, "description": "a back end is unreachable"},
}
BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
        "description": "the scenario file (gridtwin.scenarios schema version 1)",
    }
}


class ScenarioOut(BaseModel):
    id: str
    name: str
    schema_version: int
    revision: int
    created_at: str | None
    updated_at: str | None
    summary: dict[str, Any]
    body: dict[str, Any] | None = None


class ScenarioList(BaseModel):
    scenarios: list[ScenarioOut]
    total: int


class RunIn(SolverIn):
    """A scenario run's feeders and period; ``max_iterations``, ``max_control_iterations``, ``tolerance``
    apply to every step."""

    feeders: list[str] = Field(default_factory=list, description="override the scenario's targets")
    site: str = ""
    feeder_glob: str = ""
    hours: int = Field(default=8760, ge=1, le=8784)
    start_hour: int = Field(default=0, ge=0, le=8783)
    step_minutes: Literal[15, 60] = 60
    job_id: str = Field(default="", description="resume this job")


class SweepIn(RunIn):
    sweep: dict[str, Any] | None = Field(
        default=None, description="a sweep section overriding the scenario's"
    )


class SweepOut(BaseModel):
    id: str
    scenario_id: str
    method: str
    spec: dict[str, Any]
    samples: list[dict[str, Any]]
    table: list[dict[str, Any]] = Field(description="per sample: parameter values -> violation hours, ...")


class DiffOut(BaseModel):
    base_job_id: str
    job_ids: list[str]
    level: str
    totals: list[dict[str, Any]]
    total: int
    rows: list[dict[str, Any]]


def scenario_out(doc: Any) -> dict[str, Any]:
    return {
        "id": doc.id,
        "name": doc.name,
        "schema_version": doc.schema_version,
        "revision": doc.revision,
        "created_at": doc.created_at or None,
        "updated_at": doc.updated_at or None,
        "summary": json.loads(doc.summary_json) if doc.summary_json else {},
        "body": json.loads(doc.body_json) if doc.body_json else None,
    }


def sweep_out(info: Any) -> dict[str, Any]:
    return {
        "id": info.id,
        "scenario_id": info.scenario_id,
        "method": info.method,
        "spec": json.loads(info.spec_json) if info.spec_json else {},
        "samples": [
            {"sample": s.sample, "values": json.loads(s.values_json), "job_id": s.job_id, "status": s.status}
            for s in info.samples
        ],
        "table": rows_of(info.table),
    }


async def _text(request: Request, limit: int) -> tuple[str, str]:
    """The request body as text (UTF-8), read until ``limit`` bytes; format from the content type."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413,
                "RESOURCE_EXHAUSTED",
                "scenario too large",
                [{"where": "body", "message": f"over {limit} bytes"}],
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            "scenario is not UTF-8",
            [{"where": f"body:byte {exc.start}", "message": exc.reason}],
        ) from exc
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = "json" if ctype.endswith("json") else "yaml" if "yaml" in ctype else ""
    return text, fmt


def _period(body: RunIn) -> Any:
    return powerflow_pb2.QstsPeriod(
        hours=body.hours, start_hour=body.start_hour, step_minutes=body.step_minutes
    )


@router.post("/scenarios/validate", response_model=ScenarioOut, responses=ERRORS, openapi_extra=BODY_DOC,
             summary="Validate a scenario without storing it")  # fmt: skip
async def validate(
    request: Request,
    backends: Annotated[Backends, Depends(get_backends)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> dict[str, Any]:
    text, fmt = await _text(request, min(settings.max_upload_bytes, MAX_SCENARIO_BYTES))
    doc = await backends.powerflow_stub.ValidateScenario(
        powerflow_pb2.ScenarioText(text=text, format=fmt), timeout=TIMEOUT_S
    )
    return scenario_out(doc)


@router.post("/scenarios", status_code=201, response_model=ScenarioOut, responses=ERRORS, openapi_extra=BODY_DOC,
             summary="Store a scenario")  # fmt: skip
async def create(
    request: Request,
    backends: Annotated[Backends, Depends(get_backends)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
    id: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{0,64}$", description="choose the id")] = "",
) -> dict[str, Any]:
    text, fmt = await _text(request, min(settings.max_upload_bytes, MAX_SCENARIO_BYTES))
    doc = await backends.powerflow_stub.CreateScenario(
        powerflow_pb2.ScenarioText(id=id, text=text, format=fmt), timeout=TIMEOUT_S
    )
    return scenario_out(doc)


@router.get("/scenarios", response_model=ScenarioList, responses=ERRORS, summary="List scenarios")
async def list_scenarios(
    backends: Annotated[Backends, Depends(get_backends)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> dict[str, Any]:
    reply = await backends.powerflow_stub.ListScenarios(
        powerflow_pb2.ListScenariosRequest(limit=limit, offset=offset), timeout=TIMEOUT_S
    )
    return {"scenarios": [scenario_out(d) for d in reply.scenarios], "total": reply.total}


@router.get("/scenarios/{scenario_id}", response_model=ScenarioOut, responses=ERRORS, summary="A scenario")
async def get_scenario(
    scenario_id: Annotated[str, ID], backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    return scenario_out(
        await backends.powerflow_stub.GetScenario(
            powerflow_pb2.ScenarioRef(id=scenario_id), timeout=TIMEOUT_S
        )
    )


@router.put("/scenarios/{scenario_id}", response_model=ScenarioOut, responses=ERRORS, openapi_extra=BODY_DOC,
            summary="Replace a scenario (optionally only at an expected revision)")  # fmt: skip
async def update(
    scenario_id: Annotated[str, ID],
    request: Request,
    backends: Annotated[Backends, Depends(get_backends)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
    expected_revision: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> dict[str, Any]:
    text, fmt = await _text(request, min(settings.max_upload_bytes, MAX_SCENARIO_BYTES))
    doc = await backends.powerflow_stub.UpdateScenario(
        powerflow_pb2.ScenarioText(
            id=scenario_id, text=text, format=fmt, expected_revision=expected_revision
        ),
        timeout=TIMEOUT_S,
    )
    return scenario_out(doc)


@router.delete(
    "/scenarios/{scenario_id}", response_model=ScenarioOut, responses=ERRORS, summary="Delete a scenario"
)
async def delete(
    scenario_id: Annotated[str, ID], backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    return scenario_out(
        await backends.powerflow_stub.DeleteScenario(
            powerflow_pb2.ScenarioRef(id=scenario_id), timeout=TIMEOUT_S
        )
    )


@router.post("/scenarios/{scenario_id}/run", status_code=202, response_model=JobOut, responses=ERRORS,
             summary="Run the scenario as a QSTS job over its target feeders")  # fmt: skip
async def run(
    scenario_id: Annotated[str, ID], body: RunIn, backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    reply = await backends.powerflow_stub.RunScenario(
        powerflow_pb2.RunScenarioRequest(
            scenario_id=scenario_id, period=_period(body), feeders=body.feeders, site=body.site,
            feeder_glob=body.feeder_glob, job_id=body.job_id, solver=body.solver_proto(),
        ),
        timeout=TIMEOUT_S,
    )  # fmt: skip
    return job_out(reply)


@router.post("/scenarios/{scenario_id}/sweep", status_code=202, response_model=SweepOut, responses=ERRORS,
             summary="One QSTS job per point of the scenario's sweep")  # fmt: skip
async def sweep(
    scenario_id: Annotated[str, ID], body: SweepIn, backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    reply = await backends.powerflow_stub.RunSweep(
        powerflow_pb2.RunSweepRequest(
            scenario_id=scenario_id, period=_period(body), feeders=body.feeders, site=body.site,
            feeder_glob=body.feeder_glob, sweep_json=json.dumps(body.sweep) if body.sweep else "",
            solver=body.solver_proto(),
        ),
        timeout=TIMEOUT_S,
    )  # fmt: skip
    return sweep_out(reply)


@router.get(
    "/sweeps/{sweep_id}", response_model=SweepOut, responses=ERRORS, summary="A sweep's jobs and result table"
)
async def get_sweep(
    sweep_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
    backends: Annotated[Backends, Depends(get_backends)],
) -> dict[str, Any]:
    return sweep_out(
        await backends.powerflow_stub.GetSweep(powerflow_pb2.SweepRef(id=sweep_id), timeout=TIMEOUT_S)
    )


@router.get("/diff", response_model=DiffOut, responses=ERRORS,
            summary="Base run vs scenario runs: new violations, delta hours, delta peak")  # fmt: skip
async def diff(
    backends: Annotated[Backends, Depends(get_backends)],
    base: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the base job")],
    jobs: Annotated[list[str], Query(description="scenario jobs (repeat the parameter)")],
    level: Literal["feeders", "elements", "buses"] = "feeders",
    new_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> dict[str, Any]:
    reply = await backends.powerflow_stub.DiffJobs(
        powerflow_pb2.DiffJobsRequest(
            base_job_id=base, job_ids=jobs, level=level, new_only=new_only, limit=limit, offset=offset
        ),
        timeout=TIMEOUT_S,
    )
    return {
        "base_job_id": base,
        "job_ids": jobs,
        "level": level,
        "totals": json.loads(reply.totals_json) if reply.totals_json else [],
        "total": reply.table.total,
        "rows": rows_of(reply.table),
    }
