"""Generators (synchronous, induction, converter-interfaced) and photovoltaics: mapped to the feeder
model's generators and pvsystems, solved (they offset the source), warnings where values default."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from cyme_builder import (
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
from gridtwin.errors import ErrorDetail
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.cyme import read_cyme

LOAD_KW = 3000.0


def _export(tmp_path: Path, with_der: bool = True) -> Path:
    """A 2 km line to n1, a load there; DER on stub sections of n1 and of a 2-phase lateral at n2."""
    network = nodes("src", "n1", "n2", "l1", "g_sync", "g_ind", "g_ecg", "pv1", "pv2", "pv3") + sections(
        "s1,src,n1,ABC", "s2,n1,n2,AB", "ld,n1,l1,ABC", "gs,n1,g_sync,ABC", "gi,n1,g_ind,ABC", "ge,n1,g_ecg,ABC",
        "p1,n1,pv1,ABC", "p2,n2,pv2,B", "p3,n1,pv3,ABC",
    )  # fmt: skip
    network += lines(f"s1,s1,{LINE_ID},2000", f"s2,s2,{LINE_ID},300")
    if with_der:
        network += block(
            "SYNCHRONOUS GENERATOR SETTING",
            "SectionID,Location,EqID,DeviceNumber,ConnectionStatus,ConnectionConfiguration",
            ["gs,M,SYNC500,gen_sync,0,0"],
        )
        network += block(
            "INDUCTION GENERATOR SETTING",
            "SectionID,Location,EqID,DeviceNumber,ConnectionStatus",
            ["gi,M,IND200,gen_ind,0"],
        )
        network += block(
            "ELECTRONIC CONVERTER GENERATOR SETTING",
            "SectionID,Location,EqID,DeviceNumber,EqPhase,NumberOfGenerators,ConnectionStatus,ConnectionConfiguration",
            ["ge,M,ECG100,gen_ecg,ABC,3,0,0"],
        )
        network += block(
            "PHOTOVOLTAIC SETTINGS",
            "SectionID,Location,DeviceNumber,EquipmentID,EqPhase,ConnectionStatus,NS,NP,AmbientTemperature",
            [
                "p1,M,pv_big,MOD300,ABC,0,20,100,25",
                "p2,M,pv_small,MOD300,B,0,10,5,25",
                "p3,M,pv_conv,,ABC,0,,,25",
            ],
            key="PHOTOVOLTAICSETTINGS",
        )
        network += block(
            "CONVERTER",
            "DeviceNumber,DeviceType,ConverterRating,ActivePowerRating,ReactivePowerRating,MinimumPowerFactor",
            ["pv_big,45,650,600,300,90", "pv_conv,45,250,200,100,90"],
        )
        network += block(
            "DGGENERATIONMODEL",
            "DeviceNumber,DeviceType,LoadModelName,ActiveGeneration,PowerFactor",
            [
                "gen_sync,37,DEFAULT,400,95",
                "pv_big,45,Night,0,100",
                "pv_big,45,DEFAULT,450,100",
                "pv_conv,45,DEFAULT,150,98",
            ],
        )
    equipment = (
        block("SYNCHRONOUS GENERATOR", "ID,KVA,KVLL,ActiveGeneration,PF", ["SYNC500,500,12.47,300,85"])
        + block("INDUCTION GENERATOR", "ID,KVA,KVLL,ActiveGeneration,PF", ["IND200,200,12.47,150,-85"])
        + block(
            "ELECTRONIC CONVERTER GENERATOR", "ID,KVA,KVLL,ActiveGeneration,PF", ["ECG100,120,12.47,100,100"]
        )
        + block("PHOTOVOLTAIC", "ID,MPPCurrent,MPPVoltage,SCCurrent,OCVoltage", ["MOD300,8.0,37.5,8.5,45"])
    )
    load = loads([("ld", p, LOAD_KW / 3, 300.0) for p in "ABC"])
    return write_export(tmp_path / ("der" if with_der else "noder"), network, equipment, load)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[FeederModel, list[ErrorDetail], Path]:
    folder = _export(tmp_path_factory.mktemp("cyme_der"))
    model, report = read_cyme(folder, "der")
    assert report.unmapped == []
    return model, report.warnings, folder


def test_generators_are_mapped(imported: tuple[FeederModel, list[ErrorDetail], Path]) -> None:
    model, _, _ = imported
    gens = model.tables["generators"].set_index("name")
    sync = gens.loc["gen_sync"]  # the DEFAULT generation model wins over the equipment's values
    assert (sync["p_kw"], sync["model"], sync["conn"], sync["phases"]) == (400.0, 1, "wye", 3)
    assert sync["q_kvar"] == pytest.approx(400 * math.tan(math.acos(0.95)))
    assert sync["kv"] == pytest.approx(12.47) and sync["bus1"] == "n1.1.2.3"
    ind = gens.loc["gen_ind"]  # equipment values; a negative power factor absorbs vars
    assert ind["p_kw"] == 150.0 and ind["q_kvar"] == pytest.approx(-150 * math.tan(math.acos(0.85)))
    ecg = gens.loc["gen_ecg"]  # three generators of 100 kW at unity
    assert ecg["p_kw"] == 300.0 and ecg["q_kvar"] == pytest.approx(0.0, abs=1e-9)


def test_photovoltaics_are_mapped(imported: tuple[FeederModel, list[ErrorDetail], Path]) -> None:
    model, warnings, folder = imported
    pv = model.tables["pvsystems"].set_index("name")
    big = pv.loc["pv_big"]  # 20 x 100 modules of 8 A x 37.5 V = 600 kW; 450 kW from the generation model
    assert big["pmpp_kw"] == pytest.approx(600.0) and big["kva"] == 650.0
    assert big["irradiance_kw_per_m2"] == pytest.approx(0.75) and big["pf"] == 1.0
    small = pv.loc["pv_small"]  # on phase B of a 2-phase lateral, no generation model: its rating
    assert small["bus1"] == "n2.2" and small["phases"] == 1
    assert small["kv"] == pytest.approx(12.47 / math.sqrt(3)) and small["pmpp_kw"] == pytest.approx(15.0)
    assert small["irradiance_kw_per_m2"] == 1.0
    where = f"network.txt:{line_of(folder / 'network.txt', 'p2,M,pv_small')} [PHOTOVOLTAIC SETTINGS]"
    assert any(w.where == where and w.code == "default_used" for w in warnings)
    conv = pv.loc["pv_conv"]  # no modules given: the inverter's active power rating
    assert conv["pmpp_kw"] == 200.0 and conv["kva"] == 250.0 and conv["pf"] == pytest.approx(0.98)


def test_a_generation_model_of_zero_is_an_output_of_zero(tmp_path: Path) -> None:
    folder = _export(tmp_path)
    network = folder / "network.txt"
    network.write_text(network.read_text().replace("pv_big,45,DEFAULT,450,100", "pv_big,45,DEFAULT,0,100"))
    model, report = read_cyme(folder, "night")
    assert model.tables["pvsystems"].set_index("name").loc["pv_big", "irradiance_kw_per_m2"] == 0.0
    assert not [w for w in report.warnings if w.code == "default_used" and "pv_big" in w.message]


def test_der_solve_and_offset_the_source(
    imported: tuple[FeederModel, list[ErrorDetail], Path], tmp_path: Path
) -> None:
    model, _, _ = imported
    with_der = solve(model)
    bare, _ = read_cyme(_export(tmp_path, with_der=False), "noder")
    without = solve(bare)
    assert with_der.converged and without.converged
    produced = 400 + 150 + 300 + 450 + 15 + 150  # kW
    assert without.source_kw - with_der.source_kw == pytest.approx(produced, rel=0.03)
    for bus in ("n1", "n2"):
        assert all(0.95 < v < 1.06 for v in ln_pu(with_der, bus).values()), ln_pu(with_der, bus)


def test_der_round_trip_through_twins(imported: tuple[FeederModel, list[ErrorDetail], Path]) -> None:
    model, _, _ = imported
    assert through_twins(model).to_ipc() == model.to_ipc()
