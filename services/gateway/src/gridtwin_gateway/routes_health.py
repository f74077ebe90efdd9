"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from gridtwin_gateway.clients import Backends
from gridtwin_gateway.deps import get_backends
from gridtwin_gateway.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "a back end is not serving"}},
    summary="Readiness: every back end's gRPC health service says SERVING",
)
async def readyz(backends: Annotated[Backends, Depends(get_backends)]) -> JSONResponse:
    statuses = await backends.health()
    ready = all(s == "SERVING" for s in statuses.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "backends": statuses}, status_code=200 if ready else 503
    )


__all__ = ["router"]
