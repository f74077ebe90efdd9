"""The gateway's gRPC clients: one asyncio channel per back end, with auth and tracing interceptors.

``gridtwin.rpc.client.channel`` builds blocking channels; the gateway answers HTTP on an event loop,
so it needs ``grpc.aio`` channels (a blocking call would stall every other request). Options, TLS and
interceptors are the same as the shared helper's: message limits from ``gridtwin.rpc.server``, the
OpenTelemetry asyncio client interceptors from ``opentelemetry-instrumentation-grpc``, and
``gridtwin.rpc.auth_aio``'s, which sign a fresh internal token for the request's verified caller
(``context.request_principal``) on every call.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
from gridtwin.access.tokens import TokenSigner
from gridtwin.config import Settings
from gridtwin.rpc.auth_aio import aio_caller_interceptors
from gridtwin.rpc.server import grpc_options
from gridtwin.rpc.v1 import (
    hosting_pb2_grpc,
    ingestion_pb2_grpc,
    measurements_pb2_grpc,
    powerflow_pb2_grpc,
    twin_registry_pb2_grpc,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from gridtwin_gateway.context import request_principal

__all__ = ["BACKENDS", "Backends", "aio_channel", "channel_options", "open_backends", "tracing_enabled"]

BACKENDS = ("twin_registry", "ingestion", "powerflow", "hosting")
# Error details travel in trailing metadata; a bad import can name thousands of twins, which would
# overflow gRPC's default 16 KiB header limit and hide the real error behind RESOURCE_EXHAUSTED.
MAX_METADATA_BYTES = 4 * 1024 * 1024


def channel_options() -> list[tuple[str, int]]:
    return [
        *grpc_options(),
        ("grpc.max_metadata_size", MAX_METADATA_BYTES),
        ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
    ]


def tracing_enabled() -> bool:
    """False when the standard ``OTEL_SDK_DISABLED=true`` is set: no spans, no interceptors."""
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"


def aio_channel(addr: str, settings: Settings, signer: TokenSigner | None = None) -> grpc.aio.Channel:
    """An asyncio channel to ``addr`` whose calls carry the W3C trace context and, with a ``signer``, an
    internal token for the request's caller."""
    interceptors: list[Any] = aio_caller_interceptors(signer, request_principal) if signer is not None else []
    if tracing_enabled():
        interceptors += aio_client_interceptors()  # type: ignore[no-untyped-call]
    if settings.tls_cert is not None:
        creds = grpc.ssl_channel_credentials(root_certificates=settings.tls_cert.read_bytes())
        return grpc.aio.secure_channel(addr, creds, options=channel_options(), interceptors=interceptors)
    return grpc.aio.insecure_channel(addr, options=channel_options(), interceptors=interceptors)


def _new(stub_class: object, channel: grpc.aio.Channel) -> Any:
    return cast(Callable[[grpc.aio.Channel], Any], stub_class)(channel)


@dataclass
class Backends:
    """The back ends' channels and stubs. Build it on the event loop that will use it."""

    twin_registry: grpc.aio.Channel
    ingestion: grpc.aio.Channel
    powerflow: grpc.aio.Channel
    hosting: grpc.aio.Channel
    # The generated stub classes carry no annotations (strict mypy would reject every call).
    registry_stub: Any = field(init=False)
    ingestion_stub: Any = field(init=False)
    measurements_stub: Any = field(init=False)  # served by the ingestion process
    powerflow_stub: Any = field(init=False)
    hosting_stub: Any = field(init=False)

    def __post_init__(self) -> None:
        self.registry_stub = _new(twin_registry_pb2_grpc.TwinRegistryStub, self.twin_registry)
        self.ingestion_stub = _new(ingestion_pb2_grpc.IngestionStub, self.ingestion)
        self.measurements_stub = _new(measurements_pb2_grpc.MeasurementsStub, self.ingestion)
        self.powerflow_stub = _new(powerflow_pb2_grpc.PowerFlowStub, self.powerflow)
        self.hosting_stub = _new(hosting_pb2_grpc.HostingCapacityStub, self.hosting)

    def channels(self) -> dict[str, grpc.aio.Channel]:
        return {
            "twin_registry": self.twin_registry,
            "ingestion": self.ingestion,
            "powerflow": self.powerflow,
            "hosting": self.hosting,
        }

    async def health(self, timeout_s: float = 2.0) -> dict[str, str]:
        """Each back end's overall health status name (SERVING, NOT_SERVING, or the gRPC error)."""

        async def check(channel: grpc.aio.Channel) -> str:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
            except grpc.RpcError as err:
                code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
                return str(code.name)
            return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

        names = list(self.channels())
        results = await asyncio.gather(*(check(c) for c in self.channels().values()))
        return dict(zip(names, results, strict=True))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.channels().values()))


def open_backends(settings: Settings) -> Backends:
    """Channels to the addresses in ``settings`` (call inside the serving event loop); their calls carry
    the request's caller, signed with ``settings.internal_secret``."""
    secret = settings.internal_secret.get_secret_value() if settings.internal_secret else ""
    signer = TokenSigner(secret) if secret else None
    return Backends(
        twin_registry=aio_channel(settings.twin_registry_addr, settings, signer),
        ingestion=aio_channel(settings.ingestion_addr, settings, signer),
        powerflow=aio_channel(settings.powerflow_addr, settings, signer),
        hosting=aio_channel(settings.hosting_addr, settings, signer),
    )
