"""The study adapter (``powerflow.der_study``) on real OpenDSS: buses, test DER, controls, measurements."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from gridtwin.errors import EngineError, InputError
from gridtwin.powerflow import Engine
from gridtwin.powerflow.der_study import DerStudyCircuit, study_session
from gridtwin.powerflow.study_types import BusTarget


@pytest.fixture
def study(ieee13: Engine) -> Iterator[DerStudyCircuit]:
    with study_session(ieee13) as circuit:
        yield circuit


def _pv_count(engine: Engine) -> int:
    return int(engine.call("count", lambda: engine.dss.PVsystems.Count()))


def test_bus_targets_carry_phases_base_and_coordinates(study: DerStudyCircuit) -> None:
    assert study.bus_target("611.3") == BusTarget("611", (3,), 4.16, 0.0, 100.0)
    target = study.bus_target(" 675 ")
    assert target.nodes == (1, 2, 3) and target.phases == 3 and target.bus_spec == "675.1.2.3"
    assert study.bus_target("671.1.3").bus_spec == "671.1.3"
    with pytest.raises(InputError, match="unknown bus"):
        study.bus_target("nowhere")
    with pytest.raises(InputError, match="unknown bus node") as err:
        study.bus_target("611.1")
    assert err.value.details[0].where == "bus 611.1"
    buses = [t.bus for t in study.bus_targets(exclude=(study.source_bus(),))]
    assert study.source_bus() == "sourcebus" and "sourcebus" not in buses
    assert {"650", "rg60", "611", "652", "675", "692"} <= set(buses) and len(buses) == 15


def test_circuit_info_names_regulators_flow_elements_and_thermal_ratings(study: DerStudyCircuit) -> None:
    info = study.circuit_info()
    assert len(info.node_names) == len(info.node_base_kv_ln) == len(study.voltages_pu())
    assert len(info.pd_names) == len(info.thermal_mask) == len(study.loadings_pct())
    assert info.reg_names == ["reg1", "reg2", "reg3"]
    assert [info.node_names[i] for i in info.reg_node_index] == ["rg60.1", "rg60.2", "rg60.3"]
    assert info.reg_pt_ratio.tolist() == [20.0] * 3 and info.reg_band_v.tolist() == [2.0] * 3
    assert info.flow_elements == [
        "transformer.sub",
        "transformer.reg1",
        "transformer.reg2",
        "transformer.reg3",
    ]
    assert info.flow_at_source == (False,) * 4
    not_thermal = [n for n, m in zip(info.pd_names, info.thermal_mask, strict=True) if not m]
    assert not_thermal == ["capacitor.cap1", "capacitor.cap2"]
    assert study.solve().converged
    assert study.flows_kw(info)[0] > 3000.0  # the substation feeds the feeder's ~3.5 MW


def test_neutral_nodes_carry_no_voltage_base(ieee13_path: Path, tmp_path: Path) -> None:
    # IEEE 13 with the substation transformer's wye neutral on node 4, grounded through a reactor.
    script = tmp_path / "ngr.dss"
    script.write_text(
        f'redirect "{ieee13_path}"\nedit Transformer.Sub wdg=2 bus=650.1.2.3.4\n'
        "new Reactor.ngr phases=1 bus1=650.4 bus2=650.0 X=0.015\ncalcv\nsolve\n",
        encoding="utf-8",
    )
    engine = Engine()
    try:
        engine.compile_file(script)
        with study_session(engine) as circuit:
            info = circuit.circuit_info()
            base = dict(zip(info.node_names, info.node_base_kv_ln, strict=True))
            volts = dict(zip(info.node_names, circuit.voltages_pu(), strict=True))
            assert base["650.4"] == 0.0 and volts["650.4"] < 0.002  # the neutral: in the list, never judged
            assert base["650.1"] == base["650.2"] == base["650.3"] == pytest.approx(4.16 / 3**0.5, rel=1e-3)
            assert [n for n, b in base.items() if b == 0.0] == ["650.4"]
            assert circuit.bus_target("650").nodes == (1, 2, 3)  # DER connects to the phases only
    finally:
        engine.close()


def test_customers_and_series_network(study: DerStudyCircuit) -> None:
    loads = study.customers()
    assert len(loads) == 15 and loads.kw.sum() == pytest.approx(3466.0)
    first = (loads.names[0], loads.buses[0], int(loads.phases[0]), loads.conns[0])
    assert first == ("671", "671.1.2.3", 3, "delta")
    assert loads.kv[0] == pytest.approx(4.16) and set(loads.class_codes.tolist()) == {1}
    edges = study.series_edges()
    assert list(edges.columns) == ["bus1", "bus2", "length_m"]
    line = edges[(edges["bus1"] == "rg60") & (edges["bus2"] == "632")]
    assert line["length_m"].iloc[0] == pytest.approx(2000 * 0.3048)  # 2000 ft
    assert (edges[edges["bus2"] == "634"]["length_m"] == 0.0).all()  # a transformer: 0 m


def test_test_pv_raises_voltage_reverses_flow_and_comes_out_again(study: DerStudyCircuit) -> None:
    info = study.circuit_info()
    study.set_operating_point(0.3, 1.0)
    assert study.solve().converged
    v0, flow0 = study.voltages_pu(), study.flows_kw(info)
    study.lock_controls()
    target = study.bus_target("675")
    study.add_pv("t", target, 3000.0)
    solved = study.solve()
    assert solved.converged and solved.iterations > 0
    v1, flow1 = study.voltages_pu(), study.flows_kw(info)
    assert flow1[0] < 0 < flow0[0]  # reverse flow through the substation
    assert flow0[0] - flow1[0] == pytest.approx(3000.0, rel=0.05)  # the PV's output (less losses)
    at_675 = [i for i, n in enumerate(info.node_names) if n.startswith("675.")]
    assert (v1[at_675] > v0[at_675]).all()
    study.resize_pv("t", 100.0)
    study.add_pv("t", target, 500.0)  # the same name is edited, not added again
    study.remove_der("t")
    study.remove_der("never_added")
    assert study.solve().converged
    np.testing.assert_allclose(study.voltages_pu(), v0, atol=1e-5)  # within the solve's tolerance


def test_volt_var_absorbs_vars_where_voltage_is_high(ieee13: Engine) -> None:
    with study_session(ieee13) as study:
        study.set_operating_point(0.3, 1.0)
        study.solve()
        study.lock_controls()
        info = study.circuit_info()
        at_675 = [i for i, n in enumerate(info.node_names) if n.startswith("675.")]
        target = study.bus_target("675")
        peaks = {}
        for inverter in ("none", "pf", "volt_var"):
            study.add_pv("t", target, 2500.0, inverter=inverter, pf=-0.9)
            if inverter == "volt_var":
                study.restart_inverter("t")
                study.flat_start()
            assert study.solve().converged
            peaks[inverter] = float(study.voltages_pu()[at_675].max())
        assert peaks["volt_var"] < peaks["none"] and peaks["pf"] < peaks["none"]
        with pytest.raises(InputError, match="inverter"):
            study.add_pv("t", target, 1.0, inverter="smart")
        with pytest.raises(InputError, match="power factor"):
            study.add_load("l", target, 1.0, pf=0.0)


def test_an_idle_pool_pv_matches_a_placed_pv(ieee13: Engine) -> None:
    with study_session(ieee13) as study:
        study.set_operating_point(0.3, 1.0)
        study.solve()
        study.lock_controls()
        targets = [study.bus_target(b) for b in ("675", "611", "652")]
        names = study.add_pv_pool("pool_", targets, [1000.0, 100.0, 100.0])
        assert names == ["pool_0", "pool_1", "pool_2"]
        study.solve()
        idle = study.voltages_pu()
        study.set_pool_enabled("pool_", False)
        study.solve()
        np.testing.assert_allclose(study.voltages_pu(), idle, atol=1e-9)  # idle PVs inject nothing
        study.set_pool_enabled("pool_", True)
        study.set_pv_irradiance("pool_0", 0.4)  # 400 kW of a 1000 kW rating
        study.solve()
        pooled = study.voltages_pu()
        study.set_pool_enabled("pool_", False)
        study.add_pv("t", targets[0], 400.0)
        study.solve()
        np.testing.assert_allclose(study.voltages_pu(), pooled, atol=1e-6)


def test_locked_controls_taps_and_control_state_round_trip(study: DerStudyCircuit) -> None:
    study.set_operating_point(1.0, 0.0)
    study.solve()
    taps, state = study.tap_positions(), study.control_state()
    assert taps == {"reg1": 9, "reg2": 6, "reg3": 9} and state.capacitor_steps == ((1,), (1,))
    study.set_tap_positions(dict.fromkeys(taps, 0))
    assert set(study.tap_positions().values()) == {0}
    study.restore_control_state(state)
    assert study.tap_positions() == taps and study.control_state() == state
    locked = study.lock_controls()
    assert locked == ["regcontrol.reg1", "regcontrol.reg2", "regcontrol.reg3"]
    assert study.tap_positions() == {}  # only regulators in service are listed
    study.unlock_controls(locked)
    assert study.tap_positions() == taps


def test_terminal_rows_turn_node_voltages_into_element_currents(study: DerStudyCircuit) -> None:
    study.set_operating_point(1.0, 0.0)
    study.solve()
    net = study.network_matrix()
    n = len(net.node_names)
    assert net.y.shape == (n, n) and len(net.voltages) == n
    assert abs(net.y - net.y.T).max() < 1e-6 * abs(net.y).max()  # symmetric
    position = {name: i for i, name in enumerate(net.node_names)}
    elements = ["line.650632", "transformer.xfm1", "capacitor.cap1", "line.no_such_line", "line.671692"]
    rows = study.terminal_rows(elements, position)
    assert rows.element == [0, 1, 2, 4]  # the unknown line is skipped
    assert rows.conductors == [3, 4, 3, 3] and rows.first_row == [0, 3, 7, 10]  # xfm1: wye with neutral
    assert rows.row_node[6] == -1  # the grounded neutral
    m = sp.csr_matrix((rows.values, (rows.rows, rows.cols)), shape=(len(rows.row_node), n))
    np.testing.assert_allclose(m @ net.voltages, rows.current, rtol=1e-6, atol=1e-6)
    assert rows.normal_amps[0] == 400.0  # line 650632's normal amps
    assert [net.node_names[i] for i in rows.row_node[:3]] == ["rg60.1", "rg60.2", "rg60.3"]


def test_run_is_one_batch_and_maps_engine_errors(study: DerStudyCircuit, ieee13: Engine) -> None:
    def batch() -> int:
        study.add_pv("a", study.bus_target("675"), 10.0)
        study.add_pv("b", study.bus_target("611"), 10.0)
        return threading.get_ident()

    before = _pv_count(ieee13)
    assert study.run("batch", batch) != threading.get_ident()  # ran on the engine's thread
    assert _pv_count(ieee13) == before + 2
    with pytest.raises(EngineError) as err:
        study.run("broken", lambda: ieee13.dss.Text.Command("no_such_command"))
    assert err.value.details[0].where == "broken"


TINY = """new circuit.tiny basekv=12.47 pu=1.0 bus1=src
new line.l1 bus1=src bus2=b1 length=1 units=km
new load.ld1 bus1=b1 kv=12.47 kw=100
set voltagebases=[12.47]
calcvoltagebases
"""


def test_a_session_holds_the_engine_and_leaves_the_circuit_changed(engine: Engine) -> None:
    assert engine.load_script("tiny", "v1", TINY)
    order: list[str] = []
    inside = threading.Event()

    def other() -> None:
        inside.wait()
        with engine.hold():  # what a snapshot from another thread does
            order.append("other")

    thread = threading.Thread(target=other)
    thread.start()
    with study_session(engine) as study:
        inside.set()
        time.sleep(0.05)
        study.add_pv("t", study.bus_target("b1"), 50.0)
        assert study.solve().converged
        order.append("study")
    thread.join()
    assert order == ["study", "other"]
    assert engine.loaded is None  # the test PV stays in the circuit: the next load recompiles
    assert engine.load_script("tiny", "v1", TINY)


# -- 3-wire delta sections (issue 14) ---------------------------------------------------------------


def _ieee37(ieee13_path: Path) -> Path:
    return ieee13_path.parents[1] / "37Bus" / "ieee37.dss"


def _property(engine: Engine, element: str, prop: str) -> str:
    def read() -> str:
        engine.dss.Text.Command(f"? {element}.{prop}")
        return str(engine.dss.Text.Result()).strip().lower()

    return engine.call("property", read)


def test_delta_sections_are_found_and_judged_line_to_line(engine: Engine, ieee13_path: Path) -> None:
    engine.compile_file(_ieee37(ieee13_path))
    with study_session(engine) as study:
        info = study.circuit_info()
        # Behind the delta-delta substation transformer nothing is grounded: every feeder bus.
        assert "sourcebus" not in info.delta_buses and len(info.delta_buses) == 38
        assert {"799", "799r", "701", "775"} <= info.delta_buses
        base = dict(zip(info.node_names, info.node_base_kv_ln, strict=True))
        assert base["sourcebus.1"] > 100.0 and base["775.1"] == base["701.2"] == 0.0  # floating: not judged
        pairs = dict(zip(info.pair_names, info.pair_base_kv_ll, strict=True))
        assert len(pairs) == 3 * 38 and pairs["775.1-2"] == pytest.approx(0.48) and pairs["701.3-1"] == 4.8
        assert [(info.node_names[a], info.node_names[b]) for a, b in info.pair_nodes[:3]] == [
            ("799.1", "799.2"),
            ("799.2", "799.3"),
            ("799.3", "799.1"),
        ]
        # The open-delta regulators' PTs sit across 799r.1-2 and 799r.3-2 (their windings).
        assert info.reg_names == ["creg1a", "creg1c"]
        watched = [
            (info.node_names[a], info.node_names[b])
            for a, b in zip(info.reg_node_index, info.reg_ref_index, strict=True)
        ]
        assert watched == [("799r.1", "799r.2"), ("799r.3", "799r.2")]
        v = study.node_voltages()
        assert v.dtype == np.complex128 and len(v) == len(info.node_names)

        target = study.bus_target("775")
        assert target.delta and target.nodes == (1, 2, 3) and target.kv_base_ll == pytest.approx(0.48)
        assert study.bus_target("741.1.2").delta
        with pytest.raises(InputError, match="single conductor of a 3-wire delta section") as err:
            study.bus_target("775.1")
        assert err.value.details[0].where == "bus 775.1"
        assert all(t.delta for t in study.bus_targets(exclude=("sourcebus",)))


def test_grounded_feeders_have_no_delta_section(study: DerStudyCircuit, ieee123_path: Path) -> None:
    info = study.circuit_info()  # IEEE 13
    assert info.delta_buses == frozenset() and info.pair_names == []
    assert info.reg_ref_index.tolist() == [-1, -1, -1]  # wye regulators: node to ground
    assert not any(t.delta for t in study.bus_targets())
    engine = Engine()
    try:
        engine.compile_file(ieee123_path)
        with study_session(engine) as circuit:
            # Only the 480 V bus behind the delta-delta XFM1 (61s -> 610) is ungrounded.
            assert circuit.circuit_info().delta_buses == frozenset({"610"})
            assert circuit.bus_target("610").delta and not circuit.bus_target("61s").delta
    finally:
        engine.close()


def test_test_der_connects_line_to_line_on_delta_buses(engine: Engine, ieee13_path: Path) -> None:
    engine.compile_file(_ieee37(ieee13_path))
    with study_session(engine) as study:
        info = study.circuit_info()
        study.set_operating_point(0.3, 1.0)
        assert study.solve().converged
        study.lock_controls()
        v0 = study.voltages_pu()
        at_775 = [i for i, n in enumerate(info.node_names) if n.startswith("775.")]

        study.add_pv("t", study.bus_target("775"), 0.1)
        assert study.solve().converged
        # Line to line, a tiny PV leaves even the floating node-to-ground voltages where they were.
        assert np.abs(study.voltages_pu()[at_775] - v0[at_775]).max() < 1e-4
        assert _property(engine, "pvsystem.t", "conn") == "delta"
        assert _property(engine, "pvsystem.t", "phases") == "3"
        assert float(_property(engine, "pvsystem.t", "kv")) == pytest.approx(0.48)

        study.add_pv("t", study.bus_target("741.1.2"), 50.0)  # moved: one line-to-line branch
        assert _property(engine, "pvsystem.t", "phases") == "1"
        assert _property(engine, "pvsystem.t", "conn") == "delta"
        assert float(_property(engine, "pvsystem.t", "kv")) == pytest.approx(4.8)
        study.add_load("l", study.bus_target("728"), 10.0)
        assert _property(engine, "load.l", "conn") == "delta"
        names = study.add_pv_pool(
            "pool_", [study.bus_target("701"), study.bus_target("742.2.3")], [10.0, 10.0]
        )
        assert [_property(engine, f"pvsystem.{n}", "conn") for n in names] == ["delta", "delta"]
        assert study.solve().converged

        # The artefact this avoids: a grounded-wye PV of 0.1 kW moves those voltages by percents.
        def wye() -> None:
            engine.dss.Text.Command(
                "new PVSystem.w bus1=775 phases=3 kV=0.48 Pmpp=0.1 kVA=0.11 irradiance=1 conn=wye"
            )

        study.remove_der("t")
        study.remove_der("l")
        study.set_pool_enabled("pool_", False)
        engine.call("wye", wye)
        assert study.solve().converged
        assert np.abs(study.voltages_pu()[at_775] - v0[at_775]).max() > 0.05


def test_a_test_der_moved_between_delta_and_wye_buses_connects_as_placed_afresh(ieee123: Engine) -> None:
    def read(element: str) -> tuple[list[int], str]:
        ieee123.dss.Circuit.SetActiveElement(element)
        return [int(n) for n in ieee123.dss.CktElement.NodeOrder()], str(ieee123.dss.CktElement.BusNames()[0])

    with study_session(ieee123) as study:

        def connected(element: str) -> tuple[list[int], str]:
            assert study.solve().converged  # node order is known once the system is built
            return ieee123.call("nodes", read, element)

        for kind, add in (("pvsystem", study.add_pv), ("load", study.add_load)):
            add("t", study.bus_target("610"), 50.0)  # behind the delta-delta XFM1: delta, no neutral
            assert connected(f"{kind}.t") == ([1, 2, 3], "610.1.2.3")
            add("t", study.bus_target("35.1.2"), 50.0)  # grounded wye again, neutral to ground
            assert connected(f"{kind}.t") == ([1, 2, 0], "35.1.2")
            add("t", study.bus_target("610"), 50.0)
            assert connected(f"{kind}.t") == ([1, 2, 3], "610.1.2.3")
            study.remove_der("t")
