"""Transformer insulation aging from loading and ambient temperature (IEEE C57.91, clause 7).

Top-oil rise follows its ultimate value through a first-order lag (time constant ``tau_top_oil_h``);
the hot-spot gradient over top oil follows the load at once (the winding time constant, minutes, is
neglected at hourly and 15-minute steps). The lag is the exact discretisation of the first-order
response for a load held constant over each step, run along the time axis for all transformers at
once. It is written in numpy (``_first_order_lag``) because scipy, whose ``signal.lfilter`` does the
same, is not a dependency of the workspace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["AgingParams", "aging_acceleration", "equivalent_aging", "hot_spot_c"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AgingParams:
    """ONAN distribution transformer defaults (65 degC rise insulation: 110 degC hot spot at 30 degC)."""

    top_oil_rise_rated_k: float = 55.0  # top-oil rise over ambient at rated load
    hot_spot_gradient_rated_k: float = 25.0  # hot spot over top oil at rated load
    loss_ratio: float = 4.5  # R: load losses at rated load / no-load losses
    oil_exponent_n: float = 0.8
    winding_exponent_m: float = 0.8
    tau_top_oil_h: float = 3.0
    reference_hot_spot_c: float = 110.0  # F_AA = 1 here


def hot_spot_c(
    loading_pu: npt.ArrayLike,
    ambient_c: npt.ArrayLike,
    step_h: float,
    params: AgingParams | None = None,
) -> FloatArray:
    """Hot-spot temperature (degC), shape (steps, transformers), from per-unit loading K.

    ``loading_pu`` is (steps, transformers); ``ambient_c`` a scalar or one value per step. The top oil
    starts in steady state with the first step's load (no warm-up transient at the start of a run).
    """
    p = params or AgingParams()
    k = np.atleast_2d(np.asarray(loading_pu, dtype=np.float64))
    if k.ndim != 2:
        raise ValueError("loading_pu must be (steps, transformers)")
    ambient = np.asarray(ambient_c, dtype=np.float64)
    if ambient.ndim == 1:
        ambient = ambient[:, None]
    r = p.loss_ratio
    ultimate_k = p.top_oil_rise_rated_k * ((k * k * r + 1.0) / (r + 1.0)) ** p.oil_exponent_n
    top_oil_k = _first_order_lag(ultimate_k, step_h / p.tau_top_oil_h)
    gradient_k = p.hot_spot_gradient_rated_k * k ** (2.0 * p.winding_exponent_m)
    return np.asarray(ambient + top_oil_k + gradient_k, dtype=np.float64)


def _first_order_lag(u: FloatArray, step_over_tau: float) -> FloatArray:
    """y[i] = a*y[i-1] + (1-a)*u[i] with a = exp(-step/tau) and y[-1] = u[0] (steady start), along axis 0.

    Closed form per block: y[s+i] = a^(i+1) * (y[s-1] + (1-a) * sum_{j<=i} a^-(j+1) u[s+j]), a cumsum
    per block for all columns at once; blocks are short enough that a^-B stays below ~e^25 (no
    overflow, and every term is positive so no cancellation).
    """
    steps = u.shape[0]
    if not steps:
        return u.copy()
    a = float(np.exp(-step_over_tau))
    block = max(1, min(512, int(25.0 / max(step_over_tau, 1e-12))))
    i = np.arange(1, min(block, steps) + 1, dtype=np.float64)[:, None]
    pw, ipw = a**i, a**-i
    y = np.empty_like(u)
    prev = u[0].copy()
    for s in range(0, steps, block):  # a few dozen blocks per year, each vectorised
        ub = u[s : s + block]
        n = len(ub)
        y[s : s + n] = pw[:n] * (prev + (1.0 - a) * np.cumsum(ub * ipw[:n], axis=0))
        prev = y[s + n - 1]
    return y


def aging_acceleration(theta_hot_spot_c: npt.ArrayLike, params: AgingParams | None = None) -> FloatArray:
    """F_AA = exp(15000/(theta_ref + 273) - 15000/(theta_H + 273)); 1.0 at the reference hot spot."""
    p = params or AgingParams()
    theta = np.asarray(theta_hot_spot_c, dtype=np.float64)
    return np.asarray(np.exp(15000.0 / (p.reference_hot_spot_c + 273.0) - 15000.0 / (theta + 273.0)))


def equivalent_aging(
    loading_pu: npt.ArrayLike,
    ambient_c: npt.ArrayLike,
    step_h: float,
    params: AgingParams | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(F_EQA, loss of life in hours) per transformer over the run (steps of equal length)."""
    k = np.atleast_2d(np.asarray(loading_pu, dtype=np.float64))
    if not k.shape[0]:
        empty = np.full(k.shape[1], np.nan)
        return empty, empty.copy()
    f_aa = aging_acceleration(hot_spot_c(k, ambient_c, step_h, params), params)
    f_eqa = f_aa.mean(axis=0)
    return f_eqa, f_eqa * (k.shape[0] * step_h)
