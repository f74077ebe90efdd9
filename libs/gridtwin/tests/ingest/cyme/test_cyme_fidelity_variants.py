"""The bench's as-shipped IEEE 13 variants (``fidelity.ieee13_variants``) stay what they claim: written
into a temporary folder, they import to the plain export's voltages within 1e-6 pu with the warnings
they expect, so the fidelity table cannot rot into comparing the plain export with itself."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from cyme_builder import solve
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.cyme import read_cyme
from gridtwin.ingest.cyme.fidelity import fidelity_cases, ieee13_variants, rewrite_records, variant_case


def _shared() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[5].parent / "shared" / "data"


SHARED = _shared()
needs_shared = pytest.mark.skipif(
    not (SHARED / "cyme" / "ieee_13node").is_dir(), reason="shared test data not found"
)


def _voltages(model: FeederModel) -> dict[tuple[str, int], float]:
    result = solve(model)
    assert result.converged
    v = result.voltages
    return {(str(b), int(n)): float(p) for b, n, p in zip(v["bus"], v["node"], v["pu"], strict=True)}


@needs_shared
@pytest.mark.parametrize(
    ("name", "written"),
    [
        # the per-phase CYME 7+ columns in place of KVAR + Phase
        ("caps_fixed_kvar_abc", "L675CAP,L675CAP,S,Y,200.000000,200.000000,200.000000,0.000000"),
        # one three-phase regulator of the bank's kVA whose PhaseON names phase A only
        ("regulator_three_phase_on_a", "REG650-632,1,450.000000"),
    ],
)
def test_variant_imports_as_the_plain_export(tmp_path: Path, name: str, written: str) -> None:
    ieee13 = next(c for c in fidelity_cases(SHARED) if c.name == "ieee13")
    variant = {v.name: v for v in ieee13_variants()}[name]
    case = variant_case(ieee13, variant, tmp_path / name)
    assert case.cyme_dir == tmp_path / name and case.regulators == "fixed"
    assert written in "".join(p.read_text() for p in sorted(case.cyme_dir.glob("*.txt")))

    plain_model, plain_report = read_cyme(ieee13.cyme_dir, "plain", regulators=ieee13.regulators)
    model, report = read_cyme(case.cyme_dir, "variant", regulators=case.regulators)
    assert report.unmapped == [] and plain_report.unmapped == []
    assert Counter(w.code for w in report.warnings) == variant.warnings
    plain, ours = _voltages(plain_model), _voltages(model)
    assert ours.keys() == plain.keys()
    assert max(abs(ours[k] - plain[k]) for k in plain) < 1e-6


def test_a_rewrite_that_finds_nothing_to_change_is_refused() -> None:
    text = "[SI]\n\n[NODE]\nFORMAT_NODE=NodeID,CoordX,CoordY\nn1,0,0\n"
    out = rewrite_records(text, "NODE", lambda r: [{**r, "CoordX": "5"}])
    assert out.splitlines()[-1] == "n1,5,0"
    with pytest.raises(ValueError, match="no record of \\[NODE\\] was changed"):
        rewrite_records(text, "NODE", lambda r: [r])
    with pytest.raises(ValueError, match="no record of \\[SECTION\\] was changed"):
        rewrite_records(text, "SECTION", lambda r: [{**r, "Phase": "A"}])
