"""One GIS import as the ingestion service runs it: read the sources, reconcile with the feeder.

A module-level function of plain arguments so the service can run it in a spawned child
(``gridtwin.ingest.isolated``): GDAL reads untrusted files, and a crash there must not take the
service down. The model crosses the process boundary as Arrow IPC.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.gis.read import read_gis
from gridtwin.ingest.gis.reconcile import ReconcileReport, load_overrides, reconcile

__all__ = [
    "GIS_SUFFIXES",
    "gis_feeders",
    "gis_sources",
    "import_gis_many",
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
    features that name it, and those that name no feeder)."""
    layers = read_gis(sources, dict(mapping) if mapping is not None else None)
    out: dict[str, tuple[bytes, ReconcileReport]] = {}
    for feeder, ipc in sorted(models_ipc.items()):
        new_model, report = reconcile(FeederModel.from_ipc(ipc), layers, dict(overrides))
        out[feeder] = (new_model.to_ipc(), report)
    return out
