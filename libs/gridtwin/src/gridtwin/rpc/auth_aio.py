"""The asyncio twin of ``gridtwin.rpc.auth.caller_interceptors``: ``grpc.aio`` client interceptors that
sign a fresh internal token for the caller on every call of a channel.

The gateway answers HTTP on an event loop and calls the services over ``grpc.aio`` channels; the user it
verified for the request is read at call time (``principal()``, a context variable set by its auth
dependency), so one channel serves every user. A call made with no caller (a readiness probe) carries no
token: the services answer their health checks to anyone and refuse everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from gridtwin.access.principal import Principal
from gridtwin.access.tokens import TokenSigner
from gridtwin.rpc.auth import AUTH_KEY

__all__ = ["aio_caller_interceptors"]


class _Signing:
    """Adds ``authorization: Bearer <internal token>`` for the current caller to a call's metadata."""

    def __init__(self, signer: TokenSigner, principal: Callable[[], Principal | None]) -> None:
        self._signer = signer
        self._principal = principal

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        principal = self._principal()
        if principal is None:
            return details  # no caller: the service answers UNAUTHENTICATED (health checks excepted)
        kept = [(k, v) for k, v in (details.metadata or ()) if k != AUTH_KEY]
        metadata = grpc.aio.Metadata(*kept, (AUTH_KEY, f"Bearer {self._signer.internal_token(principal)}"))
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


# grpc.aio files an interceptor under the FIRST call kind it implements, so each kind has its own class.
class _UnaryUnary(_Signing, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)


class _UnaryStream(_Signing, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)


class _StreamUnary(_Signing, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


class _StreamStream(_Signing, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


def aio_caller_interceptors(
    signer: TokenSigner, principal: Principal | Callable[[], Principal | None]
) -> list[grpc.aio.ClientInterceptor]:
    """``grpc.aio`` interceptors signing a fresh internal token for ``principal`` (or whoever
    ``principal()`` returns at call time, e.g. the request's user in the gateway) on every call."""
    fixed = principal
    chooser: Callable[[], Principal | None] = (lambda: fixed) if isinstance(fixed, Principal) else fixed
    return [cls(signer, chooser) for cls in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)]
