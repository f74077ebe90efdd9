"""DTDL models: list and upload."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from gridtwin.rpc.v1 import twin_registry_pb2

from gridtwin_gateway.clients import Backends
from gridtwin_gateway.deps import get_backends
from gridtwin_gateway.errors import ErrorBody
from gridtwin_gateway.schemas import ModelIds, ModelList

router = APIRouter(prefix="/api/v1", tags=["models"])

TIMEOUT_S = 60.0
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "a model breaks the DTDL rules; details name the element"},
    409: {"model": ErrorBody, "description": "a model of that id already exists"},
    503: {"model": ErrorBody, "description": "the twin registry is unreachable"},
}


@router.get("/models", response_model=ModelList, responses=ERRORS, summary="List the DTDL interfaces")
async def list_models(backends: Annotated[Backends, Depends(get_backends)]) -> dict[str, Any]:
    reply = await backends.registry_stub.ListModels(twin_registry_pb2.ListModelsRequest(), timeout=TIMEOUT_S)
    return {
        "models": [
            {
                "id": m.id,
                "extends": list(m.extends),
                "display_name": m.display_name,
                "model": json.loads(m.json) if m.json else {},
            }
            for m in reply.models
        ]
    }


@router.post(
    "/models",
    status_code=201,
    response_model=ModelIds,
    responses=ERRORS,
    summary="Upload DTDL interfaces",
    description="Body: one DTDL interface document or an array of them; validated as one model set.",
)
async def upload_models(
    docs: Annotated[dict[str, Any] | list[dict[str, Any]], Body(description="DTDL v3 interface(s)")],
    backends: Annotated[Backends, Depends(get_backends)],
) -> dict[str, Any]:
    items = docs if isinstance(docs, list) else [docs]
    reply = await backends.registry_stub.UploadModels(
        twin_registry_pb2.UploadModelsRequest(models_json=[json.dumps(d) for d in items]), timeout=TIMEOUT_S
    )
    return {"ids": list(reply.ids)}


__all__ = ["router"]
