"""read_opendss on real OpenDSS scripts: tables, report, isolation and bad input."""

from __future__ import annotations

import math
import os
from pathlib import Path

import opendssdirect as dss
import pytest
from gridtwin.errors import DssInputError
from gridtwin.grid.model import TABLES, FeederModel
from gridtwin.ingest.opendss import read_opendss


def _shared() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[4].parent / "shared" / "data"


OPENDSS = _shared() / "opendss"
IEEE13 = OPENDSS / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"
IEEE123 = OPENDSS / "IEEETestCases" / "123Bus" / "IEEE123Master.dss"
CKT5 = OPENDSS / "EPRITestCircuits" / "ckt5" / "Master_ckt5.dss"

SMALL = """clear
new circuit.small basekv=12.47 pu=1.02 bus1=src r1=0.1 x1=0.5 r0=0.2 x0=1.0
new linecode.lc1 nphases=3 r1=0.3 x1=0.6 r0=0.5 x0=1.5 c1=3 c0=1 units=km
new line.l1 bus1=src bus2=b2 linecode=lc1 length=1.5 units=km
new line.l2 bus1=b2 bus2=b3 phases=3 r1=0.1 x1=0.2 r0=0.3 x0=0.6 length=500 units=ft
new loadshape.day npts=4 interval=6 mult=[0.5 1 0.8 0.6]
new load.ld1 bus1=b3 phases=3 kv=12.47 kw=300 pf=0.9 model=8 zipv=[0.2 0.3 0.5 0.1 0.2 0.7 0.8] daily=day %seriesrl=30
new energymeter.m1 element=line.l1
new monitor.mon1 element=line.l2
set voltagebases=[12.47]
calcv
"""


def _write(tmp_path: Path, text: str, name: str = "master.dss") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_ieee13_tables_are_resolved() -> None:
    model, report = read_opendss(IEEE13, "ieee13", "demo")
    assert isinstance(model, FeederModel)
    assert (model.feeder_id, model.site) == ("ieee13", "demo")
    for name, df in model.tables.items():
        assert list(df.columns) == TABLES[name].column_names(), name
    counts = model.counts()
    assert counts["loads"] == 15 and counts["regcontrols"] == 3 and counts["capacitors"] == 2
    assert counts["transformers"] == 5 and counts["sources"] == 1
    codes = set(model.table("linecodes")["name"])
    assert {"mtx601", "mtx606"} <= codes  # original linecode names kept
    line = model.table("lines").set_index("name").loc["650632"]
    assert line["linecode"] == "mtx601"
    assert line["length_m"] == pytest.approx(2000 * 0.3048)
    lc = model.table("linecodes").set_index("name").loc["mtx601"]
    assert len(lc["r_matrix_ohm_per_m"]) == 9
    assert lc["r_matrix_ohm_per_m"][0] == pytest.approx(0.3465 / 1609.344)  # ohm/mile -> ohm/m
    reg = model.table("transformers").set_index("name").loc["reg1"]
    assert reg["taps_pu"][1] != 1.0  # the master solved: taps as after compile
    load = model.table("loads").set_index("name").loc["671"]
    assert (load["p_kw"], load["q_kvar"], load["conn"], load["model"]) == (1155.0, 660.0, "delta", 1)
    assert model.circuit["name"] == "ieee13nodeckt"
    assert model.circuit["voltage_bases_kv"] == [115.0, 4.16, 0.48]
    for key in ("base_frequency_hz", "max_iterations", "max_control_iterations", "tolerance", "load_mult"):
        assert key in model.circuit
    buses = model.table("buses").set_index("name")
    assert bool(buses.loc["650", "has_coords"]) and buses.loc["650", "base_kv"] == pytest.approx(
        4.16 / math.sqrt(3)
    )
    assert report.unmapped == []
    assert report.counts == model.counts()


def test_switches_and_regulators_of_ieee123() -> None:
    model, _ = read_opendss(IEEE123, "ieee123")
    switches = model.table("switches")
    assert set(switches["kind"]) == {"switch"} and len(switches) == 8
    assert set(model.table("lines").query("is_switch")["name"]) == set(switches["line"])
    assert len(model.table("regcontrols")) == 7
    xfm1 = model.table("transformers").set_index("name").loc["xfm1"]
    assert list(xfm1["conns"]) == ["delta", "delta"]


def test_report_names_unmapped_elements_and_extra_properties(tmp_path: Path) -> None:
    model, report = read_opendss(_write(tmp_path, SMALL), "small")
    unmapped = {u.where for u in report.unmapped}
    assert unmapped == {"energymeter.m1", "monitor.mon1"}
    warned = {w.where for w in report.warnings}
    assert "load.%seriesrl" in warned
    load = model.table("loads").set_index("name").loc["ld1"]
    assert '"%SeriesRL": 30' in load["dss_extra_json"]
    assert list(load["zipv"]) == [0.2, 0.3, 0.5, 0.1, 0.2, 0.7, 0.8]
    assert load["daily"] == "day"
    assert load["q_kvar"] == pytest.approx(300 * math.tan(math.acos(0.9)))
    shape = model.table("loadshapes").set_index("name").loc["day"]
    assert (shape["npts"], shape["interval_h"], list(shape["mult"])) == (4, 6.0, [0.5, 1.0, 0.8, 0.6])
    kinds = dict(zip(model.table("linecodes")["name"], model.table("linecodes")["source_kind"], strict=True))
    assert kinds["lc1"] == "linecode" and "line" in kinds.values()


def test_reading_is_isolated(tmp_path: Path) -> None:
    cwd = Path.cwd()
    global_circuits = dss.Basic.NumCircuits()
    read_opendss(_write(tmp_path, SMALL), "small")
    assert Path.cwd() == cwd
    assert dss.Basic.NumCircuits() == global_circuits


def test_ipc_round_trip_keeps_every_table() -> None:
    model, _ = read_opendss(IEEE13, "ieee13")
    back = FeederModel.from_ipc(model.to_ipc())
    assert back.circuit == model.circuit
    for name, df in model.tables.items():
        assert back.tables[name].astype(str).equals(df.astype(str)), name


BAD = {
    "unknown property": ("new line.a bus1=a bus2=b foo=3\n", 3, "foo"),
    "unknown class": ("new foobar.a bus1=a\n", 3, "foobar"),
    "missing redirect": ("redirect nothere.dss\n", 3, "nothere.dss"),
    "missing linecode": ("new line.a bus1=a bus2=b linecode=nope\n", 3, "nope"),
    "syntax": (
        "new line.a bus1=a bus2=b length=[1 2\nnew load.x bus1=b kv=12.47 kw=1 model=abc\n",
        4,
        "model",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_names_file_and_line(tmp_path: Path, case: str) -> None:
    body, line, word = BAD[case]
    path = _write(tmp_path, "clear\nnew circuit.x basekv=12.47\n" + body)
    with pytest.raises(DssInputError) as err:
        read_opendss(path, "bad")
    detail = err.value.details[0]
    assert detail.where.endswith(f"master.dss:{line}"), detail
    assert word in detail.message


def test_bad_input_in_a_redirected_file_names_that_file(tmp_path: Path) -> None:
    _write(tmp_path, "new load.x bus1=b kv=12.47 kw=1\nnew load.y bus1=b kv=12.47 kww=1\n", "loads.dss")
    path = _write(tmp_path, "clear\nnew circuit.x basekv=12.47\nredirect loads.dss\n")
    with pytest.raises(DssInputError) as err:
        read_opendss(path, "bad")
    assert err.value.details[0].where.endswith("loads.dss:2")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DssInputError) as err:
        read_opendss(tmp_path / "nope.dss", "x")
    assert err.value.details[0].where.endswith("nope.dss")


def test_script_without_circuit(tmp_path: Path) -> None:
    with pytest.raises(DssInputError):
        read_opendss(_write(tmp_path, "clear\n"), "x")


@pytest.mark.slow
def test_ckt5_reads_fast_and_reports_its_meter() -> None:
    import time

    start = time.perf_counter()
    model, report = read_opendss(CKT5, "ckt5")
    elapsed = time.perf_counter() - start
    assert elapsed < 8.0  # about 2-3 s on a 2-core box, compile included
    assert "energymeter.sub" in {u.where for u in report.unmapped}
    assert model.counts()["loads"] == 1379
    assert "geometry" in set(model.table("linecodes")["source_kind"])
