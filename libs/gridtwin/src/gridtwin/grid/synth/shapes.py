"""Class load shapes (residential, commercial, industrial) driven by the weather year, and the
utility-wide per-class pools of noisy members that meters point at.

A class shape = a typical-day profile (weekday/weekend, local time) + cooling above a balance point
+ heating below one. A pool member varies the weather sensitivity (homes with and without central
air or electric heat), shifts the day by up to an hour, multiplies by its own AR(1) noise and is
normalised so its peak is 1.0: a meter's ``p_kw`` is then its own peak demand. Storing 32 members
per class instead of one shape per meter keeps a 750k-meter utility's profiles to a few MB.
"""

from __future__ import annotations

import numpy as np

from gridtwin.grid.synth.weather import HOURS, ar1, local_time, weather_year

__all__ = ["CLASSES", "POOL_SIZE", "class_pool", "pool_names"]

POOL_SIZE = 32
CLASSES = ("res", "com", "ind")  # customer_class 1, 2, 3
_POOL_STREAM = 1_000_001

# Typical-day multipliers by local hour (0..23), before weather terms.
_DAY = {
    "res": [
        *(0.36, 0.32, 0.30, 0.30, 0.31, 0.36, 0.48, 0.60, 0.58, 0.50, 0.46, 0.45),
        *(0.45, 0.44, 0.45, 0.48, 0.56, 0.68, 0.78, 0.80, 0.76, 0.68, 0.56, 0.44),
    ],
    "res_we": [
        *(0.40, 0.35, 0.32, 0.31, 0.31, 0.33, 0.38, 0.46, 0.56, 0.60, 0.60, 0.58),
        *(0.56, 0.54, 0.54, 0.56, 0.62, 0.70, 0.78, 0.78, 0.74, 0.66, 0.56, 0.46),
    ],
    "com": [
        *(0.34, 0.33, 0.33, 0.33, 0.34, 0.38, 0.50, 0.66, 0.78, 0.82, 0.84, 0.85),
        *(0.85, 0.85, 0.85, 0.84, 0.80, 0.72, 0.60, 0.50, 0.44, 0.40, 0.37, 0.35),
    ],
    "com_we": [0.33] * 7 + [0.38, 0.44, 0.48, 0.50, 0.50, 0.50, 0.50, 0.48, 0.46, 0.44, 0.40] + [0.36] * 6,
    "ind": [0.62] * 6 + [0.80] + [0.90] * 8 + [0.88] * 7 + [0.72, 0.64],
    "ind_we": [0.55] * 24,
}
# (cooling per degC above balance, balance C, heating per degC below balance, balance C)
_WEATHER = {
    "res": (0.045, 18.0, 0.012, 10.0),
    "com": (0.030, 16.0, 0.006, 8.0),
    "ind": (0.008, 18.0, 0.002, 5.0),
}
_NOISE_STD = {"res": 0.16, "com": 0.07, "ind": 0.05}


def pool_names(cls: str) -> list[str]:
    return [f"{cls}-{k:03d}" for k in range(POOL_SIZE)]


def _smoothed(temp_c: np.ndarray, hours: int = 3) -> np.ndarray:
    """Mean of the last ``hours`` hours: buildings respond to heat with a lag."""
    kernel = np.ones(hours) / hours
    padded = np.concatenate([np.full(hours - 1, temp_c[0]), temp_c])
    return np.convolve(padded, kernel, mode="valid")


def class_pool(cls: str, seed: int) -> np.ndarray:
    """(POOL_SIZE, 8760) members of class ``cls``, float32-exact values, each with peak 1.0."""
    hour, _, weekday = local_time()
    h = hour.astype(np.int64)
    weekend = weekday >= 5
    day = np.where(weekend, np.asarray(_DAY[f"{cls}_we"])[h], np.asarray(_DAY[cls])[h])
    temp = _smoothed(weather_year(seed).temp_c)
    c_kw, c_bal, h_kw, h_bal = _WEATHER[cls]
    cooling = c_kw * np.maximum(temp - c_bal, 0.0)
    heating = h_kw * np.maximum(h_bal - temp, 0.0)
    if cls == "com":  # air conditioning follows business hours
        cooling = cooling * np.where(weekend, 0.5, np.where((h >= 7) & (h < 19), 1.0, 0.4))
    elif cls == "res":  # occupancy: less cooling while people are out
        cooling = cooling * np.where((h >= 9) & (h < 15) & ~weekend, 0.6, 1.0)
    members = np.empty((POOL_SIZE, HOURS), dtype=np.float64)
    for k in range(POOL_SIZE):
        rng = np.random.default_rng([seed, _POOL_STREAM, CLASSES.index(cls), k])
        c_scale = rng.lognormal(0.0, 0.35)
        h_scale = (
            rng.choice([0.2, 1.0, 2.5], p=[0.5, 0.35, 0.15]) if cls == "res" else rng.lognormal(0.0, 0.3)
        )
        shape = day * rng.uniform(0.85, 1.15) + c_scale * cooling + h_scale * heating
        shape = np.roll(shape, int(rng.integers(-1, 2)))
        noise = 1.0 + ar1(rng, HOURS, 3.0, _NOISE_STD[cls])
        shape = np.clip(shape * noise, 0.05, None)
        members[k] = shape / shape.max()
    return members.astype(np.float32).astype(np.float64)
