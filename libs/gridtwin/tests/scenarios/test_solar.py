"""The solar layer: pvlib output shapes behave physically, adoption raises reverse flow, rows and
ledger follow the contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gridtwin.errors import InputError
from gridtwin.scenarios.schema import Adoption, Allocation, PvSize, SolarLayer
from gridtwin.scenarios.solar import AZIMUTH_DEG, apply_solar_layer, pv_shape_per_kw_dc
from gridtwin.scenarios.state import PV_COLUMNS, WeatherYear
from solar_support import synth_state


@pytest.fixture(scope="module")
def weather() -> WeatherYear:
    return synth_state().weather


@pytest.fixture(scope="module")
def times() -> pd.DatetimeIndex:
    return synth_state().ctx.times_utc


def _shape(
    times: pd.DatetimeIndex, weather: WeatherYear, tilt: float, azimuth: float, **kw: float
) -> np.ndarray:
    return pv_shape_per_kw_dc(times, 41.5, -90.0, weather, tilt, azimuth, **kw)


def test_shape_is_zero_at_night_and_plausible_over_the_year(
    times: pd.DatetimeIndex, weather: WeatherYear
) -> None:
    south = _shape(times, weather, 25.0, 180.0)
    local_hour = np.asarray(times.tz_convert("America/Chicago").hour)
    assert south.shape == (8760,) and np.all(np.isfinite(south)) and south.min() >= 0.0
    assert np.all(south[weather.ghi_w_per_m2 <= 0.0] == 0.0)
    assert np.all(south[(local_hour >= 22) | (local_hour <= 3)] == 0.0)
    # Capacity factor AC/DC: PVWatts gives ~14 % for Chicago on TMY data; the synthetic year is a
    # little darker (GHI 1415 kWh/m2, diffuse-heavy after Erbs), measured 13.6 %.
    cf = south.mean()
    assert 0.125 < cf < 0.19
    assert south.max() <= 1.0 / 1.2  # the inverter limit


def test_south_beats_east_and_west(times: pd.DatetimeIndex, weather: WeatherYear) -> None:
    south, east, west = (_shape(times, weather, 25.0, az).sum() for az in (180.0, 90.0, 270.0))
    assert south > 1.05 * east and south > 1.05 * west
    assert east == pytest.approx(west, rel=0.05)  # symmetric about solar noon


def test_high_ilr_clips_at_the_inverter_rating(times: pd.DatetimeIndex, weather: WeatherYear) -> None:
    clipped = _shape(times, weather, 25.0, 180.0, ilr=1.6)
    free = _shape(times, weather, 25.0, 180.0, ilr=1.0)
    assert clipped.max() == pytest.approx(0.96 / 1.6)  # PVWatts inverter: pac0 = 0.96 * pdc0
    assert (clipped >= 0.96 / 1.6 - 1e-9).sum() > 100
    assert clipped.sum() < free.sum()


def test_a_hotter_year_gives_less_energy(times: pd.DatetimeIndex, weather: WeatherYear) -> None:
    hot = weather.copy()
    hot.temp_c = hot.temp_c + 5.0
    base = _shape(times, weather, 25.0, 180.0).sum()
    warmer = _shape(times, hot, 25.0, 180.0).sum()
    # -0.37 %/degC on the cell temperature: about -1.85 % for +5 degC.
    assert warmer / base == pytest.approx(1.0 - 0.0037 * 5.0, abs=0.004)


def test_given_components_are_used_instead_of_erbs(times: pd.DatetimeIndex, weather: WeatherYear) -> None:
    flat = weather.copy()
    flat.dni_w_per_m2 = np.zeros(8760)
    flat.dhi_w_per_m2 = flat.ghi_w_per_m2.copy()  # all diffuse: a tilted array sees less
    assert _shape(times, flat, 25.0, 180.0).sum() < _shape(times, weather, 25.0, 180.0).sum()


def _layer(pct: float, **kw: object) -> SolarLayer:
    return SolarLayer.model_validate({"type": "solar", "id": "pv", "adoption": Adoption(pct=pct), **kw})


def test_reverse_flow_rises_with_pv_share() -> None:
    midday, reverse, energy = [], [], []
    for pct in (10.0, 30.0, 60.0):
        state = synth_state()
        apply_solar_layer(state, _layer(pct), 0)
        load, pv = state.customer_kw(), state.pv_kw()
        noon = (state.ctx.local_hour >= 11) & (state.ctx.local_hour <= 14)
        midday.append(float((load - pv)[noon].mean()))
        reverse.append(int((load - pv < 0).sum()))
        energy.append(float(str(state.ledger[-1]["energy_kwh"])))
        assert state.ledger[-1]["energy_kwh"] == pytest.approx(pv.sum(), rel=1e-12)
        assert state.ledger[-1]["peak_kw"] == pytest.approx(pv.max(), rel=1e-12)
    assert midday[0] > midday[1] > midday[2]
    assert reverse[0] <= reverse[1] <= reverse[2] and reverse[2] > reverse[0]
    assert energy[0] < energy[1] < energy[2]


def test_rows_follow_the_contract_and_the_seed() -> None:
    layer = _layer(
        30.0,
        ilr=1.25,
        inverter={"mode": "fixed_pf", "pf": -0.95},
        allocation=Allocation(customer_classes=["res", "com"]),
    )
    a, b, c = synth_state(), synth_state(), synth_state(seed=8)
    for s in (a, b, c):
        apply_solar_layer(s, layer, 2)
    pd.testing.assert_frame_equal(a.pv, b.pv)
    assert not a.pv["customer"].equals(c.pv["customer"])
    pv = a.pv
    assert list(pv.columns) == list(PV_COLUMNS)
    assert pv["name"].iloc[0] == "pv_pv_0001" and pv["name"].is_unique and pv["customer"].is_unique
    assert np.allclose(pv["kva"], pv["pmpp_kw"] / 1.25)
    tilt = pv["tilt_deg"].to_numpy(dtype=float)
    assert np.all(tilt % 5.0 == 0.0) and tilt.min() >= 0.0 and tilt.max() <= 60.0
    assert set(pv["azimuth_deg"]) <= set(AZIMUTH_DEG.values())
    assert (pv["azimuth_deg"] == 180.0).mean() > 0.35  # half the roofs face south by default
    res = pv["customer"].map(a.customers["class_name"]) == "res"
    assert (
        pv.loc[res, "pmpp_kw"].between(2.0, 15.0).all() and pv.loc[~res, "pmpp_kw"].between(10.0, 250.0).all()
    )
    assert set(pv["inverter_mode"]) == {"fixed_pf"} and set(pv["pf"]) == {-0.95}
    assert pv["shape"].nunique() <= 13 * 5
    for key in pv["shape"].unique():
        assert key in a.shapes and a.shapes[key].min() >= 0.0 and a.shapes[key].max() <= 0.96 / 1.25 + 1e-12


def test_customers_with_pv_are_skipped_by_a_later_layer() -> None:
    state = synth_state()
    apply_solar_layer(state, _layer(30.0), 0)
    first = set(state.pv["customer"])
    apply_solar_layer(state, SolarLayer(type="solar", id="more", adoption=Adoption(pct=30.0)), 1)
    assert state.pv["customer"].is_unique
    assert set(state.pv[state.pv["layer"] == "more"]["customer"]).isdisjoint(first)
    conflict = [n for n in state.notes if n.code == "conflict"]
    assert len(conflict) == 1 and str(len(first)) in conflict[0].message
    assert [e["component"] for e in state.ledger] == ["pv", "pv"]


def test_a_class_without_a_size_is_an_error_naming_it() -> None:
    layer = _layer(
        10.0, size={"res": PvSize(mean_kw=6.0)}, allocation=Allocation(customer_classes=["res", "com"])
    )
    with pytest.raises(InputError) as err:
        apply_solar_layer(synth_state(), layer, 3)
    assert err.value.details[0].where == "layers[3].size.com"
    # only the eligible classes need a size
    only_res = _layer(
        10.0, size={"res": PvSize(mean_kw=6.0)}, allocation=Allocation(customer_classes=["res"])
    )
    apply_solar_layer(synth_state(), only_res, 0)


def test_interconnection_rules_in_force_apply_to_new_pv() -> None:
    state = synth_state()
    state.rules["max_pv_kw_per_customer"] = 4.0
    apply_solar_layer(state, _layer(20.0), 0)
    assert state.pv["kva"].max() <= 4.0 + 1e-9
    ledger = state.ledger_frame()
    assert ledger["component"].tolist() == ["pv", "pv_rules"] and ledger["energy_kwh"].iloc[1] < 0
    assert ledger["energy_kwh"].sum() == pytest.approx(state.pv_kw().sum(), rel=1e-9)
