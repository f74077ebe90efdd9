"""Who adopts a technology: how many customers (``adoption_count``) and which ones
(``pick_customers``). Shared by the EV, solar and electrification layers.

Counts round half up (``floor(x + 0.5)``) so 15 % of 10 customers is 2, never banker's 2-or-1.
Picks are seeded by the caller's generator (``ScenarioContext.rng``): the same scenario seed gives
the same customers. ``by_size`` draws without replacement with probability proportional to peak kW
(an income / house-size proxy); ``by_transformer`` clusters adoption: whole service transformers are
taken in random (or size-weighted) order and the last one only partly, as neighbours tend to follow
each other.
"""

from __future__ import annotations

import fnmatch
import math

import numpy as np
import numpy.typing as npt

from gridtwin.scenarios.schema import Adoption, Allocation
from gridtwin.scenarios.state import ScenarioState

__all__ = ["adoption_count", "adoption_pct", "pick_customers"]

IntArray = npt.NDArray[np.int64]
# Guards the half-up rounding against products such as 0.145 * 100 = 14.499999999999998.
_ROUND_EPS = 1e-9


def adoption_pct(adoption: Adoption, feeder: str, allocation: Allocation) -> float | None:
    """The share (%) that applies on ``feeder``: a ``feeder_pct`` override (first matching fnmatch
    pattern wins), else ``pct``, else the ``curve`` read at ``year`` (linear, flat outside); None
    for a ``count``."""
    for pattern, pct in allocation.feeder_pct.items():
        if fnmatch.fnmatchcase(feeder, pattern):
            return float(pct)
    if adoption.pct is not None:
        return float(adoption.pct)
    if adoption.curve is not None and adoption.year is not None:
        years = sorted(adoption.curve)
        values = [adoption.curve[y] for y in years]
        return float(np.interp(float(adoption.year), years, values))
    return None


def adoption_count(adoption: Adoption, eligible: int, feeder: str, allocation: Allocation) -> int:
    """How many of ``eligible`` customers adopt on ``feeder`` (never more than ``eligible``)."""
    eligible = max(int(eligible), 0)
    pct = adoption_pct(adoption, feeder, allocation)
    if pct is None:
        return min(int(adoption.count or 0), eligible)
    n = math.floor(pct * eligible / 100.0 + 0.5 + _ROUND_EPS)
    return min(max(n, 0), eligible)


def _exclusion_mask(exclude: np.ndarray | None, n: int) -> npt.NDArray[np.bool_]:
    """``exclude`` as a boolean mask: either a mask of length ``n`` or positional indices."""
    if exclude is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(exclude)
    if arr.dtype == np.bool_:
        if arr.shape != (n,):
            raise ValueError(f"exclude mask has {arr.size} values for {n} customers")
        return arr.copy()
    mask = np.zeros(n, dtype=bool)
    mask[arr.astype(np.int64)] = True
    return mask


def _draw(
    rng: np.random.Generator, items: IntArray, n: int, weights: npt.NDArray[np.float64] | None
) -> IntArray:
    """``n`` of ``items`` without replacement, uniformly or with probability proportional to
    ``weights``; items of zero weight are only drawn once the positive ones are exhausted."""
    if n <= 0 or items.size == 0:
        return np.empty(0, dtype=np.int64)
    if weights is None:
        return np.asarray(rng.choice(items, size=n, replace=False), dtype=np.int64)
    w = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
    positive = w > 0
    k = min(n, int(positive.sum()))
    chosen = (
        np.asarray(rng.choice(items[positive], size=k, replace=False, p=w[positive] / w[positive].sum()))
        if k
        else np.empty(0, dtype=np.int64)
    )
    rest = _draw(rng, items[~positive], n - k, None) if n > k else np.empty(0, dtype=np.int64)
    return np.concatenate([chosen, rest]).astype(np.int64)


def pick_customers(
    state: ScenarioState,
    adoption: Adoption,
    allocation: Allocation,
    rng: np.random.Generator,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Positional indices (sorted) into ``state.customers`` of the adopters. Eligible: class in
    ``allocation.customer_classes`` and not in ``exclude`` (a boolean mask or positional indices)."""
    customers = state.customers
    in_class = customers["class_name"].isin(allocation.customer_classes).to_numpy(dtype=bool)
    eligible_mask = in_class & ~_exclusion_mask(exclude, len(customers))
    eligible = np.flatnonzero(eligible_mask).astype(np.int64)
    n = adoption_count(adoption, eligible.size, state.ctx.feeder, allocation)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    p_kw = customers["p_kw"].to_numpy(dtype=np.float64)
    by_size = allocation.weighting == "by_size"
    if not allocation.by_transformer:
        picked = _draw(rng, eligible, n, p_kw[eligible] if by_size else None)
        return np.sort(picked)
    # Clustered: a customer without a known transformer is a group of its own.
    xfmr = customers["transformer"].fillna("").astype(str).to_numpy()
    names = customers.index.astype(str).to_numpy()
    group_of = np.where(xfmr[eligible] != "", "t:" + xfmr[eligible], "c:" + names[eligible])
    groups, inverse = np.unique(group_of, return_inverse=True)
    group_kw = np.bincount(inverse, weights=p_kw[eligible], minlength=groups.size).astype(np.float64)
    order = _draw(rng, np.arange(groups.size, dtype=np.int64), groups.size, group_kw if by_size else None)
    taken: list[IntArray] = []
    remaining = n
    for g in order:
        members = eligible[inverse == g]
        if members.size <= remaining:
            taken.append(members)
            remaining -= members.size
        else:  # the last transformer only partly
            taken.append(_draw(rng, members, remaining, p_kw[members] if by_size else None))
            remaining = 0
        if remaining == 0:
            break
    return np.sort(np.concatenate(taken)).astype(np.int64)
