"""Snapshot results on real feeders: published values, the engine's own numbers, physics checks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from gridtwin.powerflow import Engine, SnapshotResult, ViolationLimits

# IEEE 13 node test feeder, published results (Kersting), regulator taps as published.
PUBLISHED_13: dict[str, dict[int, tuple[float, float]]] = {
    "rg60": {1: (1.0625, 0.00), 2: (1.0500, -120.00), 3: (1.0687, 120.00)},
    "632": {1: (1.0210, -2.49), 2: (1.0420, -121.72), 3: (1.0174, 117.83)},
    "633": {1: (1.0180, -2.56), 2: (1.0401, -121.77), 3: (1.0148, 117.82)},
    "634": {1: (0.9940, -3.23), 2: (1.0218, -122.22), 3: (0.9960, 117.34)},
    "645": {2: (1.0329, -121.90), 3: (1.0155, 117.86)},
    "646": {2: (1.0311, -121.98), 3: (1.0134, 117.90)},
    "652": {1: (0.9825, -5.25)},
    "671": {1: (0.9900, -5.30), 2: (1.0529, -122.34), 3: (0.9778, 116.02)},
    "675": {1: (0.9835, -5.56), 2: (1.0553, -122.52), 3: (0.9758, 116.03)},
    "684": {1: (0.9881, -5.32), 3: (0.9758, 115.92)},
    "611": {3: (0.9738, 115.78)},
    "692": {1: (0.9900, -5.31), 2: (1.0529, -122.34), 3: (0.9777, 116.02)},
}
PUBLISHED_TAPS = (
    "Transformer.Reg1.Taps=[1.0 1.0625]\nTransformer.Reg2.Taps=[1.0 1.0500]\n"
    "Transformer.Reg3.Taps=[1.0 1.06875]\nSet Controlmode=OFF"
)


def _load_powers(dss: Any) -> tuple[float, float]:
    p_kw = q_kvar = 0.0
    idx = dss.Loads.First()
    while idx:
        powers = np.asarray(dss.CktElement.Powers())
        p_kw += float(powers[0::2].sum())
        q_kvar += float(powers[1::2].sum())
        idx = dss.Loads.Next()
    return p_kw, q_kvar


def test_ieee13_matches_published_voltages(ieee13: Engine) -> None:
    ieee13.run_command(PUBLISHED_TAPS)
    result = ieee13.snapshot()
    assert result.converged
    v = result.voltages.set_index(["bus", "node"])
    for bus, nodes in PUBLISHED_13.items():
        for node, (pu, angle_deg) in nodes.items():
            assert v.loc[(bus, node), "pu"] == pytest.approx(pu, abs=0.003), f"{bus}.{node}"
            assert v.loc[(bus, node), "angle_deg"] == pytest.approx(angle_deg, abs=0.15), f"{bus}.{node}"


def test_ieee13_with_regulator_controls_is_near_one_pu_at_650(ieee13: Engine) -> None:
    result = ieee13.snapshot()
    v = result.voltages.set_index(["bus", "node"])
    for node in (1, 2, 3):
        assert v.loc[("650", node), "pu"] == pytest.approx(1.0, abs=0.002)
    assert result.converged and result.iterations >= 1


def test_voltages_equal_the_engines_own_arrays(ieee13: Engine) -> None:
    result = ieee13.snapshot()
    dss = ieee13.dss
    names = [str(n).lower() for n in dss.Circuit.AllNodeNames()]
    assert [f"{b}.{n}" for b, n in zip(result.voltages["bus"], result.voltages["node"], strict=True)] == names
    np.testing.assert_allclose(result.voltages["pu"], dss.Circuit.AllBusMagPu(), rtol=1e-12)
    np.testing.assert_allclose(result.voltages["kv"], np.asarray(dss.Circuit.AllBusVMag()) / 1000, rtol=1e-12)
    volts = np.asarray(dss.Circuit.AllBusVolts())
    angles = np.degrees(np.arctan2(volts[1::2], volts[0::2]))
    np.testing.assert_allclose(result.voltages["angle_deg"], angles, atol=1e-9)
    dss.Circuit.SetActiveBus("671")
    base_671 = result.voltages.loc[result.voltages["bus"] == "671", "base_kv"].to_numpy()
    assert base_671 == pytest.approx(np.full(3, dss.Bus.kVBase()))


@pytest.mark.parametrize("feeder", ["ieee13_path", "ieee123_path"])
def test_power_balance(engine: Engine, feeder: str, request: pytest.FixtureRequest) -> None:
    engine.compile_file(request.getfixturevalue(feeder))
    # The residual mismatch is set by the solver tolerance: tighten it to check the bookkeeping.
    engine.run_command("set tolerance=1e-10\nset maxiterations=200")
    result = engine.snapshot()
    assert result.converged
    load_kw, load_kvar = _load_powers(engine.dss)
    elements = result.elements
    shunt_kvar = float(elements.loc[elements["element_class"] == "capacitor", "losses_kvar"].sum())
    # Source power = loads + losses (capacitors inject vars and are not losses in OpenDSS).
    assert result.source_kw == pytest.approx(load_kw + result.losses_kw, rel=1e-6)
    assert result.source_kvar == pytest.approx(load_kvar + result.losses_kvar + shunt_kvar, rel=1e-6)
    # Element losses add up to the circuit's.
    assert elements["losses_kw"].sum() == pytest.approx(result.losses_kw, rel=1e-6)
    not_caps = elements["element_class"] != "capacitor"
    assert elements.loc[not_caps, "losses_kvar"].sum() == pytest.approx(result.losses_kvar, rel=1e-6)
    lines = elements["element_class"] == "line"
    assert elements.loc[lines, "losses_kw"].sum() == pytest.approx(result.line_losses_kw, rel=1e-6)
    assert result.line_losses_kw + result.transformer_losses_kw <= result.losses_kw * (1 + 1e-9)
    assert result.source_kw > 0 and result.losses_kw > 0


def _by_hand(dss: Any, name: str) -> tuple[float, float, float]:
    """(current A at terminal 1, loading %, emergency loading %) from per-element engine calls."""
    dss.Circuit.SetActiveElement(name)
    n_cond = int(dss.CktElement.NumConductors())
    mag_ang = np.asarray(dss.CktElement.CurrentsMagAng())
    current_a = float(mag_ang[0 : 2 * n_cond : 2].max())
    cls, _, short = name.partition(".")
    if cls == "transformer":
        powers = np.asarray(dss.CktElement.Powers())[: 2 * n_cond]
        kva_through = math.hypot(powers[0::2].sum(), powers[1::2].sum())
        dss.Transformers.Name(short)
        dss.Transformers.Wdg(1)
        kva = float(dss.Transformers.kVA())
        dss.Text.Command(f"? transformer.{short}.emerghkva")
        emerg_kva = float(dss.Text.Result())
        return current_a, 100 * kva_through / kva, 100 * kva_through / emerg_kva
    dss.Lines.Name(short)
    return current_a, 100 * current_a / dss.Lines.NormAmps(), 100 * current_a / dss.Lines.EmergAmps()


def test_loading_recomputed_by_hand(ieee13: Engine) -> None:
    result = ieee13.snapshot()
    table = result.elements.set_index("name")
    for name in [
        "line.650632",
        "line.632670",
        "line.684652",
        "line.671692",
        "transformer.xfm1",
        "transformer.reg1",
    ]:
        current_a, loading_pct, emerg_pct = _by_hand(ieee13.dss, name)
        assert table.loc[name, "current_a"] == pytest.approx(current_a, rel=1e-9), name
        assert table.loc[name, "loading_pct"] == pytest.approx(loading_pct, rel=1e-9), name
        assert table.loc[name, "loading_emerg_pct"] == pytest.approx(emerg_pct, rel=1e-9), name
    # 650632 carries about 590 A on a 400 A normal rating.
    assert table.loc["line.650632", "loading_pct"] == pytest.approx(148, abs=1)


def test_every_line_loading_matches_per_element_computation(ieee123: Engine) -> None:
    result = ieee123.snapshot()
    for row in result.elements[result.elements["element_class"] == "line"].itertuples():
        _, loading_pct, emerg_pct = _by_hand(ieee123.dss, str(row.name))
        assert row.loading_pct == pytest.approx(loading_pct, rel=1e-9, abs=1e-9)
        assert row.loading_emerg_pct == pytest.approx(emerg_pct, rel=1e-9, abs=1e-9)


def test_to_dict_is_the_cli_shape(ieee13: Engine) -> None:
    out = ieee13.snapshot().to_dict()
    assert set(out) == {
        "feeder",
        "converged",
        "iterations",
        "losses_kw",
        "losses_kvar",
        "source_kw",
        "source_kvar",
        "voltages",
        "elements",
        "violations",
        "line_losses_kw",
        "transformer_losses_kw",
        "message",
        "solver",
    }
    assert out["feeder"] == "ieee13nodeckt"
    assert out["solver"] == {"max_iterations": 100, "max_control_iterations": 100, "tolerance": 0.0001}
    assert set(out["voltages"][0]) == {"bus", "node", "pu", "angle_deg"}
    assert set(out["elements"][0]) == {"name", "loading_pct", "current_a", "loading_emerg_pct", "losses_kw"}
    assert set(out["violations"][0]) == {"kind", "element", "value", "limit"}
    buses = {v["bus"] for v in out["voltages"]}
    assert {"sourcebus", "650", "rg60", "632", "611"} <= buses
    names = {e["name"] for e in out["elements"]}
    assert {"line.650632", "transformer.sub", "transformer.reg1", "capacitor.cap1"} <= names
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    assert all(type(v["node"]) is int and type(v["pu"]) is float for v in out["voltages"])


def test_results_are_dataframes_with_declared_columns(ieee13: Engine) -> None:
    from gridtwin.powerflow.results import ELEMENT_COLUMNS, VIOLATION_COLUMNS, VOLTAGE_COLUMNS

    result: SnapshotResult = ieee13.snapshot()
    assert isinstance(result.voltages, pd.DataFrame) and list(result.voltages.columns) == list(
        VOLTAGE_COLUMNS
    )
    assert list(result.elements.columns) == list(ELEMENT_COLUMNS)
    assert list(result.violations.columns) == list(VIOLATION_COLUMNS)
    for frame, spec in ((result.voltages, VOLTAGE_COLUMNS), (result.elements, ELEMENT_COLUMNS)):
        assert {c: str(t) for c, t in frame.dtypes.items()} == spec
    empty = ieee13.snapshot(ViolationLimits(0.0, 9.0, 0.0, 9.0, 1e9, 1e9)).violations
    assert len(empty) == 0 and {c: str(t) for c, t in empty.dtypes.items()} == VIOLATION_COLUMNS
    assert len(result.voltages) == len(ieee13.dss.Circuit.AllNodeNames())
    assert len(result.elements) == ieee13.dss.PDElements.Count()


def test_circuit_changes_are_seen_by_the_next_snapshot(ieee13: Engine) -> None:
    before = ieee13.snapshot()
    ieee13.run_command("new line.extra bus1=675 bus2=extra phases=3 linecode=mtx601 length=100 units=ft")
    after = ieee13.snapshot()
    assert "line.extra" in set(after.elements["name"]) and "line.extra" not in set(before.elements["name"])
    assert "extra" in set(after.voltages["bus"])


def test_large_feeder_ckt5(engine: Engine, ckt5_path: Path) -> None:
    engine.compile_file(ckt5_path)
    result = engine.snapshot()
    assert result.converged
    assert len(result.voltages) == len(engine.dss.Circuit.AllNodeNames()) > 3000
    assert len(result.elements) == engine.dss.PDElements.Count() > 3000
    assert result.elements["losses_kw"].sum() == pytest.approx(result.losses_kw, rel=1e-6)
    xf = result.elements[result.elements["element_class"] == "transformer"]
    assert len(xf) == engine.dss.Transformers.Count() and xf["loading_pct"].notna().all()
    json.dumps(result.to_dict(), allow_nan=False)
