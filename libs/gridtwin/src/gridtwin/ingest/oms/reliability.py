"""IEEE 1366-2022 reliability indices from outage records, with major event days (2.5-beta method).

Definitions (N = customers served; per feeder, and for the system = all feeders in ``customers_served``):

- An interruption longer than ``momentary_max_min`` (5 min) is sustained, else momentary.
- SAIFI = sum of customers interrupted (sustained) / N.
- SAIDI = sum of customer minutes interrupted (sustained) / N, in minutes.
- CAIDI = SAIDI / SAIFI, in minutes (NaN, JSON null, when SAIFI is 0).
- MAIFI = sum of customers momentarily interrupted / N.
- An event is assigned to the day (and year) it began, in ``timezone`` (the utility's local day; UTC
  by default), also when it runs past midnight.

Major event days: daily system SAIDI (sustained customer minutes of the events that began that day /
system N); over the days with SAIDI > 0, alpha = mean and beta = standard deviation (sample, ddof=1) of
ln(daily SAIDI); T_MED = exp(alpha + 2.5 beta); a day of the reporting year whose SAIDI exceeds T_MED is a
major event day. As the standard asks, T_MED for year Y comes from the five years before Y; with fewer
earlier years in the data, from those there are; with none, from Y itself (the report's ``notes`` say
which). Indices are reported for all events and with the major event days' events left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.ingest.oms.mapping import check_timezone

__all__ = ["INDEX_COLUMNS", "Indices", "MedDay", "MedThreshold", "ReliabilityReport", "reliability"]

MED_BASIS_YEARS = 5
EVENT_SETS = ("all", "excluding_med")
INDEX_COLUMNS: tuple[str, ...] = (
    "scope", "feeder", "year", "events", "customers_served", "sustained_interruptions",
    "customers_interrupted", "customer_minutes", "momentary_interruptions", "customers_momentary",
    "saifi", "saidi_min", "caidi_min", "maifi", "med_days", "t_med_min",
)  # fmt: skip


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class Indices:
    customers_served: int
    sustained_interruptions: int = 0  # events (rows)
    customers_interrupted: int = 0  # sustained customer interruptions
    customer_minutes: float = 0.0  # sustained customer minutes interrupted
    momentary_interruptions: int = 0  # events (rows)
    customers_momentary: int = 0  # momentary customer interruptions

    @property
    def saifi(self) -> float:
        return self.customers_interrupted / self.customers_served if self.customers_served else math.nan

    @property
    def saidi_min(self) -> float:
        return self.customer_minutes / self.customers_served if self.customers_served else math.nan

    @property
    def caidi_min(self) -> float:
        return self.saidi_min / self.saifi if self.saifi else math.nan

    @property
    def maifi(self) -> float:
        return self.customers_momentary / self.customers_served if self.customers_served else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "customers_served": self.customers_served,
            "sustained_interruptions": self.sustained_interruptions,
            "customers_interrupted": self.customers_interrupted,
            "customer_minutes": _num(self.customer_minutes),
            "momentary_interruptions": self.momentary_interruptions,
            "customers_momentary": self.customers_momentary,
            "saifi": _num(self.saifi),
            "saidi_min": _num(self.saidi_min),
            "caidi_min": _num(self.caidi_min),
            "maifi": _num(self.maifi),
        }


@dataclass(frozen=True)
class MedDay:
    day: date
    saidi_min: float

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "saidi_min": _num(self.saidi_min)}


@dataclass(frozen=True)
class MedThreshold:
    year: int
    t_med_min: float | None  # None: too few days with interruptions to tell
    alpha: float | None  # mean of ln(daily SAIDI in minutes)
    beta: float | None  # standard deviation of ln(daily SAIDI), ddof=1
    days_used: int  # days with SAIDI > 0 in the basis
    basis_years: tuple[int, ...]  # the years whose days gave alpha and beta

    def to_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "t_med_min": _num(self.t_med_min),
            "alpha": _num(self.alpha),
            "beta": _num(self.beta),
            "days_used": self.days_used,
            "basis_years": list(self.basis_years),
        }


@dataclass
class ReliabilityReport:
    years: list[int]
    timezone: str
    beta_multiplier: float
    momentary_max_min: float
    customers_served: dict[str, int]
    system: dict[int, dict[str, Indices]] = field(default_factory=dict)  # year -> events -> indices
    feeders: dict[tuple[str, int], dict[str, Indices]] = field(default_factory=dict)  # (feeder, year) -> ...
    thresholds: dict[int, MedThreshold] = field(default_factory=dict)
    med_days: dict[int, list[MedDay]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and infinities as null)."""
        return {
            "timezone": self.timezone,
            "beta_multiplier": self.beta_multiplier,
            "momentary_max_min": self.momentary_max_min,
            "years": list(self.years),
            "customers_served": dict(self.customers_served),
            "system": [
                {
                    "year": year,
                    **{events: self.system[year][events].to_dict() for events in EVENT_SETS},
                    "t_med": self.thresholds[year].to_dict(),
                    "med_days": [d.to_dict() for d in self.med_days.get(year, [])],
                }
                for year in self.years
            ],
            "feeders": [
                {"feeder": feeder, "year": year, **{e: ind[e].to_dict() for e in EVENT_SETS}}
                for (feeder, year), ind in sorted(self.feeders.items())
            ],
            "notes": list(self.notes),
        }

    def frame(self) -> pd.DataFrame:
        """One row per (scope, feeder, year, events), ``INDEX_COLUMNS``; the system rows have feeder ""."""
        rows: list[dict[str, Any]] = []

        def add(scope: str, feeder: str, year: int, events: str, ind: Indices) -> None:
            t_med = self.thresholds[year].t_med_min if year in self.thresholds else None
            rows.append(
                {
                    "scope": scope, "feeder": feeder, "year": year, "events": events,
                    "customers_served": ind.customers_served,
                    "sustained_interruptions": ind.sustained_interruptions,
                    "customers_interrupted": ind.customers_interrupted, "customer_minutes": ind.customer_minutes,
                    "momentary_interruptions": ind.momentary_interruptions,
                    "customers_momentary": ind.customers_momentary, "saifi": ind.saifi, "saidi_min": ind.saidi_min,
                    "caidi_min": ind.caidi_min, "maifi": ind.maifi, "med_days": len(self.med_days.get(year, [])),
                    "t_med_min": math.nan if t_med is None else t_med,
                }
            )  # fmt: skip

        for year in self.years:
            for events in EVENT_SETS:
                add("system", "", year, events, self.system[year][events])
        for (feeder, year), ind in sorted(self.feeders.items()):
            for events in EVENT_SETS:
                add("feeder", feeder, year, events, ind[events])
        return pd.DataFrame(rows, columns=list(INDEX_COLUMNS))


def reliability(
    outages: pd.DataFrame,
    customers_served: Mapping[str, int],
    *,
    years: Iterable[int] | None = None,
    beta: float = 2.5,
    momentary_max_min: float = 5.0,
    timezone: str = "UTC",
) -> ReliabilityReport:
    """IEEE 1366 indices per feeder and system per year (``years``: default every year with outages).

    ``outages`` needs ``feeder, start_utc, duration_min, customers_interrupted, customer_minutes`` (an
    ``OUTAGE_COLUMNS`` frame); ``beta`` is the multiplier of the 2.5-beta method; ``timezone`` the zone of
    the utility's day.
    """
    served = _check_served(customers_served)
    try:
        zone = ZoneInfo(check_timezone(timezone))
    except ValueError as exc:
        raise InputError("bad time zone", [ErrorDetail("timezone", str(exc), "timezone")]) from exc
    needed = ("feeder", "start_utc", "duration_min", "customers_interrupted", "customer_minutes")
    lacking = [c for c in needed if c not in outages.columns]
    if lacking:
        raise InputError(
            "outage frame lacks columns", [ErrorDetail("outages", f"missing {', '.join(lacking)}", "column")]
        )
    n_system = sum(served.values())
    notes: list[str] = []

    data = pd.DataFrame(
        {
            "feeder": outages["feeder"].astype(str).to_numpy(),
            "duration_min": pd.to_numeric(outages["duration_min"]).to_numpy(dtype=float),
            "ci": pd.to_numeric(outages["customers_interrupted"]).to_numpy(dtype=np.int64),
            "cmi": pd.to_numeric(outages["customer_minutes"]).to_numpy(dtype=float),
        }
    )
    start = pd.to_datetime(outages["start_utc"], utc=True)
    local = pd.DatetimeIndex(start).tz_convert(zone)
    data["year"] = np.asarray(local.year, dtype=np.int64)
    data["day"] = np.asarray(local.date, dtype=object)
    unknown = data.loc[~data["feeder"].isin(list(served)), "feeder"]
    if len(unknown):
        counts = unknown.replace("", "(none)").value_counts().sort_index()
        listed = ", ".join(f"{f} ({n})" for f, n in counts.items())
        notes.append(f"{len(unknown)} outage rows on feeders without a customer count left out: {listed}")
        data = data[data["feeder"].isin(list(served))]
    data["sustained"] = data["duration_min"] > momentary_max_min

    data_years = sorted({int(y) for y in data["year"]})
    report_years = sorted({int(y) for y in years}) if years is not None else data_years
    if not report_years:
        notes.append("no outages: no years to report")

    sustained = data[data["sustained"]]
    daily = (sustained.groupby("day")["cmi"].sum() / n_system) if len(sustained) else pd.Series(dtype=float)
    day_year = pd.Series([d.year for d in daily.index], index=daily.index, dtype="int64")

    report = ReliabilityReport(
        years=report_years,
        timezone=timezone,
        beta_multiplier=beta,
        momentary_max_min=momentary_max_min,
        customers_served=dict(served),
        notes=notes,
    )
    med_day_set: set[date] = set()
    for year in report_years:
        earlier = tuple(y for y in data_years if year - MED_BASIS_YEARS <= y < year)
        basis = earlier or (year,)
        if not earlier:
            notes.append(f"T_MED for {year} from {year}'s own days: no earlier years in the data")
        elif len(earlier) < MED_BASIS_YEARS:
            notes.append(
                f"T_MED for {year} from {len(earlier)} earlier year(s) ({', '.join(map(str, earlier))}); "
                f"IEEE 1366 uses {MED_BASIS_YEARS}"
            )
        values = daily[day_year.isin(basis) & (daily > 0)].to_numpy(dtype=float)
        if len(values) < 2:
            notes.append(f"T_MED for {year}: fewer than 2 days with sustained interruptions; no MED days")
            report.thresholds[year] = MedThreshold(year, None, None, None, len(values), basis)
            report.med_days[year] = []
            continue
        logs = np.log(values)
        alpha = float(np.mean(logs))
        beta_std = float(np.std(logs, ddof=1))
        t_med = math.exp(alpha + beta * beta_std)
        report.thresholds[year] = MedThreshold(year, t_med, alpha, beta_std, len(values), basis)
        in_year = daily[(day_year == year) & (daily > t_med)]
        report.med_days[year] = [
            MedDay(d, float(v)) for d, v in zip(in_year.index, in_year.to_numpy(), strict=True)
        ]
        med_day_set.update(in_year.index)

    data["med"] = data["day"].isin(med_day_set)
    groups: dict[tuple[int, str], pd.DataFrame] = {}
    for key, group in data.groupby(["year", "feeder"], sort=False):
        year_key, feeder_key = cast(tuple[int, str], key)  # a two-column groupby gives pairs
        groups[(int(year_key), str(feeder_key))] = group
    for year in report_years:
        rows = data[data["year"] == year]
        report.system[year] = {
            "all": _indices(rows, n_system),
            "excluding_med": _indices(rows[~rows["med"]], n_system),
        }
        for feeder, n in sorted(served.items()):
            mine = groups.get((year, feeder), data.iloc[:0])
            report.feeders[(feeder, year)] = {
                "all": _indices(mine, n),
                "excluding_med": _indices(mine[~mine["med"]], n),
            }
    return report


def _indices(rows: pd.DataFrame, n: int) -> Indices:
    sus = rows[rows["sustained"]]
    mom = rows[~rows["sustained"]]
    return Indices(
        customers_served=n,
        sustained_interruptions=len(sus),
        customers_interrupted=int(sus["ci"].sum()),
        customer_minutes=float(sus["cmi"].sum()),
        momentary_interruptions=len(mom),
        customers_momentary=int(mom["ci"].sum()),
    )


def _check_served(customers_served: Mapping[str, int]) -> dict[str, int]:
    details: list[ErrorDetail] = []
    served: dict[str, int] = {}
    for feeder, n in customers_served.items():
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            details.append(
                ErrorDetail(f"customers_served.{feeder}", f"{n!r} is not a count >= 0", "customers")
            )
        else:
            served[str(feeder)] = int(n)
    if not details and sum(served.values()) == 0:
        details.append(ErrorDetail("customers_served", "no customers served: indices undefined", "customers"))
    if details:
        raise InputError("bad customers served", details)
    return served
