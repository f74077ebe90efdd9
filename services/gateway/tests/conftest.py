"""Fixtures: the gateway app over in-process gRPC servers running the test servicers of
``gateway_fakes`` (kept in a module of its own so test modules import it by a unique name)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gateway_fakes import ApiClient, FakeBackends, running_fakes
from gridtwin_gateway.app import create_app


@pytest.fixture(scope="module")
def fake_backends() -> Iterator[FakeBackends]:
    with running_fakes() as fakes:
        yield fakes


@pytest.fixture
def client(fake_backends: FakeBackends) -> Iterator[ApiClient]:
    with ApiClient(create_app(fake_backends.settings)) as api:
        yield api
