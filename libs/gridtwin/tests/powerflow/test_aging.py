"""IEEE C57.91 clause 7 hot spot and aging (``gridtwin.powerflow.aging``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gridtwin.powerflow.aging import AgingParams, aging_acceleration, equivalent_aging, hot_spot_c


def test_rated_load_at_30c_ages_at_the_normal_rate() -> None:
    theta = hot_spot_c(np.ones((24, 3)), 30.0, 1.0)
    np.testing.assert_allclose(theta, 110.0)
    f_eqa, lol_h = equivalent_aging(np.ones((24, 3)), 30.0, 1.0)
    np.testing.assert_allclose(f_eqa, 1.0)
    np.testing.assert_allclose(lol_h, 24.0)


def test_hand_case_half_load_at_20c() -> None:
    # Steady K = 0.5, R = 4.5, n = m = 0.8: top-oil rise 55 * ((0.25*4.5 + 1)/5.5)^0.8, gradient 25 * 0.5^1.6.
    top_oil = 55.0 * ((0.25 * 4.5 + 1.0) / 5.5) ** 0.8
    gradient = 25.0 * 0.5**1.6
    theta = 20.0 + top_oil + gradient
    assert theta == pytest.approx(53.948, abs=1e-3)
    expected = math.exp(15000.0 / 383.0 - 15000.0 / (theta + 273.0))
    f_eqa, lol_h = equivalent_aging(np.full((10, 1), 0.5), 20.0, 1.0)
    assert f_eqa[0] == pytest.approx(expected, rel=1e-12)
    assert lol_h[0] == pytest.approx(10 * expected, rel=1e-12)
    assert aging_acceleration(110.0) == pytest.approx(1.0)


def test_top_oil_follows_a_step_with_the_oil_time_constant() -> None:
    p = AgingParams()
    k = np.r_[np.zeros(1), np.ones(12)][:, None]  # steady at no load, then rated load from step 1
    theta = hot_spot_c(k, 30.0, 1.0, p)[:, 0]
    u0 = p.top_oil_rise_rated_k / (p.loss_ratio + 1.0) ** p.oil_exponent_n  # no-load top-oil rise
    u1 = p.top_oil_rise_rated_k
    after_tau = 30.0 + u1 + (u0 - u1) * math.exp(-1.0) + p.hot_spot_gradient_rated_k  # 3 h = tau
    assert theta[3] == pytest.approx(after_tau, rel=1e-12)
    assert theta[0] == pytest.approx(30.0 + u0)


@pytest.mark.parametrize("step_h", [1.0, 0.25])
def test_lag_matches_the_plain_recursion_over_long_runs(step_h: float) -> None:
    rng = np.random.default_rng(7)
    k = rng.uniform(0.0, 1.6, size=(3000, 4))
    ambient = rng.uniform(-10.0, 40.0, size=3000)
    p = AgingParams()
    theta = hot_spot_c(k, ambient, step_h, p)
    # The recursion written plainly (what the vectorised blocks must equal).
    a = math.exp(-step_h / p.tau_top_oil_h)
    u = p.top_oil_rise_rated_k * ((k**2 * p.loss_ratio + 1) / (p.loss_ratio + 1)) ** p.oil_exponent_n
    y = np.empty_like(u)
    prev = u[0]
    for i in range(len(u)):
        prev = a * prev + (1 - a) * u[i]
        y[i] = prev
    expected = ambient[:, None] + y + p.hot_spot_gradient_rated_k * k ** (2 * p.winding_exponent_m)
    np.testing.assert_allclose(theta, expected, rtol=1e-10)


def test_aging_rises_with_load_and_ambient() -> None:
    loads = np.linspace(0.2, 1.5, 8)
    f_load, _ = equivalent_aging(np.tile(loads, (48, 1)), 25.0, 1.0)
    assert np.all(np.diff(f_load) > 0)
    f_amb = [equivalent_aging(np.full((48, 1), 0.9), t, 1.0)[0][0] for t in (-10.0, 10.0, 30.0, 40.0)]
    assert np.all(np.diff(f_amb) > 0)


def test_empty_run_gives_nan() -> None:
    f_eqa, lol_h = equivalent_aging(np.zeros((0, 2)), 30.0, 1.0)
    assert np.isnan(f_eqa).all() and np.isnan(lol_h).all()
