"""QSTS against a plain opendssdirect reference loop (OpenDSS's own yearly stepping, hour by hour).

The reference is written simply and differently from the engine: native ``Solution.Solve()`` per
step, ``AllPctNorm``/``AllPctEmerg`` and ``Circuit.Losses``/``LineLosses`` getters, per-node boolean
matrices grouped to buses with pandas at the end, transformer kVA summed per transformer in Python.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from gridtwin._dsslib import OpenDSSDirect, opendssdirect
from gridtwin.ingest.opendss import read_opendss
from gridtwin.powerflow import Engine, ViolationLimits
from gridtwin.powerflow.qsts import run_qsts, run_qsts_loaded
from gridtwin.powerflow.qsts_results import (
    BUS_COLUMNS,
    ELEMENT_COLUMNS,
    ENERGY_KEYS,
    FEEDER_SUMMARY_COLUMNS,
    HOURLY_COLUMNS,
    QstsResult,
    QstsSpec,
)


def _shared_data() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[4].parent / "shared" / "data"


OPENDSS = _shared_data() / "opendss"
IEEE123 = OPENDSS / "IEEETestCases" / "123Bus" / "IEEE123Master.dss"
CKT5 = OPENDSS / "EPRITestCircuits" / "ckt5" / "Master_ckt5.dss"
LOADSHAPE1 = OPENDSS / "Examples" / "Loadshapes" / "LoadShape1.DSS"
LIMITS = ViolationLimits()


def ieee123_commands() -> list[str]:
    return [f'redirect "{LOADSHAPE1}"', "batchedit load..* yearly=loadshape1"]


def build_ieee123(dss: Any) -> None:
    dss.Text.Command(f'compile "{IEEE123}"')
    for cmd in ieee123_commands():
        dss.Text.Command(cmd)


def build_ckt5(dss: Any) -> None:
    dss.Text.Command(f'compile "{CKT5}"')  # its loads already have yearly shapes


def reference_qsts(build: Callable[[Any], None], spec: QstsSpec) -> dict[str, Any]:
    """Per-bus hours, per-element hours and energies, computed plainly."""
    dss = OpenDSSDirect(opendssdirect.dss.NewContext()._api_util, prefer_lists=False)
    dss.Basic.AllowChangeDir(False)
    build(dss)
    bases = {}
    for i in range(dss.Circuit.NumBuses()):
        dss.Circuit.SetActiveBusi(i)
        bases[dss.Bus.Name().lower()] = dss.Bus.kVBase()
    node_bus = np.array([n.lower().rpartition(".")[0] for n in dss.Circuit.AllNodeNames()])
    keep = np.array([bases[b] > 0 for b in node_bus])
    names = np.array([n.lower() for n in dss.PDElements.AllNames()])
    kinds = np.array([n.partition(".")[0] for n in names])
    report = np.isin(kinds, ["line", "transformer", "reactor"])
    n_term = dss.PDElements.AllNumTerminals()
    n_cond = dss.PDElements.AllNumConductors()
    starts = np.cumsum(n_term * n_cond) - n_term * n_cond
    xf = {}  # row -> (first conductor, conductors, kVA, emergency kVA)
    for row in np.flatnonzero(kinds == "transformer"):
        dss.Circuit.SetActiveElement(names[row])
        dss.Transformers.Name(names[row].partition(".")[2])
        dss.Transformers.Wdg(1)
        dss.Text.Command(f"? {names[row]}.emerghkva")
        xf[row] = (starts[row], n_cond[row], dss.Transformers.kVA(), float(dss.Text.Result()))
    xf_rows = np.array(list(xf), dtype=np.int64)
    xf_idx = np.array([i for f, n, _, _ in xf.values() for i in range(f, f + n)], dtype=np.int64)
    xf_starts = np.cumsum([0] + [n for _, n, _, _ in xf.values()])[:-1]
    xf_kva = np.array([v[2] for v in xf.values()])
    xf_emerg = np.array([v[3] for v in xf.values()])
    mode = dss.Solution.ControlMode()
    dss.Text.Command(f"set mode=yearly number=1 stepsize={spec.step_minutes}m")
    dss.Solution.ControlMode(2 if mode == 0 else mode)
    dss.Solution.Hour(spec.start_hour)
    steps = spec.steps
    out_a = np.zeros((steps, int(keep.sum())), dtype=bool)
    out_b = np.zeros_like(out_a)
    over_n = np.zeros(len(names), dtype=np.int64)
    over_e = np.zeros(len(names), dtype=np.int64)
    max_pct = np.full(len(names), -np.inf)
    energy = dict.fromkeys(("delivered", "losses", "line", "xload", "xnoload"), 0.0)
    converged = np.zeros(steps, dtype=bool)
    for k in range(steps):
        try:
            dss.Solution.Solve()
        except opendssdirect.DSSException:
            continue
        if not dss.Solution.Converged():
            continue
        converged[k] = True
        v = dss.Circuit.AllBusMagPu()[keep]
        out_a[k] = (v < LIMITS.range_a_min_pu) | (v > LIMITS.range_a_max_pu)
        out_b[k] = (v < LIMITS.range_b_min_pu) | (v > LIMITS.range_b_max_pu)
        pct_n = dss.PDElements.AllPctNorm(False).copy()
        pct_e = dss.PDElements.AllPctEmerg(False).copy()
        powers = dss.PDElements.AllPowers().view(complex)
        through = np.abs(np.add.reduceat(powers[xf_idx], xf_starts)) if xf else np.zeros(0)
        pct_n[xf_rows] = 100 * through / xf_kva
        pct_e[xf_rows] = 100 * through / xf_emerg
        over_n += pct_n > LIMITS.thermal_normal_pct
        over_e += pct_e > LIMITS.thermal_emergency_pct
        max_pct = np.maximum(max_pct, pct_n)
        energy["delivered"] -= dss.Circuit.TotalPower()[0] * spec.step_h
        energy["losses"] += dss.Circuit.Losses()[0] / 1000 * spec.step_h
        energy["line"] += dss.Circuit.LineLosses()[0] * spec.step_h
        by_type = dss.Transformers.AllLossesByType().reshape(-1, 6)
        energy["xload"] += by_type[:, 2].sum() / 1000 * spec.step_h
        energy["xnoload"] += by_type[:, 4].sum() / 1000 * spec.step_h
    bus_of = node_bus[keep]
    per_bus_a = pd.DataFrame(out_a.T).groupby(bus_of).any()  # buses x steps
    per_bus_b = pd.DataFrame(out_b.T).groupby(bus_of).any()
    return {
        "converged": converged,
        "bus_hours_a": per_bus_a.sum(axis=1) * spec.step_h,
        "bus_hours_b": per_bus_b.sum(axis=1) * spec.step_h,
        "hourly_a": per_bus_a.sum(axis=0).to_numpy(),
        "hourly_b": per_bus_b.sum(axis=0).to_numpy(),
        "elements": pd.DataFrame(
            {"over_n": over_n * spec.step_h, "over_e": over_e * spec.step_h, "max_pct": max_pct},
            index=names,
        )[report],
        "energy": energy,
    }


def assert_matches(result: QstsResult, ref: dict[str, Any]) -> None:
    np.testing.assert_array_equal(result.hourly["converged"].to_numpy(), ref["converged"])
    np.testing.assert_array_equal(result.hourly["buses_outside_a"].to_numpy(), ref["hourly_a"])
    np.testing.assert_array_equal(result.hourly["buses_outside_b"].to_numpy(), ref["hourly_b"])
    buses = result.buses.set_index("bus")
    assert sorted(buses.index) == sorted(ref["bus_hours_a"].index)
    pd.testing.assert_series_equal(
        buses["hours_outside_a"].sort_index(), ref["bus_hours_a"].sort_index(), check_names=False
    )
    pd.testing.assert_series_equal(
        buses["hours_outside_b"].sort_index(), ref["bus_hours_b"].sort_index(), check_names=False
    )
    elements = result.elements.set_index("element")
    expected = ref["elements"].loc[elements.index]
    np.testing.assert_array_equal(elements["hours_over_normal"], expected["over_n"])
    np.testing.assert_array_equal(elements["hours_over_emergency"], expected["over_e"])
    np.testing.assert_allclose(elements["max_loading_pct"], expected["max_pct"], rtol=1e-9)
    e = ref["energy"]
    for key, ref_key in (
        ("delivered_kwh", "delivered"),
        ("losses_kwh", "losses"),
        ("line_losses_kwh", "line"),
        ("xfmr_load_losses_kwh", "xload"),
        ("xfmr_noload_losses_kwh", "xnoload"),
    ):
        assert result.energy[key] == pytest.approx(e[ref_key], rel=1e-4, abs=1e-6), key


def check_shape(result: QstsResult) -> None:
    assert tuple(result.hourly.columns) == HOURLY_COLUMNS
    assert tuple(result.buses.columns) == BUS_COLUMNS
    assert tuple(result.elements.columns) == ELEMENT_COLUMNS
    assert set(result.energy) == set(ENERGY_KEYS)
    assert tuple(result.summary()) == FEEDER_SUMMARY_COLUMNS
    assert len(result.hourly) == result.steps == result.spec.steps
    assert str(result.hourly["time_utc"].dtype) == "datetime64[us, UTC]"


def test_ieee123_year_matches_reference(engine: Engine) -> None:
    spec = QstsSpec(hours=8760)
    engine.compile_file(IEEE123)
    for cmd in ieee123_commands():
        engine.run_command(cmd)
    result = run_qsts_loaded(engine, spec, feeder="ieee123")
    check_shape(result)
    assert result.unconverged_steps == 0
    ref = reference_qsts(build_ieee123, spec)
    assert_matches(result, ref)
    # The year is not trivial: voltages and loadings leave their limits in some hours.
    assert result.buses["hours_outside_a"].sum() > 0
    assert result.elements["hours_over_normal"].sum() > 0
    # Physics: losses are a small positive share of what the source delivers, split consistently.
    e = result.energy
    assert 0 < e["loss_pct"] < 10
    assert e["losses_kwh"] == pytest.approx(e["line_losses_kwh"] + e["xfmr_load_losses_kwh"], rel=1e-6)
    xf = result.elements[result.elements["kind"] == "transformer"]
    assert xf["equivalent_aging_factor"].notna().all() and (xf["loss_of_life_h"] >= 0).all()
    assert result.elements.loc[result.elements["kind"] == "line", "equivalent_aging_factor"].isna().all()


def test_snapshot_after_qsts_recompiles(engine: Engine) -> None:
    engine.compile_file(IEEE123)
    before = engine.snapshot(LIMITS)
    for cmd in ieee123_commands():
        engine.run_command(cmd)
    run_qsts_loaded(engine, QstsSpec(hours=24), feeder="ieee123")
    assert engine.loaded is None
    engine.compile_file(IEEE123)
    after = engine.snapshot(LIMITS)
    assert after.source_kw == pytest.approx(before.source_kw, rel=1e-9)


def _ieee123_master(tmp_path: Path) -> Path:
    master = tmp_path / "master.dss"
    master.write_text(
        f'redirect "{IEEE123}"\n' + "\n".join(ieee123_commands()) + "\n",
        encoding="utf-8",
    )
    return master


def test_ieee123_round_trip_agrees_with_original(engine: Engine, tmp_path: Path) -> None:
    spec = QstsSpec(hours=8760)
    model, _ = read_opendss(_ieee123_master(tmp_path), "ieee123")
    from_model = run_qsts(engine, model, spec)
    check_shape(from_model)
    engine.compile_file(IEEE123)
    for cmd in ieee123_commands():
        engine.run_command(cmd)
    original = run_qsts_loaded(engine, spec, feeder="ieee123")
    for key in ENERGY_KEYS:
        assert from_model.energy[key] == pytest.approx(original.energy[key], rel=1e-6, abs=1e-9), key
    # The written script orders buses and elements differently: compare by name.
    pd.testing.assert_frame_equal(
        from_model.buses.set_index("bus").sort_index(),
        original.buses.set_index("bus").sort_index(),
        rtol=1e-9,
    )
    # (max_loading_step may differ where two steps tie to ~1e-10: the round trip is not bit-exact.)
    cols = ["hours_over_normal", "hours_over_emergency", "max_loading_pct", "equivalent_aging_factor"]
    pd.testing.assert_frame_equal(
        from_model.elements.set_index("element").sort_index()[cols],
        original.elements.set_index("element").sort_index()[cols],
        rtol=1e-7,
    )
    assert (
        from_model.timings_s["compile"] > 0 and from_model.timings_s["total"] >= from_model.timings_s["solve"]
    )


@pytest.mark.slow
def test_ckt5_year_matches_reference(engine: Engine) -> None:
    spec = QstsSpec(hours=8760)
    engine.compile_file(CKT5)
    result = run_qsts_loaded(engine, spec, feeder="ckt5")
    check_shape(result)
    assert result.unconverged_steps == 0
    assert_matches(result, reference_qsts(build_ckt5, spec))
    xf = result.elements[result.elements["kind"] == "transformer"]
    assert len(xf) > 500 and xf["equivalent_aging_factor"].notna().all()


@pytest.mark.slow
def test_ckt5_round_trip_week(engine: Engine) -> None:
    spec = QstsSpec(hours=168, start_hour=4000)
    model, _ = read_opendss(CKT5, "ckt5")
    from_model = run_qsts(engine, model, spec)
    engine.compile_file(CKT5)
    original = run_qsts_loaded(engine, spec, feeder="ckt5")
    for key in ENERGY_KEYS:
        assert from_model.energy[key] == pytest.approx(original.energy[key], rel=1e-6, abs=1e-9), key
    np.testing.assert_array_equal(
        from_model.hourly["buses_outside_a"].to_numpy(), original.hourly["buses_outside_a"].to_numpy()
    )


DER = {
    # Storage state of charge moves at the end of each native step: the fast path updates it too.
    "storage": [
        "new storage.s1 bus1=60 kv=4.16 kwrated=300 kwhrated=900 %stored=50 dispmode=follow yearly=loadshape1"
    ],
    # InvControl keeps end-of-step state: the loop falls back to OpenDSS's native step.
    "invcontrol": [
        "new xycurve.vv npts=4 xarray=[0.5 0.95 1.05 1.5] yarray=[1 0 0 -1]",
        "new pvsystem.pv1 bus1=60 kv=4.16 kva=600 pmpp=600 irradiance=1 yearly=loadshape1",
        "new invcontrol.ic mode=voltvar vvc_curve1=vv",
    ],
}


@pytest.mark.parametrize("der", sorted(DER))
def test_der_circuits_match_opendss_stepping(engine: Engine, der: str) -> None:
    spec = QstsSpec(hours=72, start_hour=2000)
    engine.compile_file(IEEE123)
    for cmd in ieee123_commands() + DER[der]:
        engine.run_command(cmd)
    result = run_qsts_loaded(engine, spec, feeder="ieee123")

    def build(dss: Any) -> None:
        build_ieee123(dss)
        for cmd in DER[der]:
            dss.Text.Command(cmd)

    assert_matches(result, reference_qsts(build, spec))
