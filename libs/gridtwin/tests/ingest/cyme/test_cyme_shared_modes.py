"""The shared CYME exports under both regulator modes: nothing unmapped, every model solves, no phase
floats; the controlled IEEE 13 regulates to the export's own band centre."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cyme_builder import ln_pu, solve
from gridtwin.ingest.cyme import read_cyme


def _shared() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[5].parent / "shared" / "data"


CYME = _shared() / "cyme"
CASES = [
    "ieee_13node",
    "ieee_4node",
    "validation/switches",
    "validation/breakers",
    "validation/network_protectors",
]
pytestmark = pytest.mark.skipif(not (CYME / "ieee_13node").is_dir(), reason="shared test data not found")
# ungrounded (delta) secondaries: line-to-neutral voltages float by nature there
FLOATING = {"3", "4"}


@pytest.mark.parametrize("mode", ["controlled", "fixed"])
@pytest.mark.parametrize("case", CASES)
def test_shared_export_solves_in_both_modes(case: str, mode: str) -> None:
    model, report = read_cyme(CYME / case, "shared", regulators=mode)
    assert report.unmapped == []
    assert not [w for w in report.warnings if w.code in ("zero_length", "unregulated_phase")]
    if "regcontrols" in model.tables:
        assert model.tables["regcontrols"]["enabled"].all() == (mode == "controlled")
        assert any(w.code == "fixed_taps" for w in report.warnings) == (mode == "fixed")
    result = solve(model)
    assert result.converged
    if case.startswith("validation/"):
        return  # these cases open phases on purpose (their switches' ClosedPhase)
    for bus in set(result.voltages["bus"]) - FLOATING:
        pu = ln_pu(result, bus)
        assert all(v > 0.8 for v in pu.values()), (bus, pu)


def test_controlled_ieee13_regulates_to_the_exports_band_centre() -> None:
    """The export sets Vset 116.19 V, band 2 V, PT 20 and no line-drop compensation (not Kersting's
    122 V with R 3, X 9): controlled, the regulated bus sits in that band."""
    model, _ = read_cyme(CYME / "ieee_13node", "i13")
    rc = model.tables["regcontrols"]
    assert set(rc["vreg_v"]) == {116.19} and set(rc["pt_ratio"]) == {20.0} and set(rc["delay_s"]) == {4.0}
    result = solve(model)
    assert result.converged
    base_v = model.tables["buses"].set_index("name").loc["rg60", "base_kv"] * 1000
    for node, pu in ln_pu(result, "rg60").items():
        assert 116.19 - 1.0 - 0.1 <= pu * base_v / 20.0 <= 116.19 + 1.0 + 0.1, node
