"""Who is calling a service, verified at the boundary, for every call.

Server side, ``AuthInterceptor`` (installed by ``build_server`` after the error interceptor) reads the
``authorization: Bearer <internal token>`` metadata, verifies it with the internal secret
(``gridtwin.access.tokens``), checks the RPC's permission (``rpc.authz.RPC_PERMISSIONS``) and makes the
caller the ``current_principal()`` of the call; servicers pass it to the core, which filters by its
sites. Health and reflection answer anyone (probes carry no credentials).

Client side, ``caller_interceptors(signer, principal)`` sign a fresh internal token per call: the gateway
for the user it verified (``principal`` reads the request's), a service or job for itself
(``system_principal``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import grpc

from gridtwin.access.principal import Principal
from gridtwin.access.tokens import TokenSigner
from gridtwin.config import Settings
from gridtwin.errors import AccessDeniedError, ErrorDetail, GridTwinError, InputError, NotAuthenticatedError
from gridtwin.rpc.authz import EXEMPT_SERVICES, RPC_PERMISSIONS
from gridtwin.rpc.errors import abort_with_error

__all__ = [
    "AUTH_KEY",
    "AuthInterceptor",
    "caller_interceptors",
    "caller_or",
    "current_principal",
    "internal_signer",
    "using_principal",
]

AUTH_KEY = "authorization"
_PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "gridtwin_principal", default=None
)


def current_principal() -> Principal:
    """The verified caller of the call being served (``NotAuthenticatedError`` outside one)."""
    principal = _PRINCIPAL.get()
    if principal is None:
        raise NotAuthenticatedError(
            "not authenticated", [ErrorDetail(where="authorization", message="no verified caller")]
        )
    return principal


def caller_or(fallback: Principal) -> Callable[[], Principal]:
    """Who a service's outgoing call acts for: the caller of the call being served, if any (a user's
    request carries the user on to the registry, which filters by the user's sites too), else
    ``fallback`` (the service itself: job threads and start-up work run outside any call)."""

    def choose() -> Principal:
        return _PRINCIPAL.get() or fallback

    return choose


def internal_signer(settings: Settings, who: str = "this service") -> TokenSigner:
    """The signer of internal tokens from ``settings.internal_secret``; a clear ``InputError`` naming
    GRIDTWIN_INTERNAL_SECRET when it is unset or too short (services refuse to start without it: there
    is no unauthenticated mode)."""
    secret = settings.internal_secret.get_secret_value() if settings.internal_secret is not None else ""
    if not secret:
        raise InputError(
            "GRIDTWIN_INTERNAL_SECRET is not set",
            [
                ErrorDetail(
                    where="GRIDTWIN_INTERNAL_SECRET",
                    message=f"{who} needs the internal secret shared by the gateway and the services "
                    "(at least 32 bytes; `gridtwin up` keeps one in its data folder's secrets.json)",
                    code="missing_secret",
                )
            ],
        )
    try:
        return TokenSigner(secret)
    except ValueError as exc:
        raise InputError(
            "GRIDTWIN_INTERNAL_SECRET is not usable",
            [ErrorDetail(where="GRIDTWIN_INTERNAL_SECRET", message=str(exc), code="bad_secret")],
        ) from exc


class using_principal:
    """``with using_principal(p):`` makes ``p`` the caller for code run in this context (the gateway
    around a request's back-end calls, a test)."""

    def __init__(self, principal: Principal | None) -> None:
        self._principal = principal
        self._token: contextvars.Token[Principal | None] | None = None

    def __enter__(self) -> Principal | None:
        self._token = _PRINCIPAL.set(self._principal)
        return self._principal

    def __exit__(self, *_: object) -> None:
        if self._token is not None:
            _PRINCIPAL.reset(self._token)


def _bearer(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == AUTH_KEY:
            text = value.decode() if isinstance(value, bytes) else str(value)
            return text[7:].strip() if text[:7].lower() == "bearer " else ""
    return ""


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Verifies the caller and the RPC's permission before the servicer runs."""

    def __init__(self, signer: TokenSigner, permissions: Mapping[str, str] = RPC_PERMISSIONS) -> None:
        self._signer = signer
        self._permissions = permissions

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        method = str(details.method)
        if handler is None or method.lstrip("/").startswith(EXEMPT_SERVICES):
            return handler
        token = _bearer(details.invocation_metadata)

        def admit() -> Principal:
            principal = self._signer.verify_internal(token)
            permission = self._permissions.get(method)
            if permission is None:  # an RPC without an entry is nobody's
                raise AccessDeniedError(
                    "not allowed", [ErrorDetail(where=method, message="no permission defined")]
                )
            principal.require(permission)
            return principal

        def unary(behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
            def call(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    principal = admit()
                except GridTwinError as exc:
                    abort_with_error(context, exc)
                    raise
                with using_principal(principal):
                    return behavior(request, context)

            return call

        def streaming(behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]]) -> Callable[..., Any]:
            def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                try:
                    principal = admit()
                except GridTwinError as exc:
                    abort_with_error(context, exc)
                    raise
                with using_principal(principal):
                    yield from behavior(request, context)

            return call

        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                streaming(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                unary(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            streaming(handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class _ClientCallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


class _Caller(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds ``authorization: Bearer <internal token>`` for the caller to every call of a channel."""

    def __init__(self, signer: TokenSigner, principal: Callable[[], Principal | None]) -> None:
        self._signer = signer
        self._principal = principal

    def _details(self, details: Any) -> Any:
        principal = self._principal()
        if principal is None:
            return details  # no caller: the service answers UNAUTHENTICATED
        metadata = [m for m in (details.metadata or ()) if m[0] != AUTH_KEY]
        metadata.append((AUTH_KEY, f"Bearer {self._signer.internal_token(principal)}"))
        return _ClientCallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


def caller_interceptors(
    signer: TokenSigner, principal: Principal | Callable[[], Principal | None]
) -> list[grpc.UnaryUnaryClientInterceptor]:
    """Client interceptors signing a fresh internal token for ``principal`` (or whoever
    ``principal()`` returns at call time, e.g. the request's user in the gateway) on every call."""
    fixed = principal
    chooser: Callable[[], Principal | None] = (lambda: fixed) if isinstance(fixed, Principal) else fixed
    return [_Caller(signer, chooser)]
