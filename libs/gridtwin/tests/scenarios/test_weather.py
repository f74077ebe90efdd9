"""The weather layer: events shape temperature as documented, loads respond exactly as the fitted
regression predicts, and weather files (Open-Meteo JSON, CSV) are read or refused with located errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.scenarios.regression import fit_load_temperature, hour_of_week
from gridtwin.scenarios.schema import Adoption, HourlyWeather, SolarLayer, WeatherEvent, WeatherLayer
from gridtwin.scenarios.solar import apply_solar_layer
from gridtwin.scenarios.state import ScenarioState
from gridtwin.scenarios.weather import apply_weather_layer, event_delta_c, read_weather_file, response_ratio
from solar_support import class_kw, synth_state


def _layer(*events: WeatherEvent, **kw: object) -> WeatherLayer:
    return WeatherLayer.model_validate({"type": "weather", "id": "w", "events": list(events), **kw})


def _event(
    kind: str = "heat_wave", delta: float = 5.0, days: int = 5, month: int = 7, **kw: object
) -> WeatherEvent:
    return WeatherEvent.model_validate({"kind": kind, "delta_c": delta, "days": days, "month": month, **kw})


def _energy_from_shapes(
    shapes_before: dict[str, np.ndarray], before: pd.DataFrame, state: ScenarioState
) -> float:
    """Energy change computed customer by customer from the shapes themselves."""
    return float(
        sum(
            p * (state.shapes[k_new].sum() - shapes_before[k_old].sum())
            for p, k_old, k_new in zip(before["p_kw"], before["shape"], state.customers["shape"], strict=True)
        )
    )


def test_heat_wave_raises_load_by_the_fitted_ratio_and_nothing_else() -> None:
    state = synth_state()
    before_customers = state.customers.copy()
    before_shapes = dict(state.shapes)
    res_before = class_kw(state, "res")
    how = hour_of_week(state.ctx)
    fit = fit_load_temperature(res_before, state.base_weather.temp_c, how, "res")

    apply_weather_layer(state, _layer(_event()), 0)
    delta = state.weather.temp_c - state.base_weather.temp_c
    inside = np.flatnonzero(delta != 0.0)
    assert len(inside) == 5 * 24 and np.all(np.diff(inside) == 1) and np.all(state.ctx.month[inside] == 7)

    res_after = class_kw(state, "res")
    ratio = response_ratio(fit, state.base_weather.temp_c, state.weather.temp_c, how)
    expected = fit.predict(state.weather.temp_c, how) / fit.predict(state.base_weather.temp_c, how)
    assert np.allclose(ratio, expected, rtol=1e-12)  # the floor does not bind here
    assert np.allclose(res_after, res_before * ratio, rtol=1e-12)
    assert res_after[inside].sum() > res_before[inside].sum()
    # Outside the window (and the 2 h the 3-hour trailing mean lags behind it) nothing changes.
    touched = np.zeros(8760, dtype=bool)
    touched[inside[0] : inside[-1] + 3] = True
    assert np.array_equal(res_after[~touched], res_before[~touched])

    row = state.ledger[-1]
    assert row["component"] == "weather_response" and row["type"] == "weather"
    assert row["energy_kwh"] == pytest.approx(
        _energy_from_shapes(before_shapes, before_customers, state), rel=1e-9
    )
    fits = [n for n in state.notes if n.code == "fit"]
    assert {n.message.split(":")[0] for n in fits} == {"res", "com", "ind"}
    assert "R2" in str(row["note"])


def test_event_shape_is_continuous_and_diurnal() -> None:
    state = synth_state()
    d = event_delta_c(state.ctx, state.weather.temp_c, _event(delta=6.0, days=4), "e")
    inside = np.flatnonzero(d)
    assert d.max() == pytest.approx(6.0, rel=0.01) and d.min() == 0.0
    assert np.abs(np.diff(d)).max() < 0.2 * 6.0  # ramps, no jumps
    assert d[inside[0]] < 0.3 and d[inside[-1]] < 0.3
    middle = inside[24:-24]  # full ramp
    hour = state.ctx.local_hour[middle]
    assert d[middle][hour == 15].min() == pytest.approx(6.0)
    assert d[middle][hour == 3].max() == pytest.approx(3.0)
    cold = event_delta_c(state.ctx, state.weather.temp_c, _event("cold_snap", 6.0, 4, 1), "e")
    mid_cold = np.flatnonzero(cold)[24:-24]
    assert cold[mid_cold][state.ctx.local_hour[mid_cold] == 5].max() == pytest.approx(-6.0)
    assert cold[mid_cold][state.ctx.local_hour[mid_cold] == 17].min() == pytest.approx(-3.0)


def test_default_window_is_the_hottest_and_start_day_is_honoured() -> None:
    state = synth_state()
    ctx, temp = state.ctx, state.weather.temp_c
    chosen = np.flatnonzero(event_delta_c(ctx, temp, _event(days=3), "e"))
    july_days = np.unique(ctx.day_index[ctx.month == 7])
    means = [temp[np.isin(ctx.day_index, july_days[k : k + 3])].mean() for k in range(len(july_days) - 2)]
    assert temp[chosen].mean() == pytest.approx(max(means))
    fixed = np.flatnonzero(event_delta_c(ctx, temp, _event(days=3, month=8, start_day=10), "e"))
    local = ctx.times_utc[fixed].tz_convert("America/Chicago")
    assert set(local.day) == {10, 11, 12} and set(local.month) == {8} and len(fixed) == 72


def test_cold_snap_raises_heating_load() -> None:
    state = synth_state()
    before = class_kw(state, "res")
    apply_weather_layer(state, _layer(_event("cold_snap", 8.0, 4, 1)), 0)
    inside = np.flatnonzero(state.weather.temp_c != state.base_weather.temp_c)
    after = class_kw(state, "res")
    assert after[inside].sum() > 1.03 * before[inside].sum()
    row = state.ledger_frame().iloc[-1]
    assert row["energy_kwh"] > 0.0 and row["peak_kw"] >= 0.0


def test_event_errors_name_the_field() -> None:
    with pytest.raises(InputError) as err:
        apply_weather_layer(synth_state(), _layer(_event(days=5, month=2, start_day=27)), 4)
    assert err.value.details[0].where == "layers[4] (w).events[0].start_day"
    with pytest.raises(InputError) as err:
        apply_weather_layer(synth_state(), _layer(_event(days=30, month=2)), 0)
    assert err.value.details[0].where == "layers[0] (w).events[0].days"


def test_layers_chain_from_the_base_fit() -> None:
    state = synth_state()
    base = class_kw(state, "res")
    how = hour_of_week(state.ctx)
    fit = fit_load_temperature(base, state.base_weather.temp_c, how)
    apply_weather_layer(state, _layer(_event(days=3)), 0)
    apply_weather_layer(state, _layer(_event("cold_snap", 6.0, 3, 1)).model_copy(update={"id": "w2"}), 1)
    ratio = response_ratio(fit, state.base_weather.temp_c, state.weather.temp_c, how)
    assert np.allclose(class_kw(state, "res"), base * ratio, rtol=1e-9)
    assert len([n for n in state.notes if n.code == "fit"]) == 6  # reported by each layer


def test_historical_year_replaces_weather_and_fills_short_gaps() -> None:
    state = synth_state()
    temp = (state.base_weather.temp_c + 2.0).tolist()
    temp[100] = temp[101] = float("nan")
    year = HourlyWeather(file="y.json", temp_c=temp, ghi_w_per_m2=state.base_weather.ghi_w_per_m2.tolist())
    apply_weather_layer(state, _layer(year=year, load_response=False), 0)
    assert state.weather.source == "file y.json"
    got, want = state.weather.temp_c, state.base_weather.temp_c + 2.0
    assert np.allclose(np.delete(got, [100, 101]), np.delete(want, [100, 101]))
    assert np.allclose(got[100:102], np.interp([100, 101], [99, 102], want[[99, 102]]))  # linear fill
    assert any(n.code == "assumption" and "2 missing hours" in n.message for n in state.notes)
    assert state.ledger[-1]["energy_kwh"] == 0.0 and state.customers["shape"].equals(
        synth_state().customers["shape"]
    )

    long_gap = list(temp)
    long_gap[200:205] = [float("nan")] * 5
    bad = HourlyWeather(temp_c=long_gap, ghi_w_per_m2=year.ghi_w_per_m2)
    with pytest.raises(InputError) as err:
        apply_weather_layer(synth_state(), _layer(year=bad), 2)
    assert err.value.details[0].where == "layers[2] (w).year.temp_c[200]"
    short = HourlyWeather(temp_c=temp[:100], ghi_w_per_m2=year.ghi_w_per_m2)
    with pytest.raises(InputError) as err:
        apply_weather_layer(synth_state(), _layer(year=short), 2)
    assert err.value.details[0].where == "layers[2] (w).year.temp_c"


def test_pv_added_before_a_weather_layer_is_noted() -> None:
    state = synth_state()
    apply_solar_layer(state, SolarLayer(type="solar", id="pv", adoption=Adoption(pct=5.0)), 0)
    apply_weather_layer(state, _layer(_event(days=2), load_response=False), 1)
    assert any(n.code == "conflict" and "PV" in n.message for n in state.notes)


# -- files -----------------------------------------------------------------------------------------

_RNG = np.random.default_rng([5, 1])
_TEMP = np.round(10.0 + 12.0 * np.sin(np.arange(8784) / 600.0) + _RNG.normal(0, 1, 8784), 2)


def _times(year: int, hours: int, fmt: str = "%Y-%m-%dT%H:%M", tz: str = "UTC") -> list[str]:
    """Consecutive hours written on the ``tz`` clock (a DST zone skips and repeats an hour)."""
    return list(pd.date_range(f"{year}-01-01", periods=hours, freq="h", tz=tz).strftime(fmt))


def _open_meteo(path: Path, year: int = 2023, hours: int = 8760, **overrides: object) -> Path:
    hourly: dict[str, object] = {
        "time": _times(year, hours),
        "temperature_2m": _TEMP[:hours].tolist(),
        "shortwave_radiation": [0.0] * hours,
        "wind_speed_10m": [36.0] * hours,
    }
    doc: dict[str, object] = {
        "latitude": 41.5,
        "longitude": -90.0,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "hourly_units": {"time": "iso8601", "temperature_2m": "°C", "wind_speed_10m": "km/h"},
        "hourly": hourly,
    }
    for key, value in overrides.items():
        if key in hourly or key == "drop":
            if key == "drop":
                hourly.pop(str(value))
            else:
                hourly[key] = value
        else:
            doc[key] = value
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_open_meteo_json_is_read_in_utc_with_units(tmp_path: Path) -> None:
    notes: list[ErrorDetail] = []
    hw = read_weather_file(_open_meteo(tmp_path / "w.json"), notes)
    assert hw.temp_c == pytest.approx(_TEMP[:8760].tolist())
    assert hw.wind_m_per_s == pytest.approx([10.0] * 8760)  # 36 km/h
    assert hw.file == "w.json" and not notes

    local = _open_meteo(
        tmp_path / "local.json",
        timezone="America/Chicago",
        utc_offset_seconds=-21600,
        time=_times(2023, 8760, tz="America/Chicago"),
    )
    hw = read_weather_file(local, notes)
    # local midnight 1 January = 06:00 UTC: values are placed by UTC hour of the year
    assert hw.temp_c is not None and hw.temp_c[6] == pytest.approx(_TEMP[0])
    assert any("placed by UTC hour" in n.message for n in notes)


def test_leap_year_drops_29_february(tmp_path: Path) -> None:
    notes: list[ErrorDetail] = []
    hw = read_weather_file(_open_meteo(tmp_path / "leap.json", year=2024, hours=8784), notes)
    assert hw.temp_c is not None and len(hw.temp_c) == 8760
    assert hw.temp_c[59 * 24] == pytest.approx(_TEMP[60 * 24])  # 1 March
    assert any("29 February" in n.message for n in notes)


def test_csv_files_with_our_names_and_open_meteo_names(tmp_path: Path) -> None:
    ours = tmp_path / "ours.csv"
    lines = ["time,temp_c,ghi_w_per_m2,wind_m_per_s"]
    lines += [f"{t},{v},0,3.5" for t, v in zip(_times(2023, 8760, "%Y-%m-%dT%H:%MZ"), _TEMP, strict=False)]
    ours.write_text("\n".join(lines) + "\n", encoding="utf-8")
    hw = read_weather_file(ours)
    assert hw.temp_c == pytest.approx(_TEMP[:8760].tolist()) and hw.wind_m_per_s == pytest.approx(
        [3.5] * 8760
    )

    om = tmp_path / "om.csv"
    head = [
        "latitude,longitude,utc_offset_seconds,timezone",
        "41.5,-90.0,0,GMT",
        "",
        "time,temperature_2m (°F),wind_speed_10m (km/h)",
    ]
    rows = [f"{t},{v * 9 / 5 + 32},18" for t, v in zip(_times(2023, 8760), _TEMP, strict=False)]
    om.write_text("\n".join(head + rows) + "\n", encoding="utf-8")
    hw = read_weather_file(om)
    assert hw.temp_c == pytest.approx(_TEMP[:8760].tolist()) and hw.wind_m_per_s == pytest.approx(
        [5.0] * 8760
    )


def test_json_errors_name_the_field(tmp_path: Path) -> None:
    def where(path: Path) -> str:
        with pytest.raises(InputError) as err:
            read_weather_file(path)
        return err.value.details[0].where

    bad = tmp_path / "bad.json"
    bad.write_text('{"hourly": {\n  "time": [1,\n}', encoding="utf-8")
    assert where(bad) == f"{bad}:3"
    assert where(_open_meteo(tmp_path / "a.json", drop="temperature_2m")).endswith("temperature_2m")
    times = _times(2023, 8760)
    assert where(_open_meteo(tmp_path / "b.json", time=[*times[:5], "yesterday", *times[6:]])).endswith(
        "hourly.time[5]"
    )
    assert where(_open_meteo(tmp_path / "c.json", time=[*times[:10], times[9], *times[11:]])).endswith(
        "hourly.time[10]"
    )
    swapped = [*times[:20], times[21], times[20], *times[22:]]
    assert where(_open_meteo(tmp_path / "d.json", time=swapped)).endswith("hourly.time[21]")
    assert where(_open_meteo(tmp_path / "e.json", hours=8000)).endswith(": time")
    units = {"temperature_2m": "°C", "wind_speed_10m": "furlongs/fortnight"}
    assert where(_open_meteo(tmp_path / "f.json", hourly_units=units)).endswith("hourly_units.wind_speed_10m")
    assert where(_open_meteo(tmp_path / "z.json", timezone="Mars/Olympus")).endswith(": timezone")
    long_gap = _TEMP[:8760].tolist()
    long_gap[50:60] = [None] * 10
    assert where(_open_meteo(tmp_path / "g.json", temperature_2m=long_gap)).endswith("hourly.temperature_2m")


def test_csv_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_bytes(b"time,temp_c\n2023-01-01T00:00,1.0\n2023-01-01T01:00,\xff\n")
    with pytest.raises(InputError) as err:
        read_weather_file(path)
    assert err.value.details[0].where == f"{path}:3" and "UTF-8" in err.value.details[0].message
    path.write_text("time,temp_c\n2023-01-01T00:00,1.0\n2023-01-01T01:00,warm\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_weather_file(path)
    assert err.value.details[0].where == f"{path}:3"
    path.write_text("time,ghi_w_per_m2\n2023-01-01T00:00,1.0\n", encoding="utf-8")
    with pytest.raises(InputError, match="temperature"):
        read_weather_file(path)
