"""States for the solar and weather layer tests: synthetic feeder 0 (seed 42) with the synthetic
utility's class pools and weather year, on an 8760-hour America/Chicago calendar from 2025-01-01Z."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

import numpy as np
import pandas as pd
from gridtwin.grid.synth import synth_feeder
from gridtwin.grid.synth.utility import synth_utility_profiles
from gridtwin.scenarios.state import CUSTOMER_COLUMNS, ScenarioContext, ScenarioState, WeatherYear
from scenario_support import make_context

HOURS = 8760
START = datetime(2025, 1, 1, tzinfo=UTC)
TZ = "America/Chicago"
SEED = 42
_CLASSES = {1: "res", 2: "com", 3: "ind"}


def context(feeder: str = "synth-s42-f0000", seed: int = 7) -> ScenarioContext:
    return make_context(feeder, seed)  # the same calendar as the other layer tests


@lru_cache(maxsize=1)
def _base() -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    model = synth_feeder(0, SEED).model
    profiles = synth_utility_profiles(SEED)
    refs = model.table("loadshapes").set_index("name")["profile"]
    loads = model.table("loads")
    customers = pd.DataFrame(
        {
            "bus1": loads["bus1"].astype(str).to_numpy(),
            "phases": loads["phases"].astype(int).to_numpy(),
            "kv": loads["kv"].astype(float).to_numpy(),
            "class_name": [_CLASSES[int(c)] for c in loads["customer_class"]],
            "p_kw": loads["p_kw"].astype(float).to_numpy(),
            "shape": loads["yearly"].astype(str).to_numpy(),
            "transformer": "",
            "x": np.nan,
            "y": np.nan,
            "distance_m": np.nan,
        },
        index=pd.Index(loads["name"].astype(str), name="name"),
    )[list(CUSTOMER_COLUMNS)]
    shapes = {str(name): np.asarray(profiles[str(ref)], dtype=np.float64) for name, ref in refs.items()}
    part = str(model.circuit["ambient_profile"]).rsplit("/", 1)[0]
    return customers, shapes, profiles[f"{part}/temp_c"], profiles[f"{part}/ghi_w_per_m2"]


def synth_state(seed: int = 7) -> ScenarioState:
    """A fresh state (its own copies) of synthetic feeder 0: ~960 customers, mostly residential."""
    customers, shapes, temp, ghi = _base()
    weather = WeatherYear(temp_c=temp.copy(), ghi_w_per_m2=ghi.copy(), source="synthetic utility seed 42")
    return ScenarioState(
        ctx=context(seed=seed),
        customers=customers.copy(),
        shapes={k: v.copy() for k, v in shapes.items()},
        base_weather=weather,
        weather=weather.copy(),
    )


def class_kw(state: ScenarioState, cls: str) -> np.ndarray:
    return state.customer_kw(state.customers["class_name"].eq(cls).to_numpy())
