"""EV charging layer: chargers at adopting customers, each an added load ``kw * shape``.

A layer's *average shape* (per unit of the charger's kW, hourly, local clock) comes from a built-in
profile (``data/ev_profiles.yaml``: weekday/weekend typical days times a seasonal factor; DJF winter,
MAM spring, JJA summer, SON fall), with every parameter overridable from the layer, or from a custom
profile (a typical day of 24/96 values, or a full year of 8760 used as is). ``daily_kwh`` rescales
the built shape so its annual mean is exactly that many kWh per charger per day.

Diversity: one smooth average curve on every charger hides what overloads service transformers
(cars charging at full power at once), so each layer builds a pool of session-based member shapes
(up to 128, one per charger when fewer) assigned round robin. Every local day, member k charges once
at full power (1.0 pu) for exactly that day's energy of the average shape (its sum over the day, in
hours at full power), centred on an hour drawn from the average shape's own weights that day; a
session may run past midnight (and round the end of the year), and where it overlaps the next
day's session the overlap moves to the following hours. Each member therefore delivers exactly the
average shape's energy, day by day, so the layer's energy is exactly ``chargers * kw * sum(avg)``;
the pool's mean follows the average shape in expectation, not hour by hour.

Conflicts: a customer may get a charger from several EV layers (two-EV households; counted in
``state.notes``) but at most one per layer.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.scenarios.adoption import pick_customers
from gridtwin.scenarios.schema import EvLayer
from gridtwin.scenarios.state import ADDED_LOAD_COLUMNS, ScenarioState

__all__ = [
    "BUILTIN_PROFILES",
    "POOL_MEMBERS",
    "SEASONS",
    "EvProfile",
    "added_load_rows",
    "append_added_loads",
    "apply_ev_layer",
    "ev_average_shape",
    "member_pool",
    "read_profile_csv",
    "seasonal_multiplier",
    "to_hourly_day",
]

FloatArray = npt.NDArray[np.float64]
SEASONS = ("winter", "spring", "summer", "fall")
_SEASON_OF_MONTH = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0], dtype=np.int64)  # [month], 1..12
POOL_MEMBERS = 128  # members per layer (fewer when fewer chargers): ~4 chargers share one at 500
_PU_TOL = 1e-9
# Columns a CSV may carry besides the values (ignored when picking the value column).
_TIME_COLUMNS = {"hour", "hour_of_day", "time", "timestamp", "datetime", "date", "index", "interval"}


@dataclass(frozen=True)
class EvProfile:
    name: str
    kw: float
    level: str  # level1 | level2 | dcfast
    weekday_24h: tuple[float, ...]
    weekend_24h: tuple[float, ...]
    seasonal_factors: Mapping[str, float]
    daily_kwh: float  # documented annual mean kWh per charger per day
    note: str = ""


def _load_builtin() -> Mapping[str, EvProfile]:
    text = resources.files("gridtwin.scenarios").joinpath("data/ev_profiles.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    out: dict[str, EvProfile] = {}
    for name, p in raw.items():
        out[name] = EvProfile(
            name=name,
            kw=float(p["kw"]),
            level=str(p["level"]),
            weekday_24h=tuple(float(v) for v in p["weekday_24h"]),
            weekend_24h=tuple(float(v) for v in p["weekend_24h"]),
            seasonal_factors=MappingProxyType({s: float(p["seasonal_factors"][s]) for s in SEASONS}),
            daily_kwh=float(p["daily_kwh"]),
            note=str(p.get("note", "")),
        )
    return MappingProxyType(out)


BUILTIN_PROFILES: Mapping[str, EvProfile] = _load_builtin()


# -- shapes ----------------------------------------------------------------------------------------


def _check_pu(values: FloatArray, where: str) -> None:
    bad = ~np.isfinite(values) | (values < 0.0) | (values > 1.0 + _PU_TOL)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            "charging shape values must be per unit of the charger's kW (0..1)",
            [ErrorDetail(where=f"{where}[{i}]", message=f"value {values[i]!r} is outside 0..1")],
        )


def to_hourly_day(values: Sequence[float], where: str) -> FloatArray:
    """A typical day as 24 hourly values: 24 as given, 96 quarter-hours averaged (energy kept)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size not in (24, 96):
        raise InputError(
            "a typical day needs 24 hourly or 96 quarter-hour values",
            [ErrorDetail(where=where, message=f"{arr.size} values")],
        )
    _check_pu(arr, where)
    return arr if arr.size == 24 else arr.reshape(24, 4).mean(axis=1)


def seasonal_multiplier(month: npt.NDArray[np.int64], factors: Mapping[str, float]) -> FloatArray:
    """Per hour, the factor of the hour's season (by local month)."""
    table = np.array([float(factors.get(s, 1.0)) for s in SEASONS])
    return np.asarray(table[_SEASON_OF_MONTH[month]], dtype=np.float64)


def _given(override: Sequence[float] | None, default: Sequence[float]) -> Sequence[float]:
    return default if override is None else override


def ev_average_shape(state: ScenarioState, layer: EvLayer, where: str) -> tuple[FloatArray, float, str]:
    """The layer's average per-unit shape (``ctx.hours`` values), its charger kW and level."""
    profile = BUILTIN_PROFILES.get(layer.profile)
    if profile is None:
        raise InputError(
            "unknown EV profile",
            [
                ErrorDetail(
                    where=f"{where}.profile",
                    message=f"{layer.profile!r}; built-in profiles: {', '.join(sorted(BUILTIN_PROFILES))}",
                )
            ],
        )
    ctx = state.ctx
    kw = float(layer.kw if layer.kw is not None else profile.kw)
    custom = layer.custom_profile
    if custom is not None:
        if layer.weekday_24h is not None or layer.weekend_24h is not None:
            raise InputError(
                "an EV layer takes a custom profile or weekday/weekend shapes, not both",
                [ErrorDetail(where=f"{where}.custom_profile", message="remove weekday_24h/weekend_24h")],
            )
        if custom.values is None:
            raise InputError(
                "the custom EV profile was not loaded",
                [
                    ErrorDetail(
                        where=f"{where}.custom_profile", message=f"no values (csv {custom.csv!r} not read)"
                    )
                ],
            )
        values = np.asarray(custom.values, dtype=np.float64)
        vwhere = f"{where}.custom_profile.values"
        # A custom typical day carries its own seasonality: only the layer's factors apply to it.
        factors: dict[str, float] = {str(k): v for k, v in (layer.seasonal_factors or {}).items()}
        if values.size == ctx.hours and values.size not in (24, 96):
            _check_pu(values, vwhere)
            shape = values.copy()  # a full year, used as is
        elif values.size in (24, 96):
            day = to_hourly_day(values.tolist(), vwhere)
            shape = day[ctx.local_hour] * seasonal_multiplier(ctx.month, factors)
        else:
            raise InputError(
                "a custom EV profile needs 24, 96 or one value per hour of the run",
                [ErrorDetail(where=vwhere, message=f"{values.size} values, run has {ctx.hours} hours")],
            )
    else:
        weekday = to_hourly_day(_given(layer.weekday_24h, profile.weekday_24h), f"{where}.weekday_24h")
        weekend = to_hourly_day(_given(layer.weekend_24h, profile.weekend_24h), f"{where}.weekend_24h")
        factors = {
            **profile.seasonal_factors,
            **{str(k): v for k, v in (layer.seasonal_factors or {}).items()},
        }
        day = np.where(ctx.weekday >= 5, weekend[ctx.local_hour], weekday[ctx.local_hour])
        shape = day * seasonal_multiplier(ctx.month, factors)
    if layer.daily_kwh is not None:
        energy = kw * float(shape.sum())
        if energy <= 0.0:
            raise InputError(
                "daily_kwh cannot rescale an all-zero charging shape",
                [ErrorDetail(where=f"{where}.daily_kwh", message="the shape has no energy")],
            )
        shape = shape * (layer.daily_kwh * ctx.hours / 24.0 / energy)
    if float(shape.max(initial=0.0)) > 1.0 + _PU_TOL:
        i = int(np.argmax(shape))
        raise InputError(
            "the charging shape needs more than the charger's kW",
            [
                ErrorDetail(
                    where=f"{where}.daily_kwh"
                    if layer.daily_kwh is not None
                    else f"{where}.seasonal_factors",
                    message=f"{shape[i]:.3f} pu at hour {i} (local {ctx.local_hour[i]}:00); lower it or raise kw",
                )
            ],
        )
    return np.clip(shape, 0.0, 1.0), kw, profile.level


def member_pool(
    avg: FloatArray,
    day_index: npt.NDArray[np.int64],
    rng: np.random.Generator,
    members: int = POOL_MEMBERS,
) -> FloatArray:
    """(members, hours) session-based shapes in [0, 1] (see module doc): every local day each member
    charges once at full power for exactly that day's energy of ``avg``, centred on an hour drawn
    from ``avg``'s own distribution over the day."""
    hours = avg.size
    n_days = int(day_index.max()) + 1 if day_index.size else 0
    first = np.searchsorted(day_index, np.arange(n_days))  # first hour of each local day
    last = np.append(first[1:], hours)
    energy = np.add.reduceat(avg, first) if n_days else np.zeros(0)  # pu-hours per day
    pool = np.zeros((members, hours))
    span = 26  # a session lasts at most 24 h (avg <= 1) and may start mid-hour
    for m in range(members):
        centre = np.empty(n_days)
        for d in range(n_days):  # 365 small draws: the day's own hourly weights
            w = avg[first[d] : last[d]]
            total = w.sum()
            h = rng.choice(w.size, p=w / total) if total > 0 else 0
            centre[d] = first[d] + h + rng.uniform()
        t0 = centre - energy / 2.0
        t1 = t0 + energy
        h0 = np.floor(t0).astype(np.int64)
        k = h0[:, None] + np.arange(span)[None, :]
        cover = np.clip(np.minimum(k + 1, t1[:, None]) - np.maximum(k, t0[:, None]), 0.0, 1.0)
        np.add.at(pool[m], np.mod(k, hours).ravel(), cover.ravel())  # wraps round the year
        _carry_excess(pool[m])
    return pool


def _carry_excess(row: FloatArray) -> None:
    """Where two sessions overlap (a late session running into the next day's), the charger is
    already at full power: the excess moves to the following hours, so no energy is lost."""
    over = np.flatnonzero(row > 1.0)
    if not over.size:
        return
    n = row.size
    carry = 0.0
    i = int(over[0])
    steps = 0
    while steps < n and (carry > 1e-12 or row[i % n] > 1.0):
        j = i % n
        row[j] += carry
        carry = max(row[j] - 1.0, 0.0)
        row[j] = min(row[j], 1.0)
        i += 1
        steps += 1
        if carry <= 1e-12:
            nxt = np.flatnonzero(row > 1.0)
            if not nxt.size:
                break
            i = int(nxt[0])


# -- custom profile CSV ----------------------------------------------------------------------------


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def read_profile_csv(path: Path, column: str | None = None, *, per_unit: bool = True) -> list[float]:
    """The values of a profile CSV: a header row, then 24, 96 or 8760 rows of one numeric column
    (or the column named). Errors name ``file:line``."""
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            "profile CSV is not UTF-8 text",
            [
                ErrorDetail(
                    where=f"{path}:{line}",
                    message=f"byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8 (CSV UTF-8)",
                    code="encoding",
                )
            ],
        ) from exc
    reader = csv.reader(io.StringIO(text))
    rows = [(reader.line_num, [c.strip() for c in row]) for row in reader if any(c.strip() for c in row)]
    if not rows:
        raise InputError(
            "profile CSV is empty", [ErrorDetail(where=f"{path}:1", message="no header, no values")]
        )
    header_line, header = rows[0]
    data = rows[1:]
    col = _value_column(path, header_line, header, data, column)
    details: list[ErrorDetail] = []
    values: list[float] = []
    for line, row in data:
        where = f"{path}:{line}"
        cell = row[col] if col < len(row) else ""
        v = _number(cell)
        if v is None:
            details.append(ErrorDetail(where=where, message=f"{header[col]}: {cell!r} is not a number"))
        elif not math.isfinite(v):
            details.append(ErrorDetail(where=where, message=f"{header[col]}: {cell!r} (NaN/inf not allowed)"))
        elif v < 0.0:
            details.append(ErrorDetail(where=where, message=f"{header[col]}: {v} is negative"))
        elif per_unit and v > 1.0:
            details.append(
                ErrorDetail(
                    where=where, message=f"{header[col]}: {v} > 1 (per unit of the charger's kW: 0..1)"
                )
            )
        else:
            values.append(v)
    if details:
        raise InputError("bad values in profile CSV", details)
    if len(data) not in (24, 96, 8760):
        last = data[-1][0] if data else header_line
        raise InputError(
            "profile CSV has the wrong number of rows",
            [ErrorDetail(where=f"{path}:{last}", message=f"{len(data)} data rows; expected 24, 96 or 8760")],
        )
    return values


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError("cannot read profile CSV", [ErrorDetail(where=str(path), message=str(exc))]) from exc


def _value_column(
    path: Path, header_line: int, header: list[str], data: list[tuple[int, list[str]]], column: str | None
) -> int:
    where = f"{path}:{header_line}"
    if all(_number(c) is not None for c in header):
        raise InputError(
            "profile CSV needs a header row",
            [
                ErrorDetail(
                    where=where, message=f"first row {','.join(header)!r} is numeric; add column names"
                )
            ],
        )
    if column is not None:
        if column not in header:
            raise InputError(
                "profile CSV has no such column",
                [ErrorDetail(where=where, message=f"{column!r} not in {header}")],
            )
        return header.index(column)
    if len(header) == 1:
        return 0
    candidates = [
        i
        for i, name in enumerate(header)
        if name.lower() not in _TIME_COLUMNS
        and all(i < len(row) and _number(row[i]) is not None for _, row in data)
    ]
    if len(candidates) != 1:
        found = ", ".join(header[i] for i in candidates) or "none"
        raise InputError(
            "profile CSV: name the value column",
            [ErrorDetail(where=where, message=f"numeric columns: {found}; set column")],
        )
    return candidates[0]


# -- the layer -------------------------------------------------------------------------------------


def added_load_rows(
    layer_id: str,
    prefix: str,
    kind: str,
    customers: pd.DataFrame,
    kw: float,
    pf: float,
    shapes: Sequence[str],
    level: str = "",
) -> pd.DataFrame:
    """``ADDED_LOAD_COLUMNS`` rows for loads added at ``customers`` (one each, named
    ``<prefix>_<layer>_<n>``), on the customer's bus, phases and kV."""
    n = len(customers)
    return pd.DataFrame(
        {
            "name": [f"{prefix}_{layer_id}_{i + 1:04d}".lower() for i in range(n)],
            "layer": layer_id,
            "kind": kind,
            "customer": customers.index.astype(str),
            "bus1": customers["bus1"].to_numpy(),
            "phases": customers["phases"].to_numpy(),
            "kv": customers["kv"].to_numpy(),
            "kw": kw,
            "pf": pf,
            "shape": list(shapes),
            "level": level,
        },
        columns=list(ADDED_LOAD_COLUMNS),
    )


def append_added_loads(state: ScenarioState, rows: pd.DataFrame) -> None:
    """Append rows (ADDED_LOAD_COLUMNS) to ``state.loads_added`` (no concat with an empty frame:
    pandas warns about its dtype inference)."""
    rows = rows[list(ADDED_LOAD_COLUMNS)]
    if rows.empty:
        return
    if state.loads_added.empty:
        state.loads_added = rows.reset_index(drop=True)
    else:
        state.loads_added = pd.concat([state.loads_added, rows], ignore_index=True)


def _customers_with(state: ScenarioState, kind: str, layer: str | None = None) -> npt.NDArray[np.bool_]:
    """Mask over customers that already have an added load of ``kind`` (from ``layer`` if given)."""
    added = state.loads_added
    sel = added["kind"] == kind
    if layer is not None:
        sel &= added["layer"] == layer
    return np.asarray(state.customers.index.isin(added.loc[sel, "customer"]), dtype=bool)


def apply_ev_layer(state: ScenarioState, layer: EvLayer, index: int) -> None:
    where = f"layers[{index}] ({layer.id})"
    avg, kw, level = ev_average_shape(state, layer, where)
    picks = pick_customers(
        state,
        layer.adoption,
        layer.allocation,
        state.ctx.rng(index),
        exclude=_customers_with(state, "ev", layer.id),
    )
    n = int(picks.size)
    if n == 0:
        state.record(layer.id, "ev", "ev", 0, 0.0, 0.0, note="no customer adopted")
        return
    second = int(_customers_with(state, "ev")[picks].sum())
    used = min(n, POOL_MEMBERS)
    member_of = np.arange(n) % used
    chargers_per_member = np.bincount(member_of, minlength=used).astype(np.float64)
    pool = member_pool(avg, state.ctx.day_index, state.ctx.rng(index, 1), used)
    keys = [state.add_shape(f"ev_{layer.id}_m{k:02d}".lower(), pool[k]) for k in range(used)]
    cust = state.customers.iloc[picks]
    rows = added_load_rows(
        layer.id, "ev", "ev", cust, kw, layer.power_factor,
        [keys[m] for m in member_of], level,
    )  # fmt: skip
    append_added_loads(state, rows)
    coincident = kw * (chargers_per_member @ pool)
    energy = float(kw * (chargers_per_member * pool.sum(axis=1)).sum())
    state.record(
        layer.id,
        "ev",
        "ev",
        n,
        energy,
        float(coincident.max()),
        note=f"{layer.profile} {kw:g} kW, {energy / n / (state.ctx.hours / 24.0):.2f} kWh/day per charger",
    )
    if second:
        state.note(
            where, f"{second} customers got a second charger (a charger from an earlier EV layer)", "conflict"
        )
    if level == "dcfast" and bool((cust["phases"] < 3).any()):
        state.note(
            where, "DC fast chargers placed at single-phase customers (check allocation)", "assumption"
        )
