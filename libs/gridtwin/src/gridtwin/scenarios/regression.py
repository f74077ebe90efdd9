"""Load-temperature regression: how a customer class's aggregate load follows the weather.

Model (per class, hourly)::

    kW(t) = a[hour_of_week(t)] + b_c * max(T_s(t) - Tc, 0) + b_h * max(Th - T_s(t), 0)

with ``T_s`` the 3-hour trailing mean of temperature (buildings respond with a lag) and the balance
points ``Tc >= Th`` chosen by a grid search. For each candidate pair the 168 hour-of-week intercepts
are partialled out (Frisch-Waugh: subtract the hour-of-week means), which leaves a two-variable least
squares problem; all pairs are solved at once from their Gram matrices, so the search costs a few
matrix products instead of thousands of 170-column fits. Pairs giving a negative slope are rejected
(more heat never lowers cooling load).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridtwin.scenarios.state import ScenarioContext

__all__ = ["HOURS_OF_WEEK", "LoadTemperatureFit", "fit_load_temperature", "hour_of_week", "smoothed_temp_c"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

HOURS_OF_WEEK = 168
SMOOTHING_H = 3
_GRID_STEP_C = 0.5
_GRID_QUANTILES = (0.02, 0.98)  # balance points inside the observed range: both terms stay identifiable


def hour_of_week(ctx: ScenarioContext) -> IntArray:
    """Local hour of the week per run hour: Monday 00:00 = 0 ... Sunday 23:00 = 167."""
    return (ctx.weekday.astype(np.int64) * 24 + ctx.local_hour.astype(np.int64)).astype(np.int64)


def smoothed_temp_c(temp_c: FloatArray, hours: int = SMOOTHING_H) -> FloatArray:
    """Mean of the last ``hours`` hours (the first hours repeat the first value)."""
    t = np.asarray(temp_c, dtype=np.float64)
    padded = np.concatenate([np.full(hours - 1, t[0]), t])
    return np.convolve(padded, np.ones(hours) / hours, mode="valid")


@dataclass(frozen=True)
class LoadTemperatureFit:
    """A fitted class model; ``predict`` evaluates it on any temperature series."""

    class_name: str
    n_hours: int
    r2: float
    rmse_kw: float
    mean_kw: float
    cooling_balance_c: float
    heating_balance_c: float
    cooling_kw_per_c: float
    heating_kw_per_c: float
    intercepts_kw: FloatArray  # (168,) by hour of week

    def predict(self, temp_c: FloatArray, how: IntArray) -> FloatArray:
        t_s = smoothed_temp_c(temp_c)
        cdd = np.maximum(t_s - self.cooling_balance_c, 0.0)
        hdd = np.maximum(self.heating_balance_c - t_s, 0.0)
        return np.asarray(
            self.intercepts_kw[how] + self.cooling_kw_per_c * cdd + self.heating_kw_per_c * hdd,
            dtype=np.float64,
        )

    def summary(self) -> str:
        return (
            f"{self.class_name}: R2 {self.r2:.3f}, RMSE {self.rmse_kw:.1f} kW (mean {self.mean_kw:.1f} kW), "
            f"cooling {self.cooling_kw_per_c:.2f} kW/degC above {self.cooling_balance_c:.1f} C, "
            f"heating {self.heating_kw_per_c:.2f} kW/degC below {self.heating_balance_c:.1f} C"
        )


def _demean(x: FloatArray, how: IntArray, counts: FloatArray) -> FloatArray:
    """Subtract each hour-of-week group's mean (rows of ``x`` are series)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        means = np.bincount(how, weights=x[i], minlength=HOURS_OF_WEEK) / counts
        out[i] = x[i] - means[how]
    return out


def fit_load_temperature(
    load_kw: FloatArray, temp_c: FloatArray, how: IntArray, class_name: str = ""
) -> LoadTemperatureFit:
    """Fit the model above by least squares with a grid search over (Tc, Th) in 0.5 degC steps."""
    y = np.asarray(load_kw, dtype=np.float64)
    t = np.asarray(temp_c, dtype=np.float64)
    how = np.asarray(how, dtype=np.int64)
    if not (y.shape == t.shape == how.shape) or y.ndim != 1:
        raise ValueError("load, temperature and hour-of-week series need the same length")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(t))):
        raise ValueError("load and temperature must be finite to fit the weather regression")
    n = y.size
    counts = np.maximum(np.bincount(how, minlength=HOURS_OF_WEEK).astype(np.float64), 1.0)
    t_s = smoothed_temp_c(t)
    lo, hi = np.quantile(t_s, _GRID_QUANTILES)
    grid = np.arange(np.ceil(lo / _GRID_STEP_C), np.floor(hi / _GRID_STEP_C) + 1) * _GRID_STEP_C

    cdd = _demean(np.maximum(t_s[None, :] - grid[:, None], 0.0), how, counts)  # (G, n)
    hdd = _demean(np.maximum(grid[:, None] - t_s[None, :], 0.0), how, counts)
    y_d = _demean(y[None, :], how, counts)[0]
    # Normal equations of every (Tc = grid[i], Th = grid[j]) pair at once.
    s_cc = np.einsum("in,in->i", cdd, cdd)[:, None]
    s_hh = np.einsum("jn,jn->j", hdd, hdd)[None, :]
    s_ch = cdd @ hdd.T
    r_c = (cdd @ y_d)[:, None]
    r_h = (hdd @ y_d)[None, :]
    det = s_cc * s_hh - s_ch * s_ch
    ok = det > 1e-9 * s_cc * s_hh
    safe = np.where(ok, det, 1.0)
    b_c = (s_hh * r_c - s_ch * r_h) / safe
    b_h = (s_cc * r_h - s_ch * r_c) / safe
    explained = b_c * r_c + b_h * r_h  # reduction of the residual sum of squares
    valid = ok & (b_c >= 0.0) & (b_h >= 0.0) & (grid[None, :] <= grid[:, None])
    if valid.any():
        i, j = np.unravel_index(int(np.argmax(np.where(valid, explained, -np.inf))), valid.shape)
        tc, th, bc, bh = float(grid[i]), float(grid[j]), float(b_c[i, j]), float(b_h[i, j])
    else:  # no weather signal: intercepts only
        tc, th, bc, bh = float(grid[-1]) if grid.size else 0.0, float(grid[0]) if grid.size else 0.0, 0.0, 0.0

    c_raw = np.maximum(t_s - tc, 0.0)
    h_raw = np.maximum(th - t_s, 0.0)
    intercepts = np.bincount(how, weights=y - bc * c_raw - bh * h_raw, minlength=HOURS_OF_WEEK) / counts
    resid = y - (intercepts[how] + bc * c_raw + bh * h_raw)
    sse = float(resid @ resid)
    sst = float(((y - y.mean()) ** 2).sum())
    return LoadTemperatureFit(
        class_name=class_name,
        n_hours=n,
        r2=1.0 - sse / sst if sst > 0 else 1.0,
        rmse_kw=float(np.sqrt(sse / n)),
        mean_kw=float(y.mean()),
        cooling_balance_c=tc,
        heating_balance_c=th,
        cooling_kw_per_c=bc,
        heating_kw_per_c=bh,
        intercepts_kw=intercepts,
    )
