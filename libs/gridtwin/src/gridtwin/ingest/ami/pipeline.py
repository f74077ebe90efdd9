"""A site's meters and AMI reads in, as the Measurements service runs them, over a ``FeederSource``
(the twin graph) and a ``TwinSink`` (where feeders with measured load are written back).

Every import is a record in SQL (``MeasurementStore``) that ends committed with its report, or failed
with the error; the AMI import keeps its source paths there so it can be resumed by id alone. Imports
and allocations into a site the caller (``principal``) does not hold are refused before anything is
read (``SitesDenied``); load summaries of another site's feeders do not exist for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridtwin.access.principal import Principal
from gridtwin.errors import ErrorDetail, InputError, NotFoundError
from gridtwin.grid.source import FeederSource, TwinSink
from gridtwin.grid.twins import feeder_to_twins
from gridtwin.ingest.ami.aggregate import aggregate_feeder, aggregate_many, write_aggregate
from gridtwin.ingest.ami.allocate import allocate_loads
from gridtwin.ingest.ami.importer import import_ami
from gridtwin.ingest.ami.mapping import directory_from_models, map_meters, read_meter_list
from gridtwin.ingest.ami.options import AmiOptions, parse_ami_options
from gridtwin.ingest.measurements import (
    MeasurementStores,
    issues_report,
    recorded_failure,
    site_feeders,
    site_models,
)
from gridtwin.store.measurements import ImportRecord
from gridtwin.store.profiles import parse_ref
from gridtwin.store.sites import check_writable

__all__ = [
    "aggregate_site",
    "allocate_site",
    "import_meters",
    "load_summary",
    "measured_feeders",
    "open_ami_import",
    "run_ami_import",
    "site_directory",
    "stored_ami_sources",
]

PROGRESS_EVERY_S = 1.0  # an import's progress is written to SQL at most this often


def import_meters(
    source: FeederSource,
    stores: MeasurementStores,
    site: str,
    path: Path | None,
    given: pd.DataFrame,
    *,
    dry_run: bool = False,
    principal: Principal | None = None,
) -> ImportRecord:
    """The site's meter directory: a CIS/MDM meter list at ``path`` mapped onto the site's feeders (the
    stored overrides, then the ``given`` ones, win), or the twin graph's loads (``path`` None)."""
    check_writable(principal, [site])
    records = stores.records
    rec = records.create_import(
        "meters", site, path.name if path else "twins", {"dry_run": dry_run}, principal=principal
    )
    with recorded_failure(records, rec.id):
        models = site_models(source, site)
        if not models:
            raise NotFoundError("the site has no feeders", [ErrorDetail(where="site", message=site)])
        if path is None:
            directory = directory_from_models(models)
            issues: list[ErrorDetail] = []
        else:
            meters, read_issues = read_meter_list(path)
            overrides = pd.concat([records.overrides(site), given], ignore_index=True)
            overrides = overrides.drop_duplicates("meter_id", keep="last")
            overrides = overrides[overrides["transformer"].astype(str) != ""]
            result = map_meters(meters, models, overrides if len(overrides) else None)
            directory = result.directory
            issues = [*read_issues, *result.issues]
        if not dry_run:
            if len(given):
                records.set_overrides(site, given)
            records.upsert_meters(site, directory, rec.id)
    report = {
        "meters": len(directory),
        "feeders": sorted({str(f) for f in directory["feeder"] if f}),
        "methods": {str(k): int(v) for k, v in directory["method"].value_counts().items()},
        "confidence": {str(k): int(v) for k, v in directory["confidence"].value_counts().items()},
        "overrides_given": len(given),
        "dry_run": dry_run,
        **issues_report(issues),
    }
    if dry_run:
        report["directory"] = json.loads(directory.head(1000).to_json(orient="records"))
    return records.finish_import(rec.id, "committed", report)


def site_directory(
    source: FeederSource, stores: MeasurementStores, site: str
) -> tuple[pd.DataFrame, list[str]]:
    """The site's stored meter directory; without one, the twin graph's loads as meters (stored, so
    later runs and the overrides see the same directory), with a note saying so."""
    records = stores.records
    directory = records.meters(site)
    if len(directory):
        return directory, []
    directory = directory_from_models(site_models(source, site))
    rec = records.create_import("meters", site, "twins", {"auto": True})
    records.upsert_meters(site, directory, rec.id)
    records.finish_import(rec.id, "committed", {"meters": len(directory), "auto": True})
    note = (
        f"site {site} had no meter directory: the twin graph's {len(directory)} loads are its "
        "meters (meter id = load name); import a meter list to map utility meter numbers"
    )
    return directory, [note]


def stored_ami_sources(rec: ImportRecord) -> tuple[list[Path], AmiOptions]:
    """The source files and options an unfinished AMI import was started with (to resume it by id)."""
    sources = [Path(p) for p in rec.params.get("source_paths", [])]
    options = parse_ami_options(json.dumps(rec.params.get("options", {})))
    missing = [p.name for p in sources if not p.is_file()]
    if missing or not sources:
        raise NotFoundError(
            "the import's files are gone",
            [ErrorDetail(where="import_id", message=f"send the files again ({', '.join(missing)})")],
        )
    return sources, options


def open_ami_import(
    stores: MeasurementStores,
    site: str,
    sources: Sequence[Path],
    options: AmiOptions,
    *,
    year: int = 0,
    allocate: bool = False,
    import_id: str | None = None,
    principal: Principal | None = None,
) -> ImportRecord:
    """The import's record: new, or the one ``import_id`` names (committed: nothing left to do)."""
    check_writable(principal, [site])
    params = {"options": json.loads(options.model_dump_json()), "allocate": allocate, "year": year,
              "sources": [p.name for p in sources], "source_paths": [str(p) for p in sources]}  # fmt: skip
    source_names = ", ".join(p.name for p in sources)[:2000]
    return stores.records.create_import(
        "ami", site, source_names, params, import_id=import_id or None, principal=principal
    )


def run_ami_import(
    source: FeederSource,
    sink: TwinSink,
    stores: MeasurementStores,
    site: str,
    rec: ImportRecord,
    sources: Sequence[Path],
    options: AmiOptions,
    *,
    year: int = 0,
    allocate: bool = False,
    progress_every_s: float = PROGRESS_EVERY_S,
) -> ImportRecord:
    """Import the reads (``import_ami``, resumable under ``rec.id``), aggregate every feeder they touch
    for ``year`` (0: the year most reads fall in) and, with ``allocate``, put the measured load onto the
    feeders' loads; the record ends committed with the report, or failed."""
    records = stores.records
    last = [0.0]

    def progress(state: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - last[0] >= progress_every_s:
            last[0] = now
            records.set_progress(rec.id, state)

    with recorded_failure(records, rec.id):
        directory, notes = site_directory(source, stores, site)
        report = import_ami(
            list(sources), directory, stores.ami, import_id=rec.id, options=options, progress=progress
        )
        doc = report.to_dict()
        year = year or _main_year(doc)
        feeders = sorted(doc.get("feeders") or [])
        doc["aggregation"] = aggregate_site(stores, site, feeders, directory, year)
        if allocate:
            doc["allocation"] = allocate_site(source, sink, stores, site, feeders, year, 0.0)
        doc["notes"] = [*notes, *doc.get("notes", [])]
    return records.finish_import(rec.id, "committed", doc)


def _main_year(doc: dict[str, Any]) -> int:
    """The year most of the import's reads fall in (the middle of its period)."""
    period = doc.get("period_utc") or []
    if not period:
        raise InputError("the import stored no reads", [ErrorDetail(where="sources", message="no reads")])
    a, b = pd.Timestamp(period[0]), pd.Timestamp(period[-1])
    return int((a + (b - a) / 2).year)


def aggregate_site(
    stores: MeasurementStores, site: str, feeders: list[str], directory: pd.DataFrame, year: int
) -> dict[str, Any]:
    """Each feeder's measured load for ``year`` written (Parquet and its SQL summary); the summaries."""
    out: dict[str, Any] = {"year": year, "feeders": {}}
    # Feeders in parallel on Dask's threaded scheduler (Parquet reads and numpy release the GIL).
    for agg in aggregate_many(stores.ami, feeders, directory, year=year):
        write_aggregate(agg, stores.ami.root)
        stores.records.put_load_summary(site, agg.summary)
        out["feeders"][agg.feeder] = agg.summary
    return out


def measured_feeders(source: FeederSource, stores: MeasurementStores, site: str) -> list[str]:
    """The site's feeders that have AMI reads stored."""
    known = set(site_feeders(source, site))
    return [f for f in stores.ami.feeders() if f in known]


def allocate_site(
    source: FeederSource,
    sink: TwinSink,
    stores: MeasurementStores,
    site: str,
    feeders: list[str],
    year: int,
    min_coverage: float,
    *,
    principal: Principal | None = None,
) -> dict[str, Any]:
    """Measured load onto each feeder's loads: profiles first, then the feeder's twins (one
    all-or-nothing write per feeder, a new feeder version), so QSTS runs on what the meters saw."""
    check_writable(principal, [site])
    directory = stores.records.meters(site, feeders)
    out: dict[str, Any] = {}
    for feeder in site_feeders(source, site, feeders):
        agg = aggregate_feeder(stores.ami, feeder, directory, year=year)
        model = source.feeder_model(feeder)
        refs = [str(r) for r in model.table("loadshapes").get("profile", pd.Series(dtype=str)) if r]
        alloc = allocate_loads(
            model, agg, directory, min_coverage=min_coverage or 0.9, profiles=stores.profiles.resolve(refs)
        )
        by_partition: dict[str, dict[str, np.ndarray]] = {}
        for ref, values in alloc.profiles.items():
            _kind, part, name = parse_ref(ref)
            by_partition.setdefault(part, {})[name] = values
        for part, shapes in by_partition.items():
            stores.profiles.write("loadshape", part, list(shapes), np.vstack(list(shapes.values())))
        twins, rels = feeder_to_twins(alloc.model)
        written, _ = sink.bulk_upsert(twins, rels, replace_feeder=alloc.model.feeder_id)
        out[feeder] = {**alloc.report, "twins_written": int(written)}
    return out


def load_summary(
    stores: MeasurementStores,
    feeder: str,
    year: int = 0,
    transformers: bool = False,
    *,
    principal: Principal | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """The feeder's measured load summaries (``year`` 0: every year) and, when asked, its transformers'
    table for that year (the latest summarised without one) as JSON records ("" when not aggregated).
    Summaries of sites ``principal`` does not see are not found."""
    rows = stores.records.load_summaries(feeders=[feeder], year=year or None, principal=principal)
    if not rows:
        raise NotFoundError("no measured load", [ErrorDetail(where="feeder", message=feeder)])
    table = ""
    if transformers:
        year = year or int(rows[-1]["year"])
        path = stores.ami.root / "_agg" / f"feeder={feeder}" / f"year={year}" / "transformers.parquet"
        if path.is_file():
            table = pd.read_parquet(path).to_json(orient="records", date_format="iso")
    return rows, table
