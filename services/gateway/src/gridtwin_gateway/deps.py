"""FastAPI dependencies: the app's back-end clients and settings, set up by ``create_app``."""

from __future__ import annotations

from collections.abc import Callable

from gridtwin.config import Settings
from starlette.requests import HTTPConnection

from gridtwin_gateway.clients import Backends

__all__ = ["get_backends", "get_settings_dep"]


async def get_backends(request: HTTPConnection) -> Backends:
    """The back ends' channels, opened on first use on the loop that serves requests (HTTP and WebSocket)."""
    state = request.app.state
    backends: Backends | None = state.backends
    if backends is None:
        factory: Callable[[], Backends] = state.backend_factory
        backends = state.backends = factory()
    return backends


async def get_settings_dep(request: HTTPConnection) -> Settings:
    settings: Settings = request.app.state.settings
    return settings
