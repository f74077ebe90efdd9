"""The OpenAPI document with its security: the schemes (OAuth2 password flow at /api/v1/auth/token, an
API key header, the session cookie), ``security`` on every protected operation and the permission it
needs (``x-permission``), and the answers every operation may give whatever its own code does, all from
the route table (``authz.ROUTE_PERMISSIONS``): the refusals (401, 403, 413, 429), a body that does not
parse (400), a request that does not validate (422, in the error body every error has, not FastAPI's
``HTTPValidationError``), the request time limit (504) and an unexpected failure (500)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from gridtwin.access.roles import MATRIX, ROLES

from gridtwin_gateway.authz import ROUTE_PERMISSIONS, UPLOAD_ROUTES

__all__ = ["SECURITY", "install_openapi"]

SCHEMES: dict[str, dict[str, Any]] = {
    "OAuth2PasswordBearer": {
        "type": "oauth2",
        "description": "an access token from the password grant (Authorization: Bearer ...); an API key "
        "(gtk_...) may be sent the same way",
        "flows": {"password": {"tokenUrl": "/api/v1/auth/token", "scopes": {}}},
    },
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "an API key, gtk_...",
    },
    "SessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "gridtwin_access",
        "description": "a browser session (POST /api/v1/auth/session); unsafe methods also need X-CSRF-Token",
    },
}
SECURITY: list[dict[str, list[str]]] = [{name: []} for name in SCHEMES]
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def _refusals(protected: bool, has_body: bool, has_input: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        "429": {
            "description": "too many requests (per user and per address)",
            "headers": _RETRY_AFTER,
            "content": _ERROR,
        },
        "500": {
            "description": "an unexpected failure (a bug): X-Request-ID names the request in the log",
            "content": _ERROR,
        },
        "504": {
            "description": "the request took longer than GRIDTWIN_REQUEST_TIMEOUT_S",
            "content": _ERROR,
        },
    }
    if protected:
        out["401"] = {
            "description": "no, expired or invalid credentials; a disabled user; an ended session",
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
            "content": _ERROR,
        }
        out["403"] = {
            "description": "the role lacks the permission, or a cookie request its CSRF header",
            "content": _ERROR,
        }
    if has_body:
        out["413"] = {"description": "the body is over the limit", "content": _ERROR}
    if has_input:
        out["400"] = {
            "description": "the body could not be parsed, or the input is not valid",
            "content": _ERROR,
        }
        out["422"] = {
            "description": "a parameter or body field is not valid (details name it)",
            "content": _ERROR,
        }
    return out


def decorate(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SCHEMES)
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            key = (method.upper(), path)
            if key not in ROUTE_PERMISSIONS:
                continue  # a test fails on routes missing from the table
            permission = ROUTE_PERMISSIONS[key]
            responses = op.setdefault("responses", {})
            has_body = "requestBody" in op and key not in UPLOAD_ROUTES
            has_input = "requestBody" in op or bool(op.get("parameters"))
            if "422" in responses:  # FastAPI's HTTPValidationError: ours is the error body every error has
                responses["422"]["content"] = _ERROR
            for status, response in _refusals(permission is not None, has_body, has_input).items():
                responses.setdefault(status, response)
            op["responses"] = dict(sorted(responses.items()))  # in status order on /docs
            if permission is None:
                op["security"] = []
                continue
            op["security"] = SECURITY
            op["x-permission"] = permission
            roles = ", ".join(r.value for r in ROLES if r in MATRIX[permission][0])
            note = f"Permission `{permission}` (roles: {roles})."
            op["description"] = f"{op['description']}\n\n{note}" if op.get("description") else note
    schemas = components.get("schemas", {})
    if "HTTPValidationError" in schemas and "HTTPValidationError" not in json.dumps(schema.get("paths", {})):
        schemas.pop("HTTPValidationError")
        schemas.pop("ValidationError", None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the decorated document (built once)."""
    original: Callable[[], dict[str, Any]] = app.openapi
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not done:
            done.append(decorate(original()))
        return done[0]

    app.openapi = openapi  # type: ignore[method-assign]
