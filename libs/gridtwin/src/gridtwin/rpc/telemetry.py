"""OpenTelemetry tracing for the gRPC services: one SDK tracer provider per process.

``setup_telemetry`` is idempotent: the first call installs the global SDK provider, later calls reuse
it and only add exporters not attached yet (so ``gridtwin up``, where every service shares one
process, and tests that want an in-memory exporter both work). The gRPC interceptors come from
``opentelemetry-instrumentation-grpc`` and carry the W3C trace context across gateway -> service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

from opentelemetry import trace
from opentelemetry.instrumentation.grpc import client_interceptor, server_interceptor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gridtwin.errors import ErrorDetail, InputError

__all__ = [
    "EXPORTERS",
    "client_interceptors",
    "memory_exporter",
    "server_interceptors",
    "setup_telemetry",
    "shutdown_telemetry",
]

EXPORTERS = ("none", "console", "otlp", "memory")

_lock = threading.Lock()
_attached: set[str] = set()
_memory: InMemorySpanExporter | None = None


def setup_telemetry(service_name: str, exporter: str = "none") -> TracerProvider:
    """Install (once) the SDK tracer provider and attach ``exporter``: none | console | otlp | memory.

    ``otlp`` reads the standard ``OTEL_EXPORTER_OTLP_*`` environment variables; ``memory`` keeps
    finished spans for tests (see ``memory_exporter()``).
    """
    global _memory
    if exporter not in EXPORTERS:
        raise InputError(
            "unknown telemetry exporter",
            [ErrorDetail(where="GRIDTWIN_OTEL_EXPORTER", message=f"{exporter!r} not in {EXPORTERS}")],
        )
    with _lock:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current
        else:
            provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
            trace.set_tracer_provider(provider)
        if exporter == "none" or exporter in _attached:
            return provider
        if exporter == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        elif exporter == "otlp":
            # Imported lazily: the OTLP exporter pulls in its own gRPC channel machinery.
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            _memory = InMemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(_memory))
        _attached.add(exporter)
        return provider


def shutdown_telemetry() -> None:
    """Flush batched spans (OTLP) before the process exits."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(5_000)
        provider.shutdown()


def memory_exporter() -> InMemorySpanExporter | None:
    """The in-memory exporter attached by ``setup_telemetry(..., exporter="memory")``, if any."""
    return _memory


def server_interceptors() -> list[Any]:
    """Interceptors every gRPC server installs (outermost first): the OpenTelemetry server span.

    They use the global tracer provider through the API's proxy, so a provider installed after the
    server was built still receives the spans.
    """
    return [cast(Callable[[], Any], server_interceptor)()]


def client_interceptors() -> list[Any]:
    """Interceptors for outgoing sync channels: a client span plus W3C ``traceparent`` propagation.

    They are ``grpcext`` interceptors: apply them with
    ``opentelemetry.instrumentation.grpc.grpcext.intercept_channel`` (``gridtwin.rpc.client.channel``
    does); asyncio channels take ``opentelemetry.instrumentation.grpc.aio_client_interceptors()``.
    """
    return [cast(Callable[[], Any], client_interceptor)()]
