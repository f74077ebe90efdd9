"""Per-bus hosting capacity (exact, fast), criteria, snapshots and connection checks on real OpenDSS."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from gridtwin.errors import InputError, NotConvergedError
from gridtwin.grid.synth import synth_feeder
from gridtwin.grid.synth.utility import synth_utility_profiles
from gridtwin.hosting.connection import check_connection
from gridtwin.hosting.criteria import Criteria
from gridtwin.hosting.perbus import exact_hosting_capacity
from gridtwin.hosting.sensitivity import fast_hosting_capacity
from gridtwin.hosting.snapshots import DEFAULT_SNAPSHOTS, Snapshot, snapshots_for, snapshots_for_model
from gridtwin.hosting.types import FAST_COLUMNS, PERBUS_COLUMNS
from gridtwin.powerflow import Engine
from gridtwin.powerflow.engine import on_dss_thread


def _shared() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[4].parent / "shared" / "data"


IEEE13 = _shared() / "opendss" / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"
# Criteria a hand-written check can reproduce: overvoltage and thermal loading only.
SIMPLE = Criteria(voltage_deviation=False, regulator_deviation=False, reverse_power=False)
VOLTAGE_ONLY = Criteria(
    voltage_deviation=False, regulator_deviation=False, thermal=False, reverse_power=False
)


@pytest.fixture
def ieee13() -> Iterator[Engine]:
    engine = Engine()
    engine.compile_file(IEEE13)
    yield engine
    engine.close()


def _plain_bisection(path: Path, bus: str, phases: str, kv: float, max_kw: float, tol_kw: float) -> float:
    """Reference: the textbook loop on a fresh OpenDSS context, independent of gridtwin.hosting."""
    from gridtwin._dsslib import opendssdirect

    def run() -> float:
        dss = opendssdirect.dss.NewContext()
        dss.Basic.AllowChangeDir(False)
        dss.Text.Command(f'compile "{path}"')
        dss.Solution.LoadMult(0.3)
        dss.Solution.Solve()
        dss.Text.Command("batchedit regcontrol..* enabled=no")  # taps stay at the baseline's
        n_ph = len(phases.split("."))
        dss.Text.Command(
            f"new PVSystem.ref bus1={bus}.{phases} phases={n_ph} kV={kv} Pmpp=1 kVA=1.1 irradiance=1"
            " %cutin=0.0001 %cutout=0.0001"
        )
        names = [str(n).lower().partition(".")[0] for n in dss.PDElements.AllNames()]
        thermal = np.array([n not in ("capacitor", "reactor") for n in names])

        def violates(kw: float) -> bool:
            dss.Text.Command(f"edit PVSystem.ref Pmpp={kw} kVA={1.1 * kw}")
            dss.Solution.Solve()
            v = np.asarray(dss.Circuit.AllBusMagPu())
            pct = np.asarray(dss.PDElements.AllPctNorm(False))
            return not dss.Solution.Converged() or v.max() > 1.05 or pct[thermal].max() > 100.0

        lo, hi = 0.0, max_kw
        while hi - lo > tol_kw:
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if violates(mid) else (mid, hi)
        return lo

    result: float = on_dss_thread(run)
    return result


@pytest.mark.parametrize(("bus", "phases", "kv"), [("675", "1.2.3", 4.16), ("611", "3", 2.4)])
def test_exact_matches_a_plain_bisection_loop(ieee13: Engine, bus: str, phases: str, kv: float) -> None:
    got = exact_hosting_capacity(ieee13, [bus], SIMPLE, max_kw=8000.0, tol_kw=1.0, rel_tol_pct=0.1)
    reference = _plain_bisection(IEEE13, bus, phases, kv, 8000.0, 1.0)
    row = got.iloc[0]
    assert list(got.columns) == list(PERBUS_COLUMNS)
    assert row["base_ok"] and row["method"] == "exact"
    assert row["capacity_kw"] == pytest.approx(reference, abs=3.0)
    assert row["limiting_criterion"] in ("overvoltage", "thermal")
    assert row["phases"] == len(phases.split("."))


def test_limiting_criterion_switches_with_thresholds(ieee13: Engine) -> None:
    strict = exact_hosting_capacity(ieee13, ["611"]).iloc[0]
    assert strict["limiting_criterion"] == "overvoltage" and strict["limiting_element"] == "611.3"
    loose = exact_hosting_capacity(ieee13, ["611"], Criteria(overvoltage_pu=1.10)).iloc[0]
    assert loose["limiting_criterion"] != "overvoltage"
    assert loose["capacity_kw"] >= strict["capacity_kw"]
    # Every result names its criterion, element and snapshot.
    assert loose["limiting_element"] and loose["limiting_snapshot"] == "min_daytime_load"


@pytest.mark.parametrize("bus", ["652", "675"])
def test_volt_var_raises_capacity_where_voltage_binds(ieee13: Engine, bus: str) -> None:
    plain = exact_hosting_capacity(ieee13, [bus], VOLTAGE_ONLY).iloc[0]
    smart = exact_hosting_capacity(ieee13, [bus], VOLTAGE_ONLY, inverter="volt_var").iloc[0]
    assert plain["limiting_criterion"] == smart["limiting_criterion"] == "overvoltage"
    assert smart["capacity_kw"] > 1.1 * plain["capacity_kw"]
    assert smart["inverter"] == "volt_var"


def test_fast_within_five_percent_of_exact_on_ieee13(ieee13: Engine) -> None:
    exact = exact_hosting_capacity(ieee13, rel_tol_pct=0.25)
    fast = fast_hosting_capacity(ieee13)
    assert list(fast.columns) == list(FAST_COLUMNS) and fast["verified"].all()
    merged = exact.merge(fast, on="bus", suffixes=("_exact", "_fast"))
    assert len(merged) == len(exact) == 15
    err = (merged["capacity_kw_fast"] - merged["capacity_kw_exact"]).abs() / merged["capacity_kw_exact"]
    assert (err <= 0.05).mean() >= 0.95
    assert (fast["predicted_kw"] > 0).all() and fast["corrections"].ge(0).all()


def test_fast_supports_volt_var_and_load(ieee13: Engine) -> None:
    smart = fast_hosting_capacity(ieee13, ["611", "652"], VOLTAGE_ONLY, inverter="volt_var")
    exact = exact_hosting_capacity(
        ieee13, ["611", "652"], VOLTAGE_ONLY, inverter="volt_var", rel_tol_pct=0.25
    )
    assert np.allclose(smart["capacity_kw"], exact["capacity_kw"], rtol=0.05)
    light = (Snapshot("light", 0.5, 0.0),)
    load_fast = fast_hosting_capacity(ieee13, ["611", "675"], der="load", snapshots=light)
    load_exact = exact_hosting_capacity(ieee13, ["611", "675"], der="load", snapshots=light, rel_tol_pct=0.25)
    assert np.allclose(load_fast["capacity_kw"], load_exact["capacity_kw"], rtol=0.05)
    assert set(load_exact["limiting_criterion"]) <= {"thermal", "undervoltage"}


def test_violated_base_case_is_reported_not_raised(ieee13: Engine) -> None:
    # IEEE 13 at peak load already overloads line 650632: no load can be added anywhere.
    df = exact_hosting_capacity(ieee13, ["611", "675"], der="load", snapshots=DEFAULT_SNAPSHOTS)
    assert (~df["base_ok"]).all() and (df["capacity_kw"] == 0).all()
    assert set(df["limiting_criterion"]) == {"thermal"} and set(df["limiting_snapshot"]) == {"peak_load"}


def test_bad_inputs_give_clear_errors(ieee13: Engine) -> None:
    with pytest.raises(InputError) as unknown:
        exact_hosting_capacity(ieee13, ["611", "no_such_bus"])
    assert any("no_such_bus" in d.where for d in unknown.value.details)
    with pytest.raises(InputError) as negative:
        fast_hosting_capacity(ieee13, ["611"], max_kw=-5.0)
    assert negative.value.details[0].where == "max_kw"
    all_off = Criteria(
        overvoltage=False,
        voltage_deviation=False,
        regulator_deviation=False,
        thermal=False,
        reverse_power=False,
    )
    with pytest.raises(InputError, match="criteria"):
        exact_hosting_capacity(ieee13, ["611"], all_off)
    with pytest.raises(InputError):
        Criteria(overvoltage_pu=0.0).check()
    with pytest.raises(InputError, match="snapshot"):
        exact_hosting_capacity(ieee13, ["611"], snapshots=(Snapshot("night", 0.5, 0.0),))


def test_base_case_that_does_not_converge_raises(ieee13: Engine) -> None:
    ieee13.run_command("batchedit load..* vminpu=0 vlowpu=0")  # no fallback to constant impedance
    with pytest.raises(NotConvergedError) as err:
        exact_hosting_capacity(ieee13, ["611"], snapshots=(Snapshot("absurd", 20.0, 1.0),))
    assert err.value.details[0].where == "snapshot absurd"


def _frame(rows: list[dict[str, Any]], version: str = "v1") -> pd.DataFrame:
    base = dict.fromkeys(PERBUS_COLUMNS, "")
    frame = pd.DataFrame([{**base, **r} for r in rows], columns=list(PERBUS_COLUMNS))
    frame.attrs["version"] = version
    return frame


def test_connection_check_from_stored_results(ieee13: Engine) -> None:
    per_bus = exact_hosting_capacity(ieee13, ["611", "675"])
    cap = float(per_bus.loc[per_bus["bus"] == "611", "capacity_kw"].iloc[0])
    fits = check_connection(per_bus, "611", cap - 50.0, "pv")
    assert fits.ok and fits.margin_kw == pytest.approx(50.0) and fits.limiting_criterion == "overvoltage"
    too_big = check_connection(per_bus, "611.3", cap + 10.0, "storage")
    assert not too_big.ok and too_big.margin_kw == pytest.approx(-10.0)
    assert check_connection(per_bus, "611", 1.0, version="other").stale
    assert not check_connection(per_bus, "611", 1.0, version=per_bus.attrs["version"]).stale
    with pytest.raises(InputError, match="der='load'"):
        check_connection(per_bus, "611", 7.2, "ev_load")
    with pytest.raises(InputError) as unknown:
        check_connection(per_bus, "999", 1.0)
    assert unknown.value.details[0].where == "bus 999"
    with pytest.raises(InputError):
        check_connection(per_bus, "611", -1.0)


def test_connection_check_for_ev_load_and_failed_base() -> None:
    rows = [
        {"bus": "b1", "der": "load", "inverter": "none", "capacity_kw": 40.0, "base_ok": True,
         "limiting_criterion": "thermal", "limiting_element": "line.l1"},
        {"bus": "b2", "der": "load", "inverter": "none", "capacity_kw": 0.0, "base_ok": False,
         "limiting_criterion": "undervoltage", "limiting_element": "b2.1"},
    ]  # fmt: skip
    per_bus = _frame(rows)
    ev = check_connection(per_bus, "B1", 11.5, "ev_load")
    assert ev.ok and ev.margin_kw == pytest.approx(28.5) and ev.limiting_element == "line.l1"
    failed = check_connection(per_bus, "b2", 0.0, "ev_load")
    assert not failed.ok and failed.limiting_criterion == "undervoltage"


def test_snapshots_from_yearly_shapes() -> None:
    hours = np.arange(8760)
    local = np.mod(hours - 6, 24)
    # Demand peaks in the evening and dips mid-day; irradiance follows the sun.
    load = 1.0 + 0.5 * np.cos(2 * np.pi * (local - 19) / 24) + 0.1 * np.sin(2 * np.pi * hours / 8760)
    ghi = np.clip(np.sin(np.pi * (local - 6) / 12), 0, None) * 900.0
    snaps = snapshots_for([load, 2 * load], [3.0, 1.0], ghi, utc_offset_h=-6)
    low, peak = snaps
    assert (low.name, peak.name) == ("min_daytime_load", "peak_load")
    assert peak.load_mult == 1.0 and peak.pv_mult == 0.0
    assert 0.0 < low.load_mult < 1.0 and low.pv_mult == 1.0
    sunny = (local >= 10) & (local <= 15) & (ghi >= 0.5 * ghi.max())
    k = int(np.argmin(np.where(sunny, load, np.inf)))
    assert low.load_mult == pytest.approx(load[k] / load.max(), abs=1e-3)
    assert snapshots_for(None) == DEFAULT_SNAPSHOTS
    assert math.isclose(DEFAULT_SNAPSHOTS[0].load_mult, 0.3)


def test_fault_current_criterion_is_refused_until_implemented() -> None:
    with pytest.raises(InputError) as err:
        Criteria(fault_current=True).check()
    assert err.value.details[0].where == "criteria.fault_current"


def test_snapshots_from_a_synthetic_feeder() -> None:
    profiles = synth_utility_profiles(1)
    model = synth_feeder(0, 1).model
    low, peak = snapshots_for_model(model, profiles, utc_offset_h=-6)
    assert 0.05 < low.load_mult < 0.9 and low.pv_mult == 1.0
    assert peak == Snapshot("peak_load", 1.0, 0.0)
