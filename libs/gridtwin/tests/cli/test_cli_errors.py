"""Error details name the command's own flags (``--kw``), not the REST body path (``body.kw``)."""

from __future__ import annotations

import httpx
import pytest
import typer
from cli_support import app, fake_gateway, invoke
from gridtwin.cli.output import cli_where


def _command(*path: str) -> object:
    group = typer.main.get_command(app)
    ctx = group.make_context("gridtwin", ["--url", "x", *path[:1], "--help"], resilient_parsing=True)
    command = group
    for name in path:
        command = command.get_command(ctx, name)  # type: ignore[attr-defined]
    return command


@pytest.mark.parametrize(
    ("path", "where", "shown"),
    [
        (("hosting", "check"), "body.kw", "--kw"),
        (("hosting", "check"), "body.inverter", "--inverter"),
        (("hosting", "perbus"), "body.buses.0", "--bus (0)"),
        (("hosting", "stochastic"), "body.feeder_glob", "--glob"),
        (("qsts", "run"), "body.step_minutes", "--step-minutes"),
        (("qsts", "run"), "period.hours", "--hours"),
        (("qsts", "run"), "period.start_hour", "--start-hour"),
        (("qsts", "run"), "ambient_c", "--ambient-c"),
        (("qsts", "run"), "job_id", "--job-id"),
        (("jobs", "results"), "query.order_by", "--order-by"),
        (("jobs", "results"), "path.job_id", "JOB_ID"),
        (("jobs", "compare"), "path.base_job_id", "BASE_JOB_ID"),
        (("scenario", "diff"), "query.base", "BASE"),
        (("import", "weather"), "body.forecast_days", "--days"),
        (("import", "weather"), "body.feeders", "--feeder"),
        (("import", "opendss"), "body.file", "PATH"),
        (("import", "opendss"), "path", "PATH"),
        (("import", "cyme"), "path", "PATHS"),
        (("import", "oms"), "body.mapping_yaml", "--mapping"),
        # not a field of the request: left as the server said it
        (("hosting", "check"), "body.criteria", "body.criteria"),
        (("twin", "get"), "status.NOT_FOUND", "status.NOT_FOUND"),
        (("twin", "query"), "f1.loads.a", "f1.loads.a"),
        (("import", "opendss"), "master.dss:4", "master.dss:4"),
    ],
)
def test_cli_where(path: tuple[str, ...], where: str, shown: str) -> None:
    assert cli_where(where, _command(*path)) == shown


def test_validation_error_of_the_gateway_names_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"error": {"code": "VALIDATION_ERROR", "message": "the request is not valid", "details": [
        {"where": "body.kw", "message": "Input should be greater than 0", "code": "invalid"}]}}  # fmt: skip
    fake_gateway(monkeypatch, lambda request: httpx.Response(422, json=body))
    result = invoke("hosting", "check", "--feeder", "f1", "--bus", "b1", "--kw", "-5")
    assert result.exit_code == 1
    assert "--kw: Input should be greater than 0" in result.output
    assert "body.kw" not in result.output
