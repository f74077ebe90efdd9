"""What the gateway knows about the request being served: ``RequestInfo`` (kept in the ASGI scope by
the edge middleware, filled in by the guard and the auth routes, written to the audit log at the end) and
the verified caller as a context variable, which the gRPC client interceptors read to sign the internal
token of every back-end call made for the request."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from gridtwin.access.principal import Principal
from starlette.requests import HTTPConnection
from starlette.types import Scope

__all__ = ["SCOPE_KEY", "RequestInfo", "info_for_scope", "request_info", "request_principal", "set_principal"]

SCOPE_KEY = "gridtwin"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PRINCIPAL: ContextVar[Principal | None] = ContextVar("gridtwin_gateway_principal", default=None)


@dataclass
class RequestInfo:
    request_id: str
    ip: str
    method: str  # HTTP method, or WS
    path: str
    template: str = ""  # the matched route's path template ("" when no route matched)
    principal: Principal | None = None
    actor: str = ""  # who, when there is no principal (a login attempt names its user)
    via: str = ""
    key_owner: str = ""  # the user behind an API key
    family: str = ""  # the refresh family of the access token
    outcome: str = ""  # set by a route that knows better than the status (logins)
    site: str = ""
    trace_id: str = ""
    status: int = 0  # WebSocket refusals (HTTP answers carry their own)
    audit: bool = False  # write an audit row whatever the method and status
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def action(self) -> str:
        return f"{self.method} {self.template or self.path}"


def info_for_scope(scope: Scope) -> RequestInfo:
    """The request's info, made on first use (the edge middleware makes it before anything else)."""
    info = scope.get(SCOPE_KEY)
    if isinstance(info, RequestInfo):
        return info
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}
    given = headers.get("x-request-id", "")
    client = scope.get("client")
    info = RequestInfo(
        request_id=given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex,
        ip=str(client[0]) if client else "-",
        method="WS" if scope["type"] == "websocket" else str(scope.get("method", "")),
        path=str(scope.get("path", "")),
    )
    scope[SCOPE_KEY] = info
    return info


def request_info(conn: HTTPConnection) -> RequestInfo:
    return info_for_scope(conn.scope)


def set_principal(principal: Principal | None) -> None:
    """Make ``principal`` the caller of the back-end calls made in this request's task."""
    _PRINCIPAL.set(principal)


def request_principal() -> Principal | None:
    """The verified caller of the request being served (None outside one, e.g. readiness probes)."""
    return _PRINCIPAL.get()
