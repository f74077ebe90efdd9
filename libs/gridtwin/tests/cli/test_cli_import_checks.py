"""``gridtwin import`` shows what the import's model checks found: their count apart from the mapped
tables, and their warnings first."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cli_support import fake_gateway, invoke

FLOATING = {
    "where": "transformer.reg1",
    "message": "phases B, C at bus rg60 and beyond have no path to a source (transformer.reg1 carries "
    "phase A only): 24 node(s) at 13 bus(es) (611.3, ...) with 11 load(s) (2,676 kW) are cut off",
    "code": "floating_phases",
}


def _reply(counts: dict[str, int], warnings: list[dict[str, str]]) -> dict[str, object]:
    report = {"source": "upload", "counts": counts, "warnings": warnings, "unmapped": []}
    return {"feeder": "f1", "twins": 64, "relationships": 120, "report": report}


def test_import_prints_the_check_findings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "Master.dss").write_text("clear\nnew circuit.x\n")
    reply = _reply({"loads": 15, "check_warnings": 1}, [FLOATING])
    fake_gateway(monkeypatch, lambda request: httpx.Response(200, json=reply))
    result = invoke("import", "opendss", str(tmp_path), "--feeder", "f1")
    assert result.exit_code == 0, result.output
    assert "model checks (floating phases, base case, ratings, impedances): 1 finding(s)" in result.output
    assert "check_warnings" not in result.output  # not a mapped table
    assert "transformer.reg1: phases B, C at bus rg60" in " ".join(result.output.split())


def test_import_says_when_the_checks_found_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "Master.dss").write_text("clear\nnew circuit.x\n")
    fake_gateway(monkeypatch, lambda request: httpx.Response(200, json=_reply({"check_warnings": 0}, [])))
    result = invoke("import", "opendss", str(tmp_path), "--feeder", "f1")
    assert result.exit_code == 0, result.output
    assert "model checks (floating phases, base case, ratings, impedances): nothing found" in result.output
