"""The FastAPI app: HTTP <-> protobuf only, no domain logic.

``create_app(settings, channels)`` wires the routers, the error handlers (one body shape for every
error) and OpenTelemetry. The back-end channels are opened lazily on the serving event loop (grpc.aio
channels belong to the loop that made them), or injected by tests that run their own servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from gridtwin.config import Settings, get_settings
from gridtwin.rpc.telemetry import setup_telemetry
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from gridtwin_gateway import (
    routes_feeders,
    routes_gis,
    routes_health,
    routes_hosting,
    routes_jobs,
    routes_measurements,
    routes_models,
    routes_scenarios,
    routes_twins,
)
from gridtwin_gateway.clients import Backends, open_backends, tracing_enabled
from gridtwin_gateway.errors import install_error_handlers

__all__ = ["SERVICE_NAME", "create_app"]

SERVICE_NAME = "gridtwin-gateway"

DESCRIPTION = """REST API of GridTwin: import OpenDSS feeders, browse and edit the DTDL twin graph, and
run snapshot power flows and 8760-hour QSTS jobs over many feeders (progress over WebSocket). Every error answers `{"error": {"code", "message", "details": [{"where",
"message"}]}}`; `where` names the file:line, twin id, JSON path or parameter at fault."""


def create_app(
    settings: Settings | None = None,
    channels: Backends | Callable[[], Backends] | None = None,
) -> FastAPI:
    """The gateway app.

    ``channels``: ready ``Backends`` (the caller owns and closes them; build them on the loop that
    serves the app), a factory called on first use, or None for channels to the addresses in
    ``settings``.
    """
    settings = settings or get_settings()
    setup_telemetry(SERVICE_NAME, settings.otel_exporter)
    owned = not isinstance(channels, Backends)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        backends: Backends | None = app.state.backends
        if owned and backends is not None:
            app.state.backends = None
            await backends.close()

    # FastAPIOffline serves the Swagger UI and ReDoc assets from the package, not a CDN, so /docs
    # works on an offline planning workstation.
    app = FastAPIOffline(
        title="GridTwin",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    if isinstance(channels, Backends):
        app.state.backends = channels
        app.state.backend_factory = None
    else:
        app.state.backends = None
        app.state.backend_factory = channels or (lambda: open_backends(settings))
    install_error_handlers(app)
    for module in (
        routes_health,
        routes_feeders,
        routes_gis,
        routes_jobs,
        routes_scenarios,
        routes_hosting,
        routes_measurements,
        routes_twins,
        routes_models,
    ):
        app.include_router(module.router)
    if tracing_enabled():
        # One server span per request (no per-chunk receive/send spans); the gRPC client
        # interceptors make the back ends' spans its children.
        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="healthz,readyz", exclude_spans=["receive", "send"]
        )
    return app
