"""write_dss: a self-contained script that the engine compiles back into the very same model."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from gridtwin.grid.dss_writer import write_dss
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.opendss import read_opendss
from gridtwin.powerflow.scratch import ScratchCircuit


def _shared() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[4].parent / "shared" / "data"


IEEE13 = _shared() / "opendss" / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"

WITH_FILES = """clear
new circuit.files basekv=12.47 bus1=src
new loadshape.csv npts=4 interval=1 mult=(file=shape.csv)
new line.l1 bus1=src bus2=b2 phases=3 r1=0.1 x1=0.2 r0=0.3 x0=0.6 length=1 units=km
new load.ld bus1=b2 kv=12.47 kw=0.30000000000000004 kvar=100 yearly=csv
set voltagebases=[12.47]
calcv
buscoords coords.csv
"""


def _files_model(tmp_path: Path) -> FeederModel:
    (tmp_path / "shape.csv").write_text("0.1\n0.2\n0.30000000000000004\n1\n")
    (tmp_path / "coords.csv").write_text("src, 1.5, 2.25\nb2, 3, 4\n")
    master = tmp_path / "master.dss"
    master.write_text(WITH_FILES)
    return read_opendss(master, "files")[0]


def _compile(script: str, where: Path) -> FeederModel:
    path = where / "written.dss"
    path.write_text(script)
    return read_opendss(path, "written")[0]


def test_script_is_self_contained(tmp_path: Path) -> None:
    script = write_dss(_files_model(tmp_path))
    lowered = script.lower()
    for word in ("solve", "redirect", "compile", "file=", "buscoords", "\ncd "):
        assert word not in lowered, word
    assert "mult=[0.1 0.2 0.30000000000000004 1]" in script  # shape data inline, full precision
    lines = script.strip().splitlines()
    tail = [ln.split()[0] for ln in lines[-5:]]
    assert tail[-2:] == ["setbusxy", "setbusxy"]
    assert "set voltagebases=[12.47]" in lines and "calcvoltagebases" in lines
    # compiles in a fresh engine from anywhere: nothing refers to the source folder
    with ScratchCircuit() as scratch:
        for number, line in enumerate(lines, 1):
            scratch.run(line, f"written:{number}")


def test_floats_and_coordinates_survive_exactly(tmp_path: Path) -> None:
    model = _files_model(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    again = _compile(write_dss(model), out)
    load = again.table("loads").set_index("name").loc["ld"]
    assert load["p_kw"] == 0.30000000000000004
    shape = again.table("loadshapes").set_index("name")["mult"]
    assert list(shape["csv"]) == [
        0.1,
        0.2,
        0.30000000000000004,
        1.0,
    ]
    buses = again.table("buses").set_index("name")
    assert (buses.loc["src", "x"], buses.loc["src", "y"]) == (1.5, 2.25)


def test_write_read_write_is_a_fixed_point(tmp_path: Path) -> None:
    model, _ = read_opendss(IEEE13, "ieee13")
    first = write_dss(model)
    assert "new line.671692 phases=3 bus1=671 bus2=692 switch=yes r1=" in first  # switches stay switches
    second = write_dss(_compile(first, tmp_path))
    # bus order follows element order in the engine, so compare line sets
    assert sorted(second.splitlines()) == sorted(first.splitlines())


def test_disabled_elements_stay_disabled(tmp_path: Path) -> None:
    model, _ = read_opendss(IEEE13, "ieee13")
    loads = model.tables["loads"].copy()
    loads.loc[loads["name"] == "671", "enabled"] = False
    model.tables["loads"] = loads
    again = _compile(write_dss(model), tmp_path)
    got = again.table("loads").set_index("name")["enabled"]
    assert not got["671"] and bool(got["634a"])


def test_model_from_scratch_without_optional_tables() -> None:
    sources = pd.DataFrame(
        [
            {
                "name": "source",
                "bus1": "src",
                "bus2": "",
                "phases": 3,
                "base_kv": 12.47,
                "v_pu": 1.0,
                "angle_deg": 0.0,
                "frequency_hz": 60.0,
                "r1_ohm": 0.1,
                "x1_ohm": 1.0,
                "r0_ohm": 0.1,
                "x0_ohm": 1.0,
                "dss_extra_json": "",
            }
        ]
    )
    model = FeederModel(
        "scratch", circuit={"name": "scratch", "voltage_bases_kv": [12.47]}, tables={"sources": sources}
    )
    script = write_dss(model)
    assert script.startswith("clear\n") and "new circuit.scratch bus1=src" in script
    with ScratchCircuit() as scratch:
        for line in script.splitlines():
            scratch.run(line, "scratch")
        assert scratch.circuit_name() == "scratch"


def test_first_source_must_be_the_circuit_source() -> None:
    model, _ = read_opendss(IEEE13, "ieee13")
    model.tables["sources"] = model.tables["sources"].assign(name="other")
    with pytest.raises(ValueError):
        write_dss(model)
