"""One CYME equipment catalog serving many feeders of a site.

Utilities export one equipment file (conductors, spacings, cables, transformers, regulators,
capacitors) and one network file per feeder. An import that brings equipment files keeps them as the
site's catalog; a later import of another feeder that brings only its network (and load) files is
read against that catalog. Each feeder's model still carries the catalog entries it uses (as its
LineCode and equipment rows, hence twins), so every feeder solves on its own.

``read_cyme_with_catalog`` is a module-level function of plain arguments: the ingestion service runs
it in a spawned child (``gridtwin.ingest.isolated``).
"""

from __future__ import annotations

from pathlib import Path

from gridtwin.errors import ErrorDetail, Report
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.cyme.devices import check_regulators
from gridtwin.ingest.cyme.equipment import CATALOG_SECTIONS
from gridtwin.ingest.cyme.reader import NETWORK_SECTIONS, read_cyme_sections
from gridtwin.ingest.cyme.sections import read_sections

__all__ = ["catalog_files", "keep_site_catalog", "read_cyme_with_catalog", "site_catalog_dir"]

CATALOG_FILE = "equipment.txt"


def site_catalog_dir(data_dir: Path, site: str) -> Path:
    """Where a site's CYME catalog is kept: ``{data_dir}/catalogs/{site}/cyme``."""
    return data_dir / "catalogs" / site / "cyme"


def keep_site_catalog(catalog_dir: Path, text: str) -> None:
    """Store ``text`` as the site's catalog (temp file + rename: a reader never sees half of it)."""
    catalog_dir.mkdir(parents=True, exist_ok=True)
    tmp = catalog_dir / f".{CATALOG_FILE}.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(catalog_dir / CATALOG_FILE)


def catalog_files(start: Path) -> list[Path]:
    """The equipment files under ``start``: catalog sections and no network sections."""
    files = (
        sorted(f for f in start.iterdir() if f.is_file() and f.suffix.lower() == ".txt")
        if start.is_dir()
        else [start]
    )
    found: list[Path] = []
    for f in files:
        names = set(read_sections([f]).by_section)
        if names & set(CATALOG_SECTIONS) and not names & NETWORK_SECTIONS:
            found.append(f)
    return found


def read_cyme_with_catalog(
    start: Path, feeder_id: str, site: str, catalog_dir: Path, regulators: str = "controlled"
) -> tuple[FeederModel, Report, str | None]:
    """Read an export; without equipment files of its own it is read against the site's stored
    catalog. Returns the model, the report and the catalog text to store (None: keep the stored one).
    ``regulators``: ``controlled`` or ``fixed``, as ``read_cyme`` takes it."""
    regulators = check_regulators(regulators)
    own = read_sections([start])
    equipment = catalog_files(start)
    has_catalog = bool(equipment)
    stored = catalog_dir / CATALOG_FILE
    note: ErrorDetail | None = None
    if not has_catalog and stored.is_file():
        sections = read_sections([start, stored])
        note = ErrorDetail(
            f"site catalog {site or '(default)'}",
            "no equipment file in this import: equipment read from the site's stored catalog",
            "site_catalog",
        )
    else:
        sections = own
    model, report = read_cyme_sections(sections, feeder_id, site, source=str(start), regulators=regulators)
    if note is not None:
        report.warnings.insert(0, note)
    new_catalog = None
    if has_catalog:
        new_catalog = "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in equipment)
    return model, report, new_catalog
