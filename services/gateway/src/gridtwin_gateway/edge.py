"""The gateway's edge: one pure ASGI middleware around every request.

- a request id (a sane ``X-Request-ID`` from the client, else a new one), echoed on the answer;
- the body-size limit for JSON (``max_json_bytes``: 413 from the declared length, or as soon as the
  streamed body passes it); uploads keep their own limits;
- the request time limit (``request_timeout_s``; imports and uploads up to ``authz.LONG_ROUTE_S``): 504;
- an unexpected exception (a bug): logged, and a 500 in the usual error body;
- security headers on every answer (CSP, nosniff, Referrer-Policy, X-Frame-Options, HSTS over TLS);
- the audit row, written once the answer is sent: every login, every refusal (401, 403, 429), every
  write (any method but GET/HEAD/OPTIONS) of a known route.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import parse_qs

from gridtwin.config import Settings
from gridtwin.store.accounts import AuditEntry
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridtwin_gateway.authz import LONG_ROUTE_S, LONG_ROUTES, UPLOAD_ROUTES
from gridtwin_gateway.context import RequestInfo, info_for_scope
from gridtwin_gateway.errors import error_response

__all__ = ["EdgeMiddleware", "security_headers"]

log = logging.getLogger(__name__)

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
REFUSALS: Final = frozenset({401, 403, 423, 429})
SITE_CAPTURE_BYTES: Final = 64 * 1024  # a JSON body up to this size is read again for its "site"
DOCS_PATHS: Final = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
API_CSP: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI and ReDoc come from the package (fastapi-offline) and start with an inline script.
DOCS_CSP: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def _patterns(routes: frozenset[tuple[str, str]]) -> list[tuple[str, re.Pattern[str]]]:
    return [(method, compile_path(path)[0]) for method, path in routes]


_UPLOADS = _patterns(UPLOAD_ROUTES)
_LONG = _patterns(LONG_ROUTES)


def _matches(patterns: list[tuple[str, re.Pattern[str]]], method: str, path: str) -> bool:
    return any(m == method and p.match(path) for m, p in patterns)


def security_headers(path: str, https: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", (DOCS_CSP if path in DOCS_PATHS else API_CSP).encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if path.startswith("/api/v1/auth"):
        headers.append((b"cache-control", b"no-store"))
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class _TooLarge(Exception):
    pass


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        audit: Callable[[AuditEntry], Awaitable[None]],
    ) -> None:
        self.app = app
        self.settings = settings
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            info = info_for_scope(scope)
            try:
                await self.app(scope, receive, send)
            finally:
                if info.status in REFUSALS:
                    await self._write_audit(info, info.status, scope, b"")
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        info = info_for_scope(scope)
        method, path = info.method, info.path
        https = scope.get("scheme") == "https"
        extra = [*security_headers(path, https), (b"x-request-id", info.request_id.encode())]
        limit = None if _matches(_UPLOADS, method, path) else self.settings.max_json_bytes
        timeout = self.settings.request_timeout_s
        if _matches(_LONG, method, path):
            timeout = max(timeout, LONG_ROUTE_S)
        state: dict[str, Any] = {"started": False, "replaced": False, "status": 0, "seen": 0, "over": False}
        captured = bytearray()

        async def send_raw(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
                state["started"] = True
                state["status"] = int(message["status"])
            await send(message)

        async def answer(status: int, code: str, text: str, where: str) -> None:
            response = error_response(
                status, code, text, [{"where": where, "message": text, "code": code.lower()}]
            )
            await response(scope, receive, send_raw)

        async def too_large() -> None:
            await answer(413, "RESOURCE_EXHAUSTED", f"the request body is over {limit} bytes", "body")

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                state["seen"] += len(chunk)
                if limit is not None and state["seen"] > limit:
                    state["over"] = True
                    raise _TooLarge
                room = SITE_CAPTURE_BYTES - len(captured)
                if room > 0:
                    captured.extend(chunk[:room])
            return message

        async def guarded_send(message: Message) -> None:
            if state["replaced"]:
                return  # the app's own answer after ours is dropped
            if message["type"] == "http.response.start" and state["over"]:
                state["replaced"] = True  # the app turned our stop into its own error: answer 413
                await too_large()
                return
            await send_raw(message)

        declared = _header(scope, b"content-length")
        try:
            if limit is not None and declared.isdigit() and int(declared) > limit:
                state["over"] = True
                await too_large()
            else:
                await asyncio.wait_for(self.app(scope, limited_receive, guarded_send), timeout)
        except TimeoutError:
            if not state["started"]:
                await answer(504, "DEADLINE_EXCEEDED", f"the request took over {timeout:g} s", path)
            else:
                state["status"] = state["status"] or 504
        except _TooLarge:
            if not state["started"]:
                await too_large()
        except Exception:
            # A bug, not an answer: logged with its traceback, and answered in the error body every
            # error has (with the request id and the security headers, which Starlette's own 500 lacks).
            log.exception("unhandled error: %s %s (request %s)", method, path, info.request_id)
            if not state["started"]:
                text = f"internal error (the gateway's log has it under request id {info.request_id})"
                await answer(500, "INTERNAL", text, path)
            else:
                state["status"] = state["status"] or 500
        finally:
            status = int(state["status"]) or 500
            if self._should_audit(info, status):
                body = bytes(captured) if state["seen"] <= SITE_CAPTURE_BYTES else b""
                await self._write_audit(info, status, scope, body)

    @staticmethod
    def _should_audit(info: RequestInfo, status: int) -> bool:
        if info.audit or status in REFUSALS:
            return True
        if info.method in SAFE_METHODS:
            return False
        return bool(info.template) or status == 413  # unknown paths (404, 405) are not written

    async def _write_audit(self, info: RequestInfo, status: int, scope: Scope, body: bytes) -> None:
        principal = info.principal
        if info.outcome:
            outcome = info.outcome
        elif status < 400:
            outcome = "ok"
        elif status in REFUSALS:
            outcome = "denied"
        else:
            outcome = "failed" if status < 500 else "error"
        entry = AuditEntry(
            actor=principal.subject if principal is not None else (info.actor or "-"),
            action=info.action,
            outcome=outcome,
            via=info.via,
            resource=info.path,
            site=info.site or _site_of(scope, body),
            status=status,
            ip=info.ip,
            request_id=info.request_id,
            trace_id=info.trace_id,
            detail=info.detail,
        )
        await self.audit(entry)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def _site_of(scope: Scope, body: bytes) -> str:
    """The site a request names, when it names one: ``?site=`` or a JSON body's ``site``."""
    query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
    if query.get("site"):
        return str(query["site"][0])[:128]
    if body and "json" in _header(scope, b"content-type"):
        with contextlib.suppress(ValueError, UnicodeDecodeError, RecursionError):
            doc = json.loads(body)
            if isinstance(doc, dict) and isinstance(doc.get("site"), str):
                return str(doc["site"])[:128]
    return ""
