"""Sweep points: full grids, seeded Latin Hypercube samples inside their bounds, and the result table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gridtwin.errors import InputError
from gridtwin.scenarios.loader import parse_scenario
from gridtwin.scenarios.schema import Sweep
from gridtwin.scenarios.sweep import sweep_points, sweep_scenarios, sweep_table

SCENARIO = """
name: s
layers:
  - {type: ev, id: ev, adoption: {pct: 10}}
  - {type: solar, id: pv, adoption: {pct: 10}}
sweep:
  method: grid
  parameters:
    - {path: layers.ev.adoption.pct, values: [0, 30, 60]}
    - {path: layers.pv.adoption.pct, low: 0, high: 40, steps: 3}
"""


def test_grid_is_the_cartesian_product() -> None:
    scenario = parse_scenario(SCENARIO)
    assert scenario.sweep is not None
    points = sweep_points(scenario.sweep)
    assert len(points) == 9
    assert points[0] == {"layers.ev.adoption.pct": 0.0, "layers.pv.adoption.pct": 0.0}
    assert points[-1] == {"layers.ev.adoption.pct": 60.0, "layers.pv.adoption.pct": 40.0}
    built = sweep_scenarios(scenario)
    assert [s.layers[0].adoption.pct for _, s in built][:3] == [0.0, 0.0, 0.0]  # type: ignore[union-attr]
    assert all(s.sweep is None for _, s in built)


def test_latin_hypercube_is_seeded_stratified_and_in_bounds() -> None:
    sweep = Sweep.model_validate(
        {
            "method": "lhs",
            "samples": 20,
            "seed": 5,
            "parameters": [
                {"path": "layers.ev.adoption.pct", "low": 0, "high": 60},
                {"path": "layers.pv.adoption.count", "low": 0, "high": 40, "integer": True},
            ],
        }
    )
    a, b = sweep_points(sweep), sweep_points(sweep)
    assert a == b
    ev = np.array([p["layers.ev.adoption.pct"] for p in a])
    assert ev.min() >= 0 and ev.max() <= 60
    # One sample in each of the 20 equal strata: the defining property of a Latin Hypercube.
    assert sorted(np.floor(ev / 3.0).astype(int).tolist()) == list(range(20))
    assert all(float(p["layers.pv.adoption.count"]).is_integer() for p in a)
    other = sweep_points(sweep.model_copy(update={"seed": 6}))
    assert other != a


def test_bad_sweeps_fail_before_anything_runs() -> None:
    scenario = parse_scenario(SCENARIO)
    with pytest.raises(InputError, match="too large"):
        sweep_points(
            Sweep.model_validate(
                {"parameters": [{"path": "seed", "low": 0, "high": 1, "steps": 100}], "max_jobs": 10}
            )
        )
    with pytest.raises(InputError, match="lhs needs"):
        sweep_points(Sweep.model_validate({"method": "lhs", "parameters": [{"path": "seed", "values": [1]}]}))
    bad = Sweep.model_validate({"parameters": [{"path": "layers.ev.adoption.pct", "values": [10, 150]}]})
    with pytest.raises(InputError):  # 150 % is caught when the point's scenario is built
        sweep_scenarios(scenario, bad)


def test_sweep_table_aggregates_over_feeders() -> None:
    samples = [
        {"sample": 0, "values": {"p": 1.0}, "job_id": "a"},
        {"sample": 1, "values": {"p": 2.0}, "job_id": "b"},
    ]
    rows = {
        "a": pd.DataFrame({"bus_hours_outside_a": [1.0, 2.0], "max_loading_pct": [80.0, 120.0]}),
        "b": pd.DataFrame({"bus_hours_outside_a": [5.0], "max_loading_pct": [90.0]}),
    }
    table = sweep_table(samples, rows)
    assert table["bus_hours_outside_a"].tolist() == [3.0, 5.0]
    assert table["max_loading_pct"].tolist() == [120.0, 90.0]
    assert table["p"].tolist() == [1.0, 2.0] and table["feeders"].tolist() == [2, 1]
