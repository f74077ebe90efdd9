"""One way to build and run a GridTwin gRPC server: health, reflection, tracing, errors, callers, TLS,
limits.

Every server verifies its callers: ``mount`` installs ``gridtwin.rpc.auth.AuthInterceptor`` (after the
error interceptor) with the internal secret of the settings it mounts with, and refuses to mount without
one (``GRIDTWIN_INTERNAL_SECRET``): there is no unauthenticated mode. Health and reflection stay open
for probes.

Each service package exposes ``SERVICE = ServiceSpec(...)`` (entry point group ``gridtwin.services``);
``serve(SERVICE)`` runs it alone (``python -m gridtwin_<name>``), ``gridtwin up`` builds them all in one
process. An HTTP-only service (the gateway) sets ``asgi_app`` instead of ``add_to_server``.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from dataclasses import dataclass
from types import FrameType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gridtwin.config import Settings
from gridtwin.errors import ConflictError, ErrorDetail, GridTwinError, InputError
from gridtwin.rpc.auth import AuthInterceptor, internal_signer
from gridtwin.rpc.authz import EXEMPT_SERVICES
from gridtwin.rpc.errors import ErrorInterceptor
from gridtwin.rpc.logging import setup_json_logging
from gridtwin.rpc.telemetry import server_interceptors, setup_telemetry, shutdown_telemetry

__all__ = [
    "GRACE_S",
    "MAX_MESSAGE_BYTES",
    "ServiceSpec",
    "bind",
    "build_server",
    "grpc_options",
    "mount",
    "new_server",
    "release",
    "serve",
    "service_port",
]

# Feeder exports (Arrow IPC) of large feeders reach tens of MB and uploads up to
# GRIDTWIN_MAX_UPLOAD_BYTES (200 MB by default) arrive in one message: leave headroom.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# In-flight calls get this long to finish after SIGTERM (Kubernetes' default grace is 30 s).
GRACE_S = 20.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceSpec:
    """How to mount one service.

    ``add_to_server(server, settings)`` registers the servicer(s); ``grpc_services`` are their full
    names (``gridtwin.v1.TwinRegistry``) for health and reflection. ``asgi_app(settings)`` is for an
    HTTP service (the gateway): ``gridtwin up`` serves it with uvicorn on ``settings.gateway_port``.
    ``add_to_server`` returns how to release what it opened for that server (SQL engines, channels to
    peers, its share of the compute host): each mount owns its resources, so stopping one server (a test's
    own stack, a second mount in one process) never closes another's.
    """

    name: str
    default_port: int
    add_to_server: Callable[[grpc.Server, Settings], Callable[[], None] | None] | None = None
    grpc_services: tuple[str, ...] = ()
    asgi_app: Callable[[Settings], Any] | None = None

    @property
    def is_grpc(self) -> bool:
        return self.add_to_server is not None


def grpc_options() -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]


def service_port(spec: ServiceSpec, settings: Settings) -> int:
    return settings.grpc_port or spec.default_port


def _credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if settings.tls_cert is None and settings.tls_key is None:
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise InputError(
            "TLS needs both a certificate and a key",
            [ErrorDetail(where="GRIDTWIN_TLS_CERT/GRIDTWIN_TLS_KEY", message="set both or neither")],
        )
    return grpc.ssl_server_credentials([(settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())])


class AuthGate(grpc.ServerInterceptor):  # type: ignore[misc]
    """Where a server's ``AuthInterceptor`` goes: interceptors are fixed when a server is made, the
    signer comes with the settings ``mount`` is given. Until ``mount`` installs it, no call but health
    and reflection reaches a servicer (UNIMPLEMENTED)."""

    def __init__(self) -> None:
        self.interceptor: AuthInterceptor | None = None

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        if self.interceptor is not None:
            return self.interceptor.intercept_service(continuation, details)
        if str(details.method).lstrip("/").startswith(EXEMPT_SERVICES):
            return continuation(details)
        return None


def new_server(max_workers: int = 16) -> grpc.Server:
    """An empty server with our interceptors and limits, and port reuse OFF: gRPC's default
    (SO_REUSEPORT) lets a second server bind a port that is taken, and the two then share its calls,
    which silently mixes two installations. Without it a taken port fails to bind.

    The caller check (``AuthGate``) sits after the error interceptor; ``mount`` arms it."""
    gate = AuthGate()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=[*server_interceptors(), ErrorInterceptor(), gate],
        options=[*grpc_options(), ("grpc.so_reuseport", 0)],
    )
    server.gridtwin_auth = gate
    return server


def bind(server: grpc.Server, address: str, settings: Settings) -> int:
    """Listen on ``address`` (host:port, port 0 = any free one); returns the port. A port that is
    taken is a ``ConflictError`` naming it, raised before anything else of the service starts."""
    creds = _credentials(settings)
    try:
        bound = server.add_secure_port(address, creds) if creds else server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc's "Failed to bind to address"
        raise ConflictError(
            f"cannot listen on {address}: the port is in use (another GridTwin, or another program)",
            [ErrorDetail(where=address, message=str(exc).split(";")[0], code="port_in_use")],
        ) from exc
    if not bound:
        raise ConflictError(
            f"cannot listen on {address}",
            [ErrorDetail(where=address, message="bind failed", code="port_in_use")],
        )
    server.gridtwin_port = bound
    return int(bound)


def mount(server: grpc.Server, specs: Sequence[ServiceSpec], settings: Settings) -> None:
    """Register every spec's servicers, health (SERVING) and reflection on ``server`` (made by
    ``new_server``), and arm its caller check with ``settings.internal_secret``: an ``InputError``
    naming GRIDTWIN_INTERNAL_SECRET, before anything is opened, when there is none."""
    gate = getattr(server, "gridtwin_auth", None)
    if not isinstance(gate, AuthGate):
        raise InputError(
            "not a GridTwin server",
            [ErrorDetail(where="server", message="make it with new_server(): it checks every caller")],
        )
    names_of = ", ".join(spec.name for spec in specs) or "this"
    gate.interceptor = AuthInterceptor(internal_signer(settings, f"the {names_of} service"))
    names: list[str] = []
    for spec in specs:
        if spec.add_to_server is None:
            raise InputError(
                "not a gRPC service",
                [ErrorDetail(where=spec.name, message="ServiceSpec has no add_to_server")],
            )
        closer = spec.add_to_server(server, settings)
        if closer is not None:
            server.gridtwin_closers = [*getattr(server, "gridtwin_closers", []), (spec.name, closer)]
        names.extend(spec.grpc_services)

    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *(s.name for s in specs), *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    server.gridtwin_health = health_servicer


def build_server(
    specs: Sequence[ServiceSpec],
    port: int,
    settings: Settings,
    *,
    host: str | None = None,
    max_workers: int = 16,
) -> grpc.Server:
    """A started-ready (not yet started) server with every spec mounted and health set to SERVING.

    The port is bound first, so a taken port fails fast; ``port`` 0 picks a free port; the bound port
    is in ``server.gridtwin_port`` (set on the object).
    """
    server = new_server(max_workers)
    bind(server, f"{host or settings.host}:{port}", settings)
    try:
        mount(server, specs, settings)
    except BaseException:
        server.stop(0)  # give the port back: nothing was served
        release(server)
        raise
    return server


def release(server: grpc.Server) -> None:
    """Release what the services mounted on ``server`` opened (after it stopped), each once."""
    closers: list[tuple[str, Callable[[], None]]] = getattr(server, "gridtwin_closers", [])
    server.gridtwin_closers = []
    for name, closer in reversed(closers):
        try:
            closer()
        except Exception:  # keep releasing the others
            log.exception("releasing a service failed", extra={"service": name})


def mark_not_serving(server: grpc.Server) -> None:
    """Tell probes to stop routing here before the grace period starts."""
    health_servicer: health.HealthServicer | None = getattr(server, "gridtwin_health", None)
    if health_servicer is not None:
        health_servicer.enter_graceful_shutdown()


def wait_for_signal(signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> signal.Signals:
    """Block the main thread until one of ``signals`` arrives; return which."""
    got: list[signal.Signals] = []
    done = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        got.append(signal.Signals(signum))
        done.set()

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        while not done.wait(0.5):
            pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return got[0]


def serve(spec: ServiceSpec, settings: Settings) -> None:
    """Run one service until SIGTERM/SIGINT, then drain in-flight calls for ``GRACE_S`` seconds."""
    setup_json_logging(spec.name, settings.log_level)
    setup_telemetry(spec.name, settings.otel_exporter)
    port = service_port(spec, settings)
    try:
        server = build_server([spec], port, settings)
    except GridTwinError as exc:  # a taken port, a bad TLS setting: say so and exit non-zero
        log.error("cannot start", extra={"error": str(exc), "details": [d.to_dict() for d in exc.details]})
        raise SystemExit(f"{spec.name}: {exc}") from exc
    server.start()
    log.info("serving", extra={"port": server.gridtwin_port, "grpc_services": list(spec.grpc_services)})
    got = wait_for_signal()
    log.info("shutting down", extra={"signal": got.name, "grace_s": GRACE_S})
    mark_not_serving(server)
    server.stop(GRACE_S).wait()
    release(server)
    shutdown_telemetry()
    log.info("stopped")
