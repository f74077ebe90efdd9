"""Outgoing gRPC channels: tracing interceptors, message limits, TLS and the caller's internal token, the
same for every caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import grpc
from opentelemetry.instrumentation.grpc import grpcext

from gridtwin.access.principal import Principal, system_principal
from gridtwin.config import Settings
from gridtwin.rpc.auth import caller_interceptors, caller_or, internal_signer
from gridtwin.rpc.server import grpc_options
from gridtwin.rpc.telemetry import client_interceptors

__all__ = ["channel", "service_channel"]

PrincipalChoice = Principal | Callable[[], Principal | None]


def channel(
    addr: str, settings: Settings | None = None, *, principal: PrincipalChoice | None = None
) -> grpc.Channel:
    """A channel to ``addr`` (host:port) whose calls carry the W3C trace context.

    With ``settings.tls_cert`` set, the channel is TLS and trusts that certificate (the services share
    one in the chart); otherwise (or with no settings) it is plaintext (localhost, or a mesh that does
    mTLS for us). Settings come from the caller: nothing here reads the environment.

    ``principal`` (a fixed one, or a function giving the caller at call time): every call carries a
    fresh internal token for it, signed with ``settings.internal_secret`` (an ``InputError`` naming
    GRIDTWIN_INTERNAL_SECRET without one). Without ``principal`` calls carry no token: only health and
    reflection answer them.
    """
    tls_cert = settings.tls_cert if settings is not None else None
    if tls_cert is not None:
        creds = grpc.ssl_channel_credentials(root_certificates=tls_cert.read_bytes())
        base = grpc.secure_channel(addr, creds, options=grpc_options())
    else:
        base = grpc.insecure_channel(addr, options=grpc_options())
    if principal is not None:
        signer = internal_signer(settings or Settings.model_construct(), "a caller of the services")
        base = grpc.intercept_channel(base, *caller_interceptors(signer, principal))
    # OpenTelemetry's sync client interceptor is a grpcext interceptor, not a grpc.*ClientInterceptor:
    # it must be applied with its own intercept_channel.
    intercept = cast(Callable[..., grpc.Channel], grpcext.intercept_channel)
    return intercept(base, *client_interceptors())


def service_channel(addr: str, settings: Settings, service: str) -> grpc.Channel:
    """A service's channel to another service: a call made while serving a request acts for that
    request's caller (the user's sites reach the next service too), any other (a job thread, start-up)
    for the service itself (``system_principal(service)``)."""
    return channel(addr, settings, principal=caller_or(system_principal(service)))
