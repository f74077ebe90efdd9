"""Adoption counts and customer picks shared by the EV, solar and electrification layers."""

from __future__ import annotations

import numpy as np
import pytest
from gridtwin.scenarios.adoption import adoption_count, pick_customers
from gridtwin.scenarios.schema import Adoption, Allocation
from pydantic import ValidationError
from scenario_support import make_state

RES = Allocation()


def test_pct_rounds_half_up() -> None:
    assert adoption_count(Adoption(pct=15.0), 10, "f1", RES) == 2  # 1.5 -> 2
    assert adoption_count(Adoption(pct=14.5), 100, "f1", RES) == 15  # 14.5 -> 15, not banker's 14
    assert adoption_count(Adoption(pct=14.0), 10, "f1", RES) == 1
    assert adoption_count(Adoption(pct=0.0), 10, "f1", RES) == 0
    assert adoption_count(Adoption(pct=100.0), 37, "f1", RES) == 37


def test_count_is_capped_at_eligible() -> None:
    assert adoption_count(Adoption(count=5), 10, "f1", RES) == 5
    assert adoption_count(Adoption(count=50), 10, "f1", RES) == 10


def test_curve_is_linear_and_flat_outside() -> None:
    curve = {2025: 10.0, 2035: 50.0}
    assert adoption_count(Adoption(curve=curve, year=2030), 100, "f1", RES) == 30
    assert adoption_count(Adoption(curve=curve, year=2020), 100, "f1", RES) == 10
    assert adoption_count(Adoption(curve=curve, year=2050), 100, "f1", RES) == 50


def test_feeder_pct_override_first_match_wins() -> None:
    alloc = Allocation(feeder_pct={"north_*": 40.0, "north_1*": 90.0})
    assert adoption_count(Adoption(pct=10.0), 100, "north_12", alloc) == 40
    assert adoption_count(Adoption(pct=10.0), 100, "south_1", alloc) == 10
    assert adoption_count(Adoption(count=3), 100, "north_12", alloc) == 40


def test_schema_rejects_bad_adoption() -> None:
    with pytest.raises(ValidationError) as neg:
        Adoption(pct=-5.0)
    assert neg.value.errors()[0]["loc"] == ("pct",)
    with pytest.raises(ValidationError):
        Adoption(pct=120.0)
    with pytest.raises(ValidationError):
        Adoption(count=-1)
    with pytest.raises(ValidationError):
        Adoption(pct=10.0, count=3)


def test_uniform_picks_eligible_classes_sorted_and_seeded() -> None:
    state = make_state(n_res=40, n_com=8)
    alloc = Allocation(customer_classes=["res"])
    a = pick_customers(state, Adoption(pct=25.0), alloc, np.random.default_rng([1, 2]))
    b = pick_customers(state, Adoption(pct=25.0), alloc, np.random.default_rng([1, 2]))
    c = pick_customers(state, Adoption(pct=25.0), alloc, np.random.default_rng([1, 3]))
    assert a.size == 10
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(np.diff(a) > 0)
    assert set(state.customers["class_name"].iloc[a]) == {"res"}


def test_exclude_by_mask_or_positions() -> None:
    state = make_state(n_res=20, n_com=0)
    excluded = np.arange(10)
    picks = pick_customers(state, Adoption(pct=100.0), RES, np.random.default_rng(0), exclude=excluded)
    assert np.array_equal(picks, np.arange(10, 20))
    mask = np.zeros(20, dtype=bool)
    mask[::2] = True
    picks = pick_customers(state, Adoption(count=100), RES, np.random.default_rng(0), exclude=mask)
    assert np.array_equal(picks, np.arange(1, 20, 2))


def test_by_size_prefers_large_customers() -> None:
    state = make_state(n_res=40, n_com=0)
    p_kw = state.customers["p_kw"].to_numpy()
    alloc = Allocation(weighting="by_size")
    mean_uniform, mean_size = [], []
    for s in range(60):
        mean_uniform.append(
            p_kw[pick_customers(state, Adoption(pct=20.0), RES, np.random.default_rng(s))].mean()
        )
        mean_size.append(
            p_kw[pick_customers(state, Adoption(pct=20.0), alloc, np.random.default_rng(s))].mean()
        )
    assert np.mean(mean_size) > np.mean(mean_uniform) + 0.2


def test_by_transformer_fills_whole_transformers() -> None:
    state = make_state(n_res=40, n_com=0, per_transformer=4)
    alloc = Allocation(by_transformer=True)
    picks = pick_customers(state, Adoption(count=10), alloc, np.random.default_rng(5))
    assert picks.size == 10
    counts = state.customers["transformer"].iloc[picks].value_counts().sort_values(ascending=False).tolist()
    assert counts == [4, 4, 2]  # two full transformers and the last one partly
