"""Hand-built scenario states for layer tests (no feeder model needed): an 8760-hour context from
2025-01-01T00:00Z on the America/Chicago clock, and a few dozen residential and commercial customers
whose shapes are the synthetic utility's class pools (weather driven, peak 1.0)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from gridtwin.grid.synth.shapes import class_pool
from gridtwin.grid.synth.weather import weather_year
from gridtwin.scenarios.state import CUSTOMER_COLUMNS, ScenarioContext, ScenarioState, WeatherYear

HOURS = 8760
START = datetime(2025, 1, 1, tzinfo=UTC)
TZ = "America/Chicago"
POOL_MEMBERS = 8  # shapes per class used by the test customers


def make_context(feeder: str = "f1", seed: int = 7, hours: int = HOURS) -> ScenarioContext:
    times = pd.date_range(START, periods=hours, freq="h", tz="UTC")
    local = times.tz_convert(TZ)
    return ScenarioContext(
        feeder=feeder,
        scenario_seed=seed,
        feeder_index=zlib.crc32(feeder.encode()),
        start_utc=START,
        timezone=TZ,
        hours=hours,
        latitude_deg=41.5,
        longitude_deg=-90.0,
        local_hour=np.asarray(local.hour, dtype=np.int64),
        weekday=np.asarray(local.day_of_week, dtype=np.int64),
        month=np.asarray(local.month, dtype=np.int64),
        day_index=pd.factorize(local.normalize())[0].astype(np.int64),
        times_utc=times,
    )


_POOLS: dict[str, np.ndarray] = {}


def _pool(cls: str) -> np.ndarray:
    if cls not in _POOLS:  # ~0.2 s per class: build once per test session
        _POOLS[cls] = class_pool(cls, 3)[:POOL_MEMBERS]
    return _POOLS[cls]


def make_state(
    n_res: int = 40, n_com: int = 8, feeder: str = "f1", seed: int = 7, per_transformer: int = 4
) -> ScenarioState:
    """``n_res`` single-phase 240 V homes (4 per service transformer) and ``n_com`` three-phase
    480 V businesses (one transformer each)."""
    ctx = make_context(feeder, seed)
    rng = np.random.default_rng([99, n_res, n_com])
    shapes: dict[str, np.ndarray] = {}
    for cls in ("res", "com"):
        for k, member in enumerate(_pool(cls)):
            shapes[f"{cls}-{k:03d}"] = member.copy()
    rows = []
    for i in range(n_res):
        rows.append(
            {
                "name": f"res{i:03d}",
                "bus1": f"b{i:03d}.1.2",
                "phases": 1,
                "kv": 0.24,
                "class_name": "res",
                "p_kw": float(rng.uniform(3.0, 9.0)),
                "shape": f"res-{i % POOL_MEMBERS:03d}",
                "transformer": f"tx{i // per_transformer:03d}",
                "x": float(i),
                "y": 0.0,
                "distance_m": 10.0 * i,
            }
        )
    for i in range(n_com):
        rows.append(
            {
                "name": f"com{i:03d}",
                "bus1": f"c{i:03d}",
                "phases": 3,
                "kv": 0.48,
                "class_name": "com",
                "p_kw": float(rng.uniform(30.0, 120.0)),
                "shape": f"com-{i % POOL_MEMBERS:03d}",
                "transformer": f"txc{i:03d}",
                "x": float(i),
                "y": 1.0,
                "distance_m": 15.0 * i,
            }
        )
    customers = pd.DataFrame(rows).set_index("name")[list(CUSTOMER_COLUMNS)]
    w = weather_year(3)
    weather = WeatherYear(
        temp_c=w.temp_c[:HOURS].copy(), ghi_w_per_m2=w.ghi_w_per_m2[:HOURS].copy(), source="synthetic seed 3"
    )
    return ScenarioState(
        ctx=ctx, customers=customers, shapes=shapes, base_weather=weather, weather=weather.copy()
    )


def total_kw(state: ScenarioState) -> np.ndarray:
    """Feeder coincident load: customers plus added loads."""
    return state.customer_kw() + state.added_kw()
