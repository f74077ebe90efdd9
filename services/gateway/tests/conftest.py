"""Fixtures: the gateway app over in-process gRPC servers running the test servicers of
``gateway_fakes`` (kept in a module of its own so test modules import it by a unique name). The client
logs in as the user ``tester`` (an admin of every site) through /api/v1/auth/token, once per module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gateway_fakes import ApiClient, FakeBackends, running_fakes
from gridtwin_gateway.app import create_app


@pytest.fixture(scope="module")
def fake_backends() -> Iterator[FakeBackends]:
    with running_fakes() as fakes:
        yield fakes


@pytest.fixture(scope="module")
def tester_token(fake_backends: FakeBackends) -> str:
    with ApiClient(create_app(fake_backends.settings)) as api:
        token: str = api.login()["access_token"]
    return token


@pytest.fixture
def client(fake_backends: FakeBackends, tester_token: str) -> Iterator[ApiClient]:
    with ApiClient(create_app(fake_backends.settings), token=tester_token) as api:
        yield api


@pytest.fixture
def gateway(fake_backends: FakeBackends) -> Iterator[Callable[..., ApiClient]]:
    """Make gateway apps over the fakes with some settings changed (no credentials sent)."""
    made: list[ApiClient] = []

    def make(**update: Any) -> ApiClient:
        api = ApiClient(create_app(fake_backends.settings.model_copy(update=update)))
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()
