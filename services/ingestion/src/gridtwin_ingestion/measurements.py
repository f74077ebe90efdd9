"""Measurements servicer: AMI reads, the meter directory, outage records and weather in.

Thin: the domain core does the work (``gridtwin.ingest.ami.pipeline``, ``.oms.pipeline``,
``.weather.pipeline``) over the registry's typed client (``RegistryClient``: feeders in, feeders with
measured load or weather back out) and the measurement stores; this parses requests, keeps uploads
until the import that reads them commits, and turns import records into replies. Every call passes its
verified caller (``current_principal()``) to the core: imports land in a site the caller holds (the
request's, else its only one, else "default"), reads hold only its sites.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
import sqlalchemy as sa
from gridtwin.config import Settings
from gridtwin.errors import ConflictError, ErrorDetail, InputError, NotFoundError
from gridtwin.ingest.ami.options import parse_ami_options
from gridtwin.ingest.ami.pipeline import (
    allocate_site,
    import_meters,
    load_summary,
    measured_feeders,
    open_ami_import,
    run_ami_import,
    stored_ami_sources,
)
from gridtwin.ingest.measurements import MeasurementStores
from gridtwin.ingest.oms import parse_oms_mapping
from gridtwin.ingest.oms.pipeline import import_outages, site_reliability
from gridtwin.ingest.weather import OpenMeteoClient
from gridtwin.ingest.weather.pipeline import import_weather
from gridtwin.rpc.auth import current_principal
from gridtwin.rpc.registry_client import RegistryClient
from gridtwin.rpc.v1 import measurements_pb2
from gridtwin.store.measurements import ImportRecord
from gridtwin.store.sites import landing_site
from gridtwin.twin.records import FEEDER_RE

from gridtwin_ingestion.uploads import UploadArea, expand_sources, one_source

__all__ = ["MeasurementsServicer", "import_reply"]


def import_reply(rec: ImportRecord) -> Any:
    d = rec.to_dict()
    return measurements_pb2.ImportReply(
        import_id=rec.id, kind=rec.kind, status=rec.status, site=rec.site, source=rec.source,
        report_json=json.dumps(rec.report, allow_nan=False, default=str),
        created_at=d["created_at"], finished_at=d["finished_at"],
    )  # fmt: skip


def _site(request: Any) -> str:
    site = landing_site(current_principal(), str(request.site), "default")
    if not FEEDER_RE.fullmatch(site.replace(".", "_")):
        raise InputError("bad site", [ErrorDetail(where="site", message="must match [A-Za-z0-9_.-]{1,64}")])
    return site


def _overrides_frame(text: str) -> pd.DataFrame:
    """``meter_id,transformer[,feeder,note]`` CSV text (quoted fields allowed; a header line optional)
    -> the override table; errors name the line."""
    columns = ["meter_id", "feeder", "transformer", "note"]
    header = ["meter_id", "transformer", "feeder", "note"]
    rows: list[dict[str, str]] = []
    # newline="": a lone CR ends a line like CRLF does (the csv module's own rule; without it a CR inside
    # the text is a csv.Error, which reached the caller as a 500).
    reader = csv.reader(io.StringIO(text, newline=""))
    for number, cells in enumerate(_csv_lines(reader), start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if not rows and cells[0].lower() == "meter_id":
            header = [c.lower() for c in cells]
            continue
        rec = dict(zip(header, cells, strict=False))
        if not rec.get("meter_id") or "transformer" not in rec:
            raise InputError(
                "bad override line",
                [
                    ErrorDetail(
                        where=f"overrides:{number}", message="expected meter_id,transformer[,feeder,note]"
                    )
                ],
            )
        rows.append({k: rec.get(k, "") for k in columns})
    return pd.DataFrame(rows, columns=columns)


def _csv_lines(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; a csv.Error (a field over the csv module's size limit) as a located InputError."""
    try:
        yield from reader
    except csv.Error as exc:
        raise InputError(
            "bad override line", [ErrorDetail(where=f"overrides:{reader.line_num}", message=str(exc))]
        ) from None


class MeasurementsServicer:
    """``registry``: the twin registry's typed client; ``engine`` the SQL database (migrated)."""

    def __init__(self, registry: RegistryClient, engine: sa.Engine, settings: Settings) -> None:
        self._registry = registry
        self._settings = settings
        self._stores = MeasurementStores.open(engine, settings.data_dir)
        self._uploads = UploadArea(settings)
        self._ami_lock = threading.Lock()  # one AMI import or allocation at a time per process

    @contextmanager
    def _ami_alone(self) -> Iterator[None]:
        """The AMI lock, or ABORTED ``busy`` at once: an import holds it for minutes."""
        if not self._ami_lock.acquire(blocking=False):
            raise ConflictError(
                "another AMI import is running",
                [ErrorDetail(where="ImportAmi", message="wait for it to finish, then retry", code="busy")],
            )
        try:
            yield
        finally:
            self._ami_lock.release()

    def UploadFile(self, request_iterator: Iterable[Any], context: grpc.ServicerContext) -> Any:
        uid, name, size, sha = self._uploads.receive(request_iterator)
        return measurements_pb2.UploadedFile(upload_id=uid, filename=name, size_bytes=size, sha256=sha)

    # --- meters and AMI -----------------------------------------------------------------------------

    def ImportMeters(self, request: Any, context: grpc.ServicerContext) -> Any:
        site = _site(request)
        given = _overrides_frame(str(request.overrides_csv))
        path: Path | None = None
        if not request.from_twins:
            path = one_source(request, self._uploads, self._settings)
        rec = import_meters(
            self._registry, self._stores, site, path, given, dry_run=bool(request.dry_run),
            principal=current_principal(),
        )  # fmt: skip
        if path is not None and request.WhichOneof("source") == "upload_id":
            self._uploads.discard([str(request.upload_id)])
        return import_reply(rec)

    def ImportAmi(self, request: Any, context: grpc.ServicerContext) -> Any:
        site = _site(request)
        options = parse_ami_options(str(request.options_json))
        if request.import_id and not request.paths and not request.upload_ids:
            # Resumed by id: its own sources (another site's import is not found).
            rec = self._stores.records.get_import(str(request.import_id), principal=current_principal())
            if rec.status == "committed":
                return import_reply(rec)
            sources, options = stored_ami_sources(rec)
        else:
            paths, uploads = [str(p) for p in request.paths], [str(u) for u in request.upload_ids]
            sources = expand_sources(paths, uploads, self._uploads, self._settings)
        year, allocate = int(request.year), bool(request.allocate)
        with self._ami_alone():
            rec = open_ami_import(
                self._stores, site, sources, options, year=year, allocate=allocate,
                import_id=str(request.import_id), principal=current_principal(),
            )  # fmt: skip
            if rec.status == "committed":
                return import_reply(rec)  # already landed: answering again is idempotent
            rec = run_ami_import(
                self._registry, self._registry, self._stores, site, rec, sources, options,
                year=year, allocate=allocate,
            )  # fmt: skip
        self._uploads.discard(str(u) for u in request.upload_ids)
        return import_reply(rec)

    def AllocateLoads(self, request: Any, context: grpc.ServicerContext) -> Any:
        site = _site(request)
        year = int(request.year)
        if not 1900 <= year <= 2200:
            raise InputError("bad year", [ErrorDetail(where="year", message="give the year to allocate")])
        feeders = [str(f) for f in request.feeders] or measured_feeders(self._registry, self._stores, site)
        if not feeders:
            raise NotFoundError(
                "no measured load",
                [ErrorDetail(where="feeders", message=f"no AMI reads stored for site {site}")],
            )
        with self._ami_lock:
            report = allocate_site(
                self._registry, self._registry, self._stores, site, feeders, year,
                float(request.min_coverage), principal=current_principal(),
            )  # fmt: skip
        return measurements_pb2.AllocateLoadsReply(
            feeders=feeders, report_json=json.dumps(report, allow_nan=False, default=str)
        )

    def GetLoadSummary(self, request: Any, context: grpc.ServicerContext) -> Any:
        rows, transformers = load_summary(
            self._stores, str(request.feeder), int(request.year), bool(request.transformers),
            principal=current_principal(),
        )  # fmt: skip
        return measurements_pb2.LoadSummaryReply(
            summary_json=json.dumps(rows, allow_nan=False, default=str),
            transformers_json=transformers or "[]",
        )

    # --- OMS ----------------------------------------------------------------------------------------

    def ImportOms(self, request: Any, context: grpc.ServicerContext) -> Any:
        site = _site(request)
        path = one_source(request, self._uploads, self._settings)
        mapping = parse_oms_mapping(str(request.mapping_yaml), "mapping")
        rec = import_outages(
            self._registry, self._stores, site, path, mapping,
            timezone=str(request.timezone) or "UTC", skip_invalid=bool(request.skip_invalid),
            principal=current_principal(),
        )  # fmt: skip
        if request.WhichOneof("source") == "upload_id":
            self._uploads.discard([str(request.upload_id)])
        return import_reply(rec)

    def GetReliability(self, request: Any, context: grpc.ServicerContext) -> Any:
        doc = site_reliability(
            self._registry, self._stores, _site(request), [str(f) for f in request.feeders],
            years=[int(y) for y in request.years], beta=float(request.beta) or 2.5,
            timezone=str(request.timezone), principal=current_principal(),
        )  # fmt: skip
        return measurements_pb2.ReliabilityReply(report_json=json.dumps(doc, allow_nan=False, default=str))

    # --- weather ------------------------------------------------------------------------------------

    def ImportWeather(self, request: Any, context: grpc.ServicerContext) -> Any:
        site = _site(request)
        location = (float(request.lat), float(request.lon)) if request.has_location else None
        s = self._settings
        client = OpenMeteoClient(
            s.open_meteo_archive_url, s.open_meteo_forecast_url, s.data_dir / "weather-cache",
            offline=bool(request.offline) or s.weather_offline, min_interval_s=s.weather_min_interval_s,
            timeout_s=s.weather_timeout_s, retries=s.weather_retries,
        )  # fmt: skip
        with client:
            rec = import_weather(
                self._registry, self._registry, self._stores, client, site, [str(f) for f in request.feeders],
                location=location, year=int(request.year), forecast=bool(request.forecast),
                forecast_days=int(request.forecast_days) or 7, attach=bool(request.attach),
                principal=current_principal(),
            )  # fmt: skip
        return import_reply(rec)

    # --- records ------------------------------------------------------------------------------------

    def GetImport(self, request: Any, context: grpc.ServicerContext) -> Any:
        return import_reply(
            self._stores.records.get_import(str(request.import_id), principal=current_principal())
        )

    def ListImports(self, request: Any, context: grpc.ServicerContext) -> Any:
        recs = self._stores.records.list_imports(
            str(request.kind), limit=int(request.limit) or 50, principal=current_principal()
        )
        return measurements_pb2.ListImportsReply(imports=[import_reply(r) for r in recs])
