"""GIS layers onto a feeder, and another tool's results as a validation baseline.

``POST /api/v1/feeders/{feeder}/gis`` (multipart: a zip of GIS files or one GeoJSON/CSV/GeoPackage
file, plus the mapping YAML and an override table as text fields), ``/gis-path`` for a server path,
and ``POST /api/v1/feeders/{feeder}/validate`` (multipart: the results CSV).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from gridtwin.config import Settings
from gridtwin.rpc.v1 import ingestion_pb2, powerflow_pb2
from pydantic import BaseModel, Field

from gridtwin_gateway.clients import Backends
from gridtwin_gateway.deps import get_backends, get_settings_dep
from gridtwin_gateway.errors import ApiError, ErrorBody
from gridtwin_gateway.routes_feeders import _as_bool, _read_upload

router = APIRouter(prefix="/api/v1", tags=["gis and validation"])

FEEDER_ID = Path(description="feeder id", pattern=r"^[A-Za-z0-9_-]{1,64}$")
TIMEOUT_S = 1800.0
SINGLE_FILE_SUFFIXES = (".geojson", ".json", ".csv", ".gpkg")
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input; details say where"},
    404: {"model": ErrorBody, "description": "no such feeder"},
    413: {"model": ErrorBody, "description": "upload over max_upload_bytes"},
    503: {"model": ErrorBody, "description": "a back end is unreachable"},
}


class GisPathIn(BaseModel):
    path: str = Field(description="a GIS file or folder on the server")
    mapping_yaml: str = Field(default="", description="layers/columns -> assets/properties (YAML)")
    overrides: str = Field(default="", description="CSV gis_id,twin_id or YAML {gis_id: twin_id | ignore}")
    dry_run: bool = False


class GisOut(BaseModel):
    feeder: str = Field(description="the feeder asked for; empty when the layers chose the feeders")
    feeders: list[str] = Field(description="the feeders the import touched")
    twins: int = Field(description="twins written (0 on a dry run)")
    matched: int
    unmatched: int
    conflicts: int
    applied: bool
    report: dict[str, Any] = Field(
        description="counts, warnings, conflicts and every match with its confidence"
    )


def _gis_out(reply: Any) -> dict[str, Any]:
    return {
        "feeder": reply.feeder,
        "feeders": list(reply.feeders),
        "twins": reply.twins,
        "matched": reply.matched,
        "unmatched": reply.unmatched,
        "conflicts": reply.conflicts,
        "applied": reply.applied,
        "report": json.loads(reply.report_json) if reply.report_json else {},
    }


def _as_zip(data: bytes, filename: str) -> bytes:
    """A zip as it is; one GeoJSON/CSV/GeoPackage file wrapped in a zip of its own."""
    if data[:4] == b"PK\x03\x04":
        return data
    name = PurePath(filename).name
    if PurePath(name).suffix.lower() not in SINGLE_FILE_SUFFIXES:
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            "unsupported GIS upload",
            [
                {
                    "where": "body.file",
                    "message": f"{name}: send a zip (shapefiles, .gdb folders) or one of "
                    + ", ".join(SINGLE_FILE_SUFFIXES),
                }
            ],
        )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


async def _gis_upload(
    feeder: str, request: Request, backends: Backends, settings: Settings
) -> dict[str, Any]:
    fields, data, filename = await _read_upload(request, settings.max_upload_bytes)
    req = ingestion_pb2.ImportGisRequest(
        feeder=feeder,
        zip=_as_zip(data, filename),
        mapping_yaml=fields.get("mapping", ""),
        overrides=fields.get("overrides", ""),
        dry_run=_as_bool(fields.get("dry_run", ""), "body.dry_run"),
    )
    return _gis_out(await backends.ingestion_stub.ImportGis(req, timeout=TIMEOUT_S))


@router.post(
    "/feeders/{feeder}/gis",
    response_model=GisOut,
    responses=ERRORS,
    summary="Attach GIS layers to a feeder (upload)",
    description="Multipart: file (a zip of shapefiles / .gdb / GeoJSON / CSV, or one GeoJSON, CSV or "
    "GeoPackage), mapping (YAML text), overrides (CSV or YAML text), dry_run. Matches by id, then by "
    "proximity + type + phase; writes coordinates in one transaction; overrides are kept for later imports.",
)
async def gis_upload(
    feeder: Annotated[str, FEEDER_ID],
    request: Request,
    backends: Annotated[Backends, Depends(get_backends)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> dict[str, Any]:
    return await _gis_upload(feeder, request, backends, settings)


@router.post(
    "/gis",
    response_model=GisOut,
    responses=ERRORS,
    summary="Attach utility-wide GIS layers to every feeder they name (upload)",
    description="As /feeders/{feeder}/gis, but the feeders come from the layers' feeder column "
    "(FEEDERID, CIRCUIT, ... or the mapping's); all of them are written in one transaction.",
)
async def gis_upload_all(
    request: Request,
    backends: Annotated[Backends, Depends(get_backends)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> dict[str, Any]:
    return await _gis_upload("", request, backends, settings)


@router.post(
    "/feeders/{feeder}/gis-path",
    response_model=GisOut,
    responses=ERRORS,
    summary="Attach GIS layers from a server path to a feeder",
)
async def gis_path(
    feeder: Annotated[str, FEEDER_ID], body: GisPathIn, backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    req = ingestion_pb2.ImportGisRequest(
        feeder=feeder,
        path=body.path,
        mapping_yaml=body.mapping_yaml,
        overrides=body.overrides,
        dry_run=body.dry_run,
    )
    return _gis_out(await backends.ingestion_stub.ImportGis(req, timeout=TIMEOUT_S))


@router.post(
    "/feeders/{feeder}/validate",
    responses=ERRORS,
    summary="Compare our snapshot with another tool's results",
    description="Multipart: file = a CSV of bus, phase, voltage pu and/or element, loading %. Answers RMSE, "
    "maximum deviation and the worst buses and elements.",
)
async def validate_against(
    feeder: Annotated[str, FEEDER_ID],
    request: Request,
    backends: Annotated[Backends, Depends(get_backends)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> dict[str, Any]:
    _fields, data, filename = await _read_upload(request, settings.max_upload_bytes)
    req = powerflow_pb2.ValidateAgainstRequest(feeder=feeder, table=data, filename=PurePath(filename).name)
    reply = await backends.powerflow_stub.ValidateAgainst(req, timeout=TIMEOUT_S)
    report: dict[str, Any] = json.loads(reply.report_json)
    return report
