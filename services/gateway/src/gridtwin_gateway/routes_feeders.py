"""Feeders: import (upload or server path), list, delete, and the snapshot power flow."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import grpc
import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from gridtwin.config import Settings
from gridtwin.rpc.v1 import ingestion_pb2, powerflow_pb2, twin_registry_pb2
from pydantic import BaseModel, Field
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from gridtwin_gateway.clients import Backends
from gridtwin_gateway.deps import get_backends, get_settings_dep
from gridtwin_gateway.errors import ApiError, ErrorBody
from gridtwin_gateway.responses import FastJSONResponse
from gridtwin_gateway.schemas import (
    MAX_CONTROL_ITERATIONS_DOC,
    MAX_ITERATIONS_DOC,
    TOLERANCE_DOC,
    DeletedOut,
    FeederList,
    ImportOut,
    ImportPathIn,
    SnapshotOut,
    solver_options,
)

router = APIRouter(prefix="/api/v1", tags=["feeders"])

FEEDER_ID = Path(description="feeder id", pattern=r"^[A-Za-z0-9_-]{1,64}$")
# Room for the small text fields of the form on top of the archive itself.
FORM_OVERHEAD_BYTES = 64 * 1024
IMPORT_TIMEOUT_S = 1800.0
REGISTRY_TIMEOUT_S = 60.0
SNAPSHOT_TIMEOUT_S = 600.0
SYNTHETIC_TIMEOUT_S = 6 * 3600.0

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input; details say where"},
    404: {"model": ErrorBody, "description": "no such feeder"},
    503: {"model": ErrorBody, "description": "a back end is unreachable"},
}
IMPORT_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"model": ErrorBody, "description": "the feeder exists (replace=true replaces it)"},
}
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **IMPORT_ERRORS,
    413: {"model": ErrorBody, "description": "archive over max_upload_bytes"},
}


class _TooLarge(MultiPartException):
    """Raised from inside the multipart parser so it closes its temp files before we answer 413."""


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "RESOURCE_EXHAUSTED",
        "upload too large",
        [
            {
                "where": "file",
                "message": f"the archive exceeds the limit of {limit} bytes",
                "code": "too_large",
            }
        ],
    )


def _as_bool(value: str, where: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ApiError(
        422, "VALIDATION_ERROR", "the request is not valid", [{"where": where, "message": "not a boolean"}]
    )


async def _read_upload(request: Request, limit: int) -> tuple[dict[str, str], bytes, str]:
    """Parse the multipart body, spooling the file to a temp file and stopping once past ``limit``.

    Starlette's parser does the multipart work; the generator below counts bytes as they arrive so an
    oversize upload is refused without reading (or storing) the rest of it.
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            "expected a multipart/form-data upload",
            [{"where": "Content-Type", "message": f"got {content_type or 'nothing'!r}"}],
        )
    budget = limit + FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > budget:
        raise _too_large(limit)

    tail = bytearray()

    async def limited() -> AsyncGenerator[bytes, None]:
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > budget:
                raise _TooLarge("too large")
            tail[:] = (bytes(tail) + chunk)[-512:]
            yield chunk

    parser = MultiPartParser(request.headers, limited(), max_files=1, max_fields=16, max_part_size=64 * 1024)
    try:
        form = await parser.parse()
    except _TooLarge:
        raise _too_large(limit) from None
    except MultiPartException as exc:
        raise ApiError(
            400, "INVALID_ARGUMENT", "malformed multipart body", [{"where": "body", "message": exc.message}]
        ) from None
    except FormParserError as exc:  # python-multipart's own (a bad part header): Starlette lets it through
        raise ApiError(
            400, "INVALID_ARGUMENT", "malformed multipart body", [{"where": "body", "message": str(exc)}]
        ) from None
    try:
        _, params = parse_options_header(content_type)
        # python-multipart accepts a body cut short; a complete one ends with the closing delimiter.
        closing = b"--" + bytes(params.get(b"boundary", b"")) + b"--"
        if not bytes(tail).rstrip(b"\r\n").endswith(closing):
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "malformed multipart body",
                [
                    {
                        "where": "body",
                        "message": "the body ends before the closing boundary (truncated upload?)",
                    }
                ],
            )
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(
                422,
                "VALIDATION_ERROR",
                "the request is not valid",
                [{"where": "body.file", "message": "a file part named 'file' (the OpenDSS zip) is required"}],
            )
        if upload.size is not None and upload.size > limit:
            raise _too_large(limit)
        data = await upload.read()
        return fields, data, upload.filename or "upload.zip"
    finally:
        await form.close()


def _import_out(reply: ingestion_pb2.ImportOpenDssResponse) -> dict[str, Any]:
    def details(items: Any) -> list[dict[str, str]]:
        return [{"where": d.where, "message": d.message, "code": d.code or "invalid"} for d in items]

    report = reply.report
    return {
        "feeder": reply.feeder,
        "twins": reply.twins,
        "relationships": reply.relationships,
        "report": {
            "source": report.source,
            "counts": dict(report.counts),
            "warnings": details(report.warnings),
            "unmapped": details(report.unmapped),
        },
    }


def _upload_schema(file_description: str, *, with_master: bool) -> dict[str, Any]:
    """The multipart body of an import upload, for the OpenAPI page."""
    properties: dict[str, Any] = {
        "file": {"type": "string", "format": "binary", "description": file_description},
        "feeder": {"type": "string", "description": "feeder id, [A-Za-z0-9_-]{1,64}"},
        "site": {"type": "string"},
        "replace": {"type": "boolean", "description": "replace an existing feeder"},
    }
    if with_master:
        properties["master"] = {"type": "string", "description": "master .dss file name inside the zip"}
    schema = {"type": "object", "required": ["file", "feeder"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


_UPLOAD_SCHEMA = _upload_schema("zip of the OpenDSS files", with_master=True)
_CYME_UPLOAD_SCHEMA = _upload_schema(
    "zip of the CYMDIST ASCII export (network, equipment, load files)", with_master=False
)
REGULATOR_MODES = ("controlled", "fixed")  # as gridtwin.ingest.cyme takes them
_REGULATORS_DOC = (
    "controlled (default): each regulator's settings become an enabled RegControl; fixed: taps stay at "
    "the export's positions"
)
_CYME_UPLOAD_SCHEMA["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["regulators"] = {
    "type": "string",
    "enum": list(REGULATOR_MODES),
    "description": _REGULATORS_DOC,
}


class ImportCymePathIn(ImportPathIn):
    regulators: str = Field(default="", description=_REGULATORS_DOC)


def _regulators(value: str) -> str:
    """The CYME import's regulator mode ("" = the default), or a 400 naming the field."""
    text = value.strip().lower()
    if text and text not in REGULATOR_MODES:
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            "the request is not valid",
            [
                {
                    "where": "body.regulators",
                    "message": f"{value!r} is not one of {', '.join(REGULATOR_MODES)}",
                    "code": "invalid_value",
                }
            ],
        )
    return text


async def _upload_fields(request: Request, settings: Settings) -> tuple[dict[str, str], bytes, str, bool]:
    """An import upload's fields, archive, feeder id and replace flag (feeder required)."""
    fields, data, _name = await _read_upload(request, settings.max_upload_bytes)
    feeder = fields.get("feeder", "")
    if not feeder:
        raise ApiError(
            422,
            "VALIDATION_ERROR",
            "the request is not valid",
            [{"where": "body.feeder", "message": "required"}],
        )
    return fields, data, feeder, _as_bool(fields.get("replace", ""), "body.replace")


@router.post(
    "/feeders/import",
    response_model=ImportOut,
    responses=UPLOAD_ERRORS,
    openapi_extra=_UPLOAD_SCHEMA,
    summary="Import an OpenDSS feeder from an uploaded zip",
    description="Multipart upload (fields file, feeder, site, master, replace). The import is "
    "transactional: on any error the registry is unchanged.",
)
async def import_upload(
    request: Request,
    backends: Annotated[Backends, Depends(get_backends)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> dict[str, Any]:
    fields, data, feeder, replace = await _upload_fields(request, settings)
    req = ingestion_pb2.ImportOpenDssRequest(
        feeder=feeder, site=fields.get("site", ""), zip=data, master=fields.get("master", ""), replace=replace
    )
    reply = await backends.ingestion_stub.ImportOpenDss(req, timeout=IMPORT_TIMEOUT_S)
    return _import_out(reply)


@router.post(
    "/feeders/import-path",
    response_model=ImportOut,
    responses=IMPORT_ERRORS,
    summary="Import an OpenDSS feeder from a path on the server",
    description="For the all-in-one mode, where the gateway and the ingestion service share a disk.",
)
async def import_path(
    body: ImportPathIn, backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    req = ingestion_pb2.ImportOpenDssRequest(
        feeder=body.feeder, site=body.site, path=body.path, master=body.master, replace=body.replace
    )
    reply = await backends.ingestion_stub.ImportOpenDss(req, timeout=IMPORT_TIMEOUT_S)
    return _import_out(reply)


@router.post(
    "/feeders/import-cyme",
    response_model=ImportOut,
    responses=UPLOAD_ERRORS,
    openapi_extra=_CYME_UPLOAD_SCHEMA,
    summary="Import a CYME feeder from an uploaded zip of its ASCII export",
    description="Multipart upload (fields file, feeder, site, replace, regulators). Transactional; the "
    "report lists every element that could not be mapped, by file, section and line.",
)
async def import_cyme_upload(
    request: Request,
    backends: Annotated[Backends, Depends(get_backends)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> dict[str, Any]:
    fields, data, feeder, replace = await _upload_fields(request, settings)
    regulators = _regulators(fields.get("regulators", ""))
    req = ingestion_pb2.ImportCymeRequest(
        feeder=feeder, site=fields.get("site", ""), zip=data, replace=replace, regulators=regulators
    )
    reply = await backends.ingestion_stub.ImportCyme(req, timeout=IMPORT_TIMEOUT_S)
    return _import_out(reply)


@router.post(
    "/feeders/import-cyme-path",
    response_model=ImportOut,
    responses=IMPORT_ERRORS,
    summary="Import a CYME feeder from a folder (or file) on the server",
)
async def import_cyme_path(
    body: ImportCymePathIn, backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    req = ingestion_pb2.ImportCymeRequest(
        feeder=body.feeder,
        site=body.site,
        path=body.path,
        replace=body.replace,
        regulators=_regulators(body.regulators),
    )
    reply = await backends.ingestion_stub.ImportCyme(req, timeout=IMPORT_TIMEOUT_S)
    return _import_out(reply)


@router.get("/feeders", response_model=FeederList, responses=ERRORS, summary="List feeders")
async def list_feeders(
    backends: Annotated[Backends, Depends(get_backends)],
    site: Annotated[str, Query(description="only feeders of this site")] = "",
) -> dict[str, Any]:
    reply = await backends.registry_stub.ListFeeders(
        twin_registry_pb2.ListFeedersRequest(site=site), timeout=REGISTRY_TIMEOUT_S
    )
    return {
        "feeders": [
            {"id": f.id, "site": f.site, "twin_count": f.twin_count, "version": f.version}
            for f in reply.feeders
        ]
    }


@router.delete(
    "/feeders/{feeder}",
    response_model=DeletedOut,
    responses=ERRORS,
    summary="Delete a feeder with all its twins and relationships",
)
async def delete_feeder(
    feeder: Annotated[str, FEEDER_ID], backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    reply = await backends.registry_stub.DeleteFeeder(
        twin_registry_pb2.DeleteFeederRequest(feeder=feeder), timeout=REGISTRY_TIMEOUT_S
    )
    return {"deleted": reply.deleted}


def snapshot_to_dict(reply: powerflow_pb2.SnapshotResponse) -> dict[str, Any]:
    """The snapshot JSON (docs/CONTRACTS.md), built field by field: it is the hot path of big feeders."""
    return {
        "feeder": reply.feeder,
        "version": reply.version,
        "converged": reply.converged,
        "iterations": reply.iterations,
        "losses_kw": reply.losses_kw,
        "losses_kvar": reply.losses_kvar,
        "line_losses_kw": reply.line_losses_kw,
        "transformer_losses_kw": reply.transformer_losses_kw,
        "source_kw": reply.source_kw,
        "source_kvar": reply.source_kvar,
        "voltages": [
            {"bus": v.bus, "node": v.node, "pu": v.pu, "angle_deg": v.angle_deg} for v in reply.voltages
        ],
        "elements": [
            {
                "name": e.name,
                "current_a": e.current_a,
                "loading_pct": e.loading_pct,
                "loading_emerg_pct": e.loading_emerg_pct,
                "losses_kw": e.losses_kw,
                "losses_kvar": e.losses_kvar,
                "p_kw": e.p_kw,
                "q_kvar": e.q_kvar,
            }
            for e in reply.elements
        ],
        "violations": [
            {"kind": v.kind, "element": v.element, "value": v.value, "limit": v.limit}
            for v in reply.violations
        ],
        "solve_ms": reply.solve_ms,
        "recompiled": reply.recompiled,
        "message": reply.message,
        "solver": {
            "max_iterations": reply.solver.max_iterations,
            "max_control_iterations": reply.solver.max_control_iterations,
            "tolerance": reply.solver.tolerance,
        }
        if reply.HasField("solver")
        else None,
    }


MaxIterationsQuery = Annotated[int | None, Query(ge=1, le=10_000, description=MAX_ITERATIONS_DOC)]
MaxControlIterationsQuery = Annotated[
    int | None, Query(ge=1, le=10_000, description=MAX_CONTROL_ITERATIONS_DOC)
]
ToleranceQuery = Annotated[float | None, Query(gt=0, le=0.1, description=TOLERANCE_DOC)]


async def _snapshot(feeder: str, backends: Backends, solver: Any) -> FastJSONResponse:
    reply = await backends.powerflow_stub.Snapshot(
        powerflow_pb2.SnapshotRequest(feeder=feeder, solver=solver), timeout=SNAPSHOT_TIMEOUT_S
    )
    # Returned as a response object: validating thousands of voltages through pydantic would cost
    # more than the solve. The response_model still documents the shape.
    return FastJSONResponse(snapshot_to_dict(reply))


_SNAPSHOT_DOC: dict[str, Any] = {
    "response_model": SnapshotOut,
    "responses": {**ERRORS, 409: {"model": ErrorBody, "description": "the power flow did not converge"}},
    "summary": "Solve a snapshot power flow of the feeder",
    "description": "OpenDSS snapshot on the feeder's current version: voltages, element loading, losses "
    "and ANSI C84.1 / thermal violations. A power flow that does not converge answers 200 with "
    "converged=false and a message naming the iterations and the cap; the query fields max_iterations, "
    "max_control_iterations and tolerance override the model's own solver settings.",
}


@router.post("/feeders/{feeder}/snapshot", **_SNAPSHOT_DOC)
async def snapshot_post(
    feeder: Annotated[str, FEEDER_ID],
    backends: Annotated[Backends, Depends(get_backends)],
    max_iterations: MaxIterationsQuery = None,
    max_control_iterations: MaxControlIterationsQuery = None,
    tolerance: ToleranceQuery = None,
) -> FastJSONResponse:
    solver = solver_options(
        max_iterations=max_iterations, max_control_iterations=max_control_iterations, tolerance=tolerance
    )
    return await _snapshot(feeder, backends, solver)


@router.get("/feeders/{feeder}/snapshot", **_SNAPSHOT_DOC)
async def snapshot_get(
    feeder: Annotated[str, FEEDER_ID],
    backends: Annotated[Backends, Depends(get_backends)],
    max_iterations: MaxIterationsQuery = None,
    max_control_iterations: MaxControlIterationsQuery = None,
    tolerance: ToleranceQuery = None,
) -> FastJSONResponse:
    solver = solver_options(
        max_iterations=max_iterations, max_control_iterations=max_control_iterations, tolerance=tolerance
    )
    return await _snapshot(feeder, backends, solver)


__all__ = ["router", "snapshot_to_dict"]


class SyntheticIn(BaseModel):
    feeders: int = Field(default=20, ge=1, le=5000, description="how many feeders")
    seed: int = Field(default=42, ge=0, le=2**62, description="same seed -> same utility, byte for byte")
    site: str = Field(default="synth", pattern=r"^[A-Za-z0-9_.-]{1,128}$")


@router.post(
    "/feeders/synthetic",
    responses=ERRORS,
    summary="Make a synthetic utility (feeders as twins, load and weather profiles)",
    description="Streams one JSON line per feeder written (application/x-ndjson): "
    '{"done", "total", "feeder", "twins", "elapsed_s"}; an error mid-way arrives as {"error": {...}}.',
    response_class=StreamingResponse,
)
async def make_synthetic(
    body: SyntheticIn, backends: Annotated[Backends, Depends(get_backends)]
) -> StreamingResponse:
    request = ingestion_pb2.GenerateSyntheticRequest(feeders=body.feeders, seed=body.seed, site=body.site)
    call = backends.ingestion_stub.GenerateSynthetic(request, timeout=SYNTHETIC_TIMEOUT_S)
    # Read the first message before answering, so a bad request fails with a proper status code.
    first = await call.read()

    async def lines() -> AsyncGenerator[bytes, None]:
        message = first
        try:
            while message is not grpc.aio.EOF:
                yield (
                    orjson.dumps(
                        {
                            "done": message.done,
                            "total": message.total,
                            "feeder": message.feeder,
                            "twins": message.twins,
                            "elapsed_s": message.elapsed_s,
                        }
                    )
                    + b"\n"
                )
                message = await call.read()
        except grpc.aio.AioRpcError as err:
            yield orjson.dumps({"error": {"code": err.code().name, "message": err.details() or ""}}) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
