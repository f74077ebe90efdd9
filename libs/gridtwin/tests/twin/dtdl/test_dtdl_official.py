"""Agreement with the official DTDL parser (DTDLParser for .NET as WASM, run by Node).

Runs ``npm ci`` in tools/dtdl-official when node_modules is missing; both parsers judge every corpus
case and the project's ``dtdl/`` folder, and any accept/reject disagreement fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from gridtwin.errors import DtdlError
from gridtwin.twin.dtdl import load_model_set

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[4]
TOOL = REPO / "tools" / "dtdl-official"
CASES = sorted(p for p in (HERE / "corpus").iterdir() if p.is_dir())

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def official() -> dict[str, dict[str, object]]:
    """The official verdicts, keyed by folder; one Node run for all (the WASM runtime starts slowly)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are needed for the official DTDL parser")
    if not (TOOL / "node_modules" / "@digicatapult" / "dtdl-parser").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=TOOL, check=True, capture_output=True, timeout=600
        )
    folders = [str(c) for c in CASES]
    ontology = REPO / "dtdl"
    if ontology.is_dir() and any(ontology.rglob("*.json")):
        folders.append(str(ontology))
    run = subprocess.run(
        [node, "validate.mjs", *folders], cwd=TOOL, check=True, capture_output=True, text=True, timeout=600
    )
    results: dict[str, dict[str, object]] = json.loads(run.stdout)
    return results


def ours(folder: Path) -> tuple[bool, list[str]]:
    try:
        load_model_set([folder])
    except DtdlError as exc:
        return False, [f"{d.where}: {d.message}" for d in exc.details]
    return True, []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_agrees_with_official_parser(case: Path, official: dict[str, dict[str, object]]) -> None:
    theirs = official[str(case)]
    valid, errors = ours(case)
    assert valid == theirs["valid"], f"official: {theirs['errors']}; ours: {errors}"


def test_ontology_agrees_with_official_parser(official: dict[str, dict[str, object]]) -> None:
    ontology = REPO / "dtdl"
    if str(ontology) not in official:
        pytest.skip("the project's dtdl/ folder is empty or missing")
    theirs = official[str(ontology)]
    valid, errors = ours(ontology)
    assert valid == theirs["valid"], f"official: {theirs['errors']}; ours: {errors}"
