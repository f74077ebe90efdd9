"""Policy layers: TOU shifting, electrification and interconnection rules, checked on physics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from gridtwin.errors import InputError
from gridtwin.scenarios.ev import apply_ev_layer
from gridtwin.scenarios.policy import (
    apply_electrification_layer,
    apply_interconnection_layer,
    apply_pv_rules,
    apply_tou_layer,
    heat_pump_shape,
)
from gridtwin.scenarios.schema import (
    ElectrificationLayer,
    EvLayer,
    InterconnectionLayer,
    TouLayer,
)
from gridtwin.scenarios.state import PV_COLUMNS, ScenarioState
from scenario_support import make_state, total_kw


def tou(**kw: Any) -> TouLayer:
    return TouLayer.model_validate({"type": "tou", "id": "tou", **kw})


def with_evs(state: ScenarioState, pct: float = 50.0) -> ScenarioState:
    apply_ev_layer(state, EvLayer.model_validate({"type": "ev", "id": "ev", "adoption": {"pct": pct}}), 0)
    return state


def daily(state: ScenarioState, values: np.ndarray) -> np.ndarray:
    return np.bincount(state.ctx.day_index, weights=values)


# -- TOU -------------------------------------------------------------------------------------------


def test_tou_preserves_daily_energy_and_moves_exactly_shift_pct() -> None:
    state = with_evs(make_state(n_res=20, n_com=4))
    before = {k: v.copy() for k, v in state.shapes.items()}
    res_keys = set(state.customers.loc[state.customers["class_name"] == "res", "shape"])
    apply_tou_layer(state, tou(shift_pct=20.0), 1)
    ctx = state.ctx
    window = (ctx.local_hour >= 16) & (ctx.local_hour < 21)
    weekday = ctx.weekday < 5
    # the run ends at 17:00 local on its last day: no rebound hours left, so that day is not shifted
    last_day = ctx.day_index == ctx.day_index.max()
    for old_key in res_keys:
        new_key = f"{old_key}|tou_tou"
        old, new = before[old_key], state.shapes[new_key]
        assert new.min() >= 0.0
        np.testing.assert_allclose(daily(state, new), daily(state, old), rtol=1e-9, atol=0)
        assert new.sum() == pytest.approx(old.sum(), rel=1e-9)
        shifted = window & weekday & ~last_day
        np.testing.assert_allclose(new[shifted], 0.8 * old[shifted], rtol=1e-12)
        np.testing.assert_array_equal(new[last_day], old[last_day])
        np.testing.assert_array_equal(new[~weekday], old[~weekday])  # weekdays_only
    # commercial customers are not in applies_to; EV chargers are
    assert not any("|tou" in k for k in state.customers.loc[state.customers["class_name"] == "com", "shape"])
    assert all(k.endswith("|tou_tou") for k in state.loads_added["shape"])


def test_tou_rebound_after_midnight_conserves_the_year() -> None:
    state = make_state(n_res=8, n_com=0)
    key = state.customers["shape"].iloc[0]
    old = state.shapes[key].copy()
    apply_tou_layer(state, tou(shift_pct=30.0, rebound_hours=[22, 23, 0, 1], weekdays_only=False), 0)
    new = state.shapes[f"{key}|tou_tou"]
    assert new.sum() == pytest.approx(old.sum(), rel=1e-9)
    ctx = state.ctx
    # a Monday's shifted energy lands partly in Tuesday's 0-2 h
    mon = np.flatnonzero((ctx.weekday == 0) & (ctx.month == 3))[0]
    d = ctx.day_index[mon]
    tue_early = (ctx.day_index == d + 1) & (ctx.local_hour < 2)
    assert (new[tue_early] > old[tue_early]).all()
    window = (ctx.local_hour >= 16) & (ctx.local_hour < 21) & (ctx.day_index < ctx.day_index.max())
    np.testing.assert_allclose(new[window].sum(), 0.7 * old[window].sum(), rtol=1e-12)


def test_tou_lowers_evening_peak_and_ledger_is_computed() -> None:
    state = with_evs(make_state(n_res=40, n_com=0), pct=60.0)
    ctx = state.ctx
    evening = (ctx.local_hour >= 16) & (ctx.local_hour < 21) & (ctx.weekday < 5)
    before = total_kw(state)
    apply_tou_layer(state, tou(shift_pct=25.0, rebound_hours=[21, 22, 23, 0]), 1)
    after = total_kw(state)
    assert after[evening].max() < before[evening].max()
    entry = state.ledger[-1]
    assert entry["component"] == "load_shift"
    assert entry["energy_kwh"] == 0.0
    assert entry["peak_kw"] == pytest.approx(after.max() - before.max(), abs=1e-9)
    moved = float(str(entry["note"]).split(" kWh")[0])
    assert moved == pytest.approx(0.25 * before[evening].sum(), rel=0.02)  # weekdays, all year


def test_tou_with_no_shift_changes_nothing() -> None:
    state = make_state(n_res=4, n_com=0)
    key = state.customers["shape"].iloc[0]
    old = state.shapes[key].copy()
    apply_tou_layer(state, tou(shift_pct=0.0), 0)
    np.testing.assert_array_equal(state.shapes[f"{key}|tou_tou"], old)


# -- electrification -------------------------------------------------------------------------------


def test_heat_pump_is_zero_above_balance_and_larger_when_colder() -> None:
    temps = np.array([25.0, 16.0, 15.0, 5.0, 0.0, -10.0, -15.0, -25.0])
    shape = heat_pump_shape(temps, -15.0, 16.0)
    assert shape[0] == 0.0 and shape[1] == 0.0
    assert np.all(np.diff(shape[1:]) > 0)
    assert shape[6] == pytest.approx(1.0)  # rated kW = input at the design temperature
    assert shape[7] > 1.0  # below design the COP falls further
    # COP-aware: more than the linear heat demand at a mild temperature
    assert shape[3] < (16.0 - 5.0) / 31.0


def test_electrification_adds_heat_pumps_and_cooking_with_exact_ledger() -> None:
    state = make_state(n_res=30, n_com=4)
    layer = ElectrificationLayer.model_validate(
        {
            "type": "electrification",
            "id": "elec",
            "heat_pumps": {"adoption": {"pct": 50.0}, "kw_per_home": 5.0},
            "induction_cooking": {"adoption": {"count": 10}, "daily_kwh": 1.5},
        }
    )
    apply_electrification_layer(state, layer, 2)
    added = state.loads_added
    hp = added[added["kind"] == "heat_pump"]
    ind = added[added["kind"] == "induction"]
    assert len(hp) == 15 and len(ind) == 10
    assert hp["name"].iloc[0] == "hp_elec_0001" and ind["name"].iloc[0] == "ind_elec_0001"
    assert set(state.customers.loc[hp["customer"], "class_name"]) == {"res"}
    by_component = {e["component"]: e for e in state.ledger}
    hp_kw = state.added_kw((added["kind"] == "heat_pump").to_numpy())
    assert by_component["heat_pump"]["energy_kwh"] == pytest.approx(hp_kw.sum(), rel=1e-12)
    assert by_component["heat_pump"]["peak_kw"] == pytest.approx(hp_kw.max(), rel=1e-12)
    temp = state.weather.temp_c
    assert hp_kw[temp >= 16.0].max() == 0.0
    assert hp_kw[temp < -5].mean() > hp_kw[(temp > 0) & (temp < 10)].mean()
    ind_kw = state.added_kw((added["kind"] == "induction").to_numpy())
    assert ind_kw.sum() / (state.ctx.hours / 24) == pytest.approx(10 * 1.5, rel=1e-9)
    dinner = state.ctx.local_hour == 18
    night = state.ctx.local_hour == 3
    assert ind_kw[dinner].mean() > 5 * ind_kw[night].mean()
    assert any(n.code == "assumption" for n in state.notes)


def test_cold_snap_raises_heat_pump_energy() -> None:
    layer = ElectrificationLayer.model_validate(
        {"type": "electrification", "id": "e", "heat_pumps": {"adoption": {"pct": 40.0}}}
    )
    mild, cold = make_state(n_res=20, n_com=0), make_state(n_res=20, n_com=0)
    cold.weather.temp_c[: 24 * 7] -= 15.0  # a week-long cold snap, as a weather layer would make
    apply_electrification_layer(mild, layer, 0)
    apply_electrification_layer(cold, layer, 0)
    assert mild.loads_added["customer"].tolist() == cold.loads_added["customer"].tolist()
    assert cold.ledger[0]["energy_kwh"] > mild.ledger[0]["energy_kwh"]
    assert cold.ledger[0]["peak_kw"] > mild.ledger[0]["peak_kw"]


def test_electrification_bad_input_names_the_field() -> None:
    state = make_state(n_res=4, n_com=0)
    layer = ElectrificationLayer.model_validate(
        {
            "type": "electrification",
            "id": "e",
            "heat_pumps": {"adoption": {"pct": 40.0}, "design_temp_c": 20.0, "balance_temp_c": 16.0},
        }
    )
    with pytest.raises(InputError) as err:
        apply_electrification_layer(state, layer, 3)
    assert err.value.details[0].where == "layers[3] (e).heat_pumps.balance_temp_c"
    cooking = ElectrificationLayer.model_validate(
        {
            "type": "electrification",
            "id": "e",
            "induction_cooking": {"adoption": {"pct": 40.0}, "daily_kwh": 30.0},
        }
    )
    with pytest.raises(InputError) as err:
        apply_electrification_layer(state, cooking, 0)
    assert err.value.details[0].where == "layers[0] (e).induction_cooking.daily_kwh"


# -- interconnection -------------------------------------------------------------------------------


def pv_rows(
    state: ScenarioState, customers: list[str], pmpp_kw: list[float], ilr: float = 1.2
) -> pd.DataFrame:
    """Simple PV rows: AC output per kW DC = 0.85 * GHI / 1000, clipped at the inverter (1 / ilr)."""
    shape = np.minimum(0.85 * state.weather.ghi_w_per_m2 / 1000.0, 1.0 / ilr)
    if "pv_test" not in state.shapes:
        state.add_shape("pv_test", shape)
    cust = state.customers.loc[customers]
    return pd.DataFrame(
        {
            "name": [f"pv_{c}" for c in customers],
            "layer": "solar",
            "customer": customers,
            "bus1": cust["bus1"].to_numpy(),
            "phases": cust["phases"].to_numpy(),
            "kv": cust["kv"].to_numpy(),
            "pmpp_kw": pmpp_kw,
            "kva": [p / ilr for p in pmpp_kw],
            "tilt_deg": 25.0,
            "azimuth_deg": 180.0,
            "shape": "pv_test",
            "inverter_mode": "none",
            "pf": 1.0,
            "curve_v_pu": [[0.9, 1.1]] * len(customers),
            "curve_q_pu": [[0.0, 0.0]] * len(customers),
        }
    )[list(PV_COLUMNS)]


def ic(**kw: Any) -> InterconnectionLayer:
    return InterconnectionLayer.model_validate({"type": "interconnection", "id": "ic", **kw})


def export_kw(state: ScenarioState, pv: pd.DataFrame) -> np.ndarray:
    """(systems, hours) export at each PV customer: PV output minus the customer's own load."""
    out = []
    for row in pv.itertuples():
        c = state.customers.loc[row.customer]
        out.append(row.pmpp_kw * state.shapes[row.shape] - c["p_kw"] * state.shapes[c["shape"]])
    return np.array(out)


def test_interconnection_caps_and_export_limit_on_present_pv() -> None:
    state = make_state(n_res=20, n_com=0)
    names = state.customers.index[:12].tolist()
    state.pv = pv_rows(state, names, [6.0, 14.0, 9.0, 20.0] * 3)
    energy0 = state.pv_kw().sum()
    apply_interconnection_layer(
        state, ic(max_pv_kw_per_customer=10.0, max_pv_kw_per_feeder=80.0, export_limit_kw=2.0), 0
    )
    pv = state.pv
    assert state.rules == {
        "max_pv_kw_per_customer": 10.0,
        "max_pv_kw_per_feeder": 80.0,
        "export_limit_kw": 2.0,
    }
    assert pv["kva"].max() <= 10.0 + 1e-12
    np.testing.assert_allclose(pv["pmpp_kw"] / pv["kva"], 1.2)  # DC/AC ratio kept
    assert pv["kva"].sum() <= 80.0 + 1e-9
    assert pv["name"].tolist() == [f"pv_{n}" for n in names[: len(pv)]]  # the newest were removed
    assert export_kw(state, pv).max() <= 2.0 + 1e-9
    components = {e["component"]: e for e in state.ledger}
    assert components["pv_cap"]["elements"] == 6
    assert components["pv_removed"]["elements"] == 12 - len(pv)
    assert components["pv_clip"]["energy_kwh"] < 0.0
    total_change = sum(float(e["energy_kwh"]) for e in state.ledger)
    assert state.pv_kw().sum() - energy0 == pytest.approx(total_change, rel=1e-9)


def test_feeder_cap_as_share_of_peak() -> None:
    state = make_state(n_res=20, n_com=0)
    state.pv = pv_rows(state, state.customers.index[:10].tolist(), [8.0] * 10)
    apply_interconnection_layer(state, ic(max_pv_pct_of_feeder_peak=20.0), 0)
    cap = 0.2 * state.customer_kw().max()
    assert state.pv["kva"].sum() <= cap + 1e-9
    assert state.pv["kva"].sum() > cap - 8.0 / 1.2


def test_rules_apply_to_pv_added_later() -> None:
    state = make_state(n_res=20, n_com=0)
    names = state.customers.index.tolist()
    state.pv = pv_rows(state, names[:2], [8.0, 8.0])
    apply_interconnection_layer(
        state, ic(max_pv_kw_per_customer=7.0, max_pv_kw_per_feeder=40.0, export_limit_kw=0.0), 0
    )
    new = pv_rows(state, names[2:10], [12.0] * 8)
    kept = apply_pv_rules(state, new, layer="solar2")
    assert kept["kva"].max() <= 7.0 + 1e-12
    assert state.pv["kva"].sum() + kept["kva"].sum() <= 40.0 + 1e-9
    assert len(kept) == int((40.0 - state.pv["kva"].sum()) // 7.0)
    assert export_kw(state, kept).max() <= 1e-9  # zero export
    entry = state.ledger[-1]
    assert entry["layer"] == "solar2" and entry["component"] == "pv_rules" and entry["energy_kwh"] < 0


def test_no_rules_no_change() -> None:
    state = make_state(n_res=4, n_com=0)
    new = pv_rows(state, state.customers.index[:2].tolist(), [5.0, 5.0])
    assert apply_pv_rules(state, new) is new
    assert state.ledger == []
