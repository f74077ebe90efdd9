"""Our verdict on every corpus case matches the verdict recorded with it (no Node needed).

``test_dtdl_official.py`` checks the same cases against the official parser.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gridtwin.errors import DtdlError
from gridtwin.twin.dtdl import load_model_set

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
REPO = HERE.parents[4]
CASES = sorted(p for p in CORPUS.iterdir() if p.is_dir())


def expected_valid(case: Path) -> bool:
    verdict = (case / "expect.txt").read_text().split()[0]
    assert verdict in ("valid", "invalid"), f"{case}/expect.txt must start with valid or invalid"
    return verdict == "valid"


def our_verdict(case: Path) -> tuple[bool, list[str]]:
    try:
        load_model_set([case])
    except DtdlError as exc:
        return False, [f"{d.where}: {d.message}" for d in exc.details]
    return True, []


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 25
    versions = {c.name.split("_")[0] for c in CASES}
    assert versions == {"v2", "v3"}
    assert any(expected_valid(c) for c in CASES) and not all(expected_valid(c) for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case(case: Path) -> None:
    valid, errors = our_verdict(case)
    assert valid == expected_valid(case), errors
    if not valid:
        # Every error names the file it comes from.
        assert all(e.startswith(str(case)) for e in errors), errors


def test_project_ontology_is_valid() -> None:
    ontology = REPO / "dtdl"
    if not ontology.is_dir() or not any(ontology.rglob("*.json")):
        pytest.skip("the project's dtdl/ folder is empty or missing")
    models = load_model_set([ontology])
    assert models.interfaces
