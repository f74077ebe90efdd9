"""Ingestion servicer: feeder models (OpenDSS, CYME: a server path or an uploaded zip), GIS layers and
the synthetic utility into the twin graph.

Thin: the domain core does the work (``gridtwin.ingest.feeder_import``, ``gridtwin.ingest.gis.pipeline``,
``gridtwin.ingest.synthetic``) over the registry's typed client (``RegistryClient``: the core's
``FeederSource`` and ``TwinSink`` over gRPC, so this works split into pods); this turns requests into
calls and results into replies.

Sites: the registry client acts for the call's verified caller (``current_principal()``), so the
registry itself refuses another site's feeders; imports land in the request's site (or the caller's
only site, or the default one) and the core refuses a site the caller does not hold before reading
anything.
"""

from __future__ import annotations

import contextvars
import functools
import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from gridtwin.config import Settings
from gridtwin.errors import AccessDeniedError, ErrorDetail, InputError, Report
from gridtwin.grid.source import check_feeder_id
from gridtwin.ingest.archive import existing_path, extracted_zip, upload_relative_errors
from gridtwin.ingest.cyme.devices import check_regulators
from gridtwin.ingest.cyme.site_catalog import read_cyme_with_catalog, site_catalog_dir
from gridtwin.ingest.feeder_import import Reader, import_feeder, read_feeder_files
from gridtwin.ingest.gis.pipeline import (
    GisImport,
    gis_sources,
    import_gis,
    parse_mapping_text,
    parse_overrides_text,
)
from gridtwin.ingest.opendss import read_opendss
from gridtwin.ingest.synthetic import SYNTH_SITE, write_synthetic
from gridtwin.rpc.auth import current_principal
from gridtwin.rpc.registry_client import RegistryClient
from gridtwin.rpc.v1 import common_pb2, ingestion_pb2
from gridtwin.store.profiles import ProfileStore
from gridtwin.store.sites import landing_site

__all__ = ["IngestionServicer", "allowed_path", "report_to_proto"]

# Twins must carry a site (access control); an import that names none lands in the caller's site when
# it holds exactly one, else in this one.
DEFAULT_SITE = "default"


def import_site(request: Any) -> str:
    """The site a request's import lands in (checked against the caller by the core)."""
    return landing_site(current_principal(), str(request.site), DEFAULT_SITE)


def allowed_path(text: str, settings: Settings) -> Path:
    """The server path, resolved (symlinks too), if it lies under one of ``settings.import_roots``.

    Reading arbitrary server files would let any gateway user probe the host (parser errors quote
    the offending line), so only configured folders can be imported by path.
    """
    if "\x00" in text:  # no file name holds one; Path.resolve() would fail with a ValueError (a 500)
        raise InputError("bad path", [ErrorDetail(where="path", message="contains a NUL character")])
    path = Path(text).resolve()
    roots = [Path(r).resolve() for r in settings.import_roots]
    if not any(path == root or root in path.parents for root in roots):
        allowed = ", ".join(str(r) for r in roots) or "none: set GRIDTWIN_IMPORT_ROOTS, or upload a zip"
        raise AccessDeniedError(
            "path not allowed",
            [ErrorDetail(where="path", message=f"{text} is outside the import roots ({allowed})")],
        )
    return existing_path(path, text)


class IngestionServicer:
    """``registry``: the twin registry's typed client (feeders in, twins out)."""

    def __init__(self, registry: RegistryClient, settings: Settings) -> None:
        self._registry = registry
        self._settings = settings

    def _allowed_path(self, text: str) -> Path:
        return allowed_path(text, self._settings)

    def ImportOpenDss(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._import(request, read_opendss, str(request.master))

    def ImportCyme(self, request: Any, context: grpc.ServicerContext) -> Any:
        """A CYME export; without an equipment file of its own it reads the site's stored catalog, and
        one it brings becomes the site's catalog once the import has landed."""
        catalog_dir = site_catalog_dir(self._settings.data_dir, import_site(request))
        regulators = check_regulators(str(request.regulators))  # "" = controlled
        reader = functools.partial(read_cyme_with_catalog, catalog_dir=catalog_dir, regulators=regulators)
        return self._import(request, reader, None, catalog_dir)

    def _import(
        self, request: Any, reader: Reader, master: str | None, catalog_dir: Path | None = None
    ) -> Any:
        done = import_feeder(
            self._registry,
            self._registry,
            str(request.feeder),
            lambda: self._read(request, reader, master),
            replace=bool(request.replace),
            catalog_dir=catalog_dir,
            site=import_site(request),
            principal=current_principal(),
        )
        return ingestion_pb2.ImportOpenDssResponse(
            feeder=done.feeder,
            twins=done.twins,
            relationships=done.relationships,
            report=report_to_proto(done.report),
        )

    def _read(self, request: Any, reader: Reader, master: str | None) -> tuple[Any, ...]:
        """The request's model (a server path or an uploaded zip), read in a child process."""
        feeder, site = str(request.feeder), import_site(request)
        timeout_s = self._settings.import_timeout_s
        source = request.WhichOneof("source")
        if source == "path":
            path = self._allowed_path(str(request.path))
            return read_feeder_files(reader, path, feeder, site, master=master, timeout_s=timeout_s)
        if source == "zip":
            with extracted_zip(request.zip, self._settings) as root:
                return read_feeder_files(
                    reader, root, feeder, site, master=master, timeout_s=timeout_s, upload=True
                )
        raise InputError("no model given", [ErrorDetail(where="source", message="set path or zip")])

    def ImportGis(self, request: Any, context: grpc.ServicerContext) -> Any:
        """GIS layers onto one feeder, or (no feeder given) onto every feeder the layers name."""
        feeder = str(request.feeder)
        if feeder:
            check_feeder_id(feeder)
        run = functools.partial(
            import_gis, self._registry, self._registry,
            mapping=parse_mapping_text(str(request.mapping_yaml)),
            given=parse_overrides_text(str(request.overrides)),
            overrides_root=self._settings.data_dir / "gis", timeout_s=self._settings.import_timeout_s,
            feeder=feeder, dry_run=bool(request.dry_run),
        )  # fmt: skip
        source = request.WhichOneof("source")
        if source == "path":
            done: GisImport = run(gis_sources(self._allowed_path(str(request.path))))
        elif source == "zip":
            with extracted_zip(request.zip, self._settings) as root, upload_relative_errors(root):
                done = run(gis_sources(root), upload_root=root)
        else:
            raise InputError("no GIS data given", [ErrorDetail(where="source", message="set path or zip")])
        return ingestion_pb2.ImportGisResponse(
            feeder=feeder, feeders=done.feeders, twins=done.twins, matched=done.matched,
            unmatched=done.unmatched, conflicts=done.conflicts, applied=not request.dry_run,
            report_json=json.dumps(done.report, allow_nan=False, default=str),
        )  # fmt: skip

    def GenerateSynthetic(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        """Write a synthetic utility, streaming one progress message per feeder written: the core writes
        in a worker thread, and its progress callback feeds the stream (a bad request is raised here)."""
        principal = current_principal()
        feeders, seed = int(request.feeders), int(request.seed)
        site = landing_site(principal, str(request.site), SYNTH_SITE)
        store = ProfileStore(self._settings.data_dir / "profiles")
        events: queue.Queue[tuple[int, str, int] | BaseException | None] = queue.Queue()
        started = time.perf_counter()

        def progress(done: int, total: int, feeder: str, twins: int) -> None:
            if not context.is_active():
                raise InputError("cancelled", [ErrorDetail(where="GenerateSynthetic", message="client left")])
            events.put((done, feeder, twins))

        def work() -> None:
            try:
                write_synthetic(
                    self._registry, store, feeders, seed, site=site, progress=progress, principal=principal
                )
                events.put(None)
            except BaseException as exc:  # handed to the streaming thread, which raises it there
                events.put(exc)

        # The writer thread carries this call's context: its registry calls act for the caller.
        context_of_call = contextvars.copy_context()
        threading.Thread(
            target=context_of_call.run, args=(work,), name="synthetic-utility", daemon=True
        ).start()
        while (item := events.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            done, feeder, twins = item
            elapsed_s = time.perf_counter() - started
            yield ingestion_pb2.SyntheticProgress(
                done=done, total=feeders, feeder=feeder, twins=twins, elapsed_s=elapsed_s
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
