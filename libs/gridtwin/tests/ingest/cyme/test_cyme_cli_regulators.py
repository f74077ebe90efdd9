"""``gridtwin import cyme ... --regulators fixed``: the option reaches the gateway (upload and server
path); a bad value is refused by the command itself, naming the flag."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():
    # typer touches a Click API deprecated in newer Click at import time.
    warnings.simplefilter("ignore", DeprecationWarning)
    from gridtwin.cli.main import app
    from typer.testing import CliRunner

URL = "http://gateway.test"
REPLY = {"feeder": "c1", "twins": 3, "relationships": 2, "report": {"source": "x", "counts": {}}}


def _gateway(monkeypatch: pytest.MonkeyPatch, status: int = 200, body: Any = None) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(status, json=body if body is not None else REPLY)

    def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
        kwargs.pop("timeout", None)
        with httpx.Client(transport=httpx.MockTransport(handler)) as client:
            return client.request(method, url, **kwargs)

    monkeypatch.setattr(httpx, "request", request)
    return seen


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["--url", URL, *args])


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "network.txt").write_text("[SI]\n")
    return folder


@pytest.mark.parametrize(("flag", "sent"), [((), "controlled"), (("--regulators", "fixed"), "fixed")])
def test_upload_carries_the_option(
    monkeypatch: pytest.MonkeyPatch, export: Path, flag: tuple[str, ...], sent: str
) -> None:
    seen = _gateway(monkeypatch)
    result = _invoke("import", "cyme", str(export), "--feeder", "c1", *flag)
    assert result.exit_code == 0, result.output
    assert seen[0].url.path == "/api/v1/feeders/import-cyme"
    assert f'name="regulators"\r\n\r\n{sent}\r\n'.encode() in seen[0].content


def test_server_path_carries_the_option(monkeypatch: pytest.MonkeyPatch, export: Path) -> None:
    seen = _gateway(monkeypatch)
    result = _invoke(
        "import", "cyme", str(export), "--feeder", "c1", "--server-path", "--regulators", "fixed"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(seen[0].content)["regulators"] == "fixed"


def test_bad_value_names_the_flag(monkeypatch: pytest.MonkeyPatch, export: Path) -> None:
    seen = _gateway(monkeypatch)
    result = _invoke("import", "cyme", str(export), "--feeder", "c1", "--regulators", "sometimes")
    assert result.exit_code == 2 and "--regulators" in result.output
    assert seen == []


def test_gateway_refusal_names_the_flag(monkeypatch: pytest.MonkeyPatch, export: Path) -> None:
    body = {"error": {"code": "INVALID_ARGUMENT", "message": "the request is not valid", "details": [
        {"where": "body.regulators", "message": "'x' is not one of controlled, fixed", "code": "invalid_value"}]}}  # fmt: skip
    _gateway(monkeypatch, 400, body)
    result = _invoke("import", "cyme", str(export), "--feeder", "c1")
    assert result.exit_code == 1
    assert "--regulators: 'x' is not one of controlled, fixed" in result.output
