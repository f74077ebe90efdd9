"""Worst-case snapshots for hosting capacity and the solves that go with them.

DOMAIN.md: the worst cases are minimum daytime load with maximum PV and peak load with no PV.
``snapshots_for`` derives both from yearly load shapes when there are any: the aggregate load (each
shape weighted by its loads' kW) is normalised by its peak; ``min_daytime_load`` is its minimum over
10:00-15:00 local time (with irradiance data only over those hours with at least half the year's
peak GHI), paired with full PV output (the conservative worst case); ``peak_load`` is 1.0 with no
PV. Without shapes the defaults (0.3 / 1.0) apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.hosting.circuit import StudyCircuit

__all__ = [
    "DEFAULT_SNAPSHOTS",
    "Snapshot",
    "apply_snapshot",
    "snapshots_for",
    "snapshots_for_model",
]

_DAY_START_H = 10
_DAY_END_H = 15  # inclusive: hours 10:00 .. 15:00 local
_SUNNY_SHARE = 0.5  # with irradiance data, daytime hours also need half the year's peak GHI


@dataclass(frozen=True)
class Snapshot:
    """A load multiplier and a PV irradiance multiplier (1.0 = rated output) for one snapshot solve."""

    name: str
    load_mult: float
    pv_mult: float


DEFAULT_SNAPSHOTS: tuple[Snapshot, ...] = (
    Snapshot("min_daytime_load", 0.3, 1.0),
    Snapshot("peak_load", 1.0, 0.0),
)


def snapshots_for(
    load_profiles: Sequence[npt.ArrayLike] | None = None,
    weights_kw: Sequence[float] | None = None,
    ghi_w_per_m2: npt.ArrayLike | None = None,
    utc_offset_h: float = 0.0,
) -> tuple[Snapshot, ...]:
    """Snapshots from hourly yearly profiles starting at 00:00 UTC (``DEFAULT_SNAPSHOTS`` when none).

    ``weights_kw`` weights each profile (default 1); ``utc_offset_h`` turns UTC hours into local ones.
    """
    if not load_profiles:
        return DEFAULT_SNAPSHOTS
    arrays = [np.asarray(p, dtype=np.float64).ravel() for p in load_profiles]
    n = min(len(a) for a in arrays)
    if n < 24:
        raise InputError(
            "load profiles too short for snapshots",
            [ErrorDetail(where="load_profiles", message=f"{n} hours")],
        )
    weights = np.ones(len(arrays)) if weights_kw is None else np.asarray(weights_kw, dtype=np.float64)
    total = np.zeros(n)
    for w, a in zip(weights, arrays, strict=True):
        peak = float(np.max(np.abs(a[:n]))) or 1.0
        total += w * a[:n] / peak
    peak_total = float(total.max())
    if peak_total <= 0:
        return DEFAULT_SNAPSHOTS
    mult = total / peak_total
    local_hour = np.mod(np.arange(n) + utc_offset_h, 24.0)
    daytime = (local_hour >= _DAY_START_H) & (local_hour <= _DAY_END_H)
    if ghi_w_per_m2 is not None:
        ghi = np.asarray(ghi_w_per_m2, dtype=np.float64).ravel()[:n]
        sunny = np.zeros(n, dtype=bool)
        if len(ghi) and float(ghi.max()) > 0:
            sunny[: len(ghi)] = ghi >= _SUNNY_SHARE * float(ghi.max())
        if (daytime & sunny).any():
            daytime &= sunny
    day = np.flatnonzero(daytime)
    k = int(day[np.argmin(mult[day])])
    pv_mult = 1.0  # the worst case pairs that load with full PV output
    return (
        Snapshot("min_daytime_load", round(float(mult[k]), 4), pv_mult),
        Snapshot("peak_load", 1.0, 0.0),
    )


def snapshots_for_model(
    model: Any, profiles: Mapping[str, np.ndarray], utc_offset_h: float = 0.0
) -> tuple[Snapshot, ...]:
    """``snapshots_for`` on a ``FeederModel`` whose load shapes reference stored ``profiles``.

    Shapes are weighted by the kW of the loads using them (``yearly``); the GHI profile is the
    weather partition of ``model.circuit["ambient_profile"]`` with name ``ghi_w_per_m2``.
    """
    shapes = model.table("loadshapes")
    loads = model.table("loads")
    if not len(shapes) or not len(loads):
        return DEFAULT_SNAPSHOTS
    refs = dict(zip(shapes["name"].astype(str).str.lower(), shapes["profile"].astype(str), strict=True))
    kw_by_shape = loads.groupby(loads["yearly"].astype(str).str.lower())["p_kw"].sum()
    arrays: list[np.ndarray] = []
    weights: list[float] = []
    for shape, kw in kw_by_shape.items():
        ref = refs.get(str(shape), "")
        if ref in profiles:
            arrays.append(profiles[ref])
            weights.append(float(kw))
    ghi = None
    ambient = str(model.circuit.get("ambient_profile", ""))
    if ambient:
        ghi = profiles.get(ambient.rpartition("/")[0] + "/ghi_w_per_m2")
    return snapshots_for(arrays or None, weights or None, ghi, utc_offset_h)


def apply_snapshot(circuit: StudyCircuit, snapshot: Snapshot) -> None:
    """Set the load multiplier and every PV's irradiance for ``snapshot``."""
    if not (snapshot.load_mult >= 0 and snapshot.pv_mult >= 0):
        raise InputError(
            "snapshot multipliers must be >= 0",
            [ErrorDetail(where=f"snapshot.{snapshot.name}", message=f"{snapshot}")],
        )
    circuit.set_operating_point(snapshot.load_mult, snapshot.pv_mult)
