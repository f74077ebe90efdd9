"""Engine files (issue 14): whatever a model asks (regulators with ``debugtrace=yes``, ``show`` and
``export`` commands, ``set datapath=``, ``cd``, a nested ``compile``, exports to a path, ``save``),
``Engine`` and ``ScratchCircuit`` write only under their private folders: nothing appears in the
working directory, beside the model, or where the script pointed."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from gridtwin.errors import DssInputError, EngineError
from gridtwin.ingest.opendss import read_opendss
from gridtwin.powerflow import Engine
from gridtwin.powerflow.engine import on_dss_thread
from gridtwin.powerflow.qsts import run_qsts, run_qsts_loaded
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.powerflow.scratch import ScratchCircuit
from gridtwin.powerflow.script_guard import guard_file, guard_text


def _shared_data() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[4].parent / "shared" / "data"


OPENDSS = _shared_data() / "opendss"
IEEE13 = OPENDSS / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"
CKT5 = OPENDSS / "EPRITestCircuits" / "ckt5" / "Master_ckt5.dss"


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """An IEEE 13 variant whose regulators trace, run from a scratch working directory; the folders
    that must stay as they were: the working directory, the model's folder, where it points."""
    model = tmp_path / "model"
    model.mkdir()
    text = (IEEE13.parent / "IEEE13Nodeckt.dss").read_text()
    text = re.sub(r"(?im)^(new regcontrol\.\S+ .*)$", r"\1 debugtrace=yes", text)
    text = text.replace(
        "redirect IEEELineCodes.DSS", f"redirect {OPENDSS / 'IEEETestCases' / 'IEEELineCodes.DSS'}"
    )
    assert text.count("debugtrace=yes") == 3
    (model / "IEEE13_trace.dss").write_text(text)
    (model / "IEEE13Node_BusXY.csv").write_bytes((IEEE13.parent / "IEEE13Node_BusXY.csv").read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (model / "Run_trace.dss").write_text(
        "! a run script as people write them\n"
        f"set datapath={elsewhere}\n"  # move the output folder away...
        f"cd {model}\n"  # ...and back to the model
        "compile IEEE13_trace.dss\n"  # compile moves it beside the model
        "set datapath=relative_out maxiterations=50\n"  # a relative one: the process's cwd in OpenDSS
        "new monitor.m1 element=line.650632 terminal=1\n"
        "new energymeter.em1 element=line.650632 terminal=1\n"
        "buscoords IEEE13Node_BusXY.csv\n"
        "solve\n"
        "show voltages\n"
        "export voltages\n"
        "export monitors m1\n"
        f"export voltages {elsewhere / 'v.csv'}\n"
        "exp currents ../escaped.csv\n"
        "save circuit dir=../saved\n"
        "/* export powers /tmp/not-a-command.csv\n"
        "*/\n"
    )
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    watched = {"cwd": cwd, "model": model, "elsewhere": elsewhere, "tmp": tmp_path}
    before = {name: _files(path) for name, path in watched.items()}
    yield {**watched, "run": model / "Run_trace.dss", "trace_model": model / "IEEE13_trace.dss"}
    for name, path in watched.items():
        assert _files(path) == before[name], f"OpenDSS wrote into {name}: {_files(path) - before[name]}"


def test_engine_snapshot_and_qsts_of_a_tracing_run_script_write_only_privately(
    places: dict[str, Path],
) -> None:
    engine = Engine()
    private = engine._tmp
    try:
        engine.compile_file(places["run"])
        result = engine.snapshot()
        assert result.converged and result.feeder == "ieee13nodeckt"
        assert engine.solver_applied is not None
        assert engine.solver_applied.max_iterations == 100  # the script's 50, raised to the default floor
        run_qsts_loaded(engine, QstsSpec(hours=6), feeder="ieee13")
        written = _files(private)
        # Traces, shows and exports happened, in the engine's own folder.
        assert {"REG_reg1.csv", "REG_reg2.csv", "REG_reg3.csv"} <= written
        assert any(name.endswith("_VLN.txt") for name in written)
        assert any(name.endswith("_EXP_VOLTAGES.csv") for name in written)
        assert any("Mon_m1" in name for name in written)
    finally:
        engine.close()
    assert not private.exists()


def test_imported_model_snapshot_and_qsts_write_only_privately(places: dict[str, Path]) -> None:
    """The import path: the reader's scratch circuit, then the model's script in the engine."""
    model, _ = read_opendss(places["run"], "trace13", site="s")
    assert "debugtrace" in str(model.tables["regcontrols"]["dss_extra_json"].tolist()).lower()
    engine = Engine()
    try:
        engine.load_model(model)
        assert engine.snapshot().converged
        run_qsts(engine, model, QstsSpec(hours=6))
        assert {"REG_reg1.csv", "REG_reg2.csv", "REG_reg3.csv"} <= _files(engine._tmp)
    finally:
        engine.close()


def test_scratch_circuit_writes_only_privately(places: dict[str, Path]) -> None:
    with ScratchCircuit() as scratch:
        scratch.compile_file(places["run"])
        assert scratch.solve_snapshot().converged
        scratch.run(f"set datapath={places['elsewhere']}", "probe")  # dropped, the data path stays
        scratch.run("export voltages", "probe")
        private = scratch._tmp
        assert any(name.endswith("_EXP_VOLTAGES.csv") for name in _files(private))
        assert {"REG_reg1.csv"} <= _files(private)
    assert not private.exists()


def test_engine_data_path_is_pinned_after_commands(places: dict[str, Path]) -> None:
    engine = Engine()
    try:
        engine.compile_file(places["trace_model"])
        engine.run_command(f"set datapath={places['elsewhere']}\ncd {places['model']}\nsolve\nshow voltages")
        assert Path(on_dss_thread(engine.dss.Basic.DataPath)) == engine._tmp
        assert any(name.endswith("_VLN.txt") for name in _files(engine._tmp))
    finally:
        engine.close()


def test_errors_in_sanitized_scripts_name_the_original_file_and_line(
    places: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "bad").mkdir()
    bad = tmp_path / "bad" / "bad.dss"
    bad.write_text(
        f"set datapath={places['elsewhere']}\ncompile {places['trace_model']}\nnew line.zz bus1=a bogus=1\n"
    )
    engine = Engine()
    try:
        with pytest.raises(EngineError) as info:
            engine.compile_file(bad)
        assert str(bad) in info.value.details[0].message and "line: 3" in info.value.details[0].message
        assert "guard" not in info.value.details[0].message
    finally:
        engine.close()
    with ScratchCircuit() as scratch, pytest.raises(DssInputError) as read_error:
        scratch.compile_file(bad)
    assert read_error.value.details[0].where == f"{bad}:3"
    bad.unlink()  # (the fixture checks tmp_path as it was)
    bad.parent.rmdir()


def test_guard_rules(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    script = "\n".join(
        [
            "new circuit.x",  # 1 kept
            "set datapath=sub casename=../up voltagebases=[12.47]",  # 2 datapath and casename dropped
            "new loadshape.s npts=2 interval=1 mult=(file=shape.csv)",  # 3 file made absolute (sub/)
            "redirect more.dss",  # 4 absolute
            "co other.dss ! an abbreviated compile",  # 5 redirect
            "export voltages",  # 6 kept: lands in the data path
            "ex voltages ../x.csv",  # 7 dropped
            "sa circuit dir=/elsewhere",  # 8 dropped
            "DOScmd rm -rf /",  # 9 dropped
            "// export voltages /a/b.csv",  # 10 a comment
            "cd ..",  # 11 dropped
        ]
    )
    text, guarded = guard_text(script, tmp_path, tmp_path / "private", where="s")
    lines = text.splitlines()
    assert len(lines) == 11
    assert lines[0] == "new circuit.x"
    assert lines[1] == "set voltagebases=[12.47]"
    assert lines[2] == f"new loadshape.s npts=2 interval=1 mult=(file={tmp_path / 'sub' / 'shape.csv'})"
    assert lines[3] == f'redirect "{tmp_path / "sub" / "more.dss"}"'
    assert lines[4] == f'redirect "{tmp_path / "sub" / "other.dss"}"'
    assert lines[5] == "export voltages"
    assert [lines[i].startswith("! gridtwin") for i in (6, 7, 8, 10)] == [True] * 4
    assert lines[9] == "// export voltages /a/b.csv"
    assert {d.where for d in guarded.changed} >= {"s:2", "s:5", "s:7", "s:8", "s:9", "s:11"}
    plain = "new circuit.y\nset voltagebases=[4.16]\ncalcv\nsolve\n"
    assert guard_text(plain, tmp_path, tmp_path, where="p")[0] is plain  # nothing to do: no parsing


def test_a_plain_master_runs_as_it_is(tmp_path: Path) -> None:
    guarded = guard_file(IEEE13, tmp_path)
    assert guarded.path == IEEE13.resolve() and guarded.copies == {}
    assert not os.listdir(tmp_path)
