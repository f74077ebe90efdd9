"""Composition: a scenario's layers applied in order to one feeder's base state.

``compose_state`` builds the state (``gridtwin.scenarios.base``) and runs each layer's ``apply``
function; ``gridtwin.scenarios.overlay`` then turns the final state into the feeder model and
profiles QSTS consumes. Conflict rules (documented in each layer module, reported in
``state.notes``): a customer gets at most one charger per EV layer and one PV system overall (a later
solar layer skips customers that already have PV); interconnection rules apply to PV present when
their layer runs and to PV added later; weather changes loads only through the regression fitted on
the base profiles against the base weather.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.model import FeederModel
from gridtwin.scenarios.base import build_state
from gridtwin.scenarios.schema import (
    ElectrificationLayer,
    EvLayer,
    InterconnectionLayer,
    Scenario,
    SolarLayer,
    TouLayer,
    WeatherLayer,
)
from gridtwin.scenarios.state import ScenarioState, WeatherYear

__all__ = ["apply_layers", "compose_state"]


def _appliers() -> dict[type[Any], Callable[[ScenarioState, Any, int], None]]:
    from gridtwin.scenarios import ev, policy, solar, weather

    return {
        EvLayer: ev.apply_ev_layer,
        SolarLayer: solar.apply_solar_layer,
        WeatherLayer: weather.apply_weather_layer,
        TouLayer: policy.apply_tou_layer,
        ElectrificationLayer: policy.apply_electrification_layer,
        InterconnectionLayer: policy.apply_interconnection_layer,
    }


def apply_layers(state: ScenarioState, scenario: Scenario) -> ScenarioState:
    """Run every layer in order on ``state`` (changed in place and returned). A layer that finds its
    input unusable raises ``InputError`` naming ``layers[i] (id)``; nothing is half-applied because
    the caller composes on a fresh state."""
    appliers = _appliers()
    for index, layer in enumerate(scenario.layers):
        try:
            appliers[type(layer)](state, layer, index)
        except InputError:
            raise
        except ValueError as exc:
            raise InputError(
                "scenario layer cannot be applied",
                [ErrorDetail(where=f"layers[{index}] ({layer.id})", message=str(exc), code="layer")],
            ) from exc
    for key, values in state.shapes.items():  # the contract with QSTS: finite, loads non-negative
        if not np.all(np.isfinite(values)):
            raise InputError(
                "scenario produced a non-finite shape", [ErrorDetail(where=f"shape {key}", message="NaN/inf")]
            )
    return state


def compose_state(
    model: FeederModel,
    scenario: Scenario,
    profiles: Mapping[str, np.ndarray],
    base_weather: WeatherYear | None = None,
) -> ScenarioState:
    """The feeder's state after all layers. ``profiles`` holds the base model's profile refs (and
    the feeder's weather refs when it has them); ``base_weather`` overrides where weather comes from."""
    state = build_state(model, scenario, profiles, base_weather)
    return apply_layers(state, scenario)
