"""The route table covers every route, the docs are printed from it, and every route answers as it says:
public ones without credentials, protected ones 401 without, 403 for a role without the permission (the
WebSocket too), and the OpenAPI document carries the security of each operation."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_fakes import ApiClient, FakeBackends, accounts, make_user
from gridtwin.access.roles import MATRIX, ROLES
from gridtwin_gateway.app import create_app
from gridtwin_gateway.authz import ROUTE_PERMISSIONS, iter_app_routes, security_markdown

REPO = Path(__file__).resolve().parents[3]
PROTECTED = sorted((k, p) for k, p in ROUTE_PERMISSIONS.items() if p is not None and k[0] != "WS")
PUBLIC_PROBES = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
]


def concrete(path: str) -> str:
    """A template with its parameters filled (values no test servicer knows)."""
    return re.sub(r"\{[^}]+\}", "0a", path)


def test_every_route_has_an_entry(client: ApiClient) -> None:
    served = set(iter_app_routes(client.app))
    missing = sorted(served - set(ROUTE_PERMISSIONS))
    assert not missing, f"routes without a permission in gridtwin_gateway/authz.py: {missing}"
    stale = sorted(set(ROUTE_PERMISSIONS) - served)
    assert not stale, f"entries for routes that do not exist: {stale}"
    assert all(p is None or p in MATRIX for p in ROUTE_PERMISSIONS.values())
    assert ("WS", "/api/v1/jobs/{job_id}/events") in served


def test_a_new_route_without_an_entry_is_caught_and_refused(client: ApiClient) -> None:
    app = create_app(client.app.state.settings)

    @app.get("/api/v1/brand-new")
    async def brand_new() -> dict[str, str]:
        return {"leak": "yes"}

    assert ("GET", "/api/v1/brand-new") not in ROUTE_PERMISSIONS
    assert ("GET", "/api/v1/brand-new") in set(iter_app_routes(app))
    with ApiClient(app, token=client._client.headers["Authorization"][7:]) as api:
        resp = api.get("/api/v1/brand-new")  # fails closed: nobody may call it
        assert resp.status_code == 403 and resp.json()["error"]["details"][0]["code"] == "no_permission"


def test_security_doc_is_generated() -> None:
    path = REPO / "docs" / "SECURITY.md"
    assert path.read_text() == security_markdown(), (
        "docs/SECURITY.md is stale: uv run --frozen python -m gridtwin_gateway.security_doc > docs/SECURITY.md"
    )


@pytest.mark.parametrize(("method", "path"), PUBLIC_PROBES)
def test_public_routes_need_no_credentials(client: ApiClient, method: str, path: str) -> None:
    client.use_token(None)
    assert client.request(method, path).status_code == 200


def test_login_routes_need_no_credentials(client: ApiClient) -> None:
    client.use_token(None)
    assert client.post("/api/v1/auth/token", data={"username": "x", "password": "y"}).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": "x"}).status_code == 401
    assert client.post("/api/v1/auth/session", data={"username": "x", "password": "y"}).status_code == 401
    assert client.get("/api/v1/auth/oidc/login").status_code == 404  # not configured here
    assert client.delete("/api/v1/auth/session").status_code == 204


@pytest.mark.parametrize(("route", "permission"), PROTECTED, ids=[f"{m} {p}" for (m, p), _ in PROTECTED])
def test_protected_routes_refuse_without_credentials(
    client: ApiClient, fake_backends: FakeBackends, route: tuple[str, str], permission: str
) -> None:
    method, path = route
    client.use_token(None)
    before = len(fake_backends.calls.requests)
    resp = client.request(method, concrete(path), json={"x": 1} if method != "GET" else None)
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert len(fake_backends.calls.requests) == before  # no back end was called


@pytest.fixture(scope="module")
def role_tokens(fake_backends: FakeBackends) -> Iterator[dict[str, str]]:
    tokens = {}
    with ApiClient(create_app(fake_backends.settings)) as api:
        for role in ROLES:
            name = f"{role.value}-{uuid.uuid4().hex[:6]}"
            make_user(fake_backends.settings, name, "a-long-password-4", role.value, ["*"])
            tokens[role.value] = api.login(name, "a-long-password-4")["access_token"]
    yield tokens


def test_every_route_x_every_role(client: ApiClient, role_tokens: dict[str, str]) -> None:
    """403 exactly where the role lacks the route's permission; never 401 with a valid token."""
    wrong: list[str] = []
    for (method, path), permission in PROTECTED:
        for role, token in role_tokens.items():
            client.use_token(token)
            resp = client.request(method, concrete(path), json={} if method != "GET" else None)
            allowed = role in {r.value for r in MATRIX[permission][0]}
            refused = resp.status_code == 403 and resp.json()["error"]["code"] == "PERMISSION_DENIED"
            if resp.status_code == 401 or allowed == refused:
                wrong.append(f"{role} {method} {path} -> {resp.status_code} ({permission})")
    assert not wrong, "\n".join(wrong)


def _ws(client: ApiClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Connect to the job events WebSocket through the ASGI app; what the app sent back."""
    sent: list[dict[str, Any]] = []
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {
        "type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "http_version": "1.1",
        "path": "/api/v1/jobs/j1/events", "raw_path": b"/api/v1/jobs/j1/events", "query_string": b"",
        "root_path": "", "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "gateway", **headers}.items()],
        "client": ("127.0.0.1", 5000), "server": ("gateway", 80), "subprotocols": [], "state": {},
    }  # fmt: skip

    async def run() -> None:
        await inbox.put({"type": "websocket.connect"})

        async def receive() -> dict[str, Any]:
            return await inbox.get()

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] in ("websocket.close", "websocket.accept"):
                await inbox.put({"type": "websocket.disconnect", "code": 1000})

        await client.app(scope, receive, send)

    client.run(asyncio.wait_for(run(), 30))
    return sent


def test_websocket_is_guarded(
    client: ApiClient, role_tokens: dict[str, str], fake_backends: FakeBackends
) -> None:
    none = _ws(client, {})
    assert none[0]["type"] == "websocket.close" and none[0]["code"] == 1008
    assert none[0]["reason"].startswith("401")
    rows, _ = accounts(fake_backends.settings).audit_entries(action="WS /api/v1/jobs/{job_id}/events")
    assert rows and (rows[0]["status"], rows[0]["outcome"]) == (401, "denied")
    forged = _ws(client, {"authorization": "Bearer not.a.token"})
    assert forged[0]["code"] == 1008
    # A viewer may read jobs: past the guard (the test servicer knows no job j1: 4404).
    admitted = _ws(client, {"authorization": f"Bearer {role_tokens['viewer']}"})
    assert admitted[0]["type"] == "websocket.close" and admitted[0]["code"] == 4404


def test_openapi_security(client: ApiClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "an API key, gtk_...",
    }
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            permission = ROUTE_PERMISSIONS[(method.upper(), path)]
            assert "429" in op["responses"], (method, path)
            if permission is None:
                assert op["security"] == [], (method, path)
            else:
                assert {next(iter(s)) for s in op["security"]} == set(schemes), (method, path)
                assert op["x-permission"] == permission
                assert {"401", "403"} <= set(op["responses"]), (method, path)
    assert "413" in spec["paths"]["/api/v1/jobs"]["post"]["responses"]


def test_openapi_documents_the_error_answers_every_operation_may_give(client: ApiClient) -> None:
    # Found by the API fuzzer (issue 15): 400 (a body that does not parse), 409 and 422 on routes that did
    # not list them, 422 documented as FastAPI's {"detail": [...]} while the body is ours.
    spec = client.get("/openapi.json").json()
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            assert {"500", "504"} <= set(responses), (method, path)
            if "requestBody" in op or op.get("parameters"):
                assert {"400", "422"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status >= "400" and (path, status) != ("/readyz", "503"):  # not ready: the probe's body
                    assert response["content"]["application/json"]["schema"] == error_body, (method, path)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
