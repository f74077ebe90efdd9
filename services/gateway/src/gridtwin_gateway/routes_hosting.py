"""Hosting capacity over REST: per-bus studies (fast or exact), stored results with paging and CSV,
connection checks, and stochastic (Monte Carlo) jobs. HTTP <-> the HostingCapacity service."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from gridtwin.rpc.v1 import hosting_pb2
from pydantic import BaseModel, Field

from gridtwin_gateway.clients import Backends
from gridtwin_gateway.deps import get_backends
from gridtwin_gateway.errors import ErrorBody
from gridtwin_gateway.routes_jobs import JobOut, job_out, rows_of
from gridtwin_gateway.schemas import INT32_MAX, INT64_MAX, SolverIn

router = APIRouter(prefix="/api/v1", tags=["hosting capacity"])

FEEDER = Path(description="feeder id", pattern=r"^[A-Za-z0-9_-]{1,64}$")
STUDY_TIMEOUT_S = 1800.0  # an exact study of a large feeder takes minutes
TIMEOUT_S = 120.0
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input; details say where"},
    404: {"model": ErrorBody, "description": "no such feeder, bus, results or job"},
    409: {
        "model": ErrorBody,
        "description": "the feeder's base case does not converge, or job_id names a job of another kind",
    },
    503: {"model": ErrorBody, "description": "a back end is unreachable"},
}


class CriteriaIn(BaseModel):
    """Each criterion on/off and its threshold (DOMAIN.md defaults when left out)."""

    overvoltage: bool | None = None
    overvoltage_pu: float | None = Field(default=None, gt=0)
    voltage_deviation: bool | None = None
    deviation_primary_pct: float | None = Field(default=None, gt=0)
    deviation_secondary_pct: float | None = Field(default=None, gt=0)
    regulator_deviation: bool | None = None
    thermal: bool | None = None
    thermal_pct: float | None = Field(default=None, gt=0)
    reverse_power: bool | None = None
    undervoltage: bool | None = None
    undervoltage_pu: float | None = Field(default=None, gt=0)

    def to_proto(self) -> Any:
        return hosting_pb2.HostingCriteria(**{k: v for k, v in self.model_dump().items() if v is not None})


class PerBusIn(SolverIn):
    method: Literal["fast", "exact"] = "fast"
    der: Literal["pv", "load"] = "pv"
    inverter: Literal["none", "pf", "volt_var"] = "none"
    pf: float = Field(default=1.0, ge=-1.0, le=1.0)
    buses: list[str] = Field(default_factory=list, description="empty: every bus")
    max_kw: float = Field(default=10_000.0, gt=0)
    criteria: CriteriaIn = Field(default_factory=CriteriaIn)
    tol_kw: float | None = Field(
        default=None,
        gt=0,
        description="exact method: bisect until the bracket is no wider than "
        "max(tol_kw, rel_tol_pct % of its upper end) (default 0.1 kW)",
    )
    rel_tol_pct: float | None = Field(
        default=None, ge=0, lt=100, description="exact method: see tol_kw (default 0.1 %)"
    )


class PerBusOut(BaseModel):
    feeder: str
    version: str
    summary: dict[str, Any]
    rows: list[dict[str, Any]]


class ResultsOut(BaseModel):
    feeder: str
    total: int
    limit: int
    offset: int
    rows: list[dict[str, Any]]


class CheckIn(SolverIn):
    bus: str = Field(min_length=1, max_length=255, description="a bus, or a meter/load name")
    kw: float = Field(gt=0)
    kind: Literal["pv", "storage", "ev_load"] = "pv"
    inverter: Literal["none", "pf", "volt_var"] = "none"


class CheckOut(BaseModel):
    ok: bool
    margin_kw: float
    capacity_kw: float
    limiting_criterion: str
    limiting_element: str
    bus: str
    recomputed: bool
    version: str


class StochasticIn(SolverIn):
    feeders: list[str] = Field(default_factory=list)
    site: str = ""
    feeder_glob: str = ""
    samples: int = Field(default=10, ge=1, le=10_000)
    placement: Literal["random", "close", "far"] = "random"
    steps_pct: list[float] = Field(default_factory=list, description="default 5..200 step 5")
    seed: int = Field(default=0, ge=0, le=INT64_MAX)
    full_curve: bool = False
    inverter: Literal["none", "pf", "volt_var"] = "none"
    criteria: CriteriaIn = Field(default_factory=CriteriaIn)
    job_id: str = ""


@router.post("/feeders/{feeder}/hosting-capacity", response_model=PerBusOut, responses=ERRORS,
             summary="Every bus's hosting capacity with the limiting criterion (stored for the map)")  # fmt: skip
async def per_bus(
    feeder: Annotated[str, FEEDER], body: PerBusIn, backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    reply = await backends.hosting_stub.PerBus(
        hosting_pb2.PerBusRequest(
            feeder=feeder, buses=body.buses, method=body.method, der=body.der, inverter=body.inverter,
            pf=body.pf, max_kw=body.max_kw, criteria=body.criteria.to_proto(), solver=body.solver_proto(),
            tol_kw=body.tol_kw, rel_tol_pct=body.rel_tol_pct,
        ),
        timeout=STUDY_TIMEOUT_S,
    )  # fmt: skip
    return {
        "feeder": feeder,
        "version": reply.version,
        "summary": json.loads(reply.summary_json),
        "rows": rows_of(reply.table),
    }


@router.get("/feeders/{feeder}/hosting-capacity", response_model=ResultsOut, responses=ERRORS,
            summary="Stored per-bus results, most constrained first; format=csv for a file")  # fmt: skip
async def stored(
    feeder: Annotated[str, FEEDER],
    backends: Annotated[Backends, Depends(get_backends)],
    der: Literal["pv", "load"] = "pv",
    inverter: Literal["none", "pf", "volt_var"] = "none",
    order_by: Annotated[str, Query(max_length=64)] = "capacity_kw",
    descending: bool = False,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
    format: Literal["json", "csv"] = "json",
) -> Any:
    reply = await backends.hosting_stub.GetPerBus(
        hosting_pb2.PerBusQuery(
            feeder=feeder, der=der, inverter=inverter, order_by=order_by, descending=descending, limit=limit,
            offset=offset, format="csv" if format == "csv" else "arrow",
        ),
        timeout=TIMEOUT_S,
    )  # fmt: skip
    if format == "csv":
        name = f"hosting-capacity-{feeder}-{der}-{inverter}.csv"
        return Response(
            reply.arrow_ipc,
            media_type="text/csv",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )
    return {"feeder": feeder, "total": reply.total, "limit": limit, "offset": offset, "rows": rows_of(reply)}


@router.post("/feeders/{feeder}/hosting-capacity/check", response_model=CheckOut, responses=ERRORS,
             summary="Can X kW be connected at a bus or meter? (recomputed when the feeder changed)")  # fmt: skip
async def check(
    feeder: Annotated[str, FEEDER], body: CheckIn, backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    r = await backends.hosting_stub.CheckConnection(
        hosting_pb2.ConnectionRequest(
            feeder=feeder,
            bus=body.bus,
            kw=body.kw,
            kind=body.kind,
            inverter=body.inverter,
            solver=body.solver_proto(),
        ),
        timeout=STUDY_TIMEOUT_S,
    )
    return {
        "ok": r.ok, "margin_kw": r.margin_kw, "capacity_kw": r.capacity_kw,
        "limiting_criterion": r.limiting_criterion, "limiting_element": r.limiting_element, "bus": r.bus,
        "recomputed": r.recomputed, "version": r.version,
    }  # fmt: skip


@router.post("/hosting/stochastic", status_code=202, response_model=JobOut, responses=ERRORS,
             summary="Monte Carlo hosting capacity over feeders as a job")  # fmt: skip
async def stochastic(
    body: StochasticIn, backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    reply = await backends.hosting_stub.RunStochastic(
        hosting_pb2.StochasticRequest(
            feeders=body.feeders, site=body.site, feeder_glob=body.feeder_glob, samples=body.samples,
            placement=body.placement, steps_pct=body.steps_pct, seed=body.seed, full_curve=body.full_curve,
            inverter=body.inverter, criteria=body.criteria.to_proto(), job_id=body.job_id,
            solver=body.solver_proto(),
        ),
        timeout=TIMEOUT_S,
    )  # fmt: skip
    return job_out(reply)


@router.get("/hosting/stochastic/{job_id}", responses=ERRORS,
            summary="A stochastic job's per-feeder distribution: P5 / mean / P95, violation probability")  # fmt: skip
async def stochastic_results(
    job_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
    backends: Annotated[Backends, Depends(get_backends)],
) -> dict[str, Any]:
    reply = await backends.hosting_stub.GetStochastic(
        hosting_pb2.StochasticQuery(job_id=job_id), timeout=TIMEOUT_S
    )
    return {"job_id": job_id, "feeders": json.loads(reply.feeders_json)}
