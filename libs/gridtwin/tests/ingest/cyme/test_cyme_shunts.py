"""Shunt capacitors in every value format CYME writes (per phase, fixed and switched, totals, the
equipment's), their switched banks' controls, and shunt reactors: mapped, solved, located warnings."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from cyme_builder import (
    KV,
    LINE_ID,
    block,
    line_of,
    lines,
    ln_pu,
    loads,
    nodes,
    sections,
    solve,
    through_twins,
    write_export,
)
from gridtwin.ingest.cyme import read_cyme

VLN = KV / math.sqrt(3.0)
# One capacitor bank per stub section off n1, each written in another format.
CAPS = {
    # section: (phases, FORMAT columns, the record)
    "c_kvar": ("C", "SectionID,DeviceNumber,Location,Connection,Phase,KVAR,ThreePhaseKVAR,KV,Control,ShuntCapacitorID",
               "c_kvar,cap_kvar,S,Y,C,100,0,7.2,0,"),
    "c_total": ("ABC", "SectionID,DeviceNumber,Location,Connection,Phase,KVAR,ThreePhaseKVAR,KV,Control",
                "c_total,cap_total,S,Y,ABC,0,600,7.2,0"),
    "c_fixsw": ("ABC", "SectionID,DeviceNumber,Location,Connection,FixedKVARA,FixedKVARB,FixedKVARC,SwitchedKVARA,"
                "SwitchedKVARB,SwitchedKVARC,KVLN,Control,OnValueA,OnValueB,OnValueC,OffValueA,OffValueB,OffValueC,"
                "InitiallyClosedPhase,ControllingPhase,ConnectionStatus",
                "c_fixsw,cap_fixsw,S,Y,100,100,100,200,200,200,7.2,7,118,118,118,126,126,126,NONE,B,0"),
    "c_uneq": ("ABC", "SectionID,DeviceNumber,Location,Connection,FixedKVARA,FixedKVARB,FixedKVARC,SwitchedKVARA,"
               "SwitchedKVARB,SwitchedKVARC,KVLN,Control",
               "c_uneq,cap_uneq,S,Y,50,100,0,0,0,0,7.2,0"),
    "c_mdb": ("ABC", "SectionID,DeviceNumber,Location,Connection,KVARA,KVARB,KVARC,KVARABC,KVLN",
              "c_mdb,cap_mdb,S,Y,150,150,150,0,7.2"),
    "c_abc": ("ABC", "SectionID,DeviceNumber,Location,Connection,KVARA,KVARB,KVARC,KVARABC,KVLN",
              "c_abc,cap_abc,S,Y,0,0,0,450,7.2"),
    "c_equip": ("ABC", "SectionID,DeviceNumber,Location,Connection,Phase,KVAR,ThreePhaseKVAR,KV,ShuntCapacitorID",
                "c_equip,cap_equip,S,Y,ABC,0,0,0,CAP300"),
    "c_delta": ("ABC", "SectionID,DeviceNumber,Location,Connection,FixedKVARA,FixedKVARB,FixedKVARC,KVLN",
                "c_delta,cap_delta,S,D,100,100,100,7.2"),
    "c_var": ("ABC", "SectionID,DeviceNumber,Location,Connection,FixedKVARA,FixedKVARB,FixedKVARC,SwitchedKVARA,"
              "SwitchedKVARB,SwitchedKVARC,KVLN,Control,OnValueA,OffValueA,InitiallyClosedPhase,ControllingPhase",
              "c_var,cap_var,S,Y,0,0,0,150,150,150,7.2,2,400,-200,ABC,A"),
    "c_nokv": ("AB", "SectionID,DeviceNumber,Location,Connection,FixedKVARA,FixedKVARB,FixedKVARC",
               "c_nokv,cap_nokv,S,Y,75,75,0"),
}  # fmt: skip
REACTORS = {
    "r_kvar": ("ABC", "SectionID,DeviceNumber,Location,Connection,Phase,KVAR,KV,ShuntReactorID",
               "r_kvar,reac_kvar,S,Y,ABC,100,7.2,"),
    "r_equip": ("B", "SectionID,DeviceNumber,Location,Connection,Phase,KVAR,KV,ShuntReactorID",
                "r_equip,reac_equip,S,Y,B,0,0,R50"),
    "r_phase": ("ABC", "SectionID,DeviceNumber,Location,Connection,KVARA,KVARB,KVARC,KVLN",
                "r_phase,reac_phase,S,Y,60,60,90,7.2"),
}  # fmt: skip


def _export(tmp_path: Path, with_shunts: bool = True) -> Path:
    stubs = {**CAPS, **REACTORS}
    network = nodes("src", "n1", "n2", "l2", *(f"{s}_n" for s in stubs)) + sections(
        "s1,src,n1,ABC",
        "s2,n1,n2,ABC",
        "ld,n2,l2,ABC",
        *(f"{s},n1,{s}_n,{ph}" for s, (ph, _, _) in stubs.items()),
    )
    network += lines(f"s1,s1,{LINE_ID},1500", f"s2,s2,{LINE_ID},1500")
    if with_shunts:
        network += "".join(block("SHUNT CAPACITOR SETTING", cols, [row]) for _, cols, row in CAPS.values())
        network += "".join(block("SHUNT REACTOR SETTING", cols, [row]) for _, cols, row in REACTORS.values())
        network += block(
            "CAPACITOR EXTLTD",
            "DeviceNumber,DeviceType,EnableDelays,CloseDelay,TripDelay,BreakerDelay",
            ["cap_fixsw,10,1,30,45,0"],
            key="CAPACITOREXTLTD",
        )
    equipment = block("SHUNT CAPACITOR", "ID,KVAR,KV,Type", ["CAP300,300,7.2,0"]) + block(
        "SHUNT REACTOR", "ID,KVAR,KV,Type", ["R50,50,7.2,0"]
    )
    load = loads([("ld", p, 900.0, 600.0) for p in "ABC"])
    return write_export(tmp_path / ("shunts" if with_shunts else "bare"), network, equipment, load)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tmp_path_factory.mktemp("cyme_shunts"))


def test_every_capacitor_format_is_mapped(folder: Path) -> None:
    model, report = read_cyme(folder, "shunts")
    assert report.unmapped == []
    caps = model.tables["capacitors"].set_index("name")
    kv3 = VLN * math.sqrt(3.0)

    def cap(name: str) -> tuple[str, int, str, float, float, int]:
        row = caps.loc[name]
        return (
            row["bus1"],
            int(row["phases"]),
            row["conn"],
            float(row["kv"]),
            float(row["kvars_kvar"][0]),
            int(row["states"][0]),
        )

    assert cap("cap_kvar") == ("n1.3", 1, "wye", pytest.approx(7.2), 100.0, 1)
    assert cap("cap_total") == ("n1.1.2.3", 3, "wye", pytest.approx(7.2 * math.sqrt(3)), 600.0, 1)
    assert cap("cap_fixsw") == ("n1.1.2.3", 3, "wye", pytest.approx(7.2 * math.sqrt(3)), 300.0, 1)
    assert cap("cap_fixsw_sw") == ("n1.1.2.3", 3, "wye", pytest.approx(7.2 * math.sqrt(3)), 600.0, 0)
    # unequal phases: one single-phase element per phase
    assert cap("cap_uneq_a") == ("n1.1", 1, "wye", pytest.approx(7.2), 50.0, 1)
    assert cap("cap_uneq_b") == ("n1.2", 1, "wye", pytest.approx(7.2), 100.0, 1)
    assert "cap_uneq_c" not in caps.index
    assert cap("cap_mdb")[3:5] == (pytest.approx(7.2 * math.sqrt(3)), 450.0)
    assert cap("cap_abc")[3:5] == (pytest.approx(7.2 * math.sqrt(3)), 450.0)
    assert cap("cap_equip") == ("n1.1.2.3", 3, "wye", pytest.approx(7.2 * math.sqrt(3)), 900.0, 1)
    assert cap("cap_delta") == ("n1.1.2.3", 3, "delta", pytest.approx(7.2 * math.sqrt(3)), 300.0, 1)
    assert cap("cap_var")[4:] == (450.0, 1)  # switched only, initially closed
    # no voltage given: the bus's nominal one
    assert cap("cap_nokv") == ("n1.1.2", 2, "wye", pytest.approx(kv3), 150.0, 1)


def test_switched_banks_get_their_controls(folder: Path) -> None:
    model, _ = read_cyme(folder, "shunts")
    controls = model.tables["capcontrols"].set_index("name")
    assert set(controls.index) == {"cap_fixsw_sw", "cap_var"}
    volt = controls.loc["cap_fixsw_sw"]
    assert volt["type"] == "voltage" and volt["element"] == "capacitor.cap_fixsw_sw"
    assert (volt["on_setting"], volt["off_setting"]) == (118.0, 126.0)  # volts on the 120 V base
    assert volt["pt_ratio"] == pytest.approx(7200.0 / 120.0)
    assert volt["pt_phase"] == 2  # ControllingPhase B
    assert (volt["delay_s"], volt["delay_off_s"]) == (30.0, 45.0)  # [CAPACITOR EXTLTD]
    var = controls.loc["cap_var"]
    assert var["type"] == "kvar" and var["element"] == "line.s1"  # the line feeding the bank's bus
    assert (var["on_setting"], var["off_setting"]) == (400.0, -200.0)


def test_reactors_are_mapped(folder: Path) -> None:
    model, _ = read_cyme(folder, "shunts")
    reactors = model.tables["reactors"].set_index("name")
    assert reactors.loc["reac_kvar", ["bus1", "phases", "kvar"]].tolist() == ["n1.1.2.3", 3, 300.0]
    assert reactors.loc["reac_kvar", "kv"] == pytest.approx(7.2 * math.sqrt(3))
    assert reactors.loc["reac_equip", ["bus1", "phases", "kvar", "kv"]].tolist() == ["n1.2", 1, 50.0, 7.2]
    assert reactors.loc["reac_equip", "x_ohm"] == pytest.approx(7.2**2 * 1000 / 50)
    assert reactors.loc["reac_phase_c", "kvar"] == 90.0 and reactors.loc["reac_phase_a", "kvar"] == 60.0


def test_banks_solve_and_supply_their_vars(folder: Path, tmp_path: Path) -> None:
    model, _ = read_cyme(folder, "shunts")
    bare, _ = read_cyme(_export(tmp_path, with_shunts=False), "bare")
    with_banks, without = solve(model), solve(bare)
    assert with_banks.converged and without.converged
    for bus in ("n1", "n2"):  # the stub sections carry no series device: their nodes fold into n1
        pu = ln_pu(with_banks, bus)
        assert set(pu) == {1, 2, 3} and all(0.95 < v < 1.06 for v in pu.values()), (bus, pu)
    # the banks in service at about nominal voltage: fixed capacitors 100+600+300+150+150+450+900+300+150
    # (the switched parts: 450 closed kvar-controlled, 600 open voltage-controlled, maybe switched in),
    # reactors 300+50+210 absorbing
    net_kvar = without.source_kvar - with_banks.source_kvar
    assert 2400.0 < net_kvar < 3900.0
    # the bank's own voltages rise: the source supplies fewer vars
    assert ln_pu(with_banks, "n2")[1] > ln_pu(without, "n2")[1]


def test_unmapped_control_is_a_located_warning(tmp_path: Path) -> None:
    network = (
        nodes("src", "n1", "c1") + sections("s1,src,n1,ABC", "c1,n1,c1,ABC") + lines(f"s1,s1,{LINE_ID},100")
    )
    network += block(
        "SHUNT CAPACITOR SETTING",
        "SectionID,DeviceNumber,Location,Connection,SwitchedKVARA,SwitchedKVARB,SwitchedKVARC,KVLN,Control",
        ["c1,cap_time,S,Y,100,100,100,7.2,1"],
    )
    folder = write_export(tmp_path / "timecap", network, load=loads([("c1", "A", 10.0, 1.0)]))
    model, report = read_cyme(folder, "timecap")
    assert "capcontrols" not in model.tables
    where = f"network.txt:{line_of(folder / 'network.txt', 'c1,cap_time')} [SHUNT CAPACITOR SETTING] Control"
    assert any(w.where == where and w.code == "unmapped_control" for w in report.warnings)


def test_banks_round_trip_through_twins(folder: Path) -> None:
    model, _ = read_cyme(folder, "shunts")
    assert through_twins(model).to_ipc() == model.to_ipc()
