"""``GridTwinError`` <-> gRPC status, only at the service boundary (docs/CONTRACTS.md).

Server side, ``ErrorInterceptor`` (installed by ``build_server``) turns a ``GridTwinError`` raised by a
servicer into ``context.abort(code, message)`` with the details as JSON in the trailing metadata
``gridtwin-error-details-bin``; any other exception becomes INTERNAL with a safe message and is logged
with its traceback. Clients read the details back with ``details_from_rpc_error``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

import grpc

from gridtwin.errors import (
    AccessDeniedError,
    ConflictError,
    EngineError,
    ErrorDetail,
    GridTwinError,
    InputError,
    NotAuthenticatedError,
    NotConvergedError,
    NotFoundError,
    RateLimitedError,
    UpstreamError,
)

__all__ = [
    "DETAILS_KEY",
    "ErrorInterceptor",
    "abort_with_error",
    "details_from_rpc_error",
    "error_from_rpc_error",
    "grpc_status_for",
    "map_errors",
]

DETAILS_KEY = "gridtwin-error-details-bin"

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


_PASS_THROUGH = {
    c.name: c
    for c in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    )
}


def grpc_status_for(exc: BaseException) -> grpc.StatusCode:
    """The status code a servicer answers with for ``exc``."""
    if isinstance(exc, GridTwinError):
        # A back end that was down or slow for us is down or slow for our caller too.
        passed = _PASS_THROUGH.get(str(exc.context.get("grpc_code", "")))
        if passed is not None:
            return passed
    if isinstance(exc, InputError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, NotFoundError):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, AccessDeniedError):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(exc, NotAuthenticatedError):
        return grpc.StatusCode.UNAUTHENTICATED
    if isinstance(exc, RateLimitedError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, ConflictError):
        # An etag mismatch is a failed optimistic write; anything else is a duplicate id.
        if exc.context.get("kind") == "etag" or any(d.code.startswith("etag") for d in exc.details):
            return grpc.StatusCode.ABORTED
        return grpc.StatusCode.ALREADY_EXISTS
    if isinstance(exc, UpstreamError):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(exc, NotConvergedError):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(exc, EngineError):
        return grpc.StatusCode.INTERNAL
    if isinstance(exc, GridTwinError):
        return grpc.StatusCode.UNKNOWN
    return grpc.StatusCode.INTERNAL


# gRPC caps metadata (16 KiB by default on the receiving side), so a batch rejected for every one of
# its 7,000 twins must not send 7,000 details: the first ones and a count locate the problem.
MAX_DETAILS = 50
MAX_DETAIL_CHARS = 300


def _details_bytes(details: list[ErrorDetail]) -> bytes:
    shown = [{k: v[:MAX_DETAIL_CHARS] for k, v in d.to_dict().items()} for d in details[:MAX_DETAILS]]
    if len(details) > MAX_DETAILS:
        shown.append(
            {"where": "...", "message": f"{len(details) - MAX_DETAILS} more not shown", "code": "more"}
        )
    return json.dumps(shown).encode()


def abort_with_error(context: grpc.ServicerContext, exc: BaseException) -> None:
    """Abort the call for ``exc``; never returns (``context.abort`` raises)."""
    if isinstance(exc, GridTwinError):
        code = grpc_status_for(exc)
        context.set_trailing_metadata(((DETAILS_KEY, _details_bytes(exc.details)),))
        # The message carries the first details too, for clients that only read the status text.
        context.abort(code, str(exc)[:4000])
    log.error("unhandled error in servicer", exc_info=(type(exc), exc, exc.__traceback__))
    context.abort(grpc.StatusCode.INTERNAL, "internal error (see the service log)")


def map_errors(fn: F) -> F:
    """Decorator for one servicer method: the same mapping as ``ErrorInterceptor``."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Exception as exc:
            if _is_abort(exc):
                raise
            abort_with_error(context, exc)
            raise  # unreachable: abort raises

    return cast(F, wrapper)


def _is_abort(exc: BaseException) -> bool:
    # grpc's context.abort raises a bare Exception; let it through untouched.
    return type(exc) is Exception


class ErrorInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Maps exceptions of every handler of a server (unary or streaming, either way)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # Client streaming (uploads): the same mapping, or an InputError would reach the caller as
        # UNKNOWN "Exception calling application" (an HTTP 500 at the gateway).
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _wrap_unary(behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request, context)
        except Exception as exc:
            if _is_abort(exc):
                raise
            abort_with_error(context, exc)
            raise

    return call


def _wrap_stream(behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            yield from behavior(request, context)
        except Exception as exc:
            if _is_abort(exc):
                raise
            abort_with_error(context, exc)
            raise

    return call


def details_from_rpc_error(err: grpc.RpcError) -> list[dict[str, str]]:
    """The located details a GridTwin service attached to a failed call ([] when none)."""
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == DETAILS_KEY:
            raw = value if isinstance(value, bytes) else str(value).encode()
            try:
                parsed = json.loads(raw)
            except ValueError:
                return []
            if isinstance(parsed, list):
                return [{k: str(v) for k, v in item.items()} for item in parsed if isinstance(item, dict)]
    return []


_BY_CODE: dict[grpc.StatusCode, type[GridTwinError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InputError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.PERMISSION_DENIED: AccessDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: NotAuthenticatedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimitedError,
    grpc.StatusCode.ABORTED: ConflictError,
    grpc.StatusCode.ALREADY_EXISTS: ConflictError,
    grpc.StatusCode.FAILED_PRECONDITION: NotConvergedError,
}


def error_from_rpc_error(err: grpc.RpcError) -> GridTwinError:
    """Rebuild a ``GridTwinError`` from a failed call, so a service calling another re-raises it."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    details = [
        ErrorDetail(where=d.get("where", ""), message=d.get("message", ""), code=d.get("code", "invalid"))
        for d in details_from_rpc_error(err)
    ]
    cls = _BY_CODE.get(code, EngineError)
    context: dict[str, Any] = {"grpc_code": code.name}
    if code == grpc.StatusCode.ABORTED:
        context["kind"] = "etag"
    # The message already repeats the details (str(exc) on the server); keep only its head.
    head = (message or code.name).split(": ", 1)[0] if details else (message or code.name)
    return cls(head, details, **context)
