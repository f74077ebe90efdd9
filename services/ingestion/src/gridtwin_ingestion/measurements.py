"""Measurements servicer: AMI reads, the meter directory, outage records and weather in.

Thin: the domain core does the work (``gridtwin.ingest.ami`` / ``.oms`` / ``.weather``); this turns
requests into calls, records every import in SQL with its report (``MeasurementStore``), and writes the
feeders it changes (measured load, weather) back through the registry's gRPC, all or nothing per feeder.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
import sqlalchemy as sa
from gridtwin.config import Settings
from gridtwin.errors import ConflictError, ErrorDetail, GridTwinError, InputError, NotFoundError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.twins import feeder_to_twins
from gridtwin.ingest.ami import AmiOptions, import_ami
from gridtwin.ingest.ami.aggregate import aggregate_feeder, aggregate_many, write_aggregate
from gridtwin.ingest.ami.allocate import allocate_loads
from gridtwin.ingest.ami.mapping import directory_from_models, map_meters, read_meter_list
from gridtwin.ingest.oms import link_outages, parse_oms_mapping, read_oms, reliability
from gridtwin.ingest.weather import OpenMeteoClient, store_weather, weather_partition, weather_year
from gridtwin.rpc.errors import error_from_rpc_error
from gridtwin.rpc.v1 import measurements_pb2, twin_registry_pb2
from gridtwin.store.ami import AmiStore
from gridtwin.store.measurements import ImportRecord, MeasurementStore
from gridtwin.store.outages import OutageStore
from gridtwin.store.profiles import ProfileStore, parse_ref
from gridtwin.twin.records import FEEDER_RE
from pydantic import ValidationError

from gridtwin_ingestion.servicer import _bulk_request
from gridtwin_ingestion.uploads import UploadArea, expand_sources, one_source

__all__ = ["MeasurementsServicer", "import_reply"]

REGISTRY_TIMEOUT_S = 600.0
MAX_REPORT_ISSUES = 200
_PROGRESS_EVERY_S = 1.0


def import_reply(rec: ImportRecord) -> Any:
    d = rec.to_dict()
    return measurements_pb2.ImportReply(
        import_id=rec.id, kind=rec.kind, status=rec.status, site=rec.site, source=rec.source,
        report_json=json.dumps(rec.report, allow_nan=False, default=str),
        created_at=d["created_at"], finished_at=d["finished_at"],
    )  # fmt: skip


def _site(request: Any) -> str:
    site = str(request.site) or "default"
    if not FEEDER_RE.fullmatch(site.replace(".", "_")):
        raise InputError("bad site", [ErrorDetail(where="site", message="must match [A-Za-z0-9_.-]{1,64}")])
    return site


def _options(text: str) -> AmiOptions:
    try:
        return AmiOptions.model_validate_json(text or "{}")
    except ValidationError as exc:
        details = [
            ErrorDetail(where="options." + ".".join(str(p) for p in e["loc"]), message=e["msg"])
            for e in exc.errors()
        ]
        raise InputError("bad AMI options", details) from None


def _overrides_frame(text: str) -> pd.DataFrame:
    """``meter_id,transformer[,feeder,note]`` CSV text (quoted fields allowed; a header line optional)
    -> the override table; errors name the line."""
    columns = ["meter_id", "feeder", "transformer", "note"]
    header = ["meter_id", "transformer", "feeder", "note"]
    rows: list[dict[str, str]] = []
    for number, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
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


class MeasurementsServicer:
    """``registry`` is a TwinRegistry stub; ``engine`` the SQL database (migrated)."""

    def __init__(self, registry: Any, engine: sa.Engine, settings: Settings) -> None:
        self._registry = registry
        self._settings = settings
        self._store = MeasurementStore(engine)
        self._outages = OutageStore(engine)
        self._ami = AmiStore(settings.data_dir / "ami")
        self._ami.recover()  # roll forward a commit a crash interrupted
        self._profiles = ProfileStore(settings.data_dir / "profiles")
        self._uploads = UploadArea(settings)
        self._ami_lock = threading.Lock()  # one AMI import or allocation at a time per process

    # --- registry -----------------------------------------------------------------------------------

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._registry, method)(request, timeout=REGISTRY_TIMEOUT_S)
        except grpc.RpcError as err:
            raise error_from_rpc_error(err) from err

    def _feeder_ids(self, site: str, feeders: Sequence[str] = ()) -> list[str]:
        listed = self._call("ListFeeders", twin_registry_pb2.ListFeedersRequest(site=site))
        known = [f.id for f in listed.feeders if f.twin_count > 0]
        if not feeders:
            return sorted(known)
        unknown = [f for f in feeders if f not in known]
        if unknown:
            raise NotFoundError(
                "no such feeder",
                [ErrorDetail(where="feeders", message=f"{f} (site {site})") for f in unknown],
            )
        return list(feeders)

    def _model(self, feeder: str) -> FeederModel:
        reply = self._call("ExportFeeder", twin_registry_pb2.ExportFeederRequest(feeder=feeder))
        return FeederModel.from_ipc(bytes(reply.feeder_model_ipc))

    def _models(self, site: str, feeders: Sequence[str] = ()) -> list[FeederModel]:
        return [self._model(f) for f in self._feeder_ids(site, feeders)]

    def _write_model(self, model: FeederModel) -> int:
        twins, rels = feeder_to_twins(model)
        return int(self._call("BulkUpsert", _bulk_request(twins, rels, model.feeder_id)).twins)

    # --- uploads ------------------------------------------------------------------------------------

    def UploadFile(self, request_iterator: Iterable[Any], context: grpc.ServicerContext) -> Any:
        uid, name, size, sha = self._uploads.receive(request_iterator)
        return measurements_pb2.UploadedFile(upload_id=uid, filename=name, size_bytes=size, sha256=sha)

    # --- meters -------------------------------------------------------------------------------------

    def ImportMeters(self, request: Any, context: grpc.ServicerContext) -> Any:
        site = _site(request)
        given = _overrides_frame(str(request.overrides_csv))
        source = "twins" if request.from_twins else ""
        path: Path | None = None
        if not request.from_twins:
            path = one_source(request, self._uploads, self._settings)
            source = path.name
        rec = self._store.create_import("meters", site, source, {"dry_run": bool(request.dry_run)})
        try:
            models = self._models(site)
            if not models:
                raise NotFoundError("the site has no feeders", [ErrorDetail(where="site", message=site)])
            if path is None:
                directory = directory_from_models(models)
                issues: list[ErrorDetail] = []
            else:
                meters, read_issues = read_meter_list(path)
                stored = self._store.overrides(site)
                overrides = pd.concat([stored, given], ignore_index=True).drop_duplicates(
                    "meter_id", keep="last"
                )
                overrides = overrides[overrides["transformer"].astype(str) != ""]
                result = map_meters(meters, models, overrides if len(overrides) else None)
                directory = result.directory
                issues = [*read_issues, *result.issues]
            if not request.dry_run:
                if len(given):
                    self._store.set_overrides(site, given)
                self._store.upsert_meters(site, directory, rec.id)
        except GridTwinError as exc:
            self._store.finish_import(rec.id, "failed", _error_report(exc))
            raise
        report = {
            "meters": len(directory),
            "feeders": sorted({str(f) for f in directory["feeder"] if f}),
            "methods": {str(k): int(v) for k, v in directory["method"].value_counts().items()},
            "confidence": {str(k): int(v) for k, v in directory["confidence"].value_counts().items()},
            "overrides_given": len(given),
            "dry_run": bool(request.dry_run),
            "issues": [d.to_dict() for d in issues[:MAX_REPORT_ISSUES]],
            "issues_total": len(issues),
        }
        if request.dry_run:
            report["directory"] = json.loads(directory.head(1000).to_json(orient="records"))
        done = self._store.finish_import(rec.id, "committed", report)
        if path is not None and request.WhichOneof("source") == "upload_id":
            self._uploads.discard([str(request.upload_id)])
        return import_reply(done)

    def _directory(self, site: str) -> tuple[pd.DataFrame, list[str]]:
        """The site's stored meter directory; without one, the twin graph's loads as meters (stored, so
        later runs and the overrides see the same directory)."""
        notes: list[str] = []
        directory = self._store.meters(site)
        if len(directory) == 0:
            models = self._models(site)
            directory = directory_from_models(models)
            rec = self._store.create_import("meters", site, "twins", {"auto": True})
            self._store.upsert_meters(site, directory, rec.id)
            self._store.finish_import(rec.id, "committed", {"meters": len(directory), "auto": True})
            notes.append(
                f"site {site} had no meter directory: the twin graph's {len(directory)} loads are its "
                "meters (meter id = load name); import a meter list to map utility meter numbers"
            )
        return directory, notes

    # --- AMI ----------------------------------------------------------------------------------------

    def ImportAmi(self, request: Any, context: grpc.ServicerContext) -> Any:
        site = _site(request)
        options = _options(str(request.options_json))
        if request.import_id and not request.paths and not request.upload_ids:
            rec = self._store.get_import(str(request.import_id))  # resume by id alone: its own sources
            if rec.status == "committed":
                return import_reply(rec)
            sources = [Path(p) for p in rec.params.get("source_paths", [])]
            options = _options(json.dumps(rec.params.get("options", {})))
            missing = [p.name for p in sources if not p.is_file()]
            if missing or not sources:
                raise NotFoundError(
                    "the import's files are gone",
                    [ErrorDetail(where="import_id", message=f"send the files again ({', '.join(missing)})")],
                )
        else:
            sources = expand_sources(
                [str(p) for p in request.paths],
                [str(u) for u in request.upload_ids],
                self._uploads,
                self._settings,
            )
        if not self._ami_lock.acquire(blocking=False):
            raise ConflictError(
                "another AMI import is running",
                [ErrorDetail(where="ImportAmi", message="wait for it to finish, then retry", code="busy")],
            )
        try:
            return self._import_ami(request, site, options, sources)
        finally:
            self._ami_lock.release()

    def _import_ami(self, request: Any, site: str, options: AmiOptions, sources: list[Path]) -> Any:
        params = {"options": json.loads(options.model_dump_json()), "allocate": bool(request.allocate),
                  "year": int(request.year), "sources": [p.name for p in sources],
                  "source_paths": [str(p) for p in sources]}  # fmt: skip
        rec = self._store.create_import(
            "ami",
            site,
            ", ".join(p.name for p in sources)[:2000],
            params,
            import_id=str(request.import_id) or None,
        )
        if rec.status == "committed":
            return import_reply(rec)  # already landed: answering again is idempotent
        last = [0.0]

        def progress(state: dict[str, Any]) -> None:
            now = time.monotonic()
            if now - last[0] >= _PROGRESS_EVERY_S:
                last[0] = now
                self._store.set_progress(rec.id, state)

        try:
            directory, notes = self._directory(site)
            report = import_ami(
                sources, directory, self._ami, import_id=rec.id, options=options, progress=progress
            )
            doc = report.to_dict()
            year = int(request.year) or _main_year(doc)
            doc["aggregation"] = self._aggregate(site, sorted(doc.get("feeders") or []), directory, year)
            if request.allocate:
                doc["allocation"] = self._allocate(site, sorted(doc.get("feeders") or []), year, 0.0)
            doc["notes"] = [*notes, *doc.get("notes", [])]
        except GridTwinError as exc:
            self._store.finish_import(rec.id, "failed", _error_report(exc))
            raise
        done = self._store.finish_import(rec.id, "committed", doc)
        self._uploads.discard(str(u) for u in request.upload_ids)
        return import_reply(done)

    def _aggregate(self, site: str, feeders: list[str], directory: pd.DataFrame, year: int) -> dict[str, Any]:
        out: dict[str, Any] = {"year": year, "feeders": {}}
        # Feeders in parallel on Dask's threaded scheduler (Parquet reads and numpy release the GIL).
        for agg in aggregate_many(self._ami, feeders, directory, year=year):
            feeder = agg.feeder
            write_aggregate(agg, self._ami.root)
            self._store.put_load_summary(site, agg.summary)
            out["feeders"][feeder] = agg.summary
        return out

    def AllocateLoads(self, request: Any, context: grpc.ServicerContext) -> Any:
        site = _site(request)
        year = int(request.year)
        if not 1900 <= year <= 2200:
            raise InputError("bad year", [ErrorDetail(where="year", message="give the year to allocate")])
        feeders = [str(f) for f in request.feeders] or [
            f for f in self._ami.feeders() if f in self._feeder_ids(site)
        ]
        if not feeders:
            raise NotFoundError(
                "no measured load",
                [ErrorDetail(where="feeders", message=f"no AMI reads stored for site {site}")],
            )
        with self._ami_lock:
            report = self._allocate(site, feeders, year, float(request.min_coverage))
        return measurements_pb2.AllocateLoadsReply(
            feeders=feeders, report_json=json.dumps(report, allow_nan=False, default=str)
        )

    def _allocate(self, site: str, feeders: list[str], year: int, min_coverage: float) -> dict[str, Any]:
        """Measured load onto each feeder's loads: profiles first, then the feeder's twins (one
        all-or-nothing BulkUpsert per feeder), so QSTS runs on what the meters saw."""
        directory = self._store.meters(site, feeders)
        out: dict[str, Any] = {}
        for feeder in self._feeder_ids(site, feeders):
            agg = aggregate_feeder(self._ami, feeder, directory, year=year)
            model = self._model(feeder)
            refs = [str(r) for r in model.table("loadshapes").get("profile", pd.Series(dtype=str)) if r]
            alloc = allocate_loads(
                model, agg, directory, min_coverage=min_coverage or 0.9, profiles=self._profiles.resolve(refs)
            )
            by_partition: dict[str, dict[str, np.ndarray]] = {}
            for ref, values in alloc.profiles.items():
                _kind, part, name = parse_ref(ref)
                by_partition.setdefault(part, {})[name] = values
            for part, shapes in by_partition.items():
                self._profiles.write("loadshape", part, list(shapes), np.vstack(list(shapes.values())))
            twins = self._write_model(alloc.model)
            out[feeder] = {**alloc.report, "twins_written": twins}
        return out

    def GetLoadSummary(self, request: Any, context: grpc.ServicerContext) -> Any:
        feeder = str(request.feeder)
        rows = self._store.load_summaries(feeders=[feeder], year=int(request.year) or None)
        if not rows:
            raise NotFoundError("no measured load", [ErrorDetail(where="feeder", message=feeder)])
        transformers = ""
        if request.transformers:
            year = int(request.year) or int(rows[-1]["year"])
            path = self._ami.root / "_agg" / f"feeder={feeder}" / f"year={year}" / "transformers.parquet"
            if path.is_file():
                transformers = pd.read_parquet(path).to_json(orient="records", date_format="iso")
        return measurements_pb2.LoadSummaryReply(
            summary_json=json.dumps(rows, allow_nan=False, default=str),
            transformers_json=transformers or "[]",
        )

    # --- OMS ----------------------------------------------------------------------------------------

    def ImportOms(self, request: Any, context: grpc.ServicerContext) -> Any:
        site = _site(request)
        path = one_source(request, self._uploads, self._settings)
        mapping = parse_oms_mapping(str(request.mapping_yaml), "mapping")
        rec = self._store.create_import(
            "oms",
            site,
            path.name,
            {"timezone": str(request.timezone) or "UTC", "skip_invalid": request.skip_invalid},
        )
        try:
            frame, issues = read_oms(path, mapping, timezone=str(request.timezone) or "UTC")
            if issues and not request.skip_invalid:
                raise InputError(f"{len(issues)} outage rows are not valid (nothing imported)", issues)
            frame, link_issues = link_outages(frame, self._models(site))
            written = self._outages.insert(rec.id, site, frame)
        except GridTwinError as exc:
            self._store.finish_import(rec.id, "failed", _error_report(exc))
            raise
        every = [*issues, *link_issues]
        report = {
            "outages": written,
            "skipped_rows": len(issues),
            "feeders": sorted({str(f) for f in frame["feeder"] if f}),
            "linked_devices": int((frame["device_twin"].astype(str) != "").sum()) if len(frame) else 0,
            "issues": [d.to_dict() for d in every[:MAX_REPORT_ISSUES]],
            "issues_total": len(every),
        }
        done = self._store.finish_import(rec.id, "committed", report)
        if request.WhichOneof("source") == "upload_id":
            self._uploads.discard([str(request.upload_id)])
        return import_reply(done)

    def GetReliability(self, request: Any, context: grpc.ServicerContext) -> Any:
        site = _site(request)
        feeders = [str(f) for f in request.feeders]
        frame = self._outages.frame(site, feeders or None)
        if len(frame) == 0:
            raise NotFoundError("no outage records", [ErrorDetail(where="site", message=site)])
        served = self._customers_served(site, sorted({str(f) for f in frame["feeder"] if f} | set(feeders)))
        kwargs: dict[str, Any] = {"beta": float(request.beta) or 2.5}
        if request.timezone:
            kwargs["timezone"] = str(request.timezone)
        report = reliability(frame, served, years=[int(y) for y in request.years] or None, **kwargs)
        doc = report.to_dict()
        doc["rows"] = json.loads(report.frame().to_json(orient="records"))  # one table for clients
        return measurements_pb2.ReliabilityReply(report_json=json.dumps(doc, allow_nan=False, default=str))

    def _customers_served(self, site: str, feeders: list[str]) -> dict[str, int]:
        """Customers per feeder: its meters when the site has a meter directory, else the loads'
        ``num_customers`` in the twin graph."""
        directory = self._store.meters(site, feeders)
        counts = directory[directory["role"] == "customer"].groupby("feeder").size().to_dict()
        known = set(self._feeder_ids(site))
        out: dict[str, int] = {}
        for f in feeders:
            if counts.get(f):
                out[f] = int(counts[f])
            elif f in known:
                loads = self._model(f).table("loads")
                out[f] = int(pd.to_numeric(loads["num_customers"]).fillna(1).clip(lower=1).sum())
        return out

    # --- weather ------------------------------------------------------------------------------------

    def ImportWeather(self, request: Any, context: grpc.ServicerContext) -> Any:
        site = _site(request)
        feeders = (
            self._feeder_ids(site, [str(f) for f in request.feeders])
            if (request.attach or not request.has_location)
            else []
        )
        if request.has_location:
            lat, lon = float(request.lat), float(request.lon)
        else:
            lat, lon = self._centroid(feeders)
        year = int(request.year)
        params = {
            "lat": lat,
            "lon": lon,
            "year": year,
            "forecast": bool(request.forecast),
            "feeders": feeders,
        }
        rec = self._store.create_import("weather", site, "open-meteo", params)
        s = self._settings
        client = OpenMeteoClient(
            s.open_meteo_archive_url, s.open_meteo_forecast_url, s.data_dir / "weather-cache",
            offline=bool(request.offline) or s.weather_offline, min_interval_s=s.weather_min_interval_s,
            timeout_s=s.weather_timeout_s, retries=s.weather_retries,
        )  # fmt: skip
        try:
            with client:
                if request.forecast:
                    series = client.forecast(lat, lon, days=int(request.forecast_days) or 7)
                    report = {**_series_report(series), "profiles": self._store_forecast(series, lat, lon)}
                else:
                    last_full = date.today().year - 1  # the archive holds whole years up to last year
                    if not 1940 <= year <= last_full:
                        raise InputError(
                            "bad year", [ErrorDetail(where="year", message=f"a whole year 1940..{last_full}")]
                        )
                    series = client.historical(lat, lon, date(year, 1, 1), date(year, 12, 31))
                    arrays, notes = weather_year(series, year)
                    partition = weather_partition(lat, lon, year)
                    start = datetime(year, 1, 1, tzinfo=UTC)
                    refs = store_weather(self._profiles, partition, arrays, start_utc=start)
                    report = {
                        **_series_report(series),
                        "profiles": refs,
                        "notes": [n.to_dict() for n in notes],
                    }
                    if request.attach:
                        report["attached"] = [self._attach(f, f"weather/{partition}/temp_c") for f in feeders]
                        report["attached_feeders"] = feeders
        except GridTwinError as exc:
            self._store.finish_import(rec.id, "failed", _error_report(exc))
            raise
        return import_reply(self._store.finish_import(rec.id, "committed", report))

    def _store_forecast(self, series: Any, lat: float, lon: float) -> list[str]:
        """The forecast's hours as profiles ``weather/{partition}-forecast/{name}`` (variables with every
        hour given), for short-term studies; a year's weather is what feeders attach to."""
        frame = series.frame
        if not len(frame):
            return []
        names = [str(c) for c in frame.columns if bool(frame[c].notna().all())]
        start = frame.index[0].to_pydatetime()
        part = f"{weather_partition(lat, lon, start.year)}-forecast"
        values = frame[names].to_numpy(dtype=np.float64).T
        return self._profiles.write("weather", part, names, values, start_utc=start)

    def _centroid(self, feeders: list[str]) -> tuple[float, float]:
        xs: list[float] = []
        ys: list[float] = []
        for f in feeders:
            buses = self._model(f).table("buses")
            has = buses["has_coords"].astype(bool)
            xs.extend(pd.to_numeric(buses.loc[has, "x"]).tolist())
            ys.extend(pd.to_numeric(buses.loc[has, "y"]).tolist())
        lon, lat = (float(np.median(xs)), float(np.median(ys))) if xs else (float("nan"), float("nan"))
        if not (np.isfinite(lat) and np.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise InputError(
                "no location for the weather",
                [
                    ErrorDetail(
                        where="lat/lon", message="the feeders have no WGS84 coordinates: give lat and lon"
                    )
                ],
            )
        return lat, lon

    def _attach(self, feeder: str, ref: str) -> str:
        """Point the feeder's ambient profile at the imported weather (QSTS aging, scenario base)."""
        twin = self._call("GetTwin", twin_registry_pb2.GetTwinRequest(id=feeder))
        doc = json.loads(twin.json)
        circuit = json.loads(doc.get("circuit_json") or "{}")
        circuit["ambient_profile"] = ref
        patch = [{"op": "add", "path": "/circuit_json", "value": json.dumps(circuit, sort_keys=True)}]
        self._call("PatchTwin", twin_registry_pb2.PatchTwinRequest(id=feeder, json_patch=json.dumps(patch)))
        return feeder

    # --- records ------------------------------------------------------------------------------------

    def GetImport(self, request: Any, context: grpc.ServicerContext) -> Any:
        return import_reply(self._store.get_import(str(request.import_id)))

    def ListImports(self, request: Any, context: grpc.ServicerContext) -> Any:
        recs = self._store.list_imports(str(request.kind), limit=int(request.limit) or 50)
        return measurements_pb2.ListImportsReply(imports=[import_reply(r) for r in recs])


def _main_year(doc: dict[str, Any]) -> int:
    """The year most of the import's reads fall in (the middle of its period)."""
    period = doc.get("period_utc") or []
    if not period:
        raise InputError("the import stored no reads", [ErrorDetail(where="sources", message="no reads")])
    a, b = pd.Timestamp(period[0]), pd.Timestamp(period[-1])
    return int((a + (b - a) / 2).year)


def _series_report(series: Any) -> dict[str, Any]:
    frame = series.frame
    return {
        "lat": series.lat, "lon": series.lon, "source": series.source, "hours": len(frame),
        "start_utc": str(frame.index[0]) if len(frame) else "", "end_utc": str(frame.index[-1]) if len(frame) else "",
        "mean_temp_c": float(frame["temp_c"].mean()) if len(frame) else None,
    }  # fmt: skip


def _error_report(exc: GridTwinError) -> dict[str, Any]:
    return {
        "error": exc.message,
        "details": [d.to_dict() for d in exc.details[:MAX_REPORT_ISSUES]],
        "details_total": len(exc.details),
    }
