"""One feeder model (OpenDSS, CYME) into the twin graph, as the Ingestion service runs it.

The reader runs in a spawned child with the import time limit (a script may solve for hours, and a
hostile file must not take the service down), and so do the checks every imported model gets
(``gridtwin.ingest.checks``: floating phases, the base case, ratings, zero impedances; their findings
are the report's first warnings, counted as ``check_warnings``); the twins go to the sink in one
all-or-nothing write; a CYME equipment catalog the import brought becomes the site's catalog only once
the import has landed. Where the files come from (a server path under the import roots, an unpacked
upload) is the caller's business: it hands in the reading step. The target site must be one of the
caller's (``principal``; the registry refuses writes over another site's feeder as well).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridtwin.access.principal import Principal
from gridtwin.errors import ConflictError, ErrorDetail, NotFoundError, Report
from gridtwin.grid.source import FeederSource, TwinSink, check_feeder_id
from gridtwin.grid.twins import feeder_to_twins
from gridtwin.ingest.archive import find_master, relative_report, upload_relative_errors
from gridtwin.ingest.checks import add_checks
from gridtwin.ingest.cyme.site_catalog import keep_site_catalog
from gridtwin.ingest.isolated import run_isolated
from gridtwin.store.sites import check_writable
from gridtwin.twin.records import feeder_twin_count

__all__ = ["FeederImport", "Reader", "feeder_exists", "import_feeder", "read_checked", "read_feeder_files"]

# (path, feeder id, site) -> (feeder model, report[, catalog text]); runs in a spawned child, so it
# must be a module-level function (or a partial of one) with a picklable result.
Reader = Callable[[Path, str, str], Any]


@dataclass(frozen=True)
class FeederImport:
    feeder: str
    twins: int  # the feeder's own twins, as the registry counts them (not the shared site twin)
    relationships: int
    report: Report
    written: int  # every twin written, the site twin included


def feeder_exists(source: FeederSource, feeder: str) -> bool:
    """Whether the feeder has twins (a version check: no export)."""
    try:
        source.feeder_version(feeder)
    except NotFoundError:
        return False
    return True


def read_checked(reader: Reader, start: Path, feeder: str, site: str) -> tuple[Any, ...]:
    """``reader(start, feeder, site)``, then the model checks into its report (``add_checks``)."""
    result: tuple[Any, ...] = reader(start, feeder, site)
    add_checks(result[1], result[0])
    return result


def read_feeder_files(
    reader: Reader,
    root: Path,
    feeder: str,
    site: str,
    *,
    timeout_s: float,
    master: str | None = "",
    upload: bool = False,
    check: bool = True,
) -> tuple[Any, ...]:
    """``reader`` over the model under ``root`` in a child process killed after ``timeout_s``.

    ``master``: OpenDSS starts from a master file (``find_master``, a name or "" to find it); None hands
    ``root`` to the reader as it is (CYME reads a folder of export files, or one file). ``upload``:
    ``root`` is an unpacked archive, so errors and the report name files by their path in it. ``check``:
    the model checks run in the same child, under the same limit (``read_checked``).
    """
    start = find_master(root, master) if master is not None else root
    step: Callable[..., tuple[Any, ...]] = read_checked if check else reader
    args = (reader, start, feeder, site) if check else (start, feeder, site)
    with upload_relative_errors(root if upload else None):
        result: tuple[Any, ...] = run_isolated(step, *args, timeout_s=timeout_s, where=start.name or "upload")
    if upload:
        report = result[1]
        relative_report(report, root)
        report.source = f"upload:{start.relative_to(root).as_posix() or '.'}"
    return result


def import_feeder(
    source: FeederSource,
    sink: TwinSink,
    feeder: str,
    read: Callable[[], tuple[Any, ...]],
    *,
    replace: bool = False,
    catalog_dir: Path | None = None,
    site: str | None = None,
    principal: Principal | None = None,
) -> FeederImport:
    """Check the id (and, unless ``replace``, that the feeder is new), ``read()`` the model, write its
    twins in one ``bulk_upsert`` (replacing the feeder's old twins when ``replace``), then keep the CYME
    catalog text the read returned (third item) under ``catalog_dir``. ``site``: where the read puts
    the feeder, which must be ``principal``'s (``SitesDenied`` before anything is read)."""
    check_feeder_id(feeder)
    if site is not None:
        check_writable(principal, [site])
    if not replace and feeder_exists(source, feeder):
        raise ConflictError(
            "feeder already exists",
            [ErrorDetail(where=feeder, message="set replace to overwrite it", code="exists")],
        )
    result = read()
    model, report = result[0], result[1]
    catalog_text: str | None = result[2] if len(result) > 2 else None
    twins, relationships = feeder_to_twins(model)
    n_twins, n_rels = sink.bulk_upsert(twins, relationships, replace_feeder=feeder if replace else None)
    if catalog_dir is not None and catalog_text:  # kept only once the import it came with landed
        keep_site_catalog(catalog_dir, catalog_text)
    return FeederImport(feeder, feeder_twin_count(twins, feeder), int(n_rels), report, int(n_twins))
