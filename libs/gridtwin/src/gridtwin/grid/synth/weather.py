"""A synthetic weather year for a US Midwest site: hourly temperature and global horizontal irradiance.

Hour 0 is 2025-01-01T00:00Z; local (standard) time is UTC-6. Temperature = seasonal sinusoid (coldest
mid-January) + diurnal cycle (warmest mid-afternoon, wider in summer) + a slow AR(1) weather anomaly
(synoptic systems last a few days). Irradiance is a Haurwitz clear-sky model on the sun's elevation
(textbook declination and hour angle; pvlib's accuracy is not needed for planning shapes) times a
clearness index that follows its own AR(1) process. Deterministic from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HOURS", "LAT_DEG", "LON_DEG", "UTC_OFFSET_H", "Weather", "ar1", "local_time", "weather_year"]

HOURS = 8760
UTC_OFFSET_H = -6  # US Central standard time
LAT_DEG = 41.5
LON_DEG = -90.0
_MEAN_C, _SEASON_C = 10.5, 15.0  # annual mean, seasonal half-swing
_COLDEST_DOY = 18.0
_ANOMALY_STD_C, _ANOMALY_TAU_H = 4.5, 72.0
_WEATHER_STREAM = 1_000_000  # rng stream ids apart from the feeders' [seed, index]


@dataclass(frozen=True)
class Weather:
    temp_c: np.ndarray  # (8760,) hourly, UTC
    ghi_w_per_m2: np.ndarray  # (8760,) hourly mean over the hour


def local_time() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(local hour of day 0..23, local day of year from 0 (fractional), weekday 0=Mon) per UTC hour."""
    local = np.arange(HOURS, dtype=np.float64) + UTC_OFFSET_H
    hour = np.mod(local, 24.0)
    doy = local / 24.0
    # 2025-01-01 is a Wednesday (weekday 2); local hours before midnight UTC-6 fall on Tuesday.
    weekday = np.mod(np.floor(doy).astype(np.int64) + 2, 7)
    return hour, doy, weekday


def ar1(rng: np.random.Generator, n: int, tau_h: float, std: float) -> np.ndarray:
    """Stationary AR(1) with correlation time ``tau_h`` hours and standard deviation ``std``."""
    phi = float(np.exp(-1.0 / tau_h))
    eps = rng.standard_normal(n) * std * np.sqrt(1.0 - phi * phi)
    out = np.empty(n)
    out[0] = rng.standard_normal() * std
    for i in range(1, n):  # a plain loop: 8760 steps, ~3 ms; scipy.signal.lfilter would add a dependency
        out[i] = phi * out[i - 1] + eps[i]
    return out


def weather_year(seed: int) -> Weather:
    rng = np.random.default_rng([seed, _WEATHER_STREAM])
    hour, doy, _ = local_time()
    season = -np.cos(2 * np.pi * (doy - _COLDEST_DOY) / 365.0)  # -1 mid-January, +1 mid-July
    diurnal_amp = 5.0 + 1.5 * season
    temp = (
        _MEAN_C
        + _SEASON_C * season
        + diurnal_amp * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
        + ar1(rng, HOURS, _ANOMALY_TAU_H, _ANOMALY_STD_C)
    )
    # Sun at the middle of each hour; solar time from longitude (equation of time ignored).
    utc_mid = np.arange(HOURS, dtype=np.float64) + 0.5
    solar_hour = np.mod(utc_mid + LON_DEG / 15.0, 24.0)
    day = np.floor((utc_mid + LON_DEG / 15.0) / 24.0) + 1.0
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284.0 + day) / 365.0)
    lat = np.radians(LAT_DEG)
    omega = np.radians(15.0 * (solar_hour - 12.0))
    sin_elev = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(omega)
    cos_z = np.clip(sin_elev, 0.0, 1.0)
    with np.errstate(divide="ignore", over="ignore"):
        clear = np.where(cos_z > 0.01, 1098.0 * cos_z * np.exp(-0.057 / np.maximum(cos_z, 0.01)), 0.0)
    cloud = ar1(rng, HOURS, 18.0, 1.0)
    clearness = np.clip(0.72 + 0.28 * np.tanh(cloud) - 0.15 * (season < 0), 0.1, 1.0)
    ghi = clear * clearness
    return Weather(temp_c=np.round(temp, 2), ghi_w_per_m2=np.round(ghi, 1))
