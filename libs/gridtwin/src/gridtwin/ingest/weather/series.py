"""Hourly weather as fetched (``WeatherSeries``), a weather year from it, and where it goes next.

A ``WeatherSeries`` is an hourly UTC frame (``VARIABLES``, NaN where the source had no value) plus
where it was fetched for and from. ``weather_year`` cuts one calendar year of exactly 8760 values per
variable out of it the way the scenario code reads weather files (29 February dropped, gaps of up to
``MAX_GAP_H`` hours interpolated, longer gaps an error). ``to_open_meteo_json`` writes a series back
as an Open-Meteo-shaped document that ``gridtwin.scenarios.weather.read_weather_file`` accepts;
``store_weather`` writes a year as profiles ``weather/{partition}/{name}``, the refs a feeder's
``circuit["ambient_profile"]`` points at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.scenarios.weather import MAX_GAP_H, OPEN_METEO_FIELDS, fill_short_gaps
from gridtwin.store.profiles import DEFAULT_START_UTC, ProfileStore

__all__ = [
    "HOURS_PER_YEAR",
    "OPEN_METEO_UNITS",
    "OPEN_METEO_VARIABLES",
    "VARIABLES",
    "WeatherSeries",
    "store_weather",
    "to_open_meteo_json",
    "weather_partition",
    "weather_year",
]

FloatArray = npt.NDArray[np.float64]
HOURS_PER_YEAR = 8760
# Our names, in the column order of a WeatherSeries frame.
VARIABLES = ("temp_c", "humidity_pct", "wind_m_per_s", "ghi_w_per_m2", "dni_w_per_m2", "dhi_w_per_m2")
# Open-Meteo name -> our name (the scenario loader's table, so both read the same variables).
OPEN_METEO_VARIABLES: dict[str, str] = {k: v for k, v in OPEN_METEO_FIELDS.items() if v in VARIABLES}
_TO_OPEN_METEO = {v: k for k, v in OPEN_METEO_VARIABLES.items()}
# The units a series is written in (what Open-Meteo answers with ``wind_speed_unit=ms``).
OPEN_METEO_UNITS = {
    "temperature_2m": "°C",
    "relative_humidity_2m": "%",
    "wind_speed_10m": "m/s",
    "shortwave_radiation": "W/m²",
    "direct_normal_irradiance": "W/m²",
    "diffuse_radiation": "W/m²",
}
Source = Literal["api", "cache"]


@dataclass(frozen=True)
class WeatherSeries:
    """Hourly weather at one place. ``frame``: a UTC ``DatetimeIndex`` (hourly, increasing, named
    ``time_utc``) and float64 columns ``VARIABLES`` (NaN = no value). ``source`` is ``"api"`` when any
    part was fetched now, ``"cache"`` when all of it came from the on-disk cache; ``notes`` say what
    was assumed or served from where."""

    frame: pd.DataFrame
    lat: float
    lon: float
    source: Source
    notes: list[ErrorDetail] = field(default_factory=list)

    @property
    def start_utc(self) -> pd.Timestamp:
        return pd.Timestamp(self.frame.index[0])

    @property
    def end_utc(self) -> pd.Timestamp:
        return pd.Timestamp(self.frame.index[-1])

    def __len__(self) -> int:
        return len(self.frame)


def _where(series: WeatherSeries) -> str:
    return f"weather {series.lat:.4f},{series.lon:.4f}"


def weather_year(series: WeatherSeries, year: int) -> tuple[dict[str, FloatArray], list[ErrorDetail]]:
    """Exactly 8760 hourly values per variable for calendar ``year`` in UTC (hour 0 = 1 January
    00:00Z; 29 February dropped in a leap year, as the scenario code does). Gaps of up to
    ``MAX_GAP_H`` hours are interpolated linearly and noted; a longer gap, or hours the series does not
    cover, raises ``InputError`` naming the variable and the first missing hour."""
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2200:
        raise InputError("weather year out of range", [ErrorDetail(where="year", message=f"{year!r}")])
    where = _where(series)
    hours = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="h", tz="UTC", inclusive="left")
    notes: list[ErrorDetail] = []
    if len(hours) == 8784:
        hours = hours[~((hours.month == 2) & (hours.day == 29))]
        notes.append(
            ErrorDetail(where=f"{where} {year}", message="leap year: 29 February dropped", code="assumption")
        )
    frame = series.frame.reindex(hours)
    out: dict[str, FloatArray] = {}
    for name in VARIABLES:
        values = frame[name].to_numpy(dtype=np.float64) if name in frame else np.full(len(hours), np.nan)
        filled, n_filled, gap = fill_short_gaps(values)
        if gap is not None:
            start, length = gap
            covered = (
                f"{series.start_utc.isoformat()} to {series.end_utc.isoformat()}"
                if len(series)
                else "no hours"
            )
            raise InputError(
                "weather year has missing values",
                [
                    ErrorDetail(
                        where=f"{where} {year}.{name}[{start}]",
                        message=f"{length} missing hours from {hours[start].isoformat()} (gaps over "
                        f"{MAX_GAP_H} h are not filled; the series covers {covered})",
                    )
                ],
            )
        if n_filled:
            first = int(np.flatnonzero(~np.isfinite(values))[0])
            notes.append(
                ErrorDetail(
                    where=f"{where} {year}.{name}",
                    message=f"{n_filled} missing hours interpolated (gaps <= {MAX_GAP_H} h), the first "
                    f"at {hours[first].isoformat()}",
                    code="assumption",
                )
            )
        out[name] = filled
    return out, notes


def _json_value(v: float) -> float | None:
    return None if not math.isfinite(v) else float(v)


def to_open_meteo_json(series: WeatherSeries) -> dict[str, Any]:
    """The series as an Open-Meteo archive document (GMT times, wind in m/s, null for no value),
    e.g. to save a fetched year as a file the scenario loader reads."""
    index = pd.DatetimeIndex(series.frame.index)
    hourly: dict[str, list[Any]] = {"time": [t.strftime("%Y-%m-%dT%H:%M") for t in index]}
    units = {"time": "iso8601"}
    for name in VARIABLES:
        if name not in series.frame:
            continue
        key = _TO_OPEN_METEO[name]
        hourly[key] = [_json_value(v) for v in series.frame[name].to_numpy(dtype=np.float64)]
        units[key] = OPEN_METEO_UNITS[key]
    return {
        "latitude": series.lat,
        "longitude": series.lon,
        "generationtime_ms": 0.0,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "hourly_units": units,
        "hourly": hourly,
    }


def store_weather(
    store: ProfileStore,
    partition: str,
    arrays: Mapping[str, npt.ArrayLike],
    *,
    start_utc: datetime = DEFAULT_START_UTC,
) -> list[str]:
    """Write a weather year (``weather_year``'s arrays: 8760 finite values per name, names from
    ``VARIABLES``, ``temp_c`` and ``ghi_w_per_m2`` required) as profiles ``weather/{partition}/{name}``;
    returns the refs. Point a feeder's ``circuit["ambient_profile"]`` at ``weather/{partition}/temp_c``
    to have QSTS aging and the scenarios use it. Replaces the partition."""
    where = f"weather/{partition}"
    unknown = sorted(set(arrays) - set(VARIABLES))
    if unknown:
        raise InputError(
            "unknown weather variables",
            [
                ErrorDetail(where=f"{where}/{n}", message=f"expected one of {list(VARIABLES)}")
                for n in unknown
            ],
        )
    missing = [n for n in ("temp_c", "ghi_w_per_m2") if n not in arrays]
    if missing:
        raise InputError(
            "weather needs temperature and irradiance",
            [ErrorDetail(where=f"{where}/{n}", message="missing") for n in missing],
        )
    names = [n for n in VARIABLES if n in arrays]
    rows = []
    for n in names:
        a = np.asarray(arrays[n], dtype=np.float64)
        if a.shape != (HOURS_PER_YEAR,):
            raise InputError(
                "weather profiles need one value per hour of a 365-day year",
                [ErrorDetail(where=f"{where}/{n}", message=f"shape {a.shape}, expected ({HOURS_PER_YEAR},)")],
            )
        rows.append(a)
    return store.write("weather", partition, names, np.vstack(rows), interval_h=1.0, start_utc=start_utc)


def _coord(value: float, pos: str, neg: str) -> str:
    v = round(float(value), 4)
    if v == 0.0:
        v = 0.0  # no "-0.0000"
    return f"{pos if v >= 0 else neg}{abs(v):.4f}"


def weather_partition(lat: float, lon: float, year: int) -> str:
    """A profile partition for the weather at (lat, lon) in ``year``, e.g. ``om-n41.8781_w87.6298-2024``
    (coordinates rounded to 4 decimals, only ``[A-Za-z0-9_.-]``)."""
    lat_f, lon_f = float(lat), float(lon)
    if not (math.isfinite(lat_f) and -90.0 <= lat_f <= 90.0):
        raise InputError("latitude out of range", [ErrorDetail(where="latitude", message=f"{lat!r}")])
    if not (math.isfinite(lon_f) and -180.0 <= lon_f <= 180.0):
        raise InputError("longitude out of range", [ErrorDetail(where="longitude", message=f"{lon!r}")])
    if isinstance(year, bool) or not isinstance(year, int) or not 0 < year < 10000:
        raise InputError("year out of range", [ErrorDetail(where="year", message=f"{year!r}")])
    return f"om-{_coord(lat_f, 'n', 's')}_{_coord(lon_f, 'e', 'w')}-{year:04d}"
