"""ScratchCircuit: throwaway OpenDSS circuits for readers, isolated from the process and from each other."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from gridtwin.errors import DssInputError, EngineError
from gridtwin.powerflow.scratch import ScratchCircuit, _parse_json, default_objects

SMALL = """clear
new circuit.small basekv=12.47 bus1=src
new line.l1 bus1=src bus2=b2 phases=3 r1=0.1 x1=0.2 r0=0.3 x0=0.6 length=2 units=km
new line.sw bus1=b2 bus2=b3 phases=3 switch=yes
new load.ld bus1=b3.1 phases=1 kv=7.2 kw=100
open line.sw 2 3
set voltagebases=[12.47]
calcv
setbusxy bus=b2 x=1.5 y=2.25
"""


def test_reads_what_the_engine_made_of_a_script(tmp_path: Path) -> None:
    master = tmp_path / "master.dss"
    master.write_text(SMALL)
    with ScratchCircuit() as scratch:
        scratch.compile_file(master)
        assert scratch.has_circuit() and scratch.circuit_name() == "small"
        assert scratch.voltage_bases() == [12.47]
        assert scratch.option("controlmode").lower() == "static"
        lines = scratch.export_class("Line", full=True)
        assert [row["Name"] for row in lines] == ["l1", "sw"]  # "Name" keeps its case
        assert {"rmatrix", "length", "units"} <= set(lines[0])  # lower-case keys, resolved
        given = scratch.export_class("Line", full=False)[0]
        assert "rmatrix" not in given and given["length"] == 2
        assert scratch.export_class("Capacitor", full=True) == []
        assert scratch.property_names("Transformer") == []  # no transformer to ask
        assert "%SeriesRL" in scratch.property_names("Load")
        assert scratch.element_names("Load") == ["ld"]
        assert "Line" in scratch.classes()
        assert scratch.open_line_conductors() == {"sw": ["2.3"]}
        buses = {b.name: b for b in scratch.buses()}
        assert buses["b2"].xy == (1.5, 2.25) and buses["src"].xy is None
        assert buses["b3"].nodes == [1, 2, 3]
        assert buses["b2"].kv_base == pytest.approx(12.47 / math.sqrt(3))
        z = scratch.line_matrices("l1")  # per km, the line's unit
        assert len(z.r) == 9 and z.r[0] == pytest.approx((2 * 0.1 + 0.3) / 3)


def test_compile_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "loads.dss").write_text("new load.x bus1=b kv=12.47 kw=1\nnew load.y bus1=b kv=12.47 kww=1\n")
    master = tmp_path / "master.dss"
    master.write_text("clear\nnew circuit.x basekv=12.47\nredirect loads.dss\n")
    with ScratchCircuit() as scratch, pytest.raises(DssInputError) as err:
        scratch.compile_file(master)
    assert err.value.message == "OpenDSS script does not compile"
    detail = err.value.details[0]
    assert detail.where.endswith("loads.dss:2") and "kww" in detail.message and detail.code == "dss"
    with ScratchCircuit() as scratch, pytest.raises(DssInputError) as err:
        scratch.run("new foobar.a", "here")
    assert err.value.details[0].where == "here"


def test_generated_script_errors_name_the_line_and_quote_the_command() -> None:
    with ScratchCircuit() as scratch, pytest.raises(DssInputError) as err:
        scratch.compile_text(
            "clear\nnew circuit.x\nnew line.a bus1=a bus2=b foo=3\n", what="Model", where="gen"
        )
    assert err.value.message == "Model does not compile in OpenDSS"
    detail = err.value.details[0]
    assert detail.where == "gen line 3" and detail.message.startswith("new line.a bus1=a bus2=b foo=3: (#")


def test_output_files_stay_out_of_the_working_directory(
    ieee13_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    with ScratchCircuit() as scratch:
        scratch.compile_file(ieee13_path)
        scratch.run("export voltages", "export")
        assert Path.cwd() == work
    assert os.listdir(work) == []


def test_default_objects_are_those_of_an_empty_circuit() -> None:
    defaults = default_objects()
    assert ("loadshape", "default") in defaults
    assert not any(cls == "line" for cls, _ in defaults)


def test_engine_json_special_floats_are_read() -> None:
    """The engine writes non-finite doubles as Nan/+Inf/-Inf (seen in a Capacitor's unset matrix)."""
    text = '[{"name":"Nan","m":[[1.0,   Nan],[+Inf,-Inf]],"x":-Inf}]'
    row = _parse_json(text, "Capacitor")[0]
    assert row["name"] == "Nan"
    assert math.isnan(row["m"][0][1]) and row["m"][1] == [math.inf, -math.inf] and row["x"] == -math.inf
    with pytest.raises(EngineError):
        _parse_json("[{", "Capacitor")


def test_a_closed_circuit_refuses_calls() -> None:
    with ScratchCircuit() as scratch:
        scratch.run("new circuit.x", "x")
    with pytest.raises(EngineError):
        scratch.has_circuit()
    with pytest.raises(EngineError):
        scratch.run("new circuit.y", "y")
