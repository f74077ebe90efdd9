"""Ingestion servicer: an OpenDSS model (server path or uploaded zip) -> twins -> the registry.

Thin: ``gridtwin.ingest.archive`` unpacks uploads safely, ``read_opendss`` builds the feeder model,
``feeder_to_twins`` the documents, and the registry (over gRPC, so this works split into pods) stores
them all-or-nothing with ``BulkUpsert``.
"""

from __future__ import annotations

import functools
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
from gridtwin.config import Settings
from gridtwin.errors import (
    AccessDeniedError,
    ConflictError,
    ErrorDetail,
    GridTwinError,
    InputError,
    NotFoundError,
    Report,
)
from gridtwin.grid.model import FeederModel
from gridtwin.grid.synth import write_synthetic_utility
from gridtwin.grid.twins import feeder_to_twins
from gridtwin.ingest.archive import extracted_zip, find_master
from gridtwin.ingest.cyme.site_catalog import CATALOG_FILE, read_cyme_with_catalog
from gridtwin.ingest.gis.pipeline import (
    gis_feeders,
    gis_sources,
    import_gis_many,
    parse_mapping_text,
    parse_overrides_text,
)
from gridtwin.ingest.isolated import run_isolated
from gridtwin.ingest.opendss import read_opendss
from gridtwin.rpc.errors import error_from_rpc_error
from gridtwin.rpc.v1 import common_pb2, ingestion_pb2, twin_registry_pb2
from gridtwin.store.profiles import ProfileStore
from gridtwin.twin.records import FEEDER_RE

__all__ = ["IngestionServicer", "allowed_path", "report_to_proto"]

REGISTRY_TIMEOUT_S = 600.0
# A reader: (path, feeder id, site) -> (feeder model, report); runs in a spawned child (picklable).
# (The CYME reader also returns the equipment catalog text to keep for the site.)
Reader = Callable[[Path, str, str], Any]

# Twins must carry a site (access control); an import that names none lands in this one.
DEFAULT_SITE = "default"
SYNTH_SITE = "synth"
MAX_SYNTH_FEEDERS = 5000


def allowed_path(text: str, settings: Settings) -> Path:
    """The server path, resolved (symlinks too), if it lies under one of ``settings.import_roots``.

    Reading arbitrary server files would let any gateway user probe the host (parser errors quote
    the offending line), so only configured folders can be imported by path.
    """
    path = Path(text).resolve()
    roots = [Path(r).resolve() for r in settings.import_roots]
    if not any(path == root or root in path.parents for root in roots):
        allowed = ", ".join(str(r) for r in roots) or "none: set GRIDTWIN_IMPORT_ROOTS, or upload a zip"
        raise AccessDeniedError(
            "path not allowed",
            [ErrorDetail(where="path", message=f"{text} is outside the import roots ({allowed})")],
        )
    return path


class IngestionServicer:
    """``registry`` is a TwinRegistry stub."""

    def __init__(self, registry: Any, settings: Settings) -> None:
        self._registry = registry
        self._settings = settings

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._registry, method)(request, timeout=REGISTRY_TIMEOUT_S)
        except grpc.RpcError as err:
            raise error_from_rpc_error(err) from err

    def _read(self, request: Any, reader: Reader = read_opendss) -> tuple[Any, ...]:
        """Read the request's model (server path or uploaded zip) with ``reader`` in a child process.

        OpenDSS imports start from a master file; CYME imports from the folder of export files (or one
        file), so for them the path or the archive's root is handed to the reader as it is.
        """
        feeder, site = str(request.feeder), str(request.site) or DEFAULT_SITE
        is_dss = reader is read_opendss
        source = request.WhichOneof("source")
        if source == "path":
            path = self._allowed_path(str(request.path))
            start = find_master(path, request.master) if is_dss else path
            return self._read_isolated(reader, start, feeder, site)
        if source == "zip":
            with extracted_zip(request.zip, self._settings) as root:
                start = find_master(root, request.master) if is_dss else root
                try:
                    result = self._read_isolated(reader, start, feeder, site)
                except GridTwinError as exc:
                    exc.details = [_relative(d, root) for d in exc.details]
                    raise
                report = result[1]
                _relative_report(report, root)
                # The report names files inside our temp folder: show them relative to the archive.
                report.source = f"upload:{start.relative_to(root).as_posix() or '.'}"
                return result
        raise InputError("no model given", [ErrorDetail(where="source", message="set path or zip")])

    def _read_isolated(self, reader: Reader, start: Path, feeder: str, site: str) -> tuple[Any, ...]:
        """The reader in a child process with the import time limit: a script may solve for hours, and
        a hostile file must not take the service down."""
        timeout_s = self._settings.import_timeout_s
        return run_isolated(reader, start, feeder, site, timeout_s=timeout_s, where=start.name or "upload")

    def _allowed_path(self, text: str) -> Path:
        return allowed_path(text, self._settings)

    def _feeder_exists(self, feeder: str) -> bool:
        try:
            self._call("GetTwin", twin_registry_pb2.GetTwinRequest(id=feeder))
        except NotFoundError:
            return False
        return True

    def ImportOpenDss(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._import(request, read_opendss)

    def ImportCyme(self, request: Any, context: grpc.ServicerContext) -> Any:
        """A CYME export; without an equipment file of its own it reads the site's stored catalog, and
        one it brings becomes the site's catalog once the import has landed."""
        site = str(request.site) or DEFAULT_SITE
        catalog_dir = self._settings.data_dir / "catalogs" / site / "cyme"
        return self._import(
            request, functools.partial(read_cyme_with_catalog, catalog_dir=catalog_dir), catalog_dir
        )

    def _import(self, request: Any, reader: Reader, catalog_dir: Path | None = None) -> Any:
        feeder = str(request.feeder)
        if not FEEDER_RE.fullmatch(feeder):
            raise InputError(
                "bad feeder id", [ErrorDetail(where="feeder", message="must match [A-Za-z0-9_-]{1,64}")]
            )
        if not request.replace and self._feeder_exists(feeder):
            raise ConflictError(
                "feeder already exists",
                [ErrorDetail(where=feeder, message="set replace to overwrite it", code="exists")],
            )
        read = self._read(request, reader)
        model, report = read[0], read[1]
        catalog_text: str | None = read[2] if len(read) > 2 else None
        twins, relationships = feeder_to_twins(model)
        bulk = _bulk_request(twins, relationships, feeder if request.replace else "")
        reply = self._call("BulkUpsert", bulk)
        if catalog_dir is not None and catalog_text:  # kept only once the import it came with landed
            catalog_dir.mkdir(parents=True, exist_ok=True)
            tmp = catalog_dir / f".{CATALOG_FILE}.tmp"
            tmp.write_text(catalog_text, encoding="utf-8")
            tmp.replace(catalog_dir / CATALOG_FILE)
        return ingestion_pb2.ImportOpenDssResponse(
            feeder=feeder,
            twins=reply.twins,
            relationships=reply.relationships,
            report=report_to_proto(report),
        )

    def ImportGis(self, request: Any, context: grpc.ServicerContext) -> Any:
        """GIS layers onto one feeder, or (no feeder given) onto every feeder the layers name: the
        feeders are exported, read + reconciled in a child process, and stored back in one transaction."""
        feeder = str(request.feeder)
        if feeder and not FEEDER_RE.fullmatch(feeder):
            raise InputError(
                "bad feeder id", [ErrorDetail(where="feeder", message="must match [A-Za-z0-9_-]{1,64}")]
            )
        mapping = parse_mapping_text(str(request.mapping_yaml))
        given = parse_overrides_text(str(request.overrides))
        source = request.WhichOneof("source")
        if source == "path":
            return self._import_gis(
                request, feeder, gis_sources(self._allowed_path(str(request.path))), mapping, given, None
            )
        if source == "zip":
            with extracted_zip(request.zip, self._settings) as root:
                try:
                    return self._import_gis(request, feeder, gis_sources(root), mapping, given, root)
                except GridTwinError as exc:
                    exc.details = [_relative(d, root) for d in exc.details]
                    raise
        raise InputError("no GIS data given", [ErrorDetail(where="source", message="set path or zip")])

    def _overrides_path(self, feeder: str) -> Path:
        return self._settings.data_dir / "gis" / feeder / "overrides.json"

    def _import_gis(
        self,
        request: Any,
        feeder: str,
        sources: list[Path],
        mapping: dict[str, Any] | None,
        given: dict[str, str],
        root: Path | None,
    ) -> Any:
        timeout_s = self._settings.import_timeout_s
        skipped: list[str] = []
        if feeder:
            feeders = [feeder]
        else:
            named = run_isolated(gis_feeders, sources, mapping, timeout_s=timeout_s, where="gis")
            known = set(self._known_feeders())
            feeders = [f for f in named if f in known]
            skipped = [f for f in named if f not in known]
            if not feeders:
                raise InputError(
                    "the layers name no feeder of the registry",
                    [
                        ErrorDetail(
                            where="feeder",
                            message="give a feeder, or map the layers' feeder column"
                            + (f" (named but unknown: {', '.join(skipped[:10])})" if skipped else ""),
                        )
                    ],
                )
        models: dict[str, bytes] = {}
        overrides: dict[str, str] = {}
        for f in feeders:
            reply = self._call("ExportFeeder", twin_registry_pb2.ExportFeederRequest(feeder=f))
            models[f] = bytes(reply.feeder_model_ipc)
            saved_path = self._overrides_path(f)
            if saved_path.is_file():
                overrides.update(json.loads(saved_path.read_text()))
        overrides.update(given)
        results = run_isolated(
            import_gis_many, models, sources, mapping, overrides, timeout_s=timeout_s, where=feeder or "gis"
        )
        twins_all: list[dict[str, Any]] = []
        rels_all: list[dict[str, Any]] = []
        seen_twins: set[str] = set()
        seen_rels: set[tuple[str, str]] = set()
        reports: dict[str, Any] = {}
        matched = unmatched = conflicts = 0
        for f, (model_ipc, report) in results.items():
            if root is not None:
                _relative_report(report, root)
            methods = [str(m) for m in report.matches["method"]] if len(report.matches) else []
            matched += sum(1 for m in methods if m in ("override", "id", "proximity"))
            unmatched += sum(1 for m in methods if m == "unmatched")
            conflicts += len(report.conflicts)
            reports[f] = report.to_dict()
            twins, rels = feeder_to_twins(FeederModel.from_ipc(model_ipc))
            # Feeders of one site share its site twin (and its relationships): send each once.
            twins_all.extend(t for t in twins if t["$dtId"] not in seen_twins)
            rels_all.extend(r for r in rels if (r["$sourceId"], r["$relationshipId"]) not in seen_rels)
            seen_twins.update(t["$dtId"] for t in twins)
            seen_rels.update((r["$sourceId"], r["$relationshipId"]) for r in rels)
        written = 0
        if not request.dry_run:
            # One feeder: exactly its twins. Several: upsert (GIS removes nothing).
            bulk = _bulk_request(twins_all, rels_all, feeder)
            written = int(self._call("BulkUpsert", bulk).twins)
            for f in feeders:  # kept only once the import they shaped has landed
                mine = {g: t for g, t in overrides.items() if t == "ignore" or t.startswith(f"{f}.")}
                if mine:
                    path = self._overrides_path(f)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(json.dumps(mine, indent=1, sort_keys=True))
        report_doc: Any = reports[feeder] if feeder else {"feeders": reports, "skipped": skipped}
        return ingestion_pb2.ImportGisResponse(
            feeder=feeder,
            feeders=sorted(results),
            twins=written,
            matched=matched,
            unmatched=unmatched,
            conflicts=conflicts,
            applied=not request.dry_run,
            report_json=json.dumps(report_doc, allow_nan=False, default=str),
        )

    def _known_feeders(self) -> list[str]:
        listed = self._call("ListFeeders", twin_registry_pb2.ListFeedersRequest())
        return [f.id for f in listed.feeders if f.twin_count > 0]

    def GenerateSynthetic(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        """Write a synthetic utility, streaming one progress message per feeder written.

        ``write_synthetic_utility`` runs in a worker thread against a registry adapter that stores each
        feeder through ``BulkUpsert`` (all or nothing per feeder); its progress callback feeds the stream.
        """
        feeders, seed, site = int(request.feeders), int(request.seed), str(request.site) or SYNTH_SITE
        details = []
        if not 1 <= feeders <= MAX_SYNTH_FEEDERS:
            details.append(
                ErrorDetail(where="feeders", message=f"must be 1..{MAX_SYNTH_FEEDERS}, not {feeders}")
            )
        if seed < 0:
            details.append(ErrorDetail(where="seed", message="must be >= 0"))
        if not site.replace("-", "").replace("_", "").replace(".", "").isalnum() or len(site) > 128:
            details.append(ErrorDetail(where="site", message="must match [A-Za-z0-9_.-]{1,128}"))
        if details:
            raise InputError("bad synthetic utility request", details)
        registry = _RegistryOverGrpc(self)
        store = ProfileStore(self._settings.data_dir / "profiles")
        events: queue.Queue[tuple[int, str] | BaseException | None] = queue.Queue()
        started = time.perf_counter()

        def progress(done: int, total: int, feeder: str) -> None:
            if not context.is_active():
                raise InputError("cancelled", [ErrorDetail(where="GenerateSynthetic", message="client left")])
            events.put((done, feeder))

        def work() -> None:
            try:
                write_synthetic_utility(registry, store, feeders, seed, site=site, progress=progress)
                events.put(None)
            except BaseException as exc:  # handed to the streaming thread, which raises it there
                events.put(exc)

        threading.Thread(target=work, name="synthetic-utility", daemon=True).start()
        while (item := events.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            done, feeder = item
            yield ingestion_pb2.SyntheticProgress(
                done=done,
                total=feeders,
                feeder=feeder,
                twins=registry.twins,
                elapsed_s=time.perf_counter() - started,
            )


class _RegistryOverGrpc:
    """The one ``TwinRegistry`` method the synthetic utility writer needs, over the registry's gRPC."""

    def __init__(self, servicer: IngestionServicer) -> None:
        self._servicer = servicer
        self.twins = 0

    def bulk_upsert(
        self,
        twin_docs: Sequence[Any],
        relationship_docs: Sequence[Any] = (),
        replace_feeder: str | None = None,
    ) -> tuple[int, int]:
        bulk = _bulk_request(twin_docs, relationship_docs, replace_feeder or "")
        reply = self._servicer._call("BulkUpsert", bulk)
        self.twins += int(reply.twins)
        return int(reply.twins), int(reply.relationships)


def _relative(detail: ErrorDetail, root: Path) -> ErrorDetail:
    """Name files inside an upload by their path in the archive, not our private temp folder."""
    prefix = f"{root}/"
    if prefix not in detail.where and prefix not in detail.message:
        return detail
    return replace(detail, where=detail.where.replace(prefix, ""), message=detail.message.replace(prefix, ""))


def _relative_report(report: Report, root: Path) -> None:
    """Every located line of an import report named relative to the upload, not our temp folder."""
    report.warnings = [_relative(d, root) for d in report.warnings]
    report.unmapped = [_relative(d, root) for d in report.unmapped]
    conflicts = getattr(report, "conflicts", None)  # GIS reports also carry conflicts
    if conflicts is not None:
        report.conflicts = [_relative(d, root) for d in conflicts]  # type: ignore[attr-defined]


def _bulk_request(twins: Sequence[Any], relationships: Sequence[Any], replace_feeder: str | None) -> Any:
    """One all-or-nothing BulkUpsert of twin documents and relationships."""
    return twin_registry_pb2.BulkUpsertRequest(
        twins_json=[json.dumps(t, separators=(",", ":"), allow_nan=False) for t in twins],
        relationships=[_relationship(r) for r in relationships],
        replace_feeder=replace_feeder or "",
    )


_REL_HEADER = ("$relationshipId", "$sourceId", "$relationshipName", "$targetId", "$etag")


def _relationship(doc: dict[str, Any]) -> Any:
    props = {k: v for k, v in doc.items() if k not in _REL_HEADER}
    return twin_registry_pb2.Relationship(
        id=doc["$relationshipId"],
        source_id=doc["$sourceId"],
        name=doc["$relationshipName"],
        target_id=doc["$targetId"],
        properties_json=json.dumps(props, separators=(",", ":"), allow_nan=False) if props else "",
    )


def _detail(d: ErrorDetail) -> Any:
    return common_pb2.ErrorDetail(where=d.where, message=d.message, code=d.code)


def report_to_proto(report: Report) -> Any:
    return common_pb2.ImportReport(
        source=report.source,
        counts={k: int(v) for k, v in report.counts.items()},
        warnings=[_detail(w) for w in report.warnings],
        unmapped=[_detail(u) for u in report.unmapped],
    )
