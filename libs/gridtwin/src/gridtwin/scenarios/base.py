"""The base state of one feeder before any layer: calendar, customers, their shapes, base weather.

Customers are the model's enabled loads. A load's shape is its yearly load shape (profile-backed or
inline; a 24-point daily shape is tiled over the year); a load without one is flat (OpenDSS runs it
at its base kW all year). Each customer's service transformer is found on the line graph: the
connected component of its bus (lines only) is the secondary network of the smallest transformer
whose low-voltage bus lies in it. Distance from the source is the path length along lines and
transformers (networkx), used by placement weights.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import UTC, datetime

import networkx as nx
import numpy as np
import pandas as pd

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.model import FeederModel
from gridtwin.scenarios.schema import HourlyWeather, Scenario
from gridtwin.scenarios.state import CUSTOMER_COLUMNS, FloatArray, ScenarioContext, ScenarioState, WeatherYear

__all__ = ["HOURS", "build_context", "build_state", "weather_from_hourly"]

HOURS = 8760
FLAT = "__flat__"
_CLASSES = {1: "res", 2: "com", 3: "ind"}
_DEFAULT_LAT_LON = (41.5, -90.0)  # the synthetic utility's site


def _bus(name: object) -> str:
    return str(name).split(".", 1)[0].lower()


def _start_utc(model: FeederModel, scenario: Scenario) -> datetime:
    raw = model.circuit.get("start_utc")
    if raw:
        start = datetime.fromisoformat(str(raw))
        return start if start.tzinfo else start.replace(tzinfo=UTC)
    return datetime(scenario.base_year, 1, 1, tzinfo=UTC)


def _lat_lon(model: FeederModel, scenario: Scenario) -> tuple[float, float, str]:
    bw = scenario.base_weather
    if bw.latitude_deg is not None and bw.longitude_deg is not None:
        return bw.latitude_deg, bw.longitude_deg, "scenario"
    buses = model.table("buses")
    if len(buses) and "has_coords" in buses:
        pts = buses[buses["has_coords"].astype(bool)]
        x, y = pts["x"].astype(float), pts["y"].astype(float)
        if len(pts) and x.abs().max() <= 180.0 and y.abs().max() <= 90.0 and (x.abs() + y.abs()).min() > 0:
            return float(y.mean()), float(x.mean()), "bus coordinates"
    return (*_DEFAULT_LAT_LON, "default site (no WGS84 coordinates)")


def build_context(model: FeederModel, scenario: Scenario) -> tuple[ScenarioContext, str]:
    start = _start_utc(model, scenario)
    times = pd.date_range(start, periods=HOURS, freq="h", tz="UTC")
    try:
        local = times.tz_convert(scenario.timezone)
    except Exception as exc:  # pytz/zoneinfo raise different types for unknown zones
        raise InputError(
            "unknown time zone", [ErrorDetail(where="timezone", message=f"{scenario.timezone!r}: {exc}")]
        ) from exc
    lat, lon, lat_src = _lat_lon(model, scenario)
    day = pd.factorize(local.normalize())[0].astype(np.int64)
    ctx = ScenarioContext(
        feeder=model.feeder_id,
        scenario_seed=scenario.seed,
        feeder_index=zlib.crc32(model.feeder_id.encode()),
        start_utc=start,
        timezone=scenario.timezone,
        hours=HOURS,
        latitude_deg=lat,
        longitude_deg=lon,
        local_hour=np.asarray(local.hour, dtype=np.int64),
        weekday=np.asarray(local.day_of_week, dtype=np.int64),
        month=np.asarray(local.month, dtype=np.int64),
        day_index=day,
        times_utc=times,
    )
    return ctx, lat_src


def _shape_values(row: pd.Series, profiles: Mapping[str, np.ndarray]) -> FloatArray | None:
    ref = str(row.get("profile") or "")
    mult = row.get("mult")
    if ref and (mult is None or not len(mult)):
        if ref not in profiles:
            raise InputError(
                "load shape profile not supplied",
                [ErrorDetail(where=f"loadshape.{row['name']}", message=f"profile {ref!r} missing")],
            )
        values = np.asarray(profiles[ref], dtype=np.float64)
    elif mult is not None and len(mult):
        values = np.asarray(mult, dtype=np.float64)
    else:
        return None
    interval = float(row.get("interval_h") or 0.0)
    if len(values) == 24 and interval == 1.0:
        values = np.tile(values, HOURS // 24)
    if len(values) < HOURS or interval not in (1.0, 0.0) or (interval == 0.0 and len(values) != HOURS):
        return None  # not an hourly year: the caller treats the load as flat and says so
    return values[:HOURS].copy()


def _service_transformers(model: FeederModel) -> dict[str, str]:
    """bus -> the service transformer feeding its secondary network ("" when none)."""
    lines = model.table("lines")
    g = nx.Graph()
    g.add_nodes_from(_bus(b) for b in model.table("buses")["name"])
    for b1, b2 in zip(lines["bus1"], lines["bus2"], strict=True):
        g.add_edge(_bus(b1), _bus(b2))
    xf = model.table("transformers")
    owner: dict[int, tuple[float, str]] = {}
    comp_of = {bus: i for i, comp in enumerate(nx.connected_components(g)) for bus in comp}
    for name, buses, kvas in zip(xf["name"], xf["buses"], xf["kvas_kva"], strict=True):
        if buses is None or len(buses) < 2:
            continue
        kva = float(kvas[0]) if kvas is not None and len(kvas) else float("inf")
        for low in list(buses)[1:]:
            comp = comp_of.get(_bus(low))
            if comp is not None and (comp not in owner or kva < owner[comp][0]):
                owner[comp] = (kva, str(name))
    return {bus: owner[c][1] for bus, c in comp_of.items() if c in owner}


def _distances(model: FeederModel) -> dict[str, float]:
    """Path length (m) from the source bus along lines and transformers (transformers count 0 m)."""
    g = nx.Graph()
    lines = model.table("lines")
    for b1, b2, length in zip(lines["bus1"], lines["bus2"], lines["length_m"], strict=True):
        g.add_edge(_bus(b1), _bus(b2), w=float(length) if np.isfinite(length) else 0.0)
    for buses in model.table("transformers")["buses"]:
        bl = [_bus(b) for b in (buses if buses is not None else [])]
        for other in bl[1:]:
            g.add_edge(bl[0], other, w=0.0)
    sources = model.table("sources")
    if not len(sources):
        return {}
    root = _bus(sources["bus1"].iloc[0])
    if root not in g:
        return {}
    return {str(k): float(v) for k, v in nx.single_source_dijkstra_path_length(g, root, weight="w").items()}


def weather_from_hourly(hw: HourlyWeather, where: str) -> WeatherYear:
    """A ``WeatherYear`` from inline hourly arrays (filled by the loader); 8760 finite values each."""

    def arr(name: str, values: list[float] | None, required: bool) -> FloatArray | None:
        if values is None:
            if required:
                raise InputError(
                    "weather year incomplete", [ErrorDetail(where=f"{where}.{name}", message="missing")]
                )
            return None
        a = np.asarray(values, dtype=np.float64)
        if a.shape != (HOURS,):
            raise InputError(
                "weather year has the wrong length",
                [ErrorDetail(where=f"{where}.{name}", message=f"{a.size} values, expected {HOURS}")],
            )
        bad = np.flatnonzero(~np.isfinite(a))
        if len(bad):
            raise InputError(
                "weather year has NaN values",
                [
                    ErrorDetail(
                        where=f"{where}.{name}[{int(bad[0])}]", message=f"{len(bad)} non-finite values"
                    )
                ],
            )
        return a

    temp = arr("temp_c", hw.temp_c, True)
    ghi = arr("ghi_w_per_m2", hw.ghi_w_per_m2, True)
    assert temp is not None and ghi is not None
    return WeatherYear(
        temp_c=temp,
        ghi_w_per_m2=ghi,
        dni_w_per_m2=arr("dni_w_per_m2", hw.dni_w_per_m2, False),
        dhi_w_per_m2=arr("dhi_w_per_m2", hw.dhi_w_per_m2, False),
        wind_m_per_s=arr("wind_m_per_s", hw.wind_m_per_s, False),
        humidity_pct=arr("humidity_pct", hw.humidity_pct, False),
        source=f"file {hw.file}" if hw.file else where,
    )


def _base_weather(
    model: FeederModel, scenario: Scenario, profiles: Mapping[str, np.ndarray], notes: list[ErrorDetail]
) -> WeatherYear:
    bw = scenario.base_weather
    if bw.source == "file":
        if bw.year is None:
            raise InputError(
                "base weather from a file needs the file",
                [ErrorDetail(where="base_weather.year", message="missing")],
            )
        return weather_from_hourly(bw.year, "base_weather.year")
    ref = str(model.circuit.get("ambient_profile") or "")
    ghi_ref = ref.rsplit("/", 1)[0] + "/ghi_w_per_m2" if ref else ""
    if ref and ref in profiles and ghi_ref in profiles:
        temp = np.asarray(profiles[ref], dtype=np.float64)[:HOURS]
        ghi = np.asarray(profiles[ghi_ref], dtype=np.float64)[:HOURS]
        if len(temp) == HOURS and len(ghi) == HOURS:
            return WeatherYear(temp_c=temp.copy(), ghi_w_per_m2=ghi.copy(), source=f"feeder profile {ref}")
    from gridtwin.grid.synth.weather import weather_year

    w = weather_year(scenario.seed)
    notes.append(
        ErrorDetail(
            where="base_weather",
            message=f"feeder {model.feeder_id} has no weather profile: the synthetic weather year "
            f"(seed {scenario.seed}) is used",
            code="assumption",
        )
    )
    return WeatherYear(
        temp_c=w.temp_c.astype(np.float64), ghi_w_per_m2=w.ghi_w_per_m2.astype(np.float64),
        source=f"synthetic seed {scenario.seed}",
    )  # fmt: skip


def build_state(
    model: FeederModel,
    scenario: Scenario,
    profiles: Mapping[str, np.ndarray],
    base_weather: WeatherYear | None = None,
) -> ScenarioState:
    ctx, lat_src = build_context(model, scenario)
    notes: list[ErrorDetail] = []
    if lat_src != "scenario":
        notes.append(
            ErrorDetail(
                where="base_weather",
                message=f"site at {ctx.latitude_deg:.3f}, {ctx.longitude_deg:.3f} from {lat_src}",
                code="assumption",
            )
        )
    shapes: dict[str, FloatArray] = {FLAT: np.ones(HOURS)}
    unusable: list[str] = []
    for _, row in model.table("loadshapes").iterrows():
        values = _shape_values(row, profiles)
        if values is None:
            unusable.append(str(row["name"]))
        else:
            shapes[str(row["name"]).lower()] = values
    loads = model.table("loads")
    if "enabled" in loads:
        loads = loads[loads["enabled"].fillna(True).astype(bool)]
    if not len(loads):
        raise InputError(
            "feeder has no loads", [ErrorDetail(where=model.feeder_id, message="no enabled loads")]
        )
    buses = model.table("buses").set_index(model.table("buses")["name"].str.lower())
    xs, ys = buses["x"].astype(float).to_dict(), buses["y"].astype(float).to_dict()
    owners = _service_transformers(model)
    dist = _distances(model)
    flat = 0
    rows = []
    for _, r in loads.iterrows():
        shape = str(r.get("yearly") or "").lower()
        if shape not in shapes:
            shape, flat = FLAT, flat + 1
        bus = _bus(r["bus1"])
        has_xy = bus in buses.index and bool(buses.at[bus, "has_coords"])
        rows.append(
            {
                "name": str(r["name"]).lower(),
                "bus1": str(r["bus1"]),
                "phases": int(r["phases"]),
                "kv": float(r["kv"]),
                "class_name": _CLASSES.get(int(r["customer_class"] or 1), "res"),
                "p_kw": float(r["p_kw"]),
                "shape": shape,
                "transformer": owners.get(bus, ""),
                "x": float(xs[bus]) if has_xy else float("nan"),
                "y": float(ys[bus]) if has_xy else float("nan"),
                "distance_m": dist.get(bus, float("nan")),
            }
        )
    customers = pd.DataFrame(rows).set_index("name")[list(CUSTOMER_COLUMNS)]
    if unusable:
        notes.append(
            ErrorDetail(
                where="loadshapes",
                message=f"{len(unusable)} shapes are not an hourly year and are ignored: {unusable[:5]}",
                code="assumption",
            )
        )
    if flat:
        notes.append(
            ErrorDetail(
                where="loads",
                message=f"{flat} loads have no yearly shape: flat at base kW",
                code="assumption",
            )
        )
    weather = base_weather if base_weather is not None else _base_weather(model, scenario, profiles, notes)
    return ScenarioState(
        ctx=ctx,
        customers=customers,
        shapes=shapes,
        base_weather=weather,
        weather=weather.copy(),
        notes=notes,
    )
