"""A site's outage records in and its reliability indices out, as the Measurements service runs them,
over a ``FeederSource`` (the twin graph the outages are linked to)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gridtwin.access.principal import Principal
from gridtwin.errors import ErrorDetail, InputError, NotFoundError
from gridtwin.grid.source import FeederSource
from gridtwin.ingest.measurements import (
    MeasurementStores,
    issues_report,
    recorded_failure,
    site_feeders,
    site_models,
)
from gridtwin.ingest.oms.link import link_outages
from gridtwin.ingest.oms.mapping import OmsMapping
from gridtwin.ingest.oms.read import read_oms
from gridtwin.ingest.oms.reliability import reliability
from gridtwin.store.measurements import ImportRecord
from gridtwin.store.sites import check_writable

__all__ = ["customers_served", "import_outages", "site_reliability"]


def import_outages(
    source: FeederSource,
    stores: MeasurementStores,
    site: str,
    path: Path,
    mapping: OmsMapping,
    *,
    timezone: str = "UTC",
    skip_invalid: bool = False,
    principal: Principal | None = None,
) -> ImportRecord:
    """An OMS export read, linked to the site's twins and stored in one transaction; bad rows fail the
    import unless ``skip_invalid`` (then they are report lines). ``site`` must be ``principal``'s."""
    check_writable(principal, [site])
    params = {"timezone": timezone, "skip_invalid": skip_invalid}
    rec = stores.records.create_import("oms", site, path.name, params, principal=principal)
    with recorded_failure(stores.records, rec.id):
        frame, issues = read_oms(path, mapping, timezone=timezone)
        if issues and not skip_invalid:
            raise InputError(f"{len(issues)} outage rows are not valid (nothing imported)", issues)
        frame, link_issues = link_outages(frame, site_models(source, site))
        written = stores.outages.insert(rec.id, site, frame)
    report = {
        "outages": written,
        "skipped_rows": len(issues),
        "feeders": sorted({str(f) for f in frame["feeder"] if f}),
        "linked_devices": int((frame["device_twin"].astype(str) != "").sum()) if len(frame) else 0,
        **issues_report([*issues, *link_issues]),
    }
    return stores.records.finish_import(rec.id, "committed", report)


def customers_served(
    source: FeederSource, stores: MeasurementStores, site: str, feeders: list[str]
) -> dict[str, int]:
    """Customers per feeder: its meters when the site has a meter directory, else the loads'
    ``num_customers`` in the twin graph (feeders unknown to both are left out)."""
    directory = stores.records.meters(site, feeders)
    counts = directory[directory["role"] == "customer"].groupby("feeder").size().to_dict()
    known = set(site_feeders(source, site))
    out: dict[str, int] = {}
    for f in feeders:
        if counts.get(f):
            out[f] = int(counts[f])
        elif f in known:
            loads = source.feeder_model(f).table("loads")
            out[f] = int(pd.to_numeric(loads["num_customers"]).fillna(1).clip(lower=1).sum())
    return out


def site_reliability(
    source: FeederSource,
    stores: MeasurementStores,
    site: str,
    feeders: Sequence[str] = (),
    *,
    years: Sequence[int] = (),
    beta: float = 2.5,
    timezone: str = "",
    principal: Principal | None = None,
) -> dict[str, Any]:
    """IEEE 1366 indices of the site's stored outages (``feeders`` only, when given) as JSON: the
    report plus ``rows``, one table for clients. ``timezone`` "" keeps ``reliability``'s default.
    A site ``principal`` does not hold has no outage records for it."""
    visible = principal is None or principal.sees(site)
    frame = stores.outages.frame(site, list(feeders) or None)
    if len(frame) == 0 or not visible:
        raise NotFoundError("no outage records", [ErrorDetail(where="site", message=site)])
    served = customers_served(
        source, stores, site, sorted({str(f) for f in frame["feeder"] if f} | set(feeders))
    )
    kwargs: dict[str, Any] = {"beta": beta}
    if timezone:
        kwargs["timezone"] = timezone
    report = reliability(frame, served, years=list(years) or None, **kwargs)
    doc = report.to_dict()
    doc["rows"] = json.loads(report.frame().to_json(orient="records"))
    return doc
