"""The checks every import runs on its model (``gridtwin.ingest.checks``), on real OpenDSS: IEEE 13 broken
one way at a time names the element and the effect; the clean shared feeders get no warning; the checks
run in the import's child process and land in its report."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from gridtwin.errors import ErrorDetail
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.checks import CHECK_CODES, add_checks, check_feeder, check_topology
from gridtwin.ingest.feeder_import import read_feeder_files
from gridtwin.ingest.opendss import read_opendss


def _shared() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[4].parent / "shared" / "data"


OPENDSS = _shared() / "opendss"
IEEE = OPENDSS / "IEEETestCases"
IEEE13_DIR = IEEE / "13Bus"
MASTER = "IEEE13Nodeckt.dss"
CLEAN = {
    "ieee13": IEEE13_DIR / MASTER,
    "ieee34": IEEE / "34Bus" / "ieee34Mod1.dss",
    "ieee34mod2": IEEE / "34Bus" / "ieee34Mod2.dss",
    "ieee37": IEEE / "37Bus" / "ieee37.dss",
    "ieee123": IEEE / "123Bus" / "IEEE123Master.dss",
    "ckt5": OPENDSS / "EPRITestCircuits" / "ckt5" / "Master_ckt5.dss",
    "j1": OPENDSS / "EPRITestCircuits" / "epri_dpv" / "J1" / "Master_noPV.dss",
}

pytestmark = pytest.mark.skipif(not (IEEE13_DIR / MASTER).is_file(), reason="shared test data not found")


def single_phase_regulator(text: str) -> str:
    """IEEE 13 with only Reg1 of its three single-phase regulators: 650 -> RG60 carries phase A alone,
    while the three-phase line out of RG60 takes phases A, B and C on."""
    drop = ("new transformer.reg2", "new transformer.reg3", "new regcontrol.reg2", "new regcontrol.reg3",
            "~ buses=[650.2", "~ buses=[650.3")  # fmt: skip
    return "\n".join(ln for ln in text.splitlines() if not ln.lower().startswith(drop)) + "\n"


def after_bases(command: str) -> Callable[[str], str]:
    """A command run after the script's ``calcv`` (bus voltage bases set as in the clean feeder)."""
    return lambda text: _replace(text, "calcv\nSolve", f"calcv\n{command}\nSolve")


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


def ieee13_folder(tmp_path: Path, edit: Callable[[str], str] | None = None) -> Path:
    """The 13Bus folder (its line codes one level up, as its script redirects) with ``edit`` applied."""
    folder = tmp_path / "13Bus"
    shutil.copytree(IEEE13_DIR, folder)
    shutil.copy(IEEE13_DIR.parent / "IEEELineCodes.DSS", tmp_path / "IEEELineCodes.DSS")
    if edit is not None:
        master = folder / MASTER
        master.write_text(edit(master.read_text()))
    return folder


def ieee13(tmp_path: Path, edit: Callable[[str], str] | None = None) -> FeederModel:
    model, _ = read_opendss(ieee13_folder(tmp_path, edit) / MASTER, "ieee13-edited", "checks")
    return model


def by_code(found: list[ErrorDetail]) -> dict[str, list[ErrorDetail]]:
    out: dict[str, list[ErrorDetail]] = {}
    for d in found:
        assert d.code in CHECK_CODES, d
        out.setdefault(d.code, []).append(d)
    return out


def test_single_phase_regulator_leaves_phases_b_and_c_floating(tmp_path: Path) -> None:
    found = by_code(check_feeder(ieee13(tmp_path, single_phase_regulator)))
    (floating,) = found["floating_phases"]
    assert floating.where == "transformer.reg1"
    assert "phases B, C at bus rg60" in floating.message
    assert "transformer.reg1 carries phase A only" in floating.message
    assert "24 node(s) at 13 bus(es)" in floating.message and "11 load(s)" in floating.message
    # The base case solves, with B and C made up by stray paths (delta loads): wildly off voltages.
    volts = found["voltage_low"] + found["voltage_high"]
    assert volts and all("have no path to a source (floating_phases)" in d.message for d in volts)


def test_open_switch_isolates_a_lateral(tmp_path: Path) -> None:
    found = by_code(check_feeder(ieee13(tmp_path, after_bases("open line.671692 1"))))
    (floating,) = found["floating_phases"]
    assert floating.where == "line.671692"
    assert "phases A, B, C at bus 692" in floating.message and "line.671692 is open" in floating.message
    assert "6 node(s) at 2 bus(es)" in floating.message and "4 load(s) (1,013 kW)" in floating.message
    (low,) = found["voltage_low"]
    assert low.where == "bus 692" and "6 of them have no path to a source" in low.message


def test_disabled_line_counts_as_open(tmp_path: Path) -> None:
    found = by_code(check_feeder(ieee13(tmp_path, after_bases("line.632645.enabled=no"))))
    (floating,) = found["floating_phases"]
    assert floating.where == "line.632645" and "line.632645 is disabled" in floating.message
    assert "phases B, C at bus 645" in floating.message and "2 load(s) (400 kW)" in floating.message


def test_capacitor_rated_for_another_voltage(tmp_path: Path) -> None:
    model = ieee13(
        tmp_path,
        lambda t: _replace(t, "Bus1=611.3 phases=1 kVAR=100 kV=2.4", "Bus1=611.3 phases=1 kVAR=100 kV=14.4"),
    )
    (rating,) = by_code(check_feeder(model))["kv_rating"]
    assert rating.where == "capacitor.cap2"
    assert "rated 14.4 kV on bus 611 whose nominal is 2.402 kV line-to-neutral (ratio 6.00)" in rating.message
    assert "about 3 % of its 100 kvar nameplate" in rating.message


def test_transformer_rated_for_another_voltage_puts_its_bus_at_4_percent(tmp_path: Path) -> None:
    model = ieee13(
        tmp_path, lambda t: _replace(t, "bus=633       conn=Wye kv=4.16", "bus=633       conn=Wye kv=115")
    )
    found = by_code(check_feeder(model))
    (rating,) = found["kv_rating"]
    assert rating.where == "transformer.xfm1"
    assert "winding 1 is rated 115 kV on bus 633 whose nominal is 4.16 kV" in rating.message
    assert "0.04 pu at bus 634" in rating.message
    (low,) = found["voltage_low"]
    assert low.where == "bus 634" and "3 node(s) at 1 bus(es) solve below 0.5 pu" in low.message
    assert re.search(r"634\.\d 0\.03\d+ pu", low.message), low.message


def test_zero_length_line_that_is_no_switch(tmp_path: Path) -> None:
    model = ieee13(tmp_path)  # OpenDSS refuses such a script: a reader's model can still carry one
    lines = model.tables["lines"]
    lines.loc[lines["name"] == "645646", "length_m"] = 0.0
    found = by_code(check_feeder(model))
    (zero,) = found["zero_impedance"]
    assert zero.where == "line.645646" and "length 0 m on a line that is not a switch" in zero.message
    (failed,) = found["base_case_failed"]
    assert '"645646"' in failed.message and "[file:" not in failed.message


def test_switch_of_zero_impedance_is_fine(tmp_path: Path) -> None:
    model = ieee13(tmp_path)
    lines = model.tables["lines"]
    assert bool(lines.set_index("name").loc["671692", "is_switch"])
    assert check_feeder(model) == []


def test_transformer_without_impedance(tmp_path: Path) -> None:
    given_zero = ieee13(
        tmp_path / "script",
        lambda t: _replace(
            _replace(t, "Windings=2  XHL=2", "Windings=2  XHL=0"), "kva=500    %r=.55", "kva=500    %r=0"
        ),
    )
    found = by_code(check_feeder(given_zero))
    (zero,) = found["zero_impedance"]  # OpenDSS reads XHL=0 as 700 %
    assert zero.where == "transformer.xfm1" and "XHL = 700 %, %R = 0" in zero.message
    assert found["voltage_low"][0].where == "bus 634"

    model = ieee13(tmp_path / "model")  # a reader that maps a zero %X as it is
    xf = model.tables["transformers"]
    xf.loc[xf["name"] == "xfm1", "xhl_pct"] = 0.0
    (zero,) = by_code(check_feeder(model))["zero_impedance"]
    assert zero.where == "transformer.xfm1" and "XHL = 0 %" in zero.message


def test_base_case_that_does_not_converge(tmp_path: Path) -> None:
    model = ieee13(tmp_path)
    loads = model.tables["loads"]
    loads["p_kw"] *= 10  # constant power all the way down: no operating point
    loads["q_kvar"] *= 10
    loads["vmin_pu"] = 0.0
    loads["model"] = 1
    found = by_code(check_feeder(model))
    (failed,) = found["not_converged"]
    said = re.search(r"did not converge in (\d+) iterations \(max iterations (\d+)\)", failed.message)
    assert said and said[1] == said[2], failed.message
    assert "voltage_low" not in found  # no solution, no voltages judged


def test_open_delta_bank_makes_three_phases_of_two() -> None:
    model, _ = read_opendss(IEEE / "4Bus-OYOD-UnBal" / "4bus-OYOD-UnBal.dss", "oyod", "checks")
    assert check_topology(model).floating == set()
    assert check_feeder(model) == []


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_clean_shared_feeders_get_no_warning(name: str) -> None:
    model, _ = read_opendss(CLEAN[name], name, "checks")
    assert check_feeder(model) == []


def test_dead_ends_behind_open_ties_are_not_warned_about() -> None:
    model, _ = read_opendss(CLEAN["ckt5"], "ckt5", "checks")
    topo = check_topology(model)
    assert topo.warnings == [] and topo.floating and topo.floating == topo.dead


def test_add_checks_puts_the_findings_first_and_counts_them(tmp_path: Path) -> None:
    model, report = read_opendss(ieee13_folder(tmp_path, single_phase_regulator) / MASTER, "f", "s")
    before = list(report.warnings)
    added = add_checks(report, model)
    assert report.warnings == added + before and report.counts["check_warnings"] == len(added) > 0


def test_imports_run_the_checks_in_their_child_process(tmp_path: Path) -> None:
    folder = ieee13_folder(tmp_path, single_phase_regulator)
    _, report = read_feeder_files(read_opendss, folder, "broken", "checks", timeout_s=120, master=MASTER)
    assert report.warnings[0].code == "floating_phases" and report.warnings[0].where == "transformer.reg1"
    assert report.counts["check_warnings"] == sum(w.code in CHECK_CODES for w in report.warnings)
    _, unchecked = read_feeder_files(
        read_opendss, folder, "broken", "checks", timeout_s=120, master=MASTER, check=False
    )
    assert "check_warnings" not in unchecked.counts
    assert all(w.code not in CHECK_CODES for w in unchecked.warnings)


def test_clean_import_reports_zero_check_warnings() -> None:
    _, report = read_feeder_files(read_opendss, IEEE13_DIR, "ieee13", "checks", timeout_s=120, master=MASTER)
    assert report.counts["check_warnings"] == 0
