"""Scenario diff: a base run against one or more scenario runs, per feeder and per element.

For each compared job: per feeder, the headline metrics side by side with deltas; per element, the
new thermal violations (hours above normal in the scenario, none in the base), the change in hours
and in peak loading; per bus, new voltage violations (hours outside Range A) from the Parquet bus
tables. The inputs are QSTS results (``QstsResultStore``), whatever produced the jobs; jobs over a
different period or step than the base are refused (``check_comparable``), since every sum would differ
by the period alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gridtwin.errors import NotFoundError
from gridtwin.store.results import QstsResultStore, check_comparable

__all__ = ["FEEDER_DIFF_METRICS", "ScenarioDiff", "check_comparable", "check_jobs_comparable", "diff_jobs"]

FEEDER_DIFF_METRICS = (
    "peak_kw",
    "min_source_kw",
    "reverse_flow_hours",
    "bus_hours_outside_a",
    "buses_outside_a",
    "elements_over_normal",
    "max_loading_pct",
    "vmax_pu",
    "vmin_pu",
    "losses_kwh",
    "delivered_kwh",
    "max_aging_factor",
)
_PAGE = 1000


@dataclass
class ScenarioDiff:
    base_job: str
    jobs: list[str]
    feeders: pd.DataFrame  # feeder, job, metric columns, <metric>_base, <metric>_delta
    elements: (
        pd.DataFrame
    )  # feeder, job, element, kind, hours_over_normal(_base, _delta), max_loading_pct(...), new_violation
    buses: pd.DataFrame  # feeder, job, bus, hours_outside_a(_base, _delta), new_violation
    totals: list[dict[str, Any]] = field(
        default_factory=list
    )  # per job: new violations, delta hours, delta peak


def _all(fetch: Any, job_id: str) -> pd.DataFrame:
    frames, offset = [], 0
    while True:
        page, total = fetch(job_id, limit=_PAGE, offset=offset)
        frames.append(page)
        offset += _PAGE
        if offset >= total:
            break
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _buses(store: QstsResultStore, job_id: str, feeders: list[str]) -> pd.DataFrame:
    frames = []
    for f in feeders:
        try:
            frame = store._read_parquet(job_id, f, "buses")
        except NotFoundError:
            continue
        frames.append(frame[["bus", "hours_outside_a", "vmax_pu", "vmin_pu"]].assign(feeder=f))
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["feeder", "bus", "hours_outside_a"])
    )


def check_jobs_comparable(store: QstsResultStore, base_job: str, jobs: list[str]) -> None:
    """An ``InputError`` naming both periods for the first job that did not run over the base job's
    period and step (``hours``, ``start_hour``, ``step_minutes``)."""
    base_params = store.job_params(base_job)
    for job in jobs:
        check_comparable(base_params, store.job_params(job), base_job=base_job, job=job)


def diff_jobs(store: QstsResultStore, base_job: str, jobs: list[str]) -> ScenarioDiff:
    check_jobs_comparable(store, base_job, jobs)
    base_f = _all(store.feeders, base_job)
    base_e = _all(lambda j, **kw: store.elements(j, **kw), base_job)
    base_b = _buses(store, base_job, list(base_f["feeder"])) if len(base_f) else pd.DataFrame()
    feeders, elements, buses, totals = [], [], [], []
    for job in jobs:
        f = _all(store.feeders, job)
        merged = f[["feeder", *FEEDER_DIFF_METRICS]].merge(
            base_f[["feeder", *FEEDER_DIFF_METRICS]], on="feeder", how="outer", suffixes=("", "_base")
        )
        for m in FEEDER_DIFF_METRICS:
            merged[f"{m}_delta"] = pd.to_numeric(merged[m], errors="coerce") - pd.to_numeric(
                merged[f"{m}_base"], errors="coerce"
            )
        merged.insert(1, "job", job)
        feeders.append(merged)

        e = _all(lambda j, **kw: store.elements(j, **kw), job)
        cols = ["feeder", "element", "kind", "hours_over_normal", "max_loading_pct"]
        em = e[cols].merge(base_e[cols], on=["feeder", "element", "kind"], how="left", suffixes=("", "_base"))
        em[["hours_over_normal_base", "max_loading_pct_base"]] = em[
            ["hours_over_normal_base", "max_loading_pct_base"]
        ].fillna(0.0)
        em["hours_over_normal_delta"] = em["hours_over_normal"] - em["hours_over_normal_base"]
        em["max_loading_pct_delta"] = em["max_loading_pct"] - em["max_loading_pct_base"]
        em["new_violation"] = (em["hours_over_normal"] > 0) & (em["hours_over_normal_base"] <= 0)
        em.insert(1, "job", job)
        elements.append(em)

        b = _buses(store, job, list(f["feeder"]))
        if len(b) and len(base_b):
            bm = b.merge(base_b, on=["feeder", "bus"], how="left", suffixes=("", "_base"))
            bm["hours_outside_a_base"] = bm["hours_outside_a_base"].fillna(0.0)
        else:
            bm = b.assign(hours_outside_a_base=0.0)
        bm["hours_outside_a_delta"] = bm["hours_outside_a"] - bm["hours_outside_a_base"]
        bm["new_violation"] = (bm["hours_outside_a"] > 0) & (bm["hours_outside_a_base"] <= 0)
        bm.insert(1, "job", job)
        buses.append(bm)
        totals.append(
            {
                "job": job,
                "feeders": len(f),
                "new_element_violations": int(em["new_violation"].sum()),
                "new_bus_violations": int(bm["new_violation"].sum()),
                "delta_element_hours_over_normal": float(em["hours_over_normal_delta"].sum()),
                "delta_bus_hours_outside_a": float(bm["hours_outside_a_delta"].sum()),
                "delta_peak_kw": float(merged["peak_kw_delta"].sum(skipna=True)),
                "delta_reverse_flow_hours": float(merged["reverse_flow_hours_delta"].sum(skipna=True)),
                "delta_losses_kwh": float(merged["losses_kwh_delta"].sum(skipna=True)),
            }
        )
    return ScenarioDiff(
        base_job=base_job,
        jobs=list(jobs),
        feeders=pd.concat(feeders, ignore_index=True) if feeders else pd.DataFrame(),
        elements=pd.concat(elements, ignore_index=True) if elements else pd.DataFrame(),
        buses=pd.concat(buses, ignore_index=True) if buses else pd.DataFrame(),
        totals=totals,
    )
