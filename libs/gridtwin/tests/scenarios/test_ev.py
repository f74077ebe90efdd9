"""EV layer: built-in profiles, diversity pool, exact energy, picks, custom CSV profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gridtwin.errors import InputError
from gridtwin.scenarios.ev import (
    BUILTIN_PROFILES,
    apply_ev_layer,
    ev_average_shape,
    member_pool,
    read_profile_csv,
)
from gridtwin.scenarios.schema import EvLayer, Scenario
from pydantic import ValidationError
from scenario_support import make_state, total_kw


def ev_layer(**kw: Any) -> EvLayer:
    base: dict[str, Any] = {"type": "ev", "id": "EV_L2", "adoption": {"pct": 30.0}}
    base.update(kw)
    return EvLayer.model_validate(base)


def test_builtin_profiles_are_plausible() -> None:
    assert set(BUILTIN_PROFILES) == {
        "level1_1_4kw_residential",
        "level2_7_2kw_residential",
        "level2_11_5kw_residential",
        "dcfast_50_150kw_commercial",
        "dcfast_150_350kw_highway",
    }
    assert BUILTIN_PROFILES["level2_7_2kw_residential"].kw == 7.2
    assert BUILTIN_PROFILES["dcfast_150_350kw_highway"].level == "dcfast"
    state = make_state(n_res=4, n_com=0)
    for name, p in BUILTIN_PROFILES.items():
        shape, kw, _ = ev_average_shape(state, ev_layer(profile=name), "x")
        assert shape.min() >= 0.0 and shape.max() <= 1.0
        annual_mean_kwh = kw * shape.sum() / (shape.size / 24)
        assert annual_mean_kwh == pytest.approx(p.daily_kwh, rel=0.02), name
        peak_h = int(np.argmax(p.weekday_24h))
        if name.endswith("residential"):
            assert 17 <= peak_h <= 23 or peak_h == 0
        else:
            assert 10 <= peak_h <= 18
        winter = shape[state.ctx.month == 1].sum() / (state.ctx.month == 1).sum()
        fall = shape[state.ctx.month == 10].sum() / (state.ctx.month == 10).sum()
        assert winter > fall  # cold batteries and cabin heat
    l2 = BUILTIN_PROFILES["level2_7_2kw_residential"]
    assert 9.0 <= l2.daily_kwh <= 12.0


def test_pool_members_are_full_power_sessions_with_the_days_energy() -> None:
    state = make_state(n_res=2, n_com=0)
    avg, _, _ = ev_average_shape(state, ev_layer(), "x")
    pool = member_pool(avg, state.ctx.day_index, np.random.default_rng(3), 64)
    assert pool.shape == (64, state.ctx.hours)
    assert pool.min() >= 0.0 and pool.max() <= 1.0 + 1e-12
    # Every member delivers the average shape's energy (sessions may cross midnight, so compare the year).
    np.testing.assert_allclose(pool.sum(axis=1), avg.sum(), rtol=1e-12)
    # Sessions at full power: a member's daily peak is far above the smooth average's.
    day = state.ctx.day_index
    member_peak = np.array([pool[:, day == d].max(axis=1).mean() for d in range(0, 360, 30)])
    avg_peak = np.array([avg[day == d].max() for d in range(0, 360, 30)])
    assert (member_peak > 2.0 * avg_peak).all() and pool.max() > 0.999
    # The pool mean follows the average shape's typical day (evening peak) in expectation.
    hour = state.ctx.local_hour
    mean_day = np.array([pool.mean(axis=0)[hour == h].mean() for h in range(24)])
    avg_day = np.array([avg[hour == h].mean() for h in range(24)])
    assert np.corrcoef(mean_day, avg_day)[0, 1] > 0.9
    assert abs(int(mean_day.argmax()) - int(avg_day.argmax())) <= 2


def test_ev_energy_is_exact_and_rows_follow_customers() -> None:
    state = make_state(n_res=40, n_com=8)
    before = total_kw(state)
    apply_ev_layer(state, ev_layer(), 0)
    added = state.loads_added
    assert len(added) == 12  # 30 % of 40 homes
    assert added["name"].iloc[0] == "ev_ev_l2_0001"
    assert set(added["kind"]) == {"ev"} and set(added["level"]) == {"level2"}
    assert added["customer"].is_unique
    cust = state.customers.loc[added["customer"]]
    assert added["bus1"].tolist() == cust["bus1"].tolist()
    assert added["kv"].tolist() == cust["kv"].tolist()
    assert (added["pf"] == 0.98).all()
    expected = sum(row.kw * state.shapes[row.shape].sum() for row in added.itertuples())
    (entry,) = state.ledger
    assert entry["component"] == "ev" and entry["elements"] == 12
    assert entry["energy_kwh"] == pytest.approx(expected, rel=1e-12)
    assert (total_kw(state) - before).sum() == pytest.approx(expected, rel=1e-12)
    assert entry["peak_kw"] == pytest.approx(state.added_kw().max(), rel=1e-12)
    # the layer's energy is exactly chargers x kW x the average shape's energy; single chargers differ
    avg, kw, _ = ev_average_shape(state, ev_layer(), "x")
    assert state.added_kw().sum() == pytest.approx(12 * kw * avg.sum(), rel=1e-12)
    assert added["shape"].nunique() == 12


def test_zero_adoption_adds_nothing_but_a_ledger_row() -> None:
    state = make_state(n_res=10, n_com=0)
    apply_ev_layer(state, ev_layer(adoption={"pct": 0.0}), 0)
    assert state.loads_added.empty
    assert state.ledger[0]["elements"] == 0 and state.ledger[0]["energy_kwh"] == 0.0


def test_three_phase_customer_keeps_its_bus_and_kv() -> None:
    state = make_state(n_res=0, n_com=4)
    layer = ev_layer(profile="dcfast_50_150kw_commercial", adoption={"pct": 100.0})
    apply_ev_layer(
        state,
        layer.model_copy(
            update={"allocation": layer.allocation.model_copy(update={"customer_classes": ["com"]})}
        ),
        0,
    )
    assert state.loads_added["phases"].tolist() == [3, 3, 3, 3]
    assert state.loads_added["kv"].tolist() == [0.48] * 4
    assert state.loads_added["bus1"].tolist() == state.customers["bus1"].tolist()
    assert (state.loads_added["kw"] == 100.0).all()


def test_evening_peak_rises_with_ev_share() -> None:
    evening_peaks = []
    for pct in (10.0, 30.0, 60.0):
        state = make_state(n_res=40, n_com=0)
        apply_ev_layer(state, ev_layer(adoption={"pct": pct}), 0)
        total = total_kw(state)
        evening = (state.ctx.local_hour >= 17) & (state.ctx.local_hour <= 22)
        evening_peaks.append(total[evening].max())
    assert evening_peaks[0] < evening_peaks[1] < evening_peaks[2]


def test_same_seed_same_result_other_seed_other_picks() -> None:
    a, b, c = make_state(seed=1), make_state(seed=1), make_state(seed=2)
    for s in (a, b, c):
        apply_ev_layer(s, ev_layer(), 0)
    assert a.loads_added["customer"].tolist() == b.loads_added["customer"].tolist()
    for key in a.loads_added["shape"]:
        np.testing.assert_array_equal(a.shapes[key], b.shapes[key])
    assert a.loads_added["customer"].tolist() != c.loads_added["customer"].tolist()


def test_second_layer_gives_second_chargers_and_notes_them() -> None:
    state = make_state(n_res=20, n_com=0)
    apply_ev_layer(state, ev_layer(id="a", adoption={"pct": 100.0}), 0)
    apply_ev_layer(state, ev_layer(id="b", adoption={"pct": 50.0}), 1)
    assert len(state.loads_added) == 30
    assert state.loads_added.groupby("layer")["customer"].nunique().to_dict() == {"a": 20, "b": 10}
    assert any("10 customers got a second charger" in n.message for n in state.notes)


def test_overrides_kw_daily_kwh_quarter_hours_and_seasons() -> None:
    state = make_state(n_res=2, n_com=0)
    shape, kw, _ = ev_average_shape(state, ev_layer(kw=11.0, daily_kwh=8.0), "x")
    assert kw == 11.0
    assert kw * shape.sum() / (state.ctx.hours / 24) == pytest.approx(8.0, rel=1e-12)
    day96 = [0.0] * 68 + [0.4] * 28  # 17:00-24:00 at 0.4 pu
    flat = {"winter": 1.0, "spring": 1.0, "summer": 1.0, "fall": 1.0}
    shape, _, _ = ev_average_shape(
        state, ev_layer(weekday_24h=day96, weekend_24h=day96, seasonal_factors=flat), "x"
    )
    assert set(np.round(shape, 12)) == {0.0, 0.4}
    summer = ev_layer(seasonal_factors={"summer": 2.0})
    shape, _, _ = ev_average_shape(state, summer, "x")
    base, _, _ = ev_average_shape(state, ev_layer(), "x")
    july = state.ctx.month == 7
    np.testing.assert_allclose(shape[july], base[july] / 0.93 * 2.0)


def test_custom_profiles_typical_day_and_full_year() -> None:
    state = make_state(n_res=10, n_com=0)
    day = [0.5 if h in (1, 2, 3) else 0.0 for h in range(24)]
    layer = ev_layer(custom_profile={"values": day}, adoption={"count": 3})
    shape, _, _ = ev_average_shape(state, layer, "x")
    assert shape[state.ctx.local_hour == 2].min() == 0.5 and shape[state.ctx.local_hour == 12].max() == 0.0
    year = np.linspace(0.0, 0.3, state.ctx.hours).tolist()
    shape, _, _ = ev_average_shape(state, ev_layer(custom_profile={"values": year}), "x")
    np.testing.assert_array_equal(shape, np.asarray(year))
    apply_ev_layer(state, layer, 0)
    assert len(state.loads_added) == 3


def test_layer_errors_name_the_field() -> None:
    state = make_state(n_res=4, n_com=0)
    with pytest.raises(InputError) as unknown:
        apply_ev_layer(state, ev_layer(profile="level9_warp"), 2)
    assert unknown.value.details[0].where == "layers[2] (EV_L2).profile"
    with pytest.raises(InputError) as too_much:
        ev_average_shape(state, ev_layer(daily_kwh=200.0), "layers[0] (EV_L2)")
    assert too_much.value.details[0].where == "layers[0] (EV_L2).daily_kwh"
    with pytest.raises(InputError) as not_pu:
        ev_average_shape(state, ev_layer(weekday_24h=[7.2] * 24), "w")
    assert not_pu.value.details[0].where.startswith("w.weekday_24h")
    with pytest.raises(InputError):
        ev_average_shape(state, ev_layer(weekday_24h=[0.1] * 23), "w")
    with pytest.raises(InputError) as unread:
        ev_average_shape(state, ev_layer(custom_profile={"csv": "x.csv"}), "w")
    assert unread.value.details[0].where == "w.custom_profile"


def test_scenario_schema_errors_carry_a_field_path() -> None:
    layer = {"type": "ev", "id": "e", "adoption": {"pct": -5}}
    with pytest.raises(ValidationError) as neg:
        Scenario.model_validate({"name": "s", "layers": [layer]})
    assert neg.value.errors()[0]["loc"][:4] == ("layers", 0, "ev", "adoption")
    with pytest.raises(ValidationError) as big:
        Scenario.model_validate({"name": "s", "layers": [{**layer, "adoption": {"pct": 101}}]})
    assert "pct" in big.value.errors()[0]["loc"]
    with pytest.raises(ValidationError) as unknown:
        Scenario.model_validate({"name": "s", "layers": [{"type": "hydrogen", "id": "h"}]})
    assert unknown.value.errors()[0]["loc"][:2] == ("layers", 0)
    assert unknown.value.errors()[0]["type"] == "union_tag_invalid"


# -- CSV ------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str | bytes, name: str = "p.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_csv_reads_one_column_named_column_and_hour_column(tmp_path: Path) -> None:
    vals = [round(0.01 * h, 2) for h in range(24)]
    one = write(tmp_path, "kw_pu\n" + "\n".join(map(str, vals)) + "\n")
    assert read_profile_csv(one, None) == vals
    two = write(tmp_path, "hour,kw_pu\n" + "".join(f"{h},{v}\n" for h, v in enumerate(vals)), "two.csv")
    assert read_profile_csv(two, None) == vals
    three = write(tmp_path, "a,b\n" + "".join(f"{v},{v / 2}\n" for v in vals), "three.csv")
    assert read_profile_csv(three, "b") == [v / 2 for v in vals]
    with pytest.raises(InputError) as ambiguous:
        read_profile_csv(three, None)
    assert ambiguous.value.details[0].where == f"{three}:1"


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("0.1\n" + "0.2\n" * 23, 1, "numeric"),  # no header
        ("kw\n" + "0.1\n" * 10 + "nan\n" + "0.1\n" * 13, 12, "NaN"),
        ("kw\n" + "0.1\n" * 5 + "abc\n" + "0.1\n" * 18, 7, "not a number"),
        ("kw\n" + "0.1\n" * 3 + "-0.2\n" + "0.1\n" * 20, 5, "negative"),
        ("kw\n" + "0.1\n" * 3 + "7.2\n" + "0.1\n" * 20, 5, "> 1"),
        ("kw\n" + "0.1\n" * 25, 26, "25 data rows"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(InputError) as err:
        read_profile_csv(path, None)
    detail = err.value.details[0]
    assert detail.where == f"{path}:{line}"
    assert words in detail.message


def test_csv_not_utf8_is_a_located_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"kw\n" + b"0.1\n" * 4 + b"caf\xe9\n" + b"0.1\n" * 19)
    with pytest.raises(InputError) as err:
        read_profile_csv(path, None)
    assert err.value.details[0].where == f"{path}:6"
    assert "UTF-8" in err.value.details[0].message
