"""The CLI against the real gateway app: its 422 details name the REST field (``body.kw``, the API's
shape, unchanged) and the CLI shows them as the command's flags (``--kw``)."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import pytest
from gateway_fakes import ApiClient

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from gridtwin.cli.main import app as cli
    from typer.testing import CliRunner


@pytest.fixture
def through_gateway(client: ApiClient, monkeypatch: pytest.MonkeyPatch) -> ApiClient:
    def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
        kwargs.pop("timeout", None)
        return client.request(method, url, **kwargs)

    monkeypatch.setattr(httpx, "request", request)
    return client


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["--url", "http://gateway", *args])


def test_rest_keeps_its_field_paths(through_gateway: ApiClient) -> None:
    resp = through_gateway.post("/api/v1/feeders/f1/hosting-capacity/check", json={"bus": "b", "kw": -5})
    assert resp.status_code == 422
    assert [d["where"] for d in resp.json()["error"]["details"]] == ["body.kw"]


@pytest.mark.parametrize(
    ("args", "flag", "rest"),
    [
        (("hosting", "check", "--feeder", "f1", "--bus", "b1", "--kw", "-5"), "--kw", "body.kw"),
        (
            ("hosting", "check", "--feeder", "f1", "--bus", "b1", "--kw", "5", "--kind", "wind"),
            "--kind",
            "body.kind",
        ),
        (("qsts", "run", "--feeders", "f1", "--step-minutes", "30"), "--step-minutes", "body.step_minutes"),
        (("hosting", "stochastic", "--glob", "f*", "--placement", "middle"), "--placement", "body.placement"),
        (("scenario", "diff", "bad id!", "j2"), "BASE", "query.base"),
    ],
)
def test_cli_names_the_flag(through_gateway: ApiClient, args: tuple[str, ...], flag: str, rest: str) -> None:
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert "VALIDATION_ERROR" in result.output
    assert f"  {flag}: " in result.output
    assert rest not in result.output
