"""A fetched year onward: saved as an Open-Meteo file the scenario loader reads, and stored as
profiles a feeder's ambient_profile points at, which the scenarios then use as base weather."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.synth import synth_feeder
from gridtwin.grid.synth.utility import synth_utility_profiles
from gridtwin.ingest.weather import (
    VARIABLES,
    WeatherSeries,
    store_weather,
    to_open_meteo_json,
    weather_partition,
    weather_year,
)
from gridtwin.scenarios.base import build_state
from gridtwin.scenarios.loader import parse_scenario
from gridtwin.scenarios.weather import read_weather_file
from gridtwin.store.profiles import ProfileStore
from openmeteo_support import ClientFactory, truth_year

LAT, LON = 41.8781, -87.6298


@pytest.mark.parametrize("year", [2025, 2024])
def test_saved_json_is_read_by_the_scenario_loader(
    make_client: ClientFactory, tmp_path: Path, year: int
) -> None:
    series = make_client().historical(LAT, LON, date(year, 1, 1), date(year, 12, 31))
    arrays, _ = weather_year(series, year)
    path = tmp_path / f"weather-{year}.json"
    path.write_text(json.dumps(to_open_meteo_json(series)), encoding="utf-8")
    notes: list[ErrorDetail] = []
    hw = read_weather_file(path, notes)
    assert hw.file == path.name
    for name in VARIABLES:
        np.testing.assert_allclose(np.asarray(getattr(hw, name)), arrays[name], err_msg=name)
    assert any("29 February" in n.message for n in notes) == (year == 2024)


def test_nulls_are_written_as_null_and_read_back_as_gaps(tmp_path: Path) -> None:
    hours = pd.date_range("2025-01-01", periods=8760, freq="h", tz="UTC", name="time_utc")
    frame = pd.DataFrame({n: np.arange(8760, dtype=np.float64) for n in VARIABLES}, index=hours)
    frame.iloc[10:12, 0] = np.nan
    doc = to_open_meteo_json(WeatherSeries(frame, LAT, LON, "api"))
    assert doc["hourly"]["temperature_2m"][10:12] == [None, None]
    assert doc["hourly_units"]["wind_speed_10m"] == "m/s" and doc["timezone"] == "GMT"
    path = tmp_path / "w.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    hw = read_weather_file(path)
    assert hw.temp_c is not None
    np.testing.assert_allclose(hw.temp_c[9:13], [9.0, 10.0, 11.0, 12.0])  # interpolated back


def test_stored_weather_is_the_feeders_base_weather(make_client: ClientFactory, tmp_path: Path) -> None:
    series = make_client().historical(LAT, LON, date(2025, 1, 1), date(2025, 12, 31))
    arrays, _ = weather_year(series, 2025)
    store = ProfileStore(tmp_path / "profiles")
    partition = weather_partition(series.lat, series.lon, 2025)
    refs = store_weather(store, partition, arrays, start_utc=datetime(2025, 1, 1, tzinfo=UTC))
    assert refs == [f"weather/{partition}/{n}" for n in VARIABLES]
    temp_ref = f"weather/{partition}/temp_c"

    feeder = synth_feeder(0, 42)
    model = dataclasses.replace(feeder.model, circuit={**feeder.model.circuit, "ambient_profile": temp_ref})
    profiles = {**synth_utility_profiles(42), **feeder.profiles, **store.resolve(refs)}
    state = build_state(model, parse_scenario("name: t\nseed: 3\n"), profiles)
    assert state.base_weather.source == f"feeder profile {temp_ref}"
    want = truth_year(2025)
    np.testing.assert_allclose(state.base_weather.temp_c, want["temp_c"], atol=1e-5)  # float32 on disk
    np.testing.assert_allclose(state.base_weather.ghi_w_per_m2, want["ghi_w_per_m2"], atol=1e-3)
    assert not any("synthetic weather" in n.message for n in state.notes)


def test_store_weather_checks_its_input(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    good = {"temp_c": np.zeros(8760), "ghi_w_per_m2": np.zeros(8760)}
    assert store_weather(store, "p", good) == ["weather/p/temp_c", "weather/p/ghi_w_per_m2"]
    with pytest.raises(InputError, match="unknown weather variables"):
        store_weather(store, "p", {**good, "rain_mm": np.zeros(8760)})
    with pytest.raises(InputError, match="temperature and irradiance"):
        store_weather(store, "p", {"temp_c": np.zeros(8760)})
    with pytest.raises(InputError, match="365-day year") as info:
        store_weather(store, "p", {**good, "temp_c": np.zeros(8784)})
    assert info.value.details[0].where == "weather/p/temp_c"


def test_weather_partition_is_a_safe_profile_part() -> None:
    assert weather_partition(41.87811, -87.62984, 2024) == "om-n41.8781_w87.6298-2024"
    assert weather_partition(-33.9, 151.2, 2025) == "om-s33.9000_e151.2000-2025"
    assert weather_partition(-0.00001, 0.0, 2025) == "om-n0.0000_e0.0000-2025"
    for p in ("om-n41.8781_w87.6298-2024", weather_partition(90, -180, 1990)):
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", p)
    with pytest.raises(InputError):
        weather_partition(float("inf"), 0.0, 2025)
