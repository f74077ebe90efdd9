"""Outgoing gRPC channels: tracing interceptors, message limits and TLS, the same for every caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import grpc
from opentelemetry.instrumentation.grpc import grpcext

from gridtwin.config import Settings
from gridtwin.rpc.server import grpc_options
from gridtwin.rpc.telemetry import client_interceptors

__all__ = ["channel"]


def channel(addr: str, settings: Settings | None = None) -> grpc.Channel:
    """A channel to ``addr`` (host:port) whose calls carry the W3C trace context.

    With ``settings.tls_cert`` set, the channel is TLS and trusts that certificate (the services share
    one in the chart); otherwise (or with no settings) it is plaintext (localhost, or a mesh that does
    mTLS for us). Settings come from the caller: nothing here reads the environment.
    """
    tls_cert = settings.tls_cert if settings is not None else None
    if tls_cert is not None:
        creds = grpc.ssl_channel_credentials(root_certificates=tls_cert.read_bytes())
        base = grpc.secure_channel(addr, creds, options=grpc_options())
    else:
        base = grpc.insecure_channel(addr, options=grpc_options())
    # OpenTelemetry's sync client interceptor is a grpcext interceptor, not a grpc.*ClientInterceptor:
    # it must be applied with its own intercept_channel.
    intercept = cast(Callable[..., grpc.Channel], grpcext.intercept_channel)
    return intercept(base, *client_interceptors())
