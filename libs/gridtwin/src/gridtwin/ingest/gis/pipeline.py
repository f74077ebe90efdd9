"""One GIS import as the ingestion service runs it: read the sources, reconcile with the feeders.

``import_gis`` runs the whole import over a ``FeederSource`` and a ``TwinSink``. The reading and
reconciling happen in module-level functions of plain arguments (``gis_feeders``, ``import_gis_many``)
that it runs in a spawned child (``gridtwin.ingest.isolated``): GDAL reads untrusted files, and a crash
there must not take the service down. Each reconciled model (a new feeder version) gets the import checks
there too (``gridtwin.ingest.checks``: their findings lead the feeder's report warnings, counted as
``check_warnings``). Models cross the process boundary as Arrow IPC.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.twins import feeder_to_twins
from gridtwin.ingest.archive import relative_report
from gridtwin.ingest.checks import add_checks
from gridtwin.ingest.gis.read import read_gis
from gridtwin.ingest.gis.reconcile import ReconcileReport, load_overrides, reconcile
from gridtwin.ingest.isolated import run_isolated

if TYPE_CHECKING:  # annotations only: the spawned child need not import the registry
    from gridtwin.grid.source import FeederSource, TwinSink

__all__ = [
    "GIS_SUFFIXES",
    "GisImport",
    "gis_feeders",
    "gis_sources",
    "import_gis",
    "import_gis_many",
    "overrides_path",
    "parse_mapping_text",
    "parse_overrides_text",
]

# What counts as a GIS source inside a folder or upload (a .gdb is a folder).
GIS_SUFFIXES = (".shp", ".geojson", ".json", ".gpkg", ".csv", ".gdb")


def gis_sources(root: Path) -> list[Path]:
    """The GIS sources under ``root`` (itself when it is one), sorted; InputError when there are none."""
    if root.suffix.lower() in GIS_SUFFIXES:
        return [root]
    found = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in GIS_SUFFIXES
        and not any(part.lower().endswith(".gdb") for part in p.relative_to(root).parts[:-1])
        and not p.name.startswith(".")
    )
    if not found:
        raise InputError(
            "no GIS layers found",
            [ErrorDetail(root.name or "upload", f"expected files ending in {', '.join(GIS_SUFFIXES)}")],
        )
    return found


def parse_mapping_text(text: str) -> dict[str, Any] | None:
    """The mapping YAML given as text (None when empty: guess from field names)."""
    if not text.strip():
        return None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError("mapping is not valid YAML", [ErrorDetail("mapping", str(exc))]) from exc
    if not isinstance(raw, dict):
        raise InputError("mapping must be a YAML mapping", [ErrorDetail("mapping", "not a mapping")])
    return raw


def parse_overrides_text(text: str) -> dict[str, str]:
    """An override table given as text: CSV ``gis_id,twin_id`` (header first) or YAML ``{gis_id: twin_id}``,
    read by ``load_overrides`` exactly as from a file (errors name ``overrides:<line>``)."""
    if not text.strip():
        return {}
    first = text.lstrip().splitlines()[0]
    suffix = ".csv" if "," in first and "gis_id" in first else ".yaml"
    with tempfile.TemporaryDirectory(prefix="gridtwin-overrides-") as tmp:
        path = Path(tmp) / f"overrides{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            return load_overrides(path)
        except InputError as exc:
            exc.details = [
                ErrorDetail(d.where.replace(str(path), "overrides"), d.message, d.code) for d in exc.details
            ]
            raise


def gis_feeders(sources: list[Path], mapping: Mapping[str, Any] | None) -> list[str]:
    """The feeder ids the layers name (their mapped or guessed feeder column), sorted."""
    layers = read_gis(sources, dict(mapping) if mapping is not None else None)
    named = layers.features["feeder"].astype(str).str.strip() if len(layers.features) else []
    return sorted({f for f in named if f})


def import_gis_many(
    models_ipc: Mapping[str, bytes],
    sources: list[Path],
    mapping: Mapping[str, Any] | None,
    overrides: Mapping[str, str],
) -> dict[str, tuple[bytes, ReconcileReport]]:
    """A utility-wide layer onto several feeders: read once, reconciled feeder by feeder (each takes the
    features that name it, and those that name no feeder), each new model checked (``add_checks``)."""
    layers = read_gis(sources, dict(mapping) if mapping is not None else None)
    out: dict[str, tuple[bytes, ReconcileReport]] = {}
    for feeder, ipc in sorted(models_ipc.items()):
        new_model, report = reconcile(FeederModel.from_ipc(ipc), layers, dict(overrides))
        add_checks(report, new_model)
        out[feeder] = (new_model.to_ipc(), report)
    return out


@dataclass(frozen=True)
class GisImport:
    feeders: list[str]  # the feeders reconciled, sorted
    twins: int  # twins written (0 on a dry run)
    matched: int
    unmatched: int
    conflicts: int
    report: dict[str, Any]  # one feeder's report; several: {"feeders": {id: report}, "skipped": [ids]}


def overrides_path(overrides_root: Path, feeder: str) -> Path:
    """Where a feeder's GIS overrides are kept: ``{overrides_root}/{feeder}/overrides.json``."""
    return overrides_root / feeder / "overrides.json"


def import_gis(
    source: FeederSource,
    sink: TwinSink,
    sources: list[Path],
    mapping: Mapping[str, Any] | None,
    given: Mapping[str, str],
    *,
    overrides_root: Path,
    timeout_s: float,
    feeder: str = "",
    dry_run: bool = False,
    upload_root: Path | None = None,
) -> GisImport:
    """GIS layers onto ``feeder``, or (none given) onto every feeder of ``source`` the layers name.

    The feeders are exported, read and reconciled in a child, and written back in one ``bulk_upsert``
    (one feeder: exactly its twins; several: upserted, GIS removes nothing). Each feeder's stored
    overrides apply under the ``given`` ones, which are kept per feeder once the write has landed.
    ``upload_root``: the sources are an unpacked upload (reports name files relative to it).
    """
    skipped: list[str] = []
    if feeder:
        feeders = [feeder]
    else:
        named = run_isolated(gis_feeders, sources, mapping, timeout_s=timeout_s, where="gis")
        known = {f.id for f in source.list_feeders() if f.twin_count > 0}
        feeders = [f for f in named if f in known]
        skipped = [f for f in named if f not in known]
        if not feeders:
            unknown = f" (named but unknown: {', '.join(skipped[:10])})" if skipped else ""
            raise InputError(
                "the layers name no feeder of the registry",
                [
                    ErrorDetail(
                        where="feeder", message=f"give a feeder, or map the layers' feeder column{unknown}"
                    )
                ],
            )
    models: dict[str, bytes] = {}
    overrides: dict[str, str] = {}
    for f in feeders:
        models[f] = source.feeder_ipc(f)
        saved = overrides_path(overrides_root, f)
        if saved.is_file():
            overrides.update(json.loads(saved.read_text()))
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
        if upload_root is not None:
            relative_report(report, upload_root)
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
    if not dry_run:
        written, _ = sink.bulk_upsert(twins_all, rels_all, replace_feeder=feeder or None)
        for f in feeders:  # kept only once the import they shaped has landed
            mine = {g: t for g, t in overrides.items() if t == "ignore" or t.startswith(f"{f}.")}
            if mine:
                path = overrides_path(overrides_root, f)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(mine, indent=1, sort_keys=True))
    report_doc: dict[str, Any] = reports[feeder] if feeder else {"feeders": reports, "skipped": skipped}
    return GisImport(sorted(results), int(written), matched, unmatched, conflicts, report_doc)
