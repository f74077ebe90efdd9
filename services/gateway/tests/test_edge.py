"""The gateway's edge: JSON body limits, the request time limit, security headers, CORS, request ids,
the audit rows of writes and refusals (and the admins' view of them), and no secret in any log line."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from gateway_fakes import (
    INTERNAL_SECRET,
    JWT_SECRET,
    TESTER_PASSWORD,
    ApiClient,
    FakeBackends,
    accounts,
    make_user,
)
from pythonjsonlogger.json import JsonFormatter


def test_json_body_limit(
    gateway: Callable[..., ApiClient], tester_token: str, fake_backends: FakeBackends
) -> None:
    api = gateway(max_json_bytes=2048)
    api.use_token(tester_token)
    before = len(fake_backends.calls.requests)
    big = {"feeders": ["f" * 60] * 100}
    declared = api.post("/api/v1/jobs", json=big)
    assert declared.status_code == 413, declared.text
    assert declared.json()["error"]["code"] == "RESOURCE_EXHAUSTED"

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"feeders": ['
        for _ in range(200):
            yield b'"' + b"f" * 60 + b'",'
        yield b'"f"]}'

    streamed = api.post("/api/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert len(fake_backends.calls.requests) == before
    assert api.post("/api/v1/jobs", json={"feeders": ["f1"]}).status_code == 202
    # Uploads keep their own (larger) limits.
    upload = api.post(
        "/api/v1/feeders/import", files={"file": ("a.zip", b"x" * 10_000)}, data={"feeder": "f1"}
    )
    assert upload.status_code != 413


def test_deep_nesting_is_a_clear_4xx(client: ApiClient) -> None:
    deep = b'{"feeders": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    resp = client.post("/api/v1/jobs", content=deep, headers={"Content-Type": "application/json"})
    assert 400 <= resp.status_code < 500 and "error" in resp.json()


def test_request_time_limit(gateway: Callable[..., ApiClient], tester_token: str) -> None:
    api = gateway(request_timeout_s=0.3)
    api.use_token(tester_token)
    slow = api.get("/api/v1/twins/sleep-1.5")
    assert slow.status_code == 504
    assert slow.json()["error"]["code"] == "DEADLINE_EXCEEDED"
    assert api.get("/api/v1/twins/f1.loads.a").status_code == 200


def test_security_headers(client: ApiClient) -> None:
    api = client.get("/api/v1/feeders")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["referrer-policy"] == "no-referrer"
    assert api.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in api.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in api.headers["content-security-policy"]
    assert "strict-transport-security" not in api.headers
    docs = client.get("/docs")
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    refused = client.get("/api/v1/feeders", headers={"Authorization": "Bearer nope"})
    assert refused.headers["x-content-type-options"] == "nosniff"
    over_tls = client.get("https://gateway/healthz")
    assert over_tls.headers["strict-transport-security"].startswith("max-age=")


def test_cors_allow_list(gateway: Callable[..., ApiClient]) -> None:
    closed = gateway()
    preflight = {"Origin": "https://planner.example", "Access-Control-Request-Method": "POST"}
    assert (
        "access-control-allow-origin"
        not in closed.request("OPTIONS", "/api/v1/jobs", headers=preflight).headers
    )
    opened = gateway(cors_origins=["https://planner.example"])
    allowed = opened.request(
        "OPTIONS", "/api/v1/jobs", headers={**preflight, "Access-Control-Request-Headers": "X-CSRF-Token"}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://planner.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    other = opened.request("OPTIONS", "/api/v1/jobs", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_request_id(client: ApiClient, fake_backends: FakeBackends) -> None:
    given = f"req-{uuid.uuid4().hex[:8]}"
    resp = client.post(
        "/api/v1/jobs", json={"feeders": ["f1"], "site": "north"}, headers={"X-Request-ID": given}
    )
    assert resp.headers["x-request-id"] == given
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
    assert made != "bad id with spaces" and len(made) == 32
    rows, _ = accounts(fake_backends.settings).audit_entries(action="POST /api/v1/jobs")
    row = next(r for r in rows if r["request_id"] == given)
    assert (row["actor"], row["via"], row["outcome"], row["status"]) == ("tester", "password", "ok", 202)
    assert (row["resource"], row["site"], row["ip"]) == ("/api/v1/jobs", "north", "127.0.0.1")


def test_audit_of_writes_refusals_and_its_route(client: ApiClient, fake_backends: FakeBackends) -> None:
    store = accounts(fake_backends.settings)
    _, before = store.audit_entries()
    assert client.get("/api/v1/feeders").status_code == 200  # reads are not written
    assert client.delete("/api/v1/twins/f1.loads.a").status_code == 204
    client.get("/api/v1/feeders", headers={"Authorization": "Bearer forged"})
    viewer = f"aud{uuid.uuid4().hex[:8]}"
    make_user(fake_backends.settings, viewer, "a-long-password-5", "viewer", ["north"])
    viewer_token = client.post(
        "/api/v1/auth/token", data={"username": viewer, "password": "a-long-password-5"}
    ).json()
    as_viewer = {"Authorization": f"Bearer {viewer_token['access_token']}"}
    assert client.get("/api/v1/audit", headers=as_viewer).status_code == 403
    rows, after = store.audit_entries(limit=10)
    assert after == before + 4  # the write, the 401, the viewer's login, the 403
    actions = [(r["action"], r["status"], r["actor"]) for r in rows[:4]]
    assert actions == [
        ("GET /api/v1/audit", 403, viewer),
        ("POST /api/v1/auth/token", 200, viewer),
        ("GET /api/v1/feeders", 401, "-"),
        ("DELETE /api/v1/twins/{twin_id}", 204, "tester"),
    ]
    assert rows[3]["resource"] == "/api/v1/twins/f1.loads.a"
    page = client.get("/api/v1/audit", params={"actor": viewer, "limit": 5})
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 2 and [e["action"] for e in body["entries"]] == [
        "GET /api/v1/audit",
        "POST /api/v1/auth/token",
    ]
    assert (
        client.get("/api/v1/audit", params={"outcome": "denied", "action": "GET /api/v1/feeders"}).json()[
            "total"
        ]
        >= 1
    )
    # No route edits or deletes it.
    assert client.delete("/api/v1/audit").status_code == 405
    assert client.put("/api/v1/audit", json={}).status_code == 405


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_no_secret_in_logs(
    gateway: Callable[..., ApiClient], fake_backends: FakeBackends, log_lines: io.StringIO
) -> None:
    api = gateway()
    secrets: list[str] = [JWT_SECRET, INTERNAL_SECRET, TESTER_PASSWORD, "wrong-password-here"]
    api.post("/api/v1/auth/token", data={"username": "tester", "password": "wrong-password-here"})
    tokens: dict[str, Any] = api.login()
    secrets += [tokens["access_token"], tokens["refresh_token"]]
    pair = api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
    secrets += [pair["access_token"], pair["refresh_token"]]
    api.use_token(pair["access_token"])
    key = api.post("/api/v1/keys", json={"name": "logs"}).json()["secret"]
    secrets.append(key)
    api.use_token(key)
    api.get("/api/v1/twins/status.INTERNAL")  # a back-end failure is logged
    api.get("/api/v1/feeders", headers={"Authorization": f"Bearer {pair['access_token']}x"})
    session = api.post("/api/v1/auth/session", data={"username": "tester", "password": TESTER_PASSWORD})
    secrets.append(session.json()["csrf_token"])
    text = log_lines.getvalue()
    assert text, "nothing was logged: the check would prove nothing"
    leaked = [s[:12] + "..." for s in secrets if s in text]
    assert not leaked, f"secrets in the log lines: {leaked}"


def test_an_unexpected_failure_is_a_500_in_the_error_body(
    client: ApiClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by the API fuzzer (issue 15): an exception in a route answered text/plain with no request id.
    from gridtwin_gateway import routes_twins

    def boom(twin: Any) -> Any:
        raise ValueError("Value out of range: 99999999999")

    monkeypatch.setattr(routes_twins, "_twin_response", boom)
    with caplog.at_level(logging.ERROR, logger="gridtwin_gateway.edge"):
        resp = client.get("/api/v1/twins/f1.loads.a", headers={"X-Request-ID": "req-boom-1"})
    assert resp.status_code == 500 and resp.headers["content-type"] == "application/json"
    assert resp.json()["error"]["code"] == "INTERNAL" and "req-boom-1" in resp.json()["error"]["message"]
    assert resp.headers["x-request-id"] == "req-boom-1"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert any("Value out of range" in str(r.exc_info) for r in caplog.records)  # logged with its traceback
