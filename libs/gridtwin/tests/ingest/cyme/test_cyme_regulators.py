"""Regulators: a three-phase regulator stays three-phase whatever PhaseON says, its settings map to
RegControls (controlled by default, taps fixed on request), and a single-phase bank passes its
unregulated phases through: no floating phase in any case."""

from __future__ import annotations

from pathlib import Path

import pytest
from cyme_builder import (
    KV,
    LINE_ID,
    block,
    line_of,
    lines,
    ll_pu,
    ln_pu,
    loads,
    nodes,
    sections,
    solve,
    through_twins,
    write_export,
)
from gridtwin.errors import InputError
from gridtwin.ingest.cyme import read_cyme
from gridtwin.ingest.cyme.site_catalog import read_cyme_with_catalog

SETTING_COLUMNS = (
    "SectionID,Location,EqID,DeviceNumber,PhaseON,MaxBuck,MaxBoost,BandWidth,CT,PT,VsetA,VsetB,VsetC,"
    "RsetA,RsetB,RsetC,XsetA,XsetB,XsetC,TapA,TapB,TapC,Conn,Reversible,RevVsetA,RevVsetB,RevVsetC"
)


def _export(
    tmp_path: Path, reg_type: str, phase_on: str, taps: str = "4,4,4", conn: str = "0", pt: float = 60.0
) -> Path:
    """src -2 km- n1 -regulator- n2 -2 km- n3 (a heavy unbalanced load; delta loads behind a delta
    bank, as on the 3-wire feeders delta regulators serve)."""
    network = (
        nodes("src", "n1", "n2", "n3", "l3")
        + sections("s1,src,n1,ABC", "reg,n1,n2,ABC", "s3,n2,n3,ABC", "ld,n3,l3,ABC")
        + lines(f"s1,s1,{LINE_ID},2000", f"s3,s3,{LINE_ID},2000")
        + block(
            "REGULATOR SETTING",
            SETTING_COLUMNS,
            [
                f"reg,M,REG,reg1,{phase_on},10,10,2,300,{pt},122,121,123,1.5,2,2.5,3,3.5,4,{taps},{conn},1,118,119,120"
            ],
        )
        + block(
            "AUTO TAP CHANGING EXTENSION",
            "DeviceNumber,DeviceType,LTCIndex,TapChangingAlgo,ActivationDelayFirstTap,ActivationDelaySubTap,"
            "MechanismDelay",
            ["reg1,4,0,0,30,5,0.5"],
            key="AUTOTAPCHANGINGEXTST",
        )
    )
    equipment = block(
        "REGULATOR",
        "ID,Type,KVA,KVLN,MaxBuck,MaxBoost,Taps,Bandwidth,CT,PT,Reversible",
        [f"REG,{reg_type},1500,7.2,10,10,32,2,300,60,0"],
    )
    rows = [("ld", "A", 1800.0, 600.0), ("ld", "B", 1200.0, 400.0), ("ld", "C", 1500.0, 500.0)]
    load = loads(rows, connection="0" if conn == "0" else "2")
    return write_export(tmp_path / f"reg_{reg_type}_{phase_on}_{conn}", network, equipment, load)


def test_three_phase_regulator_with_one_phase_on_regulates_every_phase(tmp_path: Path) -> None:
    folder = _export(tmp_path, "1", "A", taps="4,6,5")
    model, report = read_cyme(folder, "reg3", regulators="fixed")
    xf = model.tables["transformers"].set_index("name")
    assert list(xf.index) == ["reg1_a", "reg1_b", "reg1_c"]
    step = 0.10 / 16
    for name, node, tap in (("reg1_a", 1, 4), ("reg1_b", 2, 6), ("reg1_c", 3, 5)):
        assert list(xf.loc[name, "buses"]) == [f"n1.{node}", f"n2.{node}"]
        assert xf.loc[name, "taps_pu"][1] == pytest.approx(1 + tap * step)  # each phase's own tap
    where = f"network.txt:{line_of(folder / 'network.txt', 'reg,M,REG')} [REGULATOR SETTING]"
    assert any(w.where == f"{where} PhaseON" and w.code == "three_phase_regulator" for w in report.warnings)
    assert any(w.where == where and w.code == "fixed_taps" for w in report.warnings)
    result = solve(model)
    assert result.converged
    for bus in ("n2", "n3"):
        pu = ln_pu(result, bus)
        assert set(pu) == {1, 2, 3} and all(0.9 < v < 1.1 for v in pu.values()), (bus, pu)  # none floating
    n1, n2 = ln_pu(result, "n1"), ln_pu(result, "n2")
    for node, tap in ((1, 4), (2, 6), (3, 5)):
        assert n2[node] / n1[node] == pytest.approx(1 + tap * step, rel=2e-3)


def test_regulator_settings_map_to_regcontrols(tmp_path: Path) -> None:
    model, report = read_cyme(_export(tmp_path, "1", "A"), "reg3")  # controlled by default
    rc = model.tables["regcontrols"].set_index("name")
    assert list(rc.index) == ["reg1_a", "reg1_b", "reg1_c"]
    assert rc["enabled"].all()
    assert rc["vreg_v"].tolist() == [122.0, 121.0, 123.0]
    assert rc["r_v"].tolist() == [1.5, 2.0, 2.5] and rc["x_v"].tolist() == [3.0, 3.5, 4.0]
    assert set(rc["band_v"]) == {2.0} and set(rc["pt_ratio"]) == {60.0} and set(rc["ct_prim_a"]) == {300.0}
    # first-tap delay; inter-tap delay + mechanism time
    assert set(rc["delay_s"]) == {30.0} and set(rc["tap_delay_s"]) == {5.5}
    assert rc["reversible"].all()
    assert rc.loc["reg1_b", "dss_extra_json"] == '{"revvreg": 119.0}'
    xf = model.tables["transformers"].set_index("name")
    assert list(xf.loc["reg1_a", "min_taps_pu"])[1] == pytest.approx(0.9)
    assert list(xf.loc["reg1_a", "max_taps_pu"])[1] == pytest.approx(1.1)
    assert not [w for w in report.warnings if w.code == "fixed_taps"]
    assert through_twins(model).to_ipc() == model.to_ipc()
    result = solve(model)
    assert result.converged
    # each phase regulated to its own band centre (with line-drop compensation to the load centre)
    pt, vln = 60.0, KV / 3**0.5 * 1000
    for node, vset in ((1, 122.0), (2, 121.0), (3, 123.0)):
        secondary = ln_pu(result, "n2")[node] * vln / pt
        assert vset - 1.0 - 0.5 < secondary < vset + 12.0  # never below the band; LDC raises it
    fixed, _ = read_cyme(_export(tmp_path / "f", "1", "A"), "reg3", regulators="fixed")
    assert not fixed.tables["regcontrols"]["enabled"].any()


def test_single_phase_bank_passes_its_unregulated_phases_through(tmp_path: Path) -> None:
    folder = _export(tmp_path, "0", "A")
    model, report = read_cyme(folder, "reg1", regulators="fixed")
    assert list(model.tables["transformers"]["name"]) == ["reg1_a"]
    through = model.tables["lines"].set_index("name").loc["reg1_through"]
    assert (through["bus1"], through["bus2"], bool(through["is_switch"])) == ("n1.2.3", "n2.2.3", True)
    where = f"network.txt:{line_of(folder / 'network.txt', 'reg,M,REG')} [REGULATOR SETTING] PhaseON"
    assert any(w.where == where and w.code == "unregulated_phase" for w in report.warnings)
    result = solve(model)
    n1, n2 = ln_pu(result, "n1"), ln_pu(result, "n2")
    assert n2[2] == pytest.approx(n1[2], abs=1e-4) and n2[3] == pytest.approx(n1[3], abs=1e-4)
    assert n2[1] > n1[1] + 0.02  # phase A boosted 4 steps


@pytest.mark.parametrize(
    ("conn", "units", "first"),
    [
        ("2", ["reg1_a", "reg1_b", "reg1_c"], ("n1.1", "wye")),
        ("3", ["reg1_ab", "reg1_cb"], ("n1.1.2", "delta")),
    ],
)
def test_delta_regulator_banks(tmp_path: Path, conn: str, units: list[str], first: tuple[str, str]) -> None:
    """Open delta: units A-B and C-B, each on its phase's settings; closed delta: three wye units with
    the PT ratio taken line to neutral (a warning says so)."""
    folder = _export(tmp_path, "0", "ABC", conn=conn, pt=104.0)
    model, report = read_cyme(folder, "regd")
    xf = model.tables["transformers"].set_index("name")
    assert list(xf.index) == units
    assert (xf.iloc[0]["buses"][0], xf.iloc[0]["conns"][0]) == first
    rc = model.tables["regcontrols"].set_index("name")
    if conn == "3":
        assert xf.loc["reg1_cb", "kvs_kv"][0] == pytest.approx(7.2 * 3**0.5)
        assert rc["pt_ratio"].tolist() == [104.0, 104.0] and rc["vreg_v"].tolist() == [122.0, 123.0]
    else:
        assert rc["pt_ratio"].tolist() == pytest.approx([104.0 / 3**0.5] * 3)
        where = f"network.txt:{line_of(folder / 'network.txt', 'reg,M,REG')} [REGULATOR SETTING] Conn"
        assert any(w.where == where and w.code == "approximated" for w in report.warnings)
    result = solve(model)
    assert result.converged
    # a 3-wire section behind a delta bank: judged phase to phase
    for bus in ("n2", "n3"):
        assert all(0.95 < v < 1.08 for v in ll_pu(result, bus, KV).values()), ll_pu(result, bus, KV)


def test_regulator_out_of_service_is_bypassed(tmp_path: Path) -> None:
    folder = _export(tmp_path, "1", "ABC")
    columns = folder / "network.txt"
    text = columns.read_text().replace(SETTING_COLUMNS, SETTING_COLUMNS + ",ConnectionStatus")
    columns.write_text(text.replace(",118,119,120\n", ",118,119,120,1\n", 1))
    model, report = read_cyme(folder, "regoff")
    assert "regcontrols" not in model.tables and "transformers" not in model.tables
    bypass = model.tables["lines"].set_index("name").loc["reg1_through"]
    assert (bypass["bus1"], bypass["bus2"]) == ("n1.1.2.3", "n2.1.2.3")
    where = f"network.txt:{line_of(folder / 'network.txt', 'reg,M,REG')} [REGULATOR SETTING] ConnectionStatus"
    assert any(w.where == where and w.code == "bypassed" for w in report.warnings)
    result = solve(model)
    assert result.converged and all(0.9 < v < 1.05 for v in ln_pu(result, "n3").values())


def test_invalid_regulators_option_names_the_field(tmp_path: Path) -> None:
    folder = _export(tmp_path, "1", "A")
    with pytest.raises(InputError) as info:
        read_cyme(folder, "bad", regulators="sometimes")
    assert [d.where for d in info.value.details] == ["regulators"]
    with pytest.raises(InputError):
        read_cyme_with_catalog(folder, "bad", "s", tmp_path / "catalog", regulators="auto")
    model, _, _ = read_cyme_with_catalog(folder, "ok", "s", tmp_path / "catalog", regulators="fixed")
    assert not model.tables["regcontrols"]["enabled"].any()
