"""What the measurement imports (meters, AMI, OMS, weather) share: where a site's measurements live,
the site's feeders from a ``FeederSource``, and the import record in SQL that says how each ended.

The imports themselves live beside their readers: ``gridtwin.ingest.ami.pipeline``,
``gridtwin.ingest.oms.pipeline``, ``gridtwin.ingest.weather.pipeline``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gridtwin.errors import ErrorDetail, GridTwinError, NotFoundError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.source import FeederSource
from gridtwin.store.ami import AmiStore
from gridtwin.store.measurements import MeasurementStore
from gridtwin.store.outages import OutageStore
from gridtwin.store.profiles import ProfileStore

__all__ = [
    "MAX_REPORT_ISSUES",
    "MeasurementStores",
    "error_report",
    "issues_report",
    "recorded_failure",
    "site_feeders",
    "site_models",
]

# A report lists this many issues (and says how many there were): a bad file can have millions.
MAX_REPORT_ISSUES = 200


@dataclass(frozen=True)
class MeasurementStores:
    records: MeasurementStore  # imports, meter directory, overrides, load summaries (SQL)
    outages: OutageStore
    ami: AmiStore
    profiles: ProfileStore

    @classmethod
    def open(cls, engine: sa.Engine, data_dir: Path) -> MeasurementStores:
        """The stores over a migrated database and ``data_dir`` (``ami/``, ``profiles/``); an AMI commit
        a crash interrupted is rolled forward first."""
        records, outages = MeasurementStore(engine), OutageStore(engine)
        ami = AmiStore(data_dir / "ami")
        ami.recover()
        return cls(records, outages, ami, ProfileStore(data_dir / "profiles"))


def site_feeders(source: FeederSource, site: str, feeders: Sequence[str] = ()) -> list[str]:
    """The site's feeders (those with twins), sorted; or ``feeders``, each checked to be one of them."""
    known = [f.id for f in source.list_feeders(site) if f.twin_count > 0]
    if not feeders:
        return sorted(known)
    unknown = [f for f in feeders if f not in known]
    if unknown:
        raise NotFoundError(
            "no such feeder", [ErrorDetail(where="feeders", message=f"{f} (site {site})") for f in unknown]
        )
    return list(feeders)


def site_models(source: FeederSource, site: str, feeders: Sequence[str] = ()) -> list[FeederModel]:
    return [source.feeder_model(f) for f in site_feeders(source, site, feeders)]


def issues_report(issues: Sequence[ErrorDetail]) -> dict[str, Any]:
    return {"issues": [d.to_dict() for d in issues[:MAX_REPORT_ISSUES]], "issues_total": len(issues)}


def error_report(exc: GridTwinError) -> dict[str, Any]:
    return {
        "error": exc.message,
        "details": [d.to_dict() for d in exc.details[:MAX_REPORT_ISSUES]],
        "details_total": len(exc.details),
    }


@contextmanager
def recorded_failure(records: MeasurementStore, import_id: str) -> Iterator[None]:
    """A ``GridTwinError`` inside finishes the import as failed, with the error as its report."""
    try:
        yield
    except GridTwinError as exc:
        records.finish_import(import_id, "failed", error_report(exc))
        raise
