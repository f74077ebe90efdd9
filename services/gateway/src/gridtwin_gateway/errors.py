"""The one place where failures become HTTP answers.

Every error body has the shape ``{"error": {"code", "message", "details": [{"where", "message"}]}}``:
gRPC failures from the back ends (status code -> HTTP status, details from the trailing metadata),
errors the gateway finds itself (``ApiError``: bad filter syntax, oversize upload, bad multipart) and
FastAPI's request validation errors (422).
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from gridtwin.errors import GridTwinError, RateLimitedError
from gridtwin.rpc.errors import details_from_rpc_error, grpc_status_for
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "ApiError",
    "ErrorBody",
    "ErrorDetailOut",
    "ErrorInfo",
    "error_from_exception",
    "error_response",
    "http_status_for",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


class ErrorDetailOut(BaseModel):
    where: str = Field(
        description="what the problem is attached to: file:line, twin id, JSON path, parameter"
    )
    message: str
    code: str = Field(default="invalid", description="a short machine-readable reason")


class ErrorInfo(BaseModel):
    code: str = Field(description="gRPC-style status name, e.g. NOT_FOUND, INVALID_ARGUMENT")
    message: str
    details: list[ErrorDetailOut] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """The body of every non-2xx answer."""

    error: ErrorInfo


class ApiError(Exception):
    """An error the gateway itself detects before (or instead of) calling a back end."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}


_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def http_status_for(code: grpc.StatusCode, *, if_match_sent: bool = False, upload: bool = False) -> int:
    """HTTP status for a back end's gRPC status.

    ABORTED / FAILED_PRECONDITION are optimistic-concurrency failures (or a model in the wrong state):
    412 when the client made the write conditional with If-Match, else 409. RESOURCE_EXHAUSTED means
    the body was too large on an upload (413) and a rate or quota limit otherwise (429).
    """
    if code in (grpc.StatusCode.ABORTED, grpc.StatusCode.FAILED_PRECONDITION):
        return 412 if if_match_sent else 409
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return 413 if upload else 429
    return _STATUS.get(code, 500)


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body = ErrorBody(
        error=ErrorInfo(
            code=code,
            message=message,
            details=[
                ErrorDetailOut(
                    where=str(d.get("where", "")),
                    message=str(d.get("message", "")),
                    code=str(d.get("code", "invalid")),
                )
                for d in details or []
            ],
        )
    )
    return JSONResponse(status_code=status, content=body.model_dump())


# What a client needs to know to recover, on the answers that need it.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gridtwin"'}
RETRY_AFTER_KEY = "retry-after"  # trailing metadata a service may set on RESOURCE_EXHAUSTED (seconds)


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _retry_after_of(err: grpc.RpcError, details: list[dict[str, str]]) -> float:
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == RETRY_AFTER_KEY:
            text = value.decode() if isinstance(value, bytes) else str(value)
            with contextlib.suppress(ValueError):
                return float(text)
    for d in details:
        if d.get("code") == "retry_after":
            with contextlib.suppress(ValueError):
                return float(d.get("message", ""))
    return 1.0


def error_from_exception(exc: GridTwinError) -> ApiError:
    """The HTTP answer for an error raised in the gateway itself (its stores, its checks)."""
    status = http_status_for(grpc_status_for(exc))
    code = grpc_status_for(exc).name
    details = [d.to_dict() for d in exc.details]
    headers: dict[str, str] = {}
    if status == 401:
        headers.update(CHALLENGE)
    elif status == 429:
        headers.update(retry_after_header(exc.retry_after_s if isinstance(exc, RateLimitedError) else 1.0))
    return ApiError(status, code, exc.message, details, headers)


def _rpc_error_response(request: Request, err: grpc.RpcError) -> JSONResponse:
    code: grpc.StatusCode = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message: str = (err.details() if hasattr(err, "details") else None) or code.name
    details = details_from_rpc_error(err)
    if details:
        # The service repeats its details in the status text; the body lists them on their own.
        message = message.split(": ", 1)[0]
    if code == grpc.StatusCode.ALREADY_EXISTS and any(d.get("code", "").startswith("etag") for d in details):
        # A stale etag is an optimistic-concurrency failure whatever status the service chose.
        code = grpc.StatusCode.ABORTED
    status = http_status_for(
        code,
        if_match_sent="if-match" in request.headers,
        upload=request.url.path.rstrip("/").endswith(("/feeders/import", "/feeders/import-path")),
    )
    if status == 503 and not details:
        details = [{"where": request.url.path, "message": "a back-end service is unreachable"}]
    if status >= 500:
        log.warning("back end failed: %s %s -> %s %s", request.method, request.url.path, code.name, message)
    response = error_response(status, code.name, message, details)
    if status == 401:
        response.headers.update(CHALLENGE)
    elif status == 429:
        response.headers.update(retry_after_header(_retry_after_of(err, details)))
    return response


def _validation_details(exc: RequestValidationError) -> list[dict[str, str]]:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        # ("query", "page_size") -> "query.page_size": says both where and which parameter.
        details.append(
            {"where": ".".join(loc) or "request", "message": str(err.get("msg", "")), "code": "invalid"}
        )
    return details


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the same body shape."""

    async def on_rpc_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, grpc.RpcError)
        return _rpc_error_response(request, exc)

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        response.headers.update(exc.headers)
        return response

    async def on_gridtwin_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GridTwinError)
        return await on_api_error(request, error_from_exception(exc))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, "VALIDATION_ERROR", "the request is not valid", _validation_details(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        # 400: a body FastAPI could not parse ("There was an error parsing the body").
        code = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(
            exc.status_code, "HTTP_ERROR"
        )
        response = error_response(
            exc.status_code, code, str(exc.detail), [{"where": request.url.path, "message": str(exc.detail)}]
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    app.add_exception_handler(grpc.RpcError, on_rpc_error)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(GridTwinError, on_gridtwin_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
