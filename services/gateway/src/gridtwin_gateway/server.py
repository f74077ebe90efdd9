"""Running the gateway: ``SERVICE`` for ``gridtwin up`` and ``run_gateway`` for one process alone.

uvicorn runs programmatically with ONE worker and no reload, so the all-in-one runner can host it in
a thread next to the gRPC servers; ``stop_event`` / ``ready_event`` let that thread be driven. With
``GRIDTWIN_TLS_CERT`` and ``GRIDTWIN_TLS_KEY`` the gateway serves HTTPS (and sends HSTS).

A fresh install's generated admin password (``app.state.bootstrap_password``) goes to
``on_bootstrap_password`` (``run_gateway``), or to stderr when the gateway runs alone; never to a log.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from gridtwin.config import Settings, get_settings
from gridtwin.rpc.logging import setup_json_logging
from gridtwin.rpc.server import ServiceSpec

from gridtwin_gateway.app import SERVICE_NAME, GatewayConfigError, create_app

__all__ = ["SERVICE", "run_gateway"]

log = logging.getLogger(__name__)

# How often the watcher looks at the stop/ready flags; short enough for tests, cheap for the loop.
_POLL_S = 0.05


def _asgi_app(settings: Settings) -> Any:
    return create_app(settings)


SERVICE = ServiceSpec(name="gateway", default_port=8000, asgi_app=_asgi_app)


def make_server(
    settings: Settings, host: str | None = None, port: int | None = None, app: Any = None
) -> uvicorn.Server:
    """A uvicorn server for the gateway app (``create_app(settings)`` unless given): one worker,
    asyncio loop, logs through the root logger."""
    tls: dict[str, Any] = {}
    if settings.tls_cert is not None and settings.tls_key is not None:
        tls = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    config = uvicorn.Config(
        app if app is not None else create_app(settings),
        host=host or settings.host,
        port=settings.gateway_port if port is None else port,
        workers=1,
        reload=False,
        loop="asyncio",  # grpc.aio runs on the standard asyncio loop
        http="httptools",  # C parser: a third of h11's CPU per request
        ws="websockets-sansio",  # job events; uvicorn's "websockets" uses the deprecated legacy API
        lifespan="on",
        log_config=None,  # keep the JSON handler installed by setup_json_logging
        access_log=False,  # one OpenTelemetry span per request already records it
        timeout_graceful_shutdown=20,
        server_header=False,
        **tls,
    )
    return uvicorn.Server(config)


def print_bootstrap_password(password: str) -> None:
    """Tell the operator the generated admin password, once, on stderr (never through logging)."""
    print(
        f"\nGridTwin: created the admin user 'admin' with the password\n\n    {password}\n\n"
        "It is shown only now (only its hash is kept): log in and change it, or set "
        "GRIDTWIN_ADMIN_PASSWORD before the first start.\n",
        file=sys.stderr,
        flush=True,
    )


async def _watch(
    server: uvicorn.Server, ready_event: threading.Event | None, stop_event: threading.Event | None
) -> None:
    while not server.should_exit:
        if ready_event is not None and server.started and not ready_event.is_set():
            ready_event.set()
        if stop_event is not None and stop_event.is_set():
            server.should_exit = True
        await asyncio.sleep(_POLL_S)


def run_gateway(
    settings: Settings | None = None,
    host: str | None = None,
    port: int | None = None,
    ready_event: threading.Event | None = None,
    stop_event: threading.Event | None = None,
    on_bootstrap_password: Callable[[str], None] | None = print_bootstrap_password,
) -> None:
    """Serve the gateway until SIGTERM/SIGINT (main thread) or ``stop_event`` (any thread).

    ``ready_event`` is set once the socket listens. Runs its own event loop, so call it from a
    thread of its own when other work shares the process. ``on_bootstrap_password`` receives a fresh
    install's generated admin password (default: printed to stderr). ``GatewayConfigError`` when the
    secrets are missing.
    """
    settings = settings or get_settings()
    app = create_app(settings)
    server = make_server(settings, host, port, app=app)
    generated: str | None = app.state.bootstrap_password
    if generated and on_bootstrap_password is not None:
        on_bootstrap_password(generated)

    async def main() -> None:
        watcher = asyncio.create_task(_watch(server, ready_event, stop_event))
        try:
            await server.serve()
        finally:
            watcher.cancel()

    # Everything start-up made lives as long as the process (modules, the app; with ``gridtwin up`` the
    # services too): out of the collector's full passes. Those walk every tracked object with every
    # thread stopped: ~370k objects in the all-in-one, a 0.2-0.8 s pause about once a minute under a
    # flood of requests (the overload drill, tests/drills/overload.py); ~30k once these are frozen.
    gc.collect()
    gc.freeze()
    log.info("gateway starting", extra={"host": server.config.host, "port": server.config.port})
    asyncio.run(main())
    log.info("gateway stopped")


def main() -> None:
    """``python -m gridtwin_gateway``: the gateway alone, back ends at the GRIDTWIN_*_ADDR addresses."""
    settings = get_settings()
    setup_json_logging(SERVICE_NAME, settings.log_level)
    try:
        run_gateway(settings)
    except GatewayConfigError as exc:
        raise SystemExit(f"gridtwin-gateway: {exc}") from None
