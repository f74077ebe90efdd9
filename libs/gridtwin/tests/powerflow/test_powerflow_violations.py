"""Violations against ANSI C84.1 ranges and thermal limits; limits from settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gridtwin.config.settings import Settings
from gridtwin.powerflow import Engine, ViolationLimits, find_violations

LOOSE = ViolationLimits(
    range_a_min_pu=0.5,
    range_a_max_pu=1.5,
    range_b_min_pu=0.5,
    range_b_max_pu=1.5,
    thermal_normal_pct=1000.0,
    thermal_emergency_pct=1000.0,
)


def test_defaults_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ViolationLimits.from_settings(Settings()) == ViolationLimits()
    monkeypatch.setenv("GRIDTWIN_RANGE_A_MIN_PU", "0.97")
    monkeypatch.setenv("GRIDTWIN_THERMAL_LIMIT_PCT", "80")
    limits = ViolationLimits.from_settings(Settings())
    assert limits.range_a_min_pu == 0.97 and limits.thermal_normal_pct == 80.0


def test_tightened_limits_add_violations_and_loose_limits_remove_them(ieee13: Engine) -> None:
    default = ieee13.snapshot().violations
    tight = ieee13.snapshot(ViolationLimits(range_a_min_pu=0.99, range_b_min_pu=0.97)).violations
    loose = ieee13.snapshot(LOOSE).violations
    assert len(loose) == 0
    low_a = set(tight.loc[tight["kind"] == "range_a_low", "element"])
    low_b = set(tight.loc[tight["kind"] == "range_b_low", "element"])
    assert {"671.1", "671.3", "675.3", "611.3"} <= low_a
    assert "671.3" in low_b and "632.1" not in low_a
    assert low_b <= low_a  # below range B implies below range A
    assert len(tight) > len(default)
    # IEEE 13's head line runs above its 400 A normal rating.
    row = default[(default["kind"] == "thermal_normal") & (default["element"] == "line.650632")]
    assert len(row) == 1 and row["value"].iloc[0] > 100 and row["limit"].iloc[0] == 100.0
    # Values reported are the measured ones.
    pu = ieee13.snapshot().voltages.set_index(["bus", "node"]).loc[("671", 3), "pu"]
    assert tight.set_index(["kind", "element"]).loc[("range_a_low", "671.3"), "value"] == pytest.approx(
        pu, rel=1e-4
    )


def test_overvoltage_is_reported(ieee13: Engine) -> None:
    tight = ieee13.snapshot(ViolationLimits(range_a_max_pu=1.03, range_b_max_pu=1.04)).violations
    high_a = set(tight.loc[tight["kind"] == "range_a_high", "element"])
    high_b = set(tight.loc[tight["kind"] == "range_b_high", "element"])
    assert "671.2" in high_a and "671.2" in high_b


def test_emergency_overload_is_reported(ieee13: Engine) -> None:
    violations = ieee13.snapshot(ViolationLimits(thermal_emergency_pct=50.0)).violations
    emergency = set(violations.loc[violations["kind"] == "thermal_emergency", "element"])
    assert "line.650632" in emergency


def test_neutral_and_unbased_nodes_are_not_judged() -> None:
    voltages = pd.DataFrame(
        {
            "bus": np.array(["a", "a", "b", "c"], dtype=object),
            "node": np.array([1, 4, 1, 2], dtype=np.int64),
            "pu": np.array([0.5, 0.01, 0.0, 1.2]),
            "kv": np.array([1.2, 0.02, 0.0, 2.9]),
            "angle_deg": np.zeros(4),
            "base_kv": np.array([2.4, 2.4, 0.0, 2.4]),
        }
    )
    elements = pd.DataFrame(
        {
            "name": np.array(["line.x", "line.y"], dtype=object),
            "loading_pct": np.array([np.nan, 120.0]),
            "loading_emerg_pct": np.array([np.nan, 90.0]),
        }
    )
    found = find_violations(voltages, elements, ViolationLimits())
    assert sorted(zip(found["kind"], found["element"], strict=True)) == [
        ("range_a_high", "c.2"),
        ("range_a_low", "a.1"),
        ("range_b_high", "c.2"),
        ("range_b_low", "a.1"),
        ("thermal_normal", "line.y"),
    ]
