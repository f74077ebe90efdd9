"""Logging in with a password: access and refresh tokens, rotation, reuse ending the family, logout,
lockout, refused tokens (none, expired, forged, edited, alg none), users disabled or removed while
holding a token, password changes and the argon2 rehash on login. A real SQLite accounts store."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher
from gateway_fakes import JWT_SECRET, TESTER, TESTER_PASSWORD, ApiClient, FakeBackends, accounts, make_user
from gridtwin.access.passwords import needs_rehash


def new_user(
    fake_backends: FakeBackends, role: str = "viewer", sites: tuple[str, ...] = ("north",)
) -> tuple[str, str]:
    name, password = f"u{uuid.uuid4().hex[:10]}", "a-long-password-1"
    make_user(fake_backends.settings, name, password, role, sites)
    return name, password


def form(username: str, password: str) -> dict[str, str]:
    return {"username": username, "password": password, "grant_type": "password"}


def audit_rows(fake_backends: FakeBackends, **filters: Any) -> list[dict[str, Any]]:
    rows, _ = accounts(fake_backends.settings).audit_entries(limit=1000, **filters)
    return rows


def test_login_answers_the_contract(client: ApiClient, fake_backends: FakeBackends) -> None:
    name, password = new_user(fake_backends, "analyst", ("north", "south"))
    client.use_token(None)
    resp = client.post("/api/v1/auth/token", data=form(name, password))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "username",
        "role",
        "sites",
    }
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert (body["username"], body["role"], body["sites"]) == (name, "analyst", ["north", "south"])
    assert resp.headers["cache-control"] == "no-store"
    client.use_token(body["access_token"])
    me = client.get("/api/v1/auth/me")
    assert me.json() == {"username": name, "role": "analyst", "sites": ["north", "south"], "via": "password"}
    ok = audit_rows(fake_backends, actor=name, action="POST /api/v1/auth/token")
    assert ok and ok[0]["outcome"] == "ok" and ok[0]["status"] == 200 and ok[0]["request_id"]


def test_wrong_password_and_unknown_user_answer_alike(client: ApiClient, fake_backends: FakeBackends) -> None:
    name, _ = new_user(fake_backends)
    client.use_token(None)
    wrong = client.post("/api/v1/auth/token", data=form(name, "not-the-password"))
    unknown = client.post("/api/v1/auth/token", data=form("nobody-" + name, "not-the-password"))
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    rows = audit_rows(fake_backends, actor=name, action="POST /api/v1/auth/token")
    assert rows[0]["outcome"] == "failed" and rows[0]["detail"]["reason"] == "bad_password"


def test_refresh_rotates_and_reuse_ends_the_family(client: ApiClient, fake_backends: FakeBackends) -> None:
    name, password = new_user(fake_backends)
    client.use_token(None)
    first = client.post("/api/v1/auth/token", data=form(name, password)).json()
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"] and pair["username"] == name
    client.use_token(pair["access_token"])
    assert client.get("/api/v1/auth/me").status_code == 200
    # The spent token used again: refused, and every token of the family with it.
    client.use_token(None)
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert reused.json()["error"]["details"][0]["code"] == "reused"
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    )
    client.use_token(pair["access_token"])
    assert client.get("/api/v1/auth/me").status_code == 401  # the access token of that family too
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": "made-up"}).status_code == 401
    rows = audit_rows(fake_backends, action="POST /api/v1/auth/refresh", outcome="failed")
    assert any(r["detail"].get("reason") == "reused" for r in rows)


def test_logout_ends_the_session_at_once(client: ApiClient, fake_backends: FakeBackends) -> None:
    name, password = new_user(fake_backends)
    client.use_token(None)
    tokens = client.post("/api/v1/auth/token", data=form(name, password)).json()
    other = client.post("/api/v1/auth/token", data=form(name, password)).json()
    client.use_token(tokens["access_token"])
    assert client.get("/api/v1/auth/me").status_code == 200
    out = client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )
    client.use_token(other["access_token"])  # another session of the same user goes on
    assert client.get("/api/v1/auth/me").status_code == 200


def test_lockout(gateway: Callable[..., ApiClient], fake_backends: FakeBackends) -> None:
    api = gateway(login_max_failures=3, login_lock_s=120)
    name, password = new_user(fake_backends)
    for _ in range(3):
        assert api.post("/api/v1/auth/token", data=form(name, "wrong-password-x")).status_code == 401
    locked = api.post("/api/v1/auth/token", data=form(name, password))  # even the right password
    assert locked.status_code == 423
    assert locked.json()["error"]["code"] == "LOCKED"
    assert 100 <= int(locked.headers["retry-after"]) <= 120
    assert audit_rows(fake_backends, actor=name, action="auth.lockout")
    rows = audit_rows(fake_backends, actor=name, action="POST /api/v1/auth/token")
    assert (
        rows[0]["status"] == 423
        and rows[0]["outcome"] == "denied"
        and rows[0]["detail"]["reason"] == "locked"
    )
    # The store's lock ends; then the password works and the count starts again.
    store = accounts(fake_backends.settings)
    store.login_succeeded(name)
    assert api.post("/api/v1/auth/token", data=form(name, password)).status_code == 200
    # Unknown names lock the same way: their existence does not show.
    ghost = "ghost-" + uuid.uuid4().hex[:8]
    answers = [
        api.post("/api/v1/auth/token", data=form(ghost, "wrong-password-x")).status_code for _ in range(4)
    ]
    assert answers == [401, 401, 401, 423]


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": TESTER, "role": "admin", "sites": ["*"], "via": "password", "rid": "",
        "iss": "gridtwin", "aud": "gridtwin-api", "iat": now, "nbf": now, "exp": now + 600, **extra,
    }  # fmt: skip


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            jwt.encode(_claims(exp=int(time.time()) - 60), JWT_SECRET, algorithm="HS256"), id="expired"
        ),
        pytest.param(
            jwt.encode(_claims(), "another-secret-of-at-least-32-bytes!!", algorithm="HS256"), id="forged"
        ),
        pytest.param(jwt.encode(_claims(), None, algorithm="none"), id="alg-none"),
        pytest.param(
            jwt.encode(_claims(aud="gridtwin-internal"), JWT_SECRET, algorithm="HS256"), id="audience"
        ),
        pytest.param(
            jwt.encode(_claims(sub="nobody-at-all"), JWT_SECRET, algorithm="HS256"), id="unknown-user"
        ),
        pytest.param("not.a.token", id="garbage"),
        pytest.param("x" * 10_000, id="huge"),
    ],
)
def test_bad_tokens_are_401(client: ApiClient, token: str) -> None:
    client.use_token(token)
    resp = client.get("/api/v1/twins/f1.loads.a")
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.json()["error"]["code"] == "UNAUTHENTICATED"


def test_edited_claims_are_refused(client: ApiClient, fake_backends: FakeBackends) -> None:
    name, password = new_user(fake_backends, "viewer", ("north",))
    client.use_token(None)
    token = client.post("/api/v1/auth/token", data=form(name, password)).json()["access_token"]
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(role="admin", sites=["*"])
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    client.use_token(f"{head}.{edited}.{sig}")
    assert client.get("/api/v1/users").status_code == 401
    client.use_token(token)
    assert client.get("/api/v1/users").status_code == 403


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc", "Bearer  "])
def test_malformed_authorization_is_401(client: ApiClient, header: str) -> None:
    client.use_token(None)
    resp = client.get("/api/v1/feeders", headers={"Authorization": header})
    assert resp.status_code == 401


def test_disabled_or_removed_user_is_refused_at_once(client: ApiClient, fake_backends: FakeBackends) -> None:
    name, password = new_user(fake_backends, "operator", ("north",))
    admin_token = client._client.headers["Authorization"]
    client.use_token(None)
    token = client.post("/api/v1/auth/token", data=form(name, password)).json()["access_token"]
    as_user = {"Authorization": f"Bearer {token}"}
    as_admin = {"Authorization": admin_token}
    assert client.get("/api/v1/auth/me", headers=as_user).status_code == 200
    assert client.patch(f"/api/v1/users/{name}", json={"disabled": True}, headers=as_admin).status_code == 200
    refused = client.get("/api/v1/auth/me", headers=as_user)
    assert refused.status_code == 401 and refused.json()["error"]["details"][0]["code"] == "account"
    assert client.post("/api/v1/auth/token", data=form(name, password)).status_code == 401
    assert (
        client.patch(f"/api/v1/users/{name}", json={"disabled": False}, headers=as_admin).status_code == 200
    )
    token = client.post("/api/v1/auth/token", data=form(name, password)).json()["access_token"]
    as_user = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=as_user).status_code == 200
    assert client.delete(f"/api/v1/users/{name}", headers=as_admin).status_code == 204
    assert client.get("/api/v1/auth/me", headers=as_user).status_code == 401


def test_role_change_applies_to_live_tokens(client: ApiClient, fake_backends: FakeBackends) -> None:
    name, password = new_user(fake_backends, "viewer", ("north",))
    as_admin = {"Authorization": client._client.headers["Authorization"]}
    client.use_token(None)
    token = client.post("/api/v1/auth/token", data=form(name, password)).json()["access_token"]
    as_user = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/jobs", json={"feeders": ["f1"]}, headers=as_user).status_code == 403
    assert (
        client.patch(f"/api/v1/users/{name}", json={"role": "analyst"}, headers=as_admin).status_code == 200
    )
    assert client.post("/api/v1/jobs", json={"feeders": ["f1"]}, headers=as_user).status_code == 202


def test_password_change(client: ApiClient, fake_backends: FakeBackends) -> None:
    name, password = new_user(fake_backends)
    client.use_token(None)
    tokens = client.post("/api/v1/auth/token", data=form(name, password)).json()
    client.use_token(tokens["access_token"])
    wrong = client.post("/api/v1/auth/password", json={"current_password": "nope", "new_password": "x" * 20})
    assert wrong.status_code == 400
    short = client.post("/api/v1/auth/password", json={"current_password": password, "new_password": "short"})
    assert short.status_code == 400 and short.json()["error"]["details"][0]["where"] == "body.new_password"
    changed = client.post(
        "/api/v1/auth/password", json={"current_password": password, "new_password": "a-new-long-password"}
    )
    assert changed.status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401  # every session of the user ended
    client.use_token(None)
    assert client.post("/api/v1/auth/token", data=form(name, password)).status_code == 401
    assert client.post("/api/v1/auth/token", data=form(name, "a-new-long-password")).status_code == 200


def test_weak_hash_is_rehashed_on_login(client: ApiClient, fake_backends: FakeBackends) -> None:
    name, password = f"weak{uuid.uuid4().hex[:8]}", "a-long-password-2"
    store = accounts(fake_backends.settings)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(password)
    store.create_user(name, weak, "viewer", ["north"])
    assert needs_rehash(weak)
    client.use_token(None)
    assert client.post("/api/v1/auth/token", data=form(name, password)).status_code == 200
    stored = store.user(name).password_hash
    assert stored != weak and not needs_rehash(stored)
    assert client.post("/api/v1/auth/token", data=form(name, password)).status_code == 200


def test_tester_fixture_is_a_real_login(client: ApiClient) -> None:
    me = client.get("/api/v1/auth/me").json()
    assert me == {"username": TESTER, "role": "admin", "sites": ["*"], "via": "password"}
    assert TESTER_PASSWORD  # the fixture logged in with it through /api/v1/auth/token
