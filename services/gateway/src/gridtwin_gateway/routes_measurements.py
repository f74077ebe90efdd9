"""Utility measurements over REST: streamed uploads, AMI / meter list / OMS / weather imports, the
import records, measured load per feeder, load allocation and reliability indices. HTTP <-> the
Measurements service (served by the ingestion process).

Uploads are streamed: ``POST /api/v1/uploads?filename=reads.csv`` with the file as the raw body
(``curl --data-binary @reads.csv``) goes chunk by chunk into a client-streaming gRPC call, never whole
into memory, and stops at ``GRIDTWIN_MAX_AMI_UPLOAD_BYTES`` with 413. The upload id then names the file
in an import.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from gridtwin.config import Settings
from gridtwin.rpc.v1 import measurements_pb2
from pydantic import BaseModel, Field

from gridtwin_gateway.clients import Backends
from gridtwin_gateway.deps import get_backends, get_settings_dep
from gridtwin_gateway.errors import ApiError, ErrorBody
from gridtwin_gateway.schemas import YEAR_MAX

router = APIRouter(prefix="/api/v1", tags=["measurements"])

FEEDER = Path(description="feeder id", pattern=r"^[A-Za-z0-9_-]{1,64}$")
IMPORT_TIMEOUT_S = 6 * 3600.0  # a year of a large utility's AMI is a long import
TIMEOUT_S = 600.0
CHUNK_BYTES = 1 << 20
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input; details say which file, row or field"},
    403: {"model": ErrorBody, "description": "a server path outside GRIDTWIN_IMPORT_ROOTS"},
    404: {"model": ErrorBody, "description": "no such feeder, upload or import; no cached weather (offline)"},
    409: {"model": ErrorBody, "description": "another AMI import is running"},
    413: {"model": ErrorBody, "description": "upload over the limit"},
    503: {"model": ErrorBody, "description": "a back end (or the weather API) is unreachable"},
}


class UploadOut(BaseModel):
    upload_id: str
    filename: str
    size_bytes: int
    sha256: str


class ImportOut(BaseModel):
    import_id: str
    kind: str = Field(description="ami | meters | oms | weather")
    status: str = Field(description="staging | committed | failed")
    site: str
    source: str
    created_at: str
    finished_at: str
    report: dict[str, Any] = Field(description="counts, issues with file:row, quality, aggregation ...")


class MetersIn(BaseModel):
    site: str = "default"
    path: str = Field(default="", description="a meter list CSV on the server")
    upload_id: str = Field(default="", description="or an uploaded one")
    overrides_csv: str = Field(default="", description="meter_id,transformer[,feeder,note] lines")
    from_twins: bool = Field(default=False, description="the twin graph's loads are the meters")
    dry_run: bool = False


class AmiIn(BaseModel):
    site: str = "default"
    paths: list[str] = Field(default_factory=list, description="CSV / Parquet files or folders on the server")
    upload_ids: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(
        default_factory=dict, description="columns, timezone, timestamp_at, interval_min, thresholds"
    )
    import_id: str = Field(default="", description="resume this import")
    allocate: bool = Field(default=False, description="then allocate the measured load onto the loads")
    year: int = Field(default=0, ge=0, le=YEAR_MAX, description="aggregation year; 0 = the reads' main year")


class AllocateIn(BaseModel):
    site: str = "default"
    feeders: list[str] = Field(default_factory=list, description="empty: every feeder with reads")
    year: int = Field(ge=1900, le=2200)
    min_coverage: float = Field(default=0.0, ge=0.0, le=1.0, description="0 = default 0.9")


class OmsIn(BaseModel):
    site: str = "default"
    path: str = ""
    upload_id: str = ""
    mapping_yaml: str = Field(default="", description="source columns -> start, end, cause_code, ...")
    timezone: str = Field(default="UTC", description="for naive timestamps")
    skip_invalid: bool = Field(default=False, description="import the good rows, report the bad")


class WeatherIn(BaseModel):
    site: str = "default"
    feeders: list[str] = Field(default_factory=list, description="default: the site's feeders")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    year: int = Field(default=0, ge=0, le=YEAR_MAX)
    forecast: bool = False
    forecast_days: int = Field(default=7, ge=1, le=16)
    attach: bool = Field(default=True, description="point the feeders' ambient profile at it")
    offline: bool = Field(default=False, description="serve only from the cache")


def import_out(reply: Any) -> dict[str, Any]:
    return {
        "import_id": reply.import_id, "kind": reply.kind, "status": reply.status, "site": reply.site,
        "source": reply.source, "created_at": reply.created_at, "finished_at": reply.finished_at,
        "report": json.loads(reply.report_json) if reply.report_json else {},
    }  # fmt: skip


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "RESOURCE_EXHAUSTED", "upload too large",
        [{"where": "body", "message": f"the file exceeds the limit of {limit} bytes", "code": "too_large"}],
    )  # fmt: skip


def _one_source(path: str, upload_id: str) -> dict[str, str]:
    if bool(path) == bool(upload_id):
        raise ApiError(
            422, "VALIDATION_ERROR", "the request is not valid",
            [{"where": "body.path", "message": "give exactly one of path and upload_id"}],
        )  # fmt: skip
    return {"path": path} if path else {"upload_id": upload_id}


@router.post(
    "/uploads",
    response_model=UploadOut,
    responses=ERRORS,
    summary="Stream a file to the ingestion service (raw body)",
    description="The file is the raw request body (any content type); `filename` names it (its suffix "
    "picks the reader: .csv, .parquet, .xlsx). Streamed chunk by chunk, size-limited. Returns an upload id "
    "for the import calls.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload(
    request: Request,
    backends: Annotated[Backends, Depends(get_backends)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
    filename: Annotated[str, Query(min_length=1, max_length=255)] = "upload.csv",
) -> dict[str, Any]:
    limit = settings.max_ami_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    state = {"seen": 0, "over": False}

    class _Over(Exception):
        """Raised in the request stream: the call is cancelled and the service drops the partial file."""

    async def chunks() -> AsyncIterator[Any]:
        first = True
        buf = bytearray()
        async for piece in request.stream():
            state["seen"] += len(piece)
            if state["seen"] > limit:
                state["over"] = True
                raise _Over
            buf.extend(piece)
            while len(buf) >= CHUNK_BYTES:
                yield measurements_pb2.FileChunk(
                    filename=filename if first else "", data=bytes(buf[:CHUNK_BYTES])
                )
                del buf[:CHUNK_BYTES]
                first = False
        if buf or first:
            yield measurements_pb2.FileChunk(filename=filename if first else "", data=bytes(buf))

    call = backends.measurements_stub.UploadFile(chunks(), timeout=IMPORT_TIMEOUT_S)
    try:
        reply = await call
    except (Exception, asyncio.CancelledError):
        # An error raised in the request stream cancels the call (grpc.aio answers CancelledError);
        # only ours, once the stream went over the limit, becomes 413.
        if state["over"]:
            raise _too_large(limit) from None
        raise
    return {"upload_id": reply.upload_id, "filename": reply.filename, "size_bytes": reply.size_bytes,
            "sha256": reply.sha256}  # fmt: skip


@router.post("/imports/meters", response_model=ImportOut, responses=ERRORS, summary="Import a meter list")
async def import_meters(
    body: MetersIn, backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    """Maps each meter to its feeder and service transformer (override, the list's own transformer,
    the twin graph's load, or the nearest phase-compatible transformer) with a confidence and reasons."""
    source = {} if body.from_twins else _one_source(body.path, body.upload_id)
    req = measurements_pb2.ImportMetersRequest(
        site=body.site,
        overrides_csv=body.overrides_csv,
        from_twins=body.from_twins,
        dry_run=body.dry_run,
        **source,
    )
    return import_out(await backends.measurements_stub.ImportMeters(req, timeout=TIMEOUT_S))


@router.post("/imports/ami", response_model=ImportOut, responses=ERRORS, summary="Import AMI meter reads")
async def import_ami(body: AmiIn, backends: Annotated[Backends, Depends(get_backends)]) -> dict[str, Any]:
    """Streams the files into the Parquet store by feeder and month, checks quality (gaps, duplicates,
    spikes, negatives, flat lines, DST and time-zone faults) and fills gaps, then aggregates to service
    transformer and feeder. Transactional; the same import_id resumes an interrupted import."""
    req = measurements_pb2.ImportAmiRequest(
        site=body.site, paths=body.paths, upload_ids=body.upload_ids, options_json=json.dumps(body.options),
        import_id=body.import_id, allocate=body.allocate, year=body.year,
    )  # fmt: skip
    return import_out(await backends.measurements_stub.ImportAmi(req, timeout=IMPORT_TIMEOUT_S))


@router.post("/imports/oms", response_model=ImportOut, responses=ERRORS, summary="Import OMS outage records")
async def import_oms(body: OmsIn, backends: Annotated[Backends, Depends(get_backends)]) -> dict[str, Any]:
    req = measurements_pb2.ImportOmsRequest(
        site=body.site, mapping_yaml=body.mapping_yaml, timezone=body.timezone, skip_invalid=body.skip_invalid,
        **_one_source(body.path, body.upload_id),
    )  # fmt: skip
    return import_out(await backends.measurements_stub.ImportOms(req, timeout=TIMEOUT_S))


@router.post(
    "/imports/weather", response_model=ImportOut, responses=ERRORS, summary="Import weather (Open-Meteo)"
)
async def import_weather(
    body: WeatherIn, backends: Annotated[Backends, Depends(get_backends)]
) -> dict[str, Any]:
    """A historical year (or the forecast) for the feeders' area into the profile store; with attach, the
    feeders' ambient profile points at it (QSTS transformer aging and the scenarios' base weather)."""
    has = body.lat is not None and body.lon is not None
    req = measurements_pb2.ImportWeatherRequest(
        site=body.site, feeders=body.feeders, has_location=has, lat=body.lat or 0.0, lon=body.lon or 0.0,
        year=body.year, forecast=body.forecast, forecast_days=body.forecast_days, attach=body.attach,
        offline=body.offline,
    )  # fmt: skip
    return import_out(await backends.measurements_stub.ImportWeather(req, timeout=TIMEOUT_S))


@router.get("/imports", response_model=list[ImportOut], responses=ERRORS, summary="List imports")
async def list_imports(
    backends: Annotated[Backends, Depends(get_backends)],
    kind: Annotated[str, Query(pattern=r"^(|ami|meters|oms|weather)$")] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    reply = await backends.measurements_stub.ListImports(
        measurements_pb2.ListImportsRequest(kind=kind, limit=limit), timeout=TIMEOUT_S
    )
    return [import_out(r) for r in reply.imports]


@router.get("/imports/{import_id}", response_model=ImportOut, responses=ERRORS, summary="One import")
async def get_import(
    import_id: Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$")],
    backends: Annotated[Backends, Depends(get_backends)],
) -> dict[str, Any]:
    """Its status, progress while it runs, and its report."""
    req = measurements_pb2.GetImportRequest(import_id=import_id)
    return import_out(await backends.measurements_stub.GetImport(req, timeout=TIMEOUT_S))


@router.post("/ami/allocate", responses=ERRORS, summary="Allocate measured load onto the feeders' loads")
async def allocate(body: AllocateIn, backends: Annotated[Backends, Depends(get_backends)]) -> dict[str, Any]:
    """Measured 8760 shapes and peaks per service transformer onto the loads (a new feeder version), so
    QSTS runs on measured load."""
    req = measurements_pb2.AllocateLoadsRequest(
        site=body.site, feeders=body.feeders, year=body.year, min_coverage=body.min_coverage
    )
    reply = await backends.measurements_stub.AllocateLoads(req, timeout=IMPORT_TIMEOUT_S)
    return {"feeders": list(reply.feeders), "report": json.loads(reply.report_json)}


@router.get("/feeders/{feeder}/load-summary", responses=ERRORS, summary="Measured load of a feeder")
async def load_summary(
    feeder: Annotated[str, FEEDER],
    backends: Annotated[Backends, Depends(get_backends)],
    year: Annotated[int, Query(ge=0, le=YEAR_MAX)] = 0,
    transformers: bool = False,
) -> dict[str, Any]:
    """Per year: energy, peak and when, load factor, coincidence factor, coverage, and the check against
    the feeder-head meter; with transformers, the same per service transformer."""
    req = measurements_pb2.GetLoadSummaryRequest(feeder=feeder, year=year, transformers=transformers)
    reply = await backends.measurements_stub.GetLoadSummary(req, timeout=TIMEOUT_S)
    out: dict[str, Any] = {"feeder": feeder, "years": json.loads(reply.summary_json)}
    if transformers:
        out["transformers"] = json.loads(reply.transformers_json or "[]")
    return out


@router.get("/reliability", responses=ERRORS, summary="IEEE 1366 reliability indices")
async def get_reliability(
    backends: Annotated[Backends, Depends(get_backends)],
    site: str = "default",
    feeder: Annotated[list[str] | None, Query()] = None,
    year: Annotated[list[Annotated[int, Field(ge=0, le=YEAR_MAX)]] | None, Query()] = None,
    beta: Annotated[float, Query(ge=0)] = 0.0,
    timezone: str = "",
) -> dict[str, Any]:
    """SAIFI, SAIDI, CAIDI, MAIFI per feeder and system per year, with and without major event days
    (2.5-beta method; the days and T_MED are listed)."""
    req = measurements_pb2.GetReliabilityRequest(
        site=site, feeders=feeder or [], years=year or [], beta=beta, timezone=timezone
    )
    reply = await backends.measurements_stub.GetReliability(req, timeout=TIMEOUT_S)
    report: dict[str, Any] = json.loads(reply.report_json)
    return report
