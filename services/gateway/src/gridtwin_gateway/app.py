"""The FastAPI app: HTTP <-> protobuf only, no domain logic.

``create_app(settings, channels)`` wires the routers, the error handlers (one body shape for every
error), access control and OpenTelemetry. The back-end channels are opened lazily on the serving event
loop (grpc.aio channels belong to the loop that made them), or injected by tests that run their own
servers.

Access control needs ``GRIDTWIN_JWT_SECRET`` and ``GRIDTWIN_INTERNAL_SECRET`` (``GatewayConfigError``
otherwise: there is no unauthenticated mode). ``create_app`` migrates the accounts database and, on a
fresh install, creates the admin ``admin`` (``ensure_admin``): with ``GRIDTWIN_ADMIN_PASSWORD`` when set,
else with a generated password left in ``app.state.bootstrap_password`` for whoever starts the app to
print once (None when nothing was generated). Only its hash is stored.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from gridtwin.access.passwords import hash_password
from gridtwin.access.tokens import TokenSigner
from gridtwin.config import Settings, get_settings
from gridtwin.errors import GridTwinError
from gridtwin.rpc.telemetry import setup_telemetry
from gridtwin.store.accounts import AccountStore, ensure_admin
from gridtwin.store.db import make_engine, migrate
from gridtwin.store.redis import make_redis
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from gridtwin_gateway import (
    routes_audit,
    routes_auth,
    routes_feeders,
    routes_gis,
    routes_health,
    routes_hosting,
    routes_jobs,
    routes_measurements,
    routes_models,
    routes_scenarios,
    routes_twins,
    routes_users,
)
from gridtwin_gateway.auth import Gate, guard
from gridtwin_gateway.clients import Backends, open_backends, tracing_enabled
from gridtwin_gateway.edge import EdgeMiddleware
from gridtwin_gateway.errors import install_error_handlers
from gridtwin_gateway.openapi import install_openapi

__all__ = ["SERVICE_NAME", "GatewayConfigError", "build_gate", "create_app"]

# One engine per database URL in this process, migrated once (tests build many apps on one database).
_ENGINES: dict[str, sa.Engine] = {}
_ENGINES_LOCK = threading.Lock()


class GatewayConfigError(RuntimeError):
    """The gateway cannot start with these settings (the message says what to set)."""


def _accounts_engine(settings: Settings) -> sa.Engine:
    url = settings.resolved_database_url()
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            if not settings.database_url:
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            engine = make_engine(url, mysql_local_infile=settings.mysql_local_infile)
            migrate(engine)
            _ENGINES[url] = engine
        return engine


def build_gate(settings: Settings) -> tuple[Gate, str | None]:
    """The app's accounts, tokens and limits, and the bootstrap admin's generated password (if any)."""
    if settings.jwt_secret is None or settings.internal_secret is None:
        raise GatewayConfigError(
            "the gateway needs GRIDTWIN_JWT_SECRET (signs users' access tokens) and "
            "GRIDTWIN_INTERNAL_SECRET (signs its calls to the services), each at least 32 bytes and "
            "different; `gridtwin up` makes them in {data_dir}/secrets.json"
        )
    jwt_secret = settings.jwt_secret.get_secret_value()
    try:
        signer = TokenSigner(
            settings.internal_secret.get_secret_value(),
            access_secret=jwt_secret,
            access_ttl_s=settings.access_token_ttl_s,
        )
    except ValueError as exc:
        raise GatewayConfigError(f"bad secrets: {exc}") from None
    store = AccountStore(_accounts_engine(settings))
    admin_password = settings.admin_password.get_secret_value() if settings.admin_password else None
    try:
        generated = ensure_admin(store, hash_password, admin_password)
    except GridTwinError as exc:
        raise GatewayConfigError(f"GRIDTWIN_ADMIN_PASSWORD: {exc}") from None
    try:
        gate = Gate(settings, store, signer, make_redis(settings.redis_url), jwt_secret)
    except ValueError as exc:
        raise GatewayConfigError(str(exc)) from None
    return gate, generated


SERVICE_NAME = "gridtwin-gateway"

DESCRIPTION = """REST API of GridTwin: import OpenDSS feeders, browse and edit the DTDL twin graph, and
run snapshot power flows and 8760-hour QSTS jobs over many feeders (progress over WebSocket). Every error answers `{"error": {"code", "message", "details": [{"where",
"message"}]}}`; `where` names the file:line, twin id, JSON path or parameter at fault.

Every route but the probes, the docs and logging in needs credentials: an access token from
`POST /api/v1/auth/token` (OAuth2 password grant; "Authorize" above), an API key (`X-API-Key: gtk_...`)
or a browser session's cookie (with `X-CSRF-Token` on writes). Each operation names the permission it
needs (`x-permission`); roles, permissions and limits are in docs/SECURITY.md."""


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
    gate, bootstrap_password = build_gate(settings)
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
        dependencies=[Depends(guard)],  # every route: who is calling, and may they (authz.py)
    )
    app.state.settings = settings
    app.state.gate = gate
    app.state.bootstrap_password = bootstrap_password
    if isinstance(channels, Backends):
        app.state.backends = channels
        app.state.backend_factory = None
    else:
        app.state.backends = None
        app.state.backend_factory = channels or (lambda: open_backends(settings))
    install_error_handlers(app)
    for module in (
        routes_health,
        routes_auth,
        routes_users,
        routes_audit,
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
    install_openapi(app)
    app.add_middleware(EdgeMiddleware, settings=settings, audit=gate.audit)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "X-API-Key",
                "X-CSRF-Token",
                "X-Request-ID",
            ],
            expose_headers=["ETag", "Retry-After", "X-Request-ID", "WWW-Authenticate"],
            max_age=600,
        )
    if tracing_enabled():
        # One server span per request (no per-chunk receive/send spans); the gRPC client
        # interceptors make the back ends' spans its children.
        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="healthz,readyz", exclude_spans=["receive", "send"]
        )
    return app
