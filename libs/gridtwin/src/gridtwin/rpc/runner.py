"""Run many gRPC services in one process: discover them (entry points), start, stop.

Used by ``gridtwin up`` and by the end-to-end tests; each service gets its own server and port.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import grpc

from gridtwin.config import Settings
from gridtwin.rpc.auth import internal_signer
from gridtwin.rpc.server import GRACE_S, ServiceSpec, bind, mark_not_serving, mount, new_server, release

__all__ = [
    "ENTRY_POINT_GROUP",
    "Discovered",
    "RunningService",
    "discover_services",
    "grpc_address",
    "start_grpc_services",
    "stop_grpc_services",
]

ENTRY_POINT_GROUP = "gridtwin.services"
log = logging.getLogger(__name__)


@dataclass
class RunningService:
    spec: ServiceSpec
    server: grpc.Server
    address: str
    settings: Settings  # what the service was mounted with (its peers' addresses as bound)


@dataclass
class Discovered:
    specs: list[ServiceSpec] = field(default_factory=list)
    modules: dict[str, str] = field(default_factory=dict)  # spec name -> module holding SERVICE
    failed: dict[str, str] = field(default_factory=dict)  # entry point name -> why it did not load


def discover_services() -> Discovered:
    """Every ``ServiceSpec`` registered under ``gridtwin.services`` (one that fails to import is
    reported, not fatal: the other services still run)."""
    found = Discovered()
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            spec = ep.load()
        except Exception as exc:  # any import error of one plug-in must not stop the others
            found.failed[ep.name] = f"{type(exc).__name__}: {exc}"
            log.exception("cannot load service", extra={"entry_point": ep.value})
            continue
        if not isinstance(spec, ServiceSpec):
            found.failed[ep.name] = f"{ep.value} is not a ServiceSpec"
            continue
        found.specs.append(spec)
        found.modules[spec.name] = ep.module
    return found


def grpc_address(spec: ServiceSpec, settings: Settings) -> str:
    """``GRIDTWIN_<NAME>_ADDR`` for services that have one, else host:default_port."""
    configured = getattr(settings, f"{spec.name}_addr", None)
    if isinstance(configured, str) and configured:
        return configured
    return f"{settings.host}:{spec.default_port}"


def _addr_field(spec: ServiceSpec) -> str:
    return f"{spec.name}_addr"


def start_grpc_services(
    specs: Sequence[ServiceSpec], settings: Settings, *, free_ports: bool = False
) -> list[RunningService]:
    """Build and start one gRPC server per spec; stops the started ones on failure.

    Every port is bound before any service is mounted, so a taken port fails before anything starts
    (no migration, no cluster). With ``free_ports`` each service whose address was not configured
    (``GRIDTWIN_<NAME>_ADDR``) listens on a free loopback port instead of its default, so two
    installations on one machine never meet; the services are then mounted with settings that carry
    the addresses actually bound (``running[i].settings``).

    Every service answers only callers signed with ``settings.internal_secret``: without one nothing
    starts (an ``InputError`` naming GRIDTWIN_INTERNAL_SECRET, before any port is bound).
    """
    if any(spec.is_grpc for spec in specs):
        internal_signer(settings, "the gRPC services")
    bound: list[tuple[ServiceSpec, grpc.Server, str]] = []
    running: list[RunningService] = []
    try:
        for spec in specs:
            if not spec.is_grpc:
                continue
            configured = _addr_field(spec) in settings.model_fields_set
            if free_ports and not configured:
                host, port = "127.0.0.1", 0
            else:
                address = grpc_address(spec, settings)
                host, _, text = address.rpartition(":")
                port = int(text)
            server = new_server()
            port = bind(server, f"{host}:{port}", settings)
            bound.append((spec, server, f"{host}:{port}"))
        actual = {
            _addr_field(spec): addr for spec, _, addr in bound if _addr_field(spec) in Settings.model_fields
        }
        effective = settings.model_copy(update=actual)
        for spec, server, addr in bound:
            mount(server, [spec], effective)
            server.start()
            running.append(RunningService(spec, server, addr, effective))
    except BaseException:
        stop_grpc_services(running, grace_s=0)
        for _, server, _ in bound[len(running) :]:
            server.stop(0)
            release(server)  # a mount that failed half-way gives back what it opened
        raise
    return running


def stop_grpc_services(running: Sequence[RunningService], grace_s: float = GRACE_S) -> None:
    """Stop every server at once (in-flight calls get ``grace_s``), then release their resources."""
    for svc in running:
        mark_not_serving(svc.server)
    for event in [svc.server.stop(grace_s) for svc in running]:
        event.wait()
    for svc in running:
        release(svc.server)
