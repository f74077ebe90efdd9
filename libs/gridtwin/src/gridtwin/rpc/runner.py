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
from gridtwin.rpc.server import GRACE_S, ServiceSpec, build_server, mark_not_serving

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


def start_grpc_services(specs: Sequence[ServiceSpec], settings: Settings) -> list[RunningService]:
    """Build and start one gRPC server per spec at its address; stops the started ones on failure."""
    running: list[RunningService] = []
    try:
        for spec in specs:
            if not spec.is_grpc:
                continue
            address = grpc_address(spec, settings)
            host, _, port = address.rpartition(":")
            server = build_server([spec], int(port), settings, host=host)
            server.start()
            running.append(RunningService(spec, server, f"{host}:{server.gridtwin_port}"))
    except BaseException:
        stop_grpc_services(running, grace_s=0)
        raise
    return running


def stop_grpc_services(running: Sequence[RunningService], grace_s: float = GRACE_S) -> None:
    """Stop every server at once (in-flight calls get ``grace_s``), then release their resources."""
    for svc in running:
        mark_not_serving(svc.server)
    for event in [svc.server.stop(grace_s) for svc in running]:
        event.wait()
    for svc in running:
        if svc.spec.on_stop is not None:
            try:
                svc.spec.on_stop()
            except Exception:  # keep closing the others
                log.exception("on_stop failed", extra={"service": svc.spec.name})
