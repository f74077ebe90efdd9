"""Shared by the CLI tests: the ``gridtwin`` app, a runner, and a fake gateway behind ``httpx.request``.

The fake answers through a real ``httpx.Client`` on a ``MockTransport``, so everything httpx does on
a request (its INFO log line included) happens as it would against a gateway.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():
    # typer touches a Click API deprecated in newer Click at import time.
    warnings.simplefilter("ignore", DeprecationWarning)
    from gridtwin.cli.main import app
    from typer.testing import CliRunner

__all__ = ["URL", "app", "fake_gateway", "invoke"]

URL = "http://gateway.test"
Handler = Callable[[httpx.Request], httpx.Response]


def fake_gateway(monkeypatch: pytest.MonkeyPatch, handler: Handler) -> list[httpx.Request]:
    """Route the CLI's ``httpx.request`` calls to ``handler``; the requests it saw, in order."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
        kwargs.pop("timeout", None)
        with httpx.Client(transport=httpx.MockTransport(record)) as client:
            return client.request(method, url, **kwargs)

    monkeypatch.setattr(httpx, "request", request)
    return seen


def invoke(*args: str, input: str | None = None) -> Any:
    """``gridtwin --url URL ARGS`` in this process (``input``: its standard input)."""
    return CliRunner().invoke(app, ["--url", URL, *args], input=input)
