"""The load-temperature regression recovers known models and fits the synthetic utility's loads."""

from __future__ import annotations

import numpy as np
import pytest
from gridtwin.scenarios.regression import fit_load_temperature, hour_of_week, smoothed_temp_c
from solar_support import class_kw, synth_state


def test_exact_model_is_recovered() -> None:
    state = synth_state()
    how = hour_of_week(state.ctx)
    temp = state.base_weather.temp_c
    t_s = smoothed_temp_c(temp)
    base = 50.0 + 20.0 * np.sin(2 * np.pi * how / 24.0) + 5.0 * (how >= 120)
    load = base + 7.0 * np.maximum(t_s - 19.5, 0.0) + 3.0 * np.maximum(11.0 - t_s, 0.0)
    fit = fit_load_temperature(load, temp, how, "x")
    assert (fit.cooling_balance_c, fit.heating_balance_c) == (19.5, 11.0)
    assert fit.cooling_kw_per_c == pytest.approx(7.0) and fit.heating_kw_per_c == pytest.approx(3.0)
    assert fit.r2 == pytest.approx(1.0) and fit.rmse_kw < 1e-9
    assert np.allclose(fit.predict(temp, how), load)


def test_synthetic_utility_classes_fit_well() -> None:
    state = synth_state()
    how = hour_of_week(state.ctx)
    fits = {
        c: fit_load_temperature(class_kw(state, c), state.base_weather.temp_c, how, c) for c in ("res", "com")
    }
    res = fits["res"]
    assert res.r2 > 0.8 and fits["com"].r2 > 0.8
    # The generator cools above 18 C and heats below 10 C (gridtwin.grid.synth.shapes).
    assert res.cooling_balance_c == pytest.approx(18.0, abs=1.5)
    assert res.heating_balance_c == pytest.approx(10.0, abs=1.5)
    assert res.cooling_kw_per_c > res.heating_kw_per_c > 0.0
    assert res.rmse_kw < 0.1 * res.mean_kw
    assert "R2" in res.summary() and "kW/degC" in res.summary()


def test_no_weather_signal_gives_flat_terms() -> None:
    state = synth_state()
    how = hour_of_week(state.ctx)
    load = 10.0 + (how % 24).astype(float)
    fit = fit_load_temperature(load, state.base_weather.temp_c, how)
    assert fit.cooling_kw_per_c == pytest.approx(0.0, abs=1e-9) and fit.heating_kw_per_c == pytest.approx(
        0.0, abs=1e-9
    )
    assert fit.r2 == pytest.approx(1.0)


def test_bad_series_are_refused() -> None:
    how = np.zeros(10, dtype=np.int64)
    with pytest.raises(ValueError, match="same length"):
        fit_load_temperature(np.ones(10), np.ones(9), how)
    with pytest.raises(ValueError, match="finite"):
        fit_load_temperature(np.full(10, np.nan), np.ones(10), how)
