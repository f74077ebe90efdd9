"""Helpers for the stochastic hosting-capacity tests: feeders, small specs, a failing-sample injector."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from gridtwin.hosting import placement
from gridtwin.hosting.criteria import Criteria
from gridtwin.hosting.placement import Candidates, Deployment
from gridtwin.powerflow import Engine


def shared_data() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4].parent / "shared" / "data"


IEEE13 = shared_data() / "opendss" / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"

# Voltage only: on the synthetic feeder reverse power binds at exactly the minimum load (30 %), which
# makes every sample's capacity the same; these criteria give a spread.
VOLTAGE_ONLY = Criteria(thermal=False, reverse_power=False)


def candidates(distance_m: list[float], classes: list[str] | None = None) -> Candidates:
    """Hand-made customers (no engine) for the sampling tests."""
    n = len(distance_m)
    return Candidates(
        names=tuple(f"l{i}" for i in range(n)),
        buses=tuple(f"b{i}.1" for i in range(n)),
        phases=np.ones(n, dtype=np.int64),
        kv=np.full(n, 0.24),
        conns=("wye",) * n,
        classes=tuple(classes or ["res"] * n),
        load_kw=np.full(n, 5.0),
        distance_m=np.asarray(distance_m, dtype=np.float64),
    )


def inject_bad_bus(engine: Engine, bad_sample: int) -> Callable[..., Deployment]:
    """A ``draw_deployment`` that, for ``bad_sample``, moves a PV system to a bus that does not exist
    and then sends OpenDSS a command it refuses: a real engine error mid-sample, with the circuit left
    broken, as a corrupt model or a crashed edit would. Patch it over ``stochastic.draw_deployment``."""
    real = placement.draw_deployment

    def draw(cands: Candidates, **kwargs: Any) -> Deployment:
        if kwargs["sample"] == bad_sample:
            engine.dss.Text.Command("edit PVSystem.hcs0 bus1=no_such_bus.1")
            engine.dss.Text.Command("no_such_command bus=no_such_bus")
        return real(cands, **kwargs)

    return draw
