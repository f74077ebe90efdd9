"""``gridtwin dtdl validate``: exit codes, one line per error naming file and element, JSON output."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

# Typer 0.20 touches a Click API deprecated in Click 8.5; under filterwarnings=error that would fail
# the import, and the project's warning filters are not this module's to change.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from gridtwin.cli.main import app
    from typer.testing import CliRunner

CORPUS = Path(__file__).resolve().parent / "corpus"
runner = CliRunner()


def test_valid_set_exits_0_with_summary() -> None:
    result = runner.invoke(app, ["dtdl", "validate", str(CORPUS / "v3_valid_rich")])
    assert result.exit_code == 0, result.output
    assert "valid: 3 interface(s) in 3 file(s)" in result.stdout


def test_several_paths_are_one_set(tmp_path: Path) -> None:
    base = CORPUS / "v3_bad_inherited_duplicate" / "base.json"
    result = runner.invoke(app, ["dtdl", "validate", str(base), str(CORPUS / "v3_valid_component")])
    assert result.exit_code == 0, result.output


def test_invalid_set_exits_1_naming_file_and_element() -> None:
    case = CORPUS / "v3_bad_inherited_duplicate"
    result = runner.invoke(app, ["dtdl", "validate", str(case)])
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line]
    assert len(lines) == 1
    assert lines[0].startswith(f"{case / 'sub.json'}: dtmi:ex:Sub;1/a: ")


def test_one_line_per_error() -> None:
    result = runner.invoke(app, ["dtdl", "validate", str(CORPUS / "v3_bad_name_pattern")])
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line]
    assert len(lines) == 2
    assert all("m.json: dtmi:ex:N;1" in line and "name" in line for line in lines)


def test_json_format() -> None:
    result = runner.invoke(
        app, ["dtdl", "validate", "--format", "json", str(CORPUS / "v3_bad_enum_duplicate_value")]
    )
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["valid"] is False and body["files"] == 1
    assert body["errors"][0]["where"].endswith("m.json: dtmi:ex:A;1/e enumValues[1]")
    ok = runner.invoke(app, ["dtdl", "validate", "--format", "json", str(CORPUS / "v2_valid_rich")])
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["interfaces"] == ["dtmi:ex:Asset;1", "dtmi:ex:Load;1", "dtmi:ex:Meter;1"]


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{\n  "@context": "dtmi:dtdl:context;3",\n  "@id": oops\n}\n')
    result = runner.invoke(app, ["dtdl", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{bad}:3:")


def test_no_json_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dtdl", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "no .json files" in result.stdout
