"""Scenarios through real OpenDSS QSTS on a synthetic feeder: the physics, not just the plumbing.

EV energy added shows up at the feeder head (within the change in losses); the evening peak rises
with EV share and falls with TOU; midday reverse flow and high-voltage hours rise with PV share; a
heat wave raises load; the same seed gives identical results; the base model is never changed.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import pytest
from gridtwin.grid.model import FeederModel
from gridtwin.grid.synth import synth_feeder
from gridtwin.grid.synth.utility import synth_utility_profiles
from gridtwin.powerflow import get_engine
from gridtwin.powerflow.qsts import run_qsts
from gridtwin.powerflow.qsts_results import QstsResult, QstsSpec
from gridtwin.scenarios.compose import compose_state
from gridtwin.scenarios.loader import parse_scenario
from gridtwin.scenarios.overlay import ComposedFeeder, to_model

SEED = 42
JANUARY = (24 * 7, 24 * 14)  # start hour, hours: two winter weeks (EV charging is highest)
APRIL = (24 * 95, 24 * 14)  # two spring weeks: strong sun, mild load


@functools.cache
def _feeder() -> tuple[FeederModel, dict[str, np.ndarray]]:
    return synth_feeder(1, SEED).model, synth_utility_profiles(SEED)


def _scenario(layers: str, seed: int = 7) -> Any:
    return parse_scenario(
        f"name: t\nseed: {seed}\nlayers:\n{layers}" if layers else f"name: t\nseed: {seed}\n"
    )


@functools.cache
def _composed(layers: str, seed: int = 7) -> tuple[ComposedFeeder, Any]:
    model, profiles = _feeder()
    state = compose_state(model, _scenario(layers, seed), profiles)
    return to_model(model, state, "t", profiles), state


@functools.cache
def _run(layers: str, period: tuple[int, int], seed: int = 7) -> QstsResult:
    composed, _ = _composed(layers, seed)
    start, hours = period
    spec = QstsSpec(hours=hours, start_hour=start, ambient_c=composed.ambient_c[start : start + hours])
    return run_qsts(get_engine(), composed.model, spec, profiles=composed.profiles)


def _ev(pct: float) -> str:
    return f"  - {{type: ev, id: ev, adoption: {{pct: {pct}}}}}\n"


BIG_PV = "size: {res: {mean_kw: 12, sd_kw: 2}, com: {mean_kw: 100, sd_kw: 20}}"  # a high-penetration future


def _pv(pct: float, inverter: str = "none") -> str:
    return (
        f"  - {{type: solar, id: pv, adoption: {{pct: {pct}}}, {BIG_PV}, inverter: {{mode: {inverter}}}}}\n"
    )


TOU = "  - {type: tou, id: tou, peak_start_h: 16, peak_end_h: 21, shift_pct: 40, rebound_hours: [22, 23], applies_to: [res, ev]}\n"


def _evening_peak_kw(result: QstsResult, start: int) -> float:
    _, state = _composed("")
    hours = state.ctx.local_hour[start : start + len(result.hourly)]
    evening = (hours >= 16) & (hours < 21)
    return float(result.hourly["source_kw"].to_numpy()[evening].max())


def test_base_case_scenario_is_the_base_model() -> None:
    composed, _ = _composed("")
    model, _ = _feeder()
    assert composed.counts["customers_reshaped"] == 0 and composed.counts["added_loads"] == 0
    assert len(composed.model.table("loads")) == len(model.table("loads"))


def test_ev_energy_reaches_the_feeder_head() -> None:
    start, hours = JANUARY
    base, ev = _run("", JANUARY), _run(_ev(30), JANUARY)
    composed, state = _composed(_ev(30))
    added = state.added_kw()[start : start + hours].sum()  # kWh over the period (hourly)
    ledger = composed.ledger
    assert ledger.loc[ledger["component"] == "ev", "energy_kwh"].sum() == pytest.approx(
        state.added_kw().sum(), rel=1e-12
    )
    delta = ev.energy["delivered_kwh"] - base.energy["delivered_kwh"]
    delta_losses = ev.energy["losses_kwh"] - base.energy["losses_kwh"]
    assert delta_losses > 0
    # Energy in = load + losses: what the chargers drew plus the extra losses, within load-model voltage effects.
    assert delta == pytest.approx(added + delta_losses, rel=0.02)


def test_evening_peak_rises_with_ev_share_and_falls_with_tou() -> None:
    start, _ = JANUARY
    peaks = [_evening_peak_kw(_run(_ev(p) if p else "", JANUARY), start) for p in (0, 20, 40, 60)]
    assert all(b > a for a, b in itertools.pairwise(peaks)), peaks
    with_tou = _evening_peak_kw(_run(_ev(60) + TOU, JANUARY), start)
    assert with_tou < peaks[-1]
    composed, _ = _composed(_ev(60) + TOU)
    shift = composed.ledger[composed.ledger["component"] == "load_shift"]
    assert abs(float(shift["energy_kwh"].sum())) < 1e-6  # TOU preserves energy


def test_reverse_flow_and_high_voltage_rise_with_pv_share() -> None:
    runs = [_run(_pv(p) if p else "", APRIL) for p in (0, 50, 100)]
    reverse = [r.summary()["reverse_flow_hours"] for r in runs]
    over = [int((r.hourly["vmax_pu"] > 1.05).sum()) for r in runs]  # hours with a bus above Range A
    midday_net = [float(r.hourly["source_kw"].min()) for r in runs]
    assert reverse[0] == 0 and reverse == sorted(reverse) and reverse[-1] > 0, reverse
    assert over[0] == 0 and over == sorted(over) and over[-1] > 0, over
    assert midday_net == sorted(midday_net, reverse=True), midday_net


def test_volt_var_inverters_hold_voltage_down() -> None:
    vv = _pv(100, "volt_var")
    composed, _ = _composed(vv)
    assert len(composed.model.table("invcontrols")) == 1
    plain, smart = _run(_pv(100), APRIL), _run(vv, APRIL)
    assert smart.summary()["vmax_pu"] < plain.summary()["vmax_pu"]
    assert int((smart.hourly["vmax_pu"] > 1.05).sum()) < int((plain.hourly["vmax_pu"] > 1.05).sum())


def test_heat_wave_raises_load_and_transformer_aging_sees_the_heat() -> None:
    wave = "  - {type: weather, id: hw, events: [{kind: heat_wave, delta_c: 8, days: 5, month: 7, start_day: 14}]}\n"
    july = (24 * 193, 24 * 7)  # 2025-07-13 .. 07-20 UTC covers the wave
    base, hot = _run("", july), _run(wave, july)
    assert hot.summary()["peak_kw"] > base.summary()["peak_kw"] * 1.05
    assert hot.energy["delivered_kwh"] > base.energy["delivered_kwh"]
    composed, _ = _composed(wave)
    delta = composed.ambient_c - _composed("")[0].ambient_c
    assert delta.max() == pytest.approx(8.0, abs=1e-6) and delta.min() >= 0.0
    assert np.count_nonzero(delta) <= 6 * 24  # five days plus the ramps
    assert hot.summary()["max_aging_factor"] >= base.summary()["max_aging_factor"]


def test_same_seed_same_results_other_seed_other_placement() -> None:
    layers = _ev(30) + _pv(20)
    a, _ = _composed(layers, 7)
    model, profiles = _feeder()
    b = to_model(model, compose_state(model, _scenario(layers, 7), profiles), "t", profiles)
    assert a.model.table("loads").equals(b.model.table("loads"))
    assert a.model.table("pvsystems").equals(b.model.table("pvsystems"))
    assert all(np.array_equal(a.profiles[k], b.profiles[k]) for k in a.profiles)
    c, _ = _composed(layers, 8)
    assert not a.model.table("pvsystems")["bus1"].equals(c.model.table("pvsystems")["bus1"])


def test_overlay_twins_are_valid_dtdl_and_the_base_is_untouched() -> None:
    import json
    from pathlib import Path

    from gridtwin.twin.dtdl import load_model_set

    model, _ = _feeder()
    before = model.table("loads").copy()
    composed, _ = _composed(_ev(30) + _pv(20))
    assert model.table("loads").equals(before)
    twins = composed.overlay_twins
    assert set(twins["interface"]) == {"dtmi:gridtwin:EVCharger;1", "dtmi:gridtwin:PVSystem;1"}
    models = load_model_set([Path(__file__).resolve().parents[4] / "dtdl"])
    for row in twins.itertuples(index=False):
        doc = {
            "$dtId": row.twin_id,
            "$metadata": {"$model": row.interface},
            **json.loads(str(row.properties_json)),
        }
        assert models.validate_twin(doc) == [], doc
