"""Tables never cut ids or names: plain aligned text off a terminal, folding rich tables on one."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
from cli_support import URL, fake_gateway, invoke
from gridtwin.cli import jobs_cmds
from gridtwin.cli.output import CliConsole, Col, plain_lines, print_table
from rich.console import Console

LONG_ID = "synth-s42-f0000"
JOB_ID = "qsts-2025-06-01-0b7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e"  # longer than any 80-column cell


def _worst() -> dict[str, Any]:
    feeders = [
        {"feeder": f"synth-s42-f{i:04d}", "bus_hours_outside_a": 1000.0 - i, "buses_outside_a": 12,
         "vmin_pu": 0.91, "vmax_pu": 1.05, "max_loading_pct": 140.0, "elements_over_normal": 3,
         "delivered_kwh": 9.1e6, "loss_pct": 2.5, "unconverged_steps": 0}
        for i in range(3)
    ]  # fmt: skip
    elements = [
        {"feeder": LONG_ID, "element": "transformer.xfmr-service-000123-very-long-name",
         "max_loading_pct": 150.0, "hours_over_normal": 300.0, "hours_over_emergency": 2.0,
         "equivalent_aging_factor": 4.2}
    ]  # fmt: skip
    return {"job_id": JOB_ID, "feeders": feeders, "elements": elements, "aging": elements}


def test_plain_layout_aligns_whole_cells_without_a_width_limit() -> None:
    wide = "x" * 300
    lines = plain_lines(
        [Col("feeder", key=True), Col("MWh", numeric=True), "note"],
        [(LONG_ID, "12", wide), ("f1", "1234", None)],
        "title",
    )
    assert lines[0] == "title"
    assert lines[1].split() == ["feeder", "MWh", "note"]
    assert lines[2] == f"{LONG_ID}    12  {wide}"
    assert lines[3] == "f1               1234  -"  # numbers right-aligned, None as "-"
    assert all("…" not in line and "..." not in line for line in lines)


def test_print_table_off_a_terminal_is_plain(capsys: pytest.CaptureFixture[str]) -> None:
    console = CliConsole(file=io.StringIO(), width=40)  # not a terminal, 40 columns
    print_table([Col("feeder", key=True), "element"], [(LONG_ID, "line." + "a" * 90)], "t", console=console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert text.splitlines() == ["t", "feeder           element", f"{LONG_ID}  line.{'a' * 90}"]


@pytest.mark.parametrize("width", [200, 80, 60, 30, 12])
def test_terminal_tables_fold_and_never_cut(width: int) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)
    rows = [(f"synth-s42-f{i:04d}", f"{1234.5 + i}", "a note long enough to need wrapping in narrow terminals")
            for i in range(3)]  # fmt: skip
    print_table([Col("feeder", key=True), Col("MWh", numeric=True), "note"], rows, "worst", console=console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text
    assert all(len(line) <= width or "│" not in line for line in text.splitlines())
    body = [line.split("│")[1:-1] for line in text.splitlines() if line.startswith("│")]
    if body:  # a rich table: each column's fragments, read down, are its cells whole
        for col in (0, 1, 2):
            read = "".join(cells[col] for cells in body).replace(" ", "")
            assert read == "".join(r[col].replace(" ", "") for r in rows)
    else:  # too narrow for any table: the plain layout
        assert [line.split()[0] for line in text.splitlines()[2:]] == [r[0] for r in rows]
    if width >= 60:  # room enough: each id whole on one line
        assert sum(line.count("synth-s42-f") for line in text.splitlines()) == 3
        for feeder, _, _ in rows:
            assert feeder in text


def test_rich_table_cells_are_text_not_markup() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100, color_system=None)
    print_table([Col("element", key=True)], [("line.l[1]",), ("[bold]x[/bold]",)], console=console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "line.l[1]" in text and "[bold]x[/bold]" in text


def test_long_plain_lines_are_not_wrapped_off_a_terminal() -> None:
    console = CliConsole(file=io.StringIO(), width=40)
    console.print(f"job {JOB_ID}: running, feeders {LONG_ID} .. synth-s42-f0019")
    assert console.file.getvalue() == f"job {JOB_ID}: running, feeders {LONG_ID} .. synth-s42-f0019\n"  # type: ignore[attr-defined]


def test_demo_summary_shows_whole_feeder_ids(capsys: pytest.CaptureFixture[str]) -> None:
    """What ``gridtwin up --demo-feeders`` prints into a log: ``print_worst`` off a terminal."""
    jobs_cmds.print_worst(_worst())
    text = capsys.readouterr().out
    assert "synth-s42-f0000" in text and "synth-s42-f0002" in text
    assert "transformer.xfmr-service-000123-very-long-name" in text
    assert "…" not in text and "synt\n" not in text
    header = next(line for line in text.splitlines() if line.startswith("feeder"))
    assert header.split()[:3] == ["feeder", "bus-h", "out"]


def test_jobs_list_prints_full_job_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    job = {"id": JOB_ID, "kind": "qsts", "status": "succeeded", "done_tasks": 20, "failed_tasks": 0,
           "total_tasks": 20, "created_at": "2025-06-01T10:00:00.123456+00:00"}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/jobs"
        return httpx.Response(200, json={"jobs": [job, {**job, "id": "j2"}], "total": 2})

    fake_gateway(monkeypatch, handler)
    result = invoke("jobs", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2 jobs"
    assert lines[1].split() == ["job", "kind", "status", "done", "failed", "total", "created"]
    assert lines[2].split() == [JOB_ID, "qsts", "succeeded", "20", "0", "20", "2025-06-01T10:00:00"]
    assert lines[3].split()[0] == "j2"


def test_jobs_show_never_cuts_the_feeder_ids_of_its_params(monkeypatch: pytest.MonkeyPatch) -> None:
    feeders = [f"synth-s42-f{i:04d}" for i in range(40)]
    job = {"id": JOB_ID, "kind": "qsts", "status": "running", "done_tasks": 1, "failed_tasks": 0,
           "total_tasks": 40, "message": "", "tasks": [],
           "params": {"spec": {"hours": 8760, "start_hour": 0, "step_minutes": 60, "ambient_c": 25.0},
                      "feeders": feeders, "selection": {"site": "", "feeder_glob": "synth-s42-*"}}}  # fmt: skip
    fake_gateway(monkeypatch, lambda request: httpx.Response(200, json=job))
    result = invoke("jobs", "show", JOB_ID)
    assert result.exit_code == 0, result.output
    assert "period: hours 8760, start_hour 0, step_minutes 60" in result.output
    assert "feeders (40): synth-s42-f0000 .. synth-s42-f0039" in result.output
    assert json.dumps({"feeder_glob": "synth-s42-*", "site": ""}) in result.output


def test_every_cli_table_goes_through_the_shared_helper() -> None:
    from pathlib import Path

    import gridtwin.cli as cli

    folder = Path(cli.__file__).parent
    for name in ("client_cmds", "jobs_cmds", "hosting_cmds", "measurements_cmds", "scenario_cmds"):
        source = (folder / f"{name}.py").read_text()
        assert "rich.table" not in source and "Table(" not in source, name
    assert URL.startswith("http")


def test_import_reply_says_whose_twins_it_counts(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    (tmp_path / "Master.dss").write_text("clear\nnew circuit.x\n")
    reply = {"feeder": "f1", "twins": 64, "relationships": 120,
             "report": {"source": "upload", "counts": {"loads": 15}, "warnings": [], "unmapped": []}}  # fmt: skip
    seen = fake_gateway(monkeypatch, lambda request: httpx.Response(200, json=reply))
    result = invoke("import", "opendss", str(tmp_path), "--feeder", "f1", "--site", "demo")
    assert result.exit_code == 0, result.output
    assert seen[0].url.path == "/api/v1/feeders/import"
    assert "imported feeder f1: 64 twins, 120 relationships" in result.output
    assert "as `feeders list` counts them" in result.output and "site twin" in result.output


def test_server_path_imports_send_an_absolute_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    reply = {"feeder": "f1", "twins": 1, "relationships": 0,
             "report": {"source": "x", "counts": {}, "warnings": [], "unmapped": []}}  # fmt: skip
    seen = fake_gateway(monkeypatch, lambda request: httpx.Response(200, json=reply))
    monkeypatch.chdir(tmp_path)
    result = invoke("import", "opendss", "models/13Bus", "--feeder", "f1", "--server-path")
    assert result.exit_code == 0, result.output
    assert json.loads(seen[0].content)["path"] == str(tmp_path / "models" / "13Bus")
