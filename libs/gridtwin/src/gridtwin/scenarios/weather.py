"""The weather layer: a historical year, heat waves and cold snaps, and how loads respond.

Order inside one layer: the year (if any) replaces the current weather; events are added on top of
it one after another; then, with ``load_response``, every customer's shape is scaled hour by hour by
its class's ``pred(new T) / pred(T the loads reflect)`` from the regression in
``gridtwin.scenarios.regression``. The regression is fitted once per state, on the class aggregates
as they are when the first responding weather layer runs, against ``state.base_weather``; later
weather layers scale from the temperature the loads already reflect, so the ratios chain to
``pred(final T) / pred(base T)``. Predictions are floored at ``PRED_FLOOR_SHARE`` of the class's
mean load so a ratio stays positive and finite even where a fit extrapolates below zero.

Conflict rule: PV added by earlier solar layers keeps the output shape it was given (a note says
so); put weather layers before solar layers to have PV follow the new weather.

``read_weather_file`` reads Open-Meteo-shaped JSON or CSV into the schema's ``HourlyWeather`` (UTC,
one value per hour of a 365-day year) for the scenario loader.
"""

from __future__ import annotations

import csv
import json
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.scenarios.regression import LoadTemperatureFit, fit_load_temperature, hour_of_week
from gridtwin.scenarios.schema import HourlyWeather, WeatherEvent, WeatherLayer
from gridtwin.scenarios.state import FloatArray, ScenarioContext, ScenarioState, WeatherYear

__all__ = [
    "MAX_GAP_H",
    "OPEN_METEO_FIELDS",
    "PRED_FLOOR_SHARE",
    "TEMP_UNITS_FAHRENHEIT",
    "WIND_M_PER_S",
    "apply_weather_layer",
    "event_delta_c",
    "fill_short_gaps",
    "read_weather_file",
    "response_ratio",
]

IntArray = npt.NDArray[np.int64]
MAX_GAP_H = 3  # missing hours in a row that linear interpolation may fill
PRED_FLOOR_SHARE = 0.05
_RAMP_H = 12.0  # events ramp in and out over half a day
_FIELDS = ("temp_c", "ghi_w_per_m2", "dni_w_per_m2", "dhi_w_per_m2", "wind_m_per_s", "humidity_pct")
# Open-Meteo's hourly variable names -> ours (shared with the weather reader, gridtwin.ingest.weather).
OPEN_METEO_FIELDS = {
    "temperature_2m": "temp_c",
    "shortwave_radiation": "ghi_w_per_m2",
    "direct_normal_irradiance": "dni_w_per_m2",
    "diffuse_radiation": "dhi_w_per_m2",
    "wind_speed_10m": "wind_m_per_s",
    "relative_humidity_2m": "humidity_pct",
}
# Wind-speed units -> m/s, and temperature units -> whether they are Fahrenheit.
WIND_M_PER_S = {
    "m/s": 1.0,
    "km/h": 1.0 / 3.6,
    "mp/h": 0.44704,
    "mph": 0.44704,
    "kn": 0.514444,
    "knots": 0.514444,
}
TEMP_UNITS_FAHRENHEIT = {"°c": False, "c": False, "degc": False, "°f": True, "f": True, "degf": True}


# -- gaps ------------------------------------------------------------------------------------------


def fill_short_gaps(values: FloatArray) -> tuple[FloatArray, int, tuple[int, int] | None]:
    """Linear interpolation over runs of at most ``MAX_GAP_H`` non-finite values (edges take the
    nearest value). Returns (filled copy, hours filled, (start, length) of the first longer run)."""
    a = np.asarray(values, dtype=np.float64).copy()
    bad = ~np.isfinite(a)
    if not bad.any():
        return a, 0, None
    edges = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = np.flatnonzero(ends - starts > MAX_GAP_H)
    if len(long) or bad.all():
        k = int(long[0]) if len(long) else 0
        return a, 0, (int(starts[k]), int(ends[k] - starts[k]))
    good = np.flatnonzero(~bad)
    a[bad] = np.interp(np.flatnonzero(bad), good, a[good])
    return a, int(bad.sum()), None


def _year_weather(state: ScenarioState, hw: HourlyWeather, where: str) -> WeatherYear:
    """The layer's historical year as a ``WeatherYear``; GHI missing keeps the current GHI."""
    out: dict[str, FloatArray | None] = {}
    for name in _FIELDS:
        values = getattr(hw, name)
        if values is None:
            out[name] = None
            continue
        a = np.asarray(values, dtype=np.float64)
        if a.shape != (state.ctx.hours,):
            raise InputError(
                "weather year has the wrong length",
                [
                    ErrorDetail(
                        where=f"{where}.{name}", message=f"{a.size} values, expected {state.ctx.hours}"
                    )
                ],
            )
        filled, n_filled, gap = fill_short_gaps(a)
        if gap is not None:
            start, length = gap
            raise InputError(
                "weather year has missing values",
                [
                    ErrorDetail(
                        where=f"{where}.{name}[{start}]",
                        message=f"{length} missing hours from {state.ctx.times_utc[start].isoformat()} "
                        f"(gaps of more than {MAX_GAP_H} h are not filled)",
                    )
                ],
            )
        if n_filled:
            state.note(
                f"{where}.{name}",
                f"{n_filled} missing hours interpolated (gaps <= {MAX_GAP_H} h)",
                "assumption",
            )
        out[name] = filled
    temp = out["temp_c"]
    if temp is None:
        raise InputError(
            "weather year has no temperature", [ErrorDetail(where=f"{where}.temp_c", message="missing")]
        )
    ghi = out["ghi_w_per_m2"]
    if ghi is None:
        ghi = state.weather.ghi_w_per_m2.copy()
        state.note(
            f"{where}.ghi_w_per_m2", "no irradiance in the year: the current GHI is kept", "assumption"
        )
    return WeatherYear(
        temp_c=temp,
        ghi_w_per_m2=ghi,
        dni_w_per_m2=out["dni_w_per_m2"],
        dhi_w_per_m2=out["dhi_w_per_m2"],
        wind_m_per_s=out["wind_m_per_s"],
        humidity_pct=out["humidity_pct"],
        source=f"file {hw.file}" if hw.file else where,
    )


# -- events ----------------------------------------------------------------------------------------


def _event_hours(ctx: ScenarioContext, temp_c: FloatArray, event: WeatherEvent, where: str) -> IntArray:
    """Run hours (contiguous, local days) of the event's window."""
    in_month = ctx.month == event.month
    if not in_month.any():
        raise InputError(
            "event outside the run", [ErrorDetail(where=f"{where}.month", message="not in the run")]
        )
    days = np.unique(ctx.day_index[in_month])
    if event.days > len(days):
        raise InputError(
            "event longer than its month",
            [
                ErrorDetail(
                    where=f"{where}.days", message=f"{event.days} days; month {event.month} has {len(days)}"
                )
            ],
        )
    if event.start_day is not None:
        local = ctx.times_utc.tz_convert(ctx.timezone)
        first_hour = np.searchsorted(ctx.day_index, days)
        dom = np.asarray(local.day)[first_hour]
        hit = np.flatnonzero(dom == event.start_day)
        if not len(hit) or hit[0] + event.days > len(days):
            raise InputError(
                "event does not fit in its month",
                [
                    ErrorDetail(
                        where=f"{where}.start_day",
                        message=f"{event.days} days from day {event.start_day} do not fit in month {event.month}",
                    )
                ],
            )
        k = int(hit[0])
    else:  # the hottest (heat) or coldest (cold) window of the month in the current weather
        sums = np.bincount(ctx.day_index, weights=temp_c)[days]
        counts = np.bincount(ctx.day_index)[days]
        means = np.convolve(sums, np.ones(event.days), "valid") / np.convolve(
            counts, np.ones(event.days), "valid"
        )
        k = int(np.argmax(means) if event.kind == "heat_wave" else np.argmin(means))
    return np.flatnonzero(np.isin(ctx.day_index, days[k : k + event.days])).astype(np.int64)


def event_delta_c(ctx: ScenarioContext, temp_c: FloatArray, event: WeatherEvent, where: str) -> FloatArray:
    """The temperature change (degC per run hour) of one event: zero outside its window; inside,
    ``±delta_c`` times a diurnal weight (heat: 1.0 at 15:00, 0.5 at 03:00; cold: 1.0 at 05:00, 0.5
    at 17:00) times a ramp rising over the first and falling over the last half day."""
    hours = _event_hours(ctx, temp_c, event, where)
    peak_h = 15.0 if event.kind == "heat_wave" else 5.0
    weight = 0.75 + 0.25 * np.cos(2.0 * np.pi * (ctx.local_hour[hours] - peak_h) / 24.0)
    k = np.arange(len(hours), dtype=np.float64) + 0.5
    ramp = np.clip(np.minimum(k, len(hours) - k) / _RAMP_H, 0.0, 1.0)
    out = np.zeros(ctx.hours)
    sign = 1.0 if event.kind == "heat_wave" else -1.0
    out[hours] = sign * event.delta_c * weight * ramp
    return out


# -- load response ---------------------------------------------------------------------------------


@dataclass
class _Response:
    fits: dict[str, LoadTemperatureFit]
    load_temp_c: FloatArray  # the temperature the customers' shapes currently reflect


# Per-state memory between weather layers (ScenarioState has no slot for it), dropped with the state.
_RESPONSES: dict[int, _Response] = {}


def _response(state: ScenarioState) -> _Response:
    key = id(state)
    if key not in _RESPONSES:
        how = hour_of_week(state.ctx)
        classes = state.customers["class_name"].to_numpy()
        fits = {
            str(c): fit_load_temperature(
                state.customer_kw(classes == c), state.base_weather.temp_c, how, class_name=str(c)
            )
            for c in sorted(set(classes.tolist()))
        }
        _RESPONSES[key] = _Response(fits, state.base_weather.temp_c.copy())
        weakref.finalize(state, _RESPONSES.pop, key, None)
    return _RESPONSES[key]


def response_ratio(
    fit: LoadTemperatureFit, old_temp_c: FloatArray, new_temp_c: FloatArray, how: IntArray
) -> FloatArray:
    """Hourly load multiplier of a class when temperature goes from ``old`` to ``new``."""
    floor = PRED_FLOOR_SHARE * max(fit.mean_kw, 1e-9)
    new = np.maximum(fit.predict(new_temp_c, how), floor)
    old = np.maximum(fit.predict(old_temp_c, how), floor)
    return np.asarray(new / old, dtype=np.float64)


def _scaled_by(ratio: FloatArray) -> Callable[[str, FloatArray], FloatArray]:
    def fn(_key: str, values: FloatArray) -> FloatArray:
        return np.asarray(values * ratio, dtype=np.float64)

    return fn


def _respond(state: ScenarioState, layer: WeatherLayer, where: str) -> None:
    resp = _response(state)
    how = hour_of_week(state.ctx)
    before = state.customer_kw()
    classes = state.customers["class_name"].to_numpy()
    changed = 0
    summaries = []
    for cls, fit in resp.fits.items():
        ratio = response_ratio(fit, resp.load_temp_c, state.weather.temp_c, how)
        summaries.append(fit.summary())
        state.note(where, fit.summary(), code="fit")
        changed += state.transform_shapes(classes == cls, _scaled_by(ratio), f"weather:{layer.id}")
    resp.load_temp_c = state.weather.temp_c.copy()
    after = state.customer_kw()
    state.record(
        layer.id,
        "weather",
        "weather_response",
        changed,
        float(after.sum() - before.sum()),
        float(after.max() - before.max()),
        note="; ".join(summaries),
    )


def apply_weather_layer(state: ScenarioState, layer: WeatherLayer, index: int) -> None:
    where = f"layers[{index}] ({layer.id})"
    weather = (
        state.weather.copy() if layer.year is None else _year_weather(state, layer.year, f"{where}.year")
    )
    for j, event in enumerate(layer.events):
        delta = event_delta_c(state.ctx, weather.temp_c, event, f"{where}.events[{j}]")
        weather.temp_c = weather.temp_c + delta
        state.note(
            f"{where}.events[{j}]",
            f"{event.kind} {event.delta_c:+.1f} C over {event.days} days from "
            f"{state.ctx.times_utc[int(np.flatnonzero(delta)[0])].isoformat()}",
            code="event",
        )
    state.weather = weather
    if len(state.pv):
        state.note(
            where, f"{len(state.pv)} PV systems from earlier layers keep their output shapes", "conflict"
        )
    if layer.load_response:
        _respond(state, layer, where)
    else:
        state.record(layer.id, "weather", "weather_response", 0, 0.0, 0.0, note="load_response off")


# -- files -----------------------------------------------------------------------------------------


def _err(where: str, message: str, title: str = "weather file is not usable") -> InputError:
    return InputError(title, [ErrorDetail(where=where, message=message)])


def _name_unit(header: str) -> tuple[str, str | None]:
    m = re.match(r"^\s*([^()]+?)\s*(?:\((.*)\))?\s*$", header)
    return (
        (m.group(1).strip().lower(), m.group(2).strip() if m and m.group(2) else None)
        if m
        else (header, None)
    )


def _scale(
    field: str, unit: str | None, values: FloatArray, where: str, notes: list[ErrorDetail]
) -> FloatArray:
    """Convert wind to m/s and temperature to degC from the declared unit."""
    if field == "wind_m_per_s":
        if unit is None:
            notes.append(
                ErrorDetail(where=where, message="wind speed unit not given: km/h assumed", code="assumption")
            )
            unit = "km/h"
        factor = WIND_M_PER_S.get(unit.lower())
        if factor is None:
            raise _err(where, f"unknown wind speed unit {unit!r} (expected one of {sorted(WIND_M_PER_S)})")
        return values * factor
    if field == "temp_c" and unit is not None:
        fahrenheit = TEMP_UNITS_FAHRENHEIT.get(unit.lower().replace(" ", ""))
        if fahrenheit is None:
            raise _err(where, f"unknown temperature unit {unit!r}")
        return (values - 32.0) * 5.0 / 9.0 if fahrenheit else values
    return values


def _utc_times(raw: list[Any], locate: Any, tz: str | None, offset_s: int, path: Path) -> pd.DatetimeIndex:
    if raw and all(isinstance(v, int) and not isinstance(v, bool) for v in raw):  # Open-Meteo unixtime
        return pd.DatetimeIndex(pd.to_datetime(np.asarray(raw, dtype=np.int64), unit="s", utc=True))
    text = [str(v).strip() for v in raw]
    parsed = pd.to_datetime(pd.Series(text, dtype=object), format="ISO8601", errors="coerce", utc=True)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise _err(locate(int(bad[0])), f"unparseable time {text[int(bad[0])]!r}")
    aware = re.compile(r"(Z|[+-]\d\d:?\d\d)$")
    if any(aware.search(t) for t in text):
        return pd.DatetimeIndex(parsed)
    naive = pd.DatetimeIndex(parsed).tz_localize(None)
    if tz and tz.upper() not in ("GMT", "UTC", "Z"):
        try:
            return naive.tz_localize(tz, ambiguous="infer", nonexistent="raise").tz_convert("UTC")
        except (ValueError, KeyError) as exc:  # unknown zone, or local times that skip/repeat wrongly
            raise _err(f"{path}: timezone", f"cannot place local times in {tz!r}: {exc}") from exc
    return (naive - pd.Timedelta(seconds=offset_s)).tz_localize("UTC")


def _assemble(
    path: Path,
    times_raw: list[Any],
    locate: Any,
    columns: dict[str, tuple[FloatArray, str | None, str, str]],
    tz: str | None,
    offset_s: int,
    notes: list[ErrorDetail],
) -> HourlyWeather:
    """Checks the time axis and places values by UTC hour of a 365-day year."""
    if "temp_c" not in columns:
        raise _err(f"{path}: temperature_2m", "no temperature column (temperature_2m or temp_c)")
    times = _utc_times(times_raw, locate, tz, offset_s, path)
    steps = np.diff(times.as_unit("s").asi8)
    # Report the worst kind first: disorder, then duplicates, then missing hours.
    wrong = next((w for w in (steps < 0, steps == 0, steps != 3600) if w.any()), None)
    if wrong is not None:
        i = int(np.flatnonzero(wrong)[0])
        step = int(steps[i])
        what = (
            "duplicate time" if step == 0 else "times out of order" if step < 0 else f"{step / 3600:g} h step"
        )
        raise _err(locate(i + 1), f"{what} at {times[i + 1].isoformat()} (hourly, increasing times needed)")
    keep = ~((times.month == 2) & (times.day == 29))
    if len(times) == 8784 and not keep.all():
        notes.append(
            ErrorDetail(where=str(path), message="leap year: 29 February dropped", code="assumption")
        )
    elif len(times) != 8760:
        raise _err(f"{path}: time", f"{len(times)} hours; a weather year needs 8760 (8784 for a leap year)")
    else:
        keep = np.ones(len(times), dtype=bool)
    t = times[keep]
    leap_shift = np.where(t.is_leap_year & (t.month > 2), 1, 0)
    slot = (np.asarray(t.day_of_year) - 1 - leap_shift) * 24 + np.asarray(t.hour)
    if len(np.unique(slot)) != 8760:
        raise _err(f"{path}: time", "the hours do not cover one year")
    if slot[0] != 0:
        notes.append(
            ErrorDetail(
                where=str(path), message=f"year starts {t[0].isoformat()}: values placed by UTC hour of year"
            )
        )
    out: dict[str, list[float]] = {}
    for field, (values, unit, where, where_unit) in columns.items():
        v = np.full(8760, np.nan)
        v[slot] = _scale(field, unit, values[keep], where_unit, notes)
        filled, n_filled, gap = fill_short_gaps(v)
        if gap is not None:
            raise _err(
                where, f"{gap[1]} missing hours from hour {gap[0]} (gaps over {MAX_GAP_H} h are not filled)"
            )
        if n_filled:
            notes.append(
                ErrorDetail(where=where, message=f"{n_filled} missing hours interpolated", code="assumption")
            )
        out[field] = filled.tolist()
    return HourlyWeather(file=path.name, **out)


def _from_json(path: Path, text: str, notes: list[ErrorDetail]) -> HourlyWeather:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _err(f"{path}:{exc.lineno}", exc.msg, "weather file is not valid JSON") from exc
    except (RecursionError, ValueError) as exc:  # nested too deeply; an integer past 4,300 digits
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise _err(str(path), message, "weather file is not valid JSON") from exc
    hourly = doc.get("hourly") if isinstance(doc, dict) else None
    if not isinstance(hourly, dict):
        raise _err(f"{path}: hourly", "missing (an Open-Meteo document has an 'hourly' object)")
    units = doc.get("hourly_units") or {}
    times = hourly.get("time")
    if not isinstance(times, list) or not times:
        raise _err(f"{path}: hourly.time", "missing or empty")
    columns: dict[str, tuple[FloatArray, str | None, str, str]] = {}
    for key, values in hourly.items():
        field = OPEN_METEO_FIELDS.get(key, key if key in _FIELDS else None)
        if field is None:
            continue
        where = f"{path}: hourly.{key}"
        if not isinstance(values, list) or len(values) != len(times):
            raise _err(where, f"needs {len(times)} values like hourly.time")
        try:
            arr = np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise _err(where, f"not a number: {exc}") from exc
        unit = units.get(key) if isinstance(units, dict) else None
        if key == "wind_m_per_s":
            unit = "m/s"
        columns[field] = (arr, None if unit is None else str(unit), where, f"{path}: hourly_units.{key}")
    tz = doc.get("timezone")
    offset = doc.get("utc_offset_seconds") or 0
    return _assemble(path, times, lambda i: f"{path}: hourly.time[{i}]", columns, tz, int(offset), notes)


def _from_csv(path: Path, text: str, notes: list[ErrorDetail]) -> HourlyWeather:
    rows = [(n, r) for n, r in enumerate(csv.reader(text.splitlines()), start=1) if any(c.strip() for c in r)]
    head = next((k for k, (_, r) in enumerate(rows) if r[0].strip().lower() == "time"), None)
    if head is None:
        raise _err(f"{path}:1", "no header row starting with 'time'")
    meta: dict[str, str] = {}
    if head >= 2:  # Open-Meteo CSV: a location header and row before the data
        meta = dict(zip([c.strip() for c in rows[0][1]], [c.strip() for c in rows[1][1]], strict=False))
    line, header = rows[head]
    fields: list[tuple[int, str, str | None, str]] = []
    for j, cell in enumerate(header[1:], start=1):
        name, unit = _name_unit(cell)
        field = OPEN_METEO_FIELDS.get(name, name if name in _FIELDS else None)
        if field is None:
            continue
        if any(f == field for _, f, _, _ in fields):
            raise _err(f"{path}:{line}", f"two columns give {field}")
        fields.append((j, field, "m/s" if name == "wind_m_per_s" else unit, name))
    data = rows[head + 1 :]
    values = np.full((len(fields), len(data)), np.nan)
    for i, (n, r) in enumerate(data):
        if len(r) != len(header):
            raise _err(f"{path}:{n}", f"{len(r)} cells, the header has {len(header)}")
        for k, (j, _, _, name) in enumerate(fields):
            cell = r[j].strip()
            try:
                values[k, i] = float(cell) if cell else np.nan
            except ValueError as exc:
                raise _err(f"{path}:{n}", f"{name}: not a number {cell!r}") from exc
    columns = {
        f: (values[k], u, f"{path}:{line} {name}", f"{path}:{line} {name}")
        for k, (_, f, u, name) in enumerate(fields)
    }
    offset = int(float(meta.get("utc_offset_seconds") or 0))
    times = [r[0] for _, r in data]
    return _assemble(
        path, times, lambda i: f"{path}:{data[i][0]}", columns, meta.get("timezone"), offset, notes
    )


def read_weather_file(path: Path, notes: list[ErrorDetail] | None = None) -> HourlyWeather:
    """An hourly weather year from Open-Meteo-shaped JSON or a CSV with a ``time`` column (Open-Meteo
    or our field names, units in parentheses allowed). Times become UTC (``timezone`` /
    ``utc_offset_seconds`` say how naive times are meant); a leap year loses 29 February; wind
    becomes m/s and temperature degC; gaps of up to 3 h are interpolated. Assumptions made are
    appended to ``notes`` when given."""
    notes = notes if notes is not None else []
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise _err(str(path), f"cannot read: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _err(f"{path}:{line}", "not UTF-8 text") from exc
    if path.suffix.lower() == ".json" or (path.suffix.lower() != ".csv" and text.lstrip().startswith("{")):
        return _from_json(path, text, notes)
    return _from_csv(path, text, notes)
