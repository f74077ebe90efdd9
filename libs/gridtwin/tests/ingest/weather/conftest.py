"""Fixtures for the Open-Meteo tests: a fake server on 127.0.0.1 (never the internet), fake time,
and clients that are closed after each test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from gridtwin.ingest.weather import OpenMeteoClient
from openmeteo_support import ClientFactory, FakeOpenMeteo, FakeTime, StampingTransport

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FakeOpenMeteo]:
    srv = FakeOpenMeteo()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5.0)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime(NOW)


@pytest.fixture
def make_client(server: FakeOpenMeteo, fake_time: FakeTime, tmp_path: Path) -> Iterator[ClientFactory]:
    """``make_client(**overrides)``: a client of the fake server with the fake clock, caching in
    ``tmp_path / "cache"``; ``client.transport_starts`` are the fake-clock request start times."""
    made: list[OpenMeteoClient] = []

    def make(**kw: Any) -> OpenMeteoClient:
        transport = StampingTransport(fake_time.clock)
        options: dict[str, Any] = {
            "archive_url": server.archive_url,
            "forecast_url": server.forecast_url,
            "cache_dir": tmp_path / "cache",
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "now": fake_time.now,
            "transport": transport,
            "timeout_s": 5.0,
        }
        options.update(kw)
        client = OpenMeteoClient(**options)
        client.transport_starts = transport.starts  # type: ignore[attr-defined]
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()
