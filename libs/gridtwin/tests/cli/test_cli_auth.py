"""Login, the credentials file and what the commands say when the gateway refuses: against a fake gateway
that speaks the REST contract (``/api/v1/auth/*``, users, keys, audit)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from cli_support import URL, fake_gateway, invoke
from gridtwin.cli import session

PASSWORD = "correct horse battery"


class FakeAuth:
    """Issues numbered tokens; ``ttl`` is the access tokens' lifetime; refresh tokens rotate."""

    def __init__(self, ttl: int = 900) -> None:
        self.ttl = ttl
        self.issued = 0
        self.valid_access: set[str] = set()
        self.valid_refresh: set[str] = set()
        self.refreshes = 0
        self.logouts: list[str] = []

    def pair(self) -> dict[str, Any]:
        self.issued += 1
        access, refresh = f"access-{self.issued}", f"refresh-{self.issued}"
        self.valid_access.add(access)
        self.valid_refresh.add(refresh)
        return {"access_token": access, "token_type": "bearer", "expires_in": self.ttl,
                "refresh_token": refresh, "username": "ana", "role": "analyst", "sites": ["north"]}  # fmt: skip

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/auth/token":
            form = parse_qs(request.content.decode())
            assert form["grant_type"] == ["password"]
            if form["username"] == ["ana"] and form["password"] == [PASSWORD]:
                return httpx.Response(200, json=self.pair())
            if form["username"] == ["locked"]:
                return _error(423, "LOCKED", "account locked")
            return _error(401, "UNAUTHENTICATED", "invalid credentials")
        if path == "/api/v1/auth/refresh":
            token = json.loads(request.content)["refresh_token"]
            if token not in self.valid_refresh:
                return _error(401, "UNAUTHENTICATED", "refresh token refused")
            self.valid_refresh.discard(token)
            self.refreshes += 1
            return httpx.Response(200, json=self.pair())
        auth = request.headers.get("authorization", "")
        if path == "/api/v1/auth/logout":
            self.logouts.append(json.loads(request.content)["refresh_token"])
            return httpx.Response(204)
        if not auth.startswith("Bearer ") or auth[7:] not in self.valid_access | {"gtk_abc_secret"}:
            return _error(401, "UNAUTHENTICATED", "not authenticated")
        if path == "/api/v1/auth/me":
            return httpx.Response(200, json={"username": "ana", "role": "analyst", "sites": ["north"],
                                             "via": "password"})  # fmt: skip
        if path == "/api/v1/feeders":
            return httpx.Response(200, json={"feeders": [{"id": "f1", "site": "north", "twin_count": 3,
                                                          "version": 1}]})  # fmt: skip
        if path == "/api/v1/jobs":
            return _error(403, "FORBIDDEN", "not allowed",
                          [{"where": "jobs.run", "message": "role viewer may not do this"}])  # fmt: skip
        if path == "/api/v1/twins/t1":
            return httpx.Response(429, headers={"Retry-After": "7"},
                                  json={"error": {"code": "RATE_LIMITED", "message": "slow down"}})  # fmt: skip
        return _error(404, "NOT_FOUND", f"no route {path}")


def _error(
    status: int, code: str, message: str, details: list[dict[str, str]] | None = None
) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": message, "details": details or []}}
    )


def _login(monkeypatch: pytest.MonkeyPatch, auth: FakeAuth) -> list[httpx.Request]:
    seen = fake_gateway(monkeypatch, auth)
    done = invoke("login", "--username", "ana", "--password-stdin", input=PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    return seen


def _saved(config: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((config / "gridtwin" / "credentials.json").read_text())
    return doc["gateways"][URL]  # type: ignore[no-any-return]


def test_login_keeps_the_session_private_and_never_prints_a_token(
    monkeypatch: pytest.MonkeyPatch, private_config: Path
) -> None:
    auth = FakeAuth()
    seen = fake_gateway(monkeypatch, auth)
    done = invoke("login", "--username", "ana", "--password-stdin", input=PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    assert "logged in to http://gateway.test as ana (role analyst, north)" in done.output
    assert "access-1" not in done.output and "refresh-1" not in done.output and PASSWORD not in done.output
    path = private_config / "gridtwin" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    entry = _saved(private_config)
    assert entry["access_token"] == "access-1" and entry["refresh_token"] == "refresh-1"
    assert entry["username"] == "ana" and entry["sites"] == ["north"]
    assert "Authorization" not in seen[0].headers  # the login itself carries no credentials
    as_json = invoke("login", "--username", "ana", "--password-stdin", "--json", input=PASSWORD + "\n")
    shown = json.loads(as_json.stdout)
    assert shown["username"] == "ana" and "access_token" not in shown and "refresh_token" not in shown

    listed = invoke("feeders", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert seen[-1].headers["authorization"] == "Bearer access-2"


def test_wrong_password_and_locked_account(monkeypatch: pytest.MonkeyPatch, private_config: Path) -> None:
    fake_gateway(monkeypatch, FakeAuth())
    wrong = invoke("login", "--username", "ana", "--password-stdin", input="nope\n")
    assert wrong.exit_code == 1
    assert "login failed: wrong username or password" in wrong.output
    assert not (private_config / "gridtwin" / "credentials.json").exists()
    locked = invoke("login", "--username", "locked", "--password-stdin", input="whatever\n")
    assert locked.exit_code == 1 and "locked" in locked.output
    empty = invoke("login", "--username", "ana", "--password-stdin", input="\n")
    assert empty.exit_code == 1 and "no password on standard input" in empty.output
    no_tty = invoke("login", "--username", "ana")  # the runner's stdin is no terminal
    assert no_tty.exit_code == 1 and "--password-stdin" in no_tty.output


def test_an_expiring_access_token_is_refreshed_first_and_the_new_pair_kept(
    monkeypatch: pytest.MonkeyPatch, private_config: Path
) -> None:
    auth = FakeAuth(ttl=10)  # inside the refresh margin at once
    seen = _login(monkeypatch, auth)
    done = invoke("feeders", "list")
    assert done.exit_code == 0, done.output
    assert auth.refreshes == 1
    assert [r.url.path for r in seen[-2:]] == ["/api/v1/auth/refresh", "/api/v1/feeders"]
    assert seen[-1].headers["authorization"] == "Bearer access-2"
    assert _saved(private_config)["refresh_token"] == "refresh-2"


def test_a_refused_token_is_refreshed_once_and_the_request_sent_again(
    monkeypatch: pytest.MonkeyPatch, private_config: Path
) -> None:
    auth = FakeAuth()
    seen = _login(monkeypatch, auth)
    auth.valid_access.clear()  # e.g. the gateway restarted with new secrets ... or the token was revoked
    done = invoke("feeders", "list", "--json")
    assert done.exit_code == 0, done.output
    assert [r.url.path for r in seen[-3:]] == ["/api/v1/feeders", "/api/v1/auth/refresh", "/api/v1/feeders"]


def test_a_refresh_that_fails_forgets_the_session_and_asks_to_log_in(
    monkeypatch: pytest.MonkeyPatch, private_config: Path
) -> None:
    auth = FakeAuth(ttl=10)
    _login(monkeypatch, auth)
    auth.valid_refresh.clear()  # logged out elsewhere, or the family revoked
    done = invoke("feeders", "list")
    assert done.exit_code == 1
    assert "session on http://gateway.test has ended" in done.output
    assert "gridtwin login --url http://gateway.test --username ana" in done.output
    assert URL not in json.loads((private_config / "gridtwin" / "credentials.json").read_text())["gateways"]


def test_not_logged_in_403_and_429_say_what_happened(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = FakeAuth()
    fake_gateway(monkeypatch, auth)
    anonymous = invoke("feeders", "list")
    assert anonymous.exit_code == 1
    assert "not logged in to http://gateway.test: log in with `gridtwin login" in anonymous.output
    _login(monkeypatch, auth)
    denied = invoke("qsts", "run", "--feeders", "f1", "--hours", "24")
    assert denied.exit_code == 1
    assert "not allowed (403 FORBIDDEN) as ana" in denied.output
    assert "role viewer may not do this" in denied.output
    limited = invoke("twin", "get", "t1")
    assert limited.exit_code == 1
    assert "too many requests (429 RATE_LIMITED)" in limited.output and "retry after 7 s" in limited.output


def test_gridtwin_token_wins_and_the_file_is_not_read(
    monkeypatch: pytest.MonkeyPatch, private_config: Path
) -> None:
    seen = fake_gateway(monkeypatch, FakeAuth())
    folder = private_config / "gridtwin"
    folder.mkdir(parents=True)
    (folder / "credentials.json").write_text("{}")
    os.chmod(folder / "credentials.json", 0o644)  # would be refused, were it read
    monkeypatch.setenv("GRIDTWIN_TOKEN", "gtk_abc_secret")
    done = invoke("whoami")
    assert done.exit_code == 0, done.output
    assert "ana on http://gateway.test (from GRIDTWIN_TOKEN): role analyst, north" in done.output
    assert seen[-1].headers["authorization"] == "Bearer gtk_abc_secret"
    monkeypatch.setenv("GRIDTWIN_TOKEN", "gtk_revoked")
    refused = invoke("feeders", "list")
    assert refused.exit_code == 1 and "refused the token in GRIDTWIN_TOKEN" in refused.output
    assert "gtk_revoked" not in refused.output


def test_a_credentials_file_others_may_read_is_refused(
    monkeypatch: pytest.MonkeyPatch, private_config: Path
) -> None:
    _login(monkeypatch, FakeAuth())
    path = private_config / "gridtwin" / "credentials.json"
    os.chmod(path, 0o644)
    done = invoke("feeders", "list")
    assert done.exit_code == 1
    assert "may be read by other users (mode 0644)" in done.output and "chmod 600" in done.output
    assert "access-1" not in done.output


def test_logout_revokes_on_the_gateway_and_forgets(
    monkeypatch: pytest.MonkeyPatch, private_config: Path
) -> None:
    auth = FakeAuth()
    _login(monkeypatch, auth)
    done = invoke("logout")
    assert done.exit_code == 0, done.output
    assert auth.logouts == ["refresh-1"] and "logged out of http://gateway.test (ana)" in done.output
    assert URL not in json.loads((private_config / "gridtwin" / "credentials.json").read_text())["gateways"]
    again = invoke("logout")
    assert again.exit_code == 0 and "not logged in" in again.output


def test_the_store_uses_a_session_another_command_refreshed_meanwhile(private_config: Path) -> None:
    """Two commands refused at once: the second finds the first's new pair and does not present the old
    refresh token again (which the gateway would take for a stolen one)."""
    store = session.FileStore(private_config / "gridtwin" / "credentials.json")
    old = session.Login(URL, "ana", "analyst", ("north",), time.time() + 600, "access-1", "refresh-1")
    new = session.Login(URL, "ana", "analyst", ("north",), time.time() + 600, "access-2", "refresh-2")
    store.save(new)
    got = store.current(URL, refused=old)  # no gateway is asked
    assert got.kind == "login" and got.headers == {"Authorization": "Bearer access-2"}
    assert "access-2" not in repr(got) and "refresh-2" not in repr(new)


class Admin:
    """A fake gateway's users, keys and audit routes, recording the bodies."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.bodies.append((request.method, request.url.path, body))
        path, method = request.url.path, request.method
        if path == "/api/v1/users" and method == "POST":
            return httpx.Response(201, json={"username": body["username"], "role": body["role"],
                                             "sites": body["sites"], "disabled": False})  # fmt: skip
        if path == "/api/v1/users" and method == "GET":
            return httpx.Response(200, json={"users": [{"username": "ana", "role": "analyst",
                                                        "sites": ["north"], "disabled": False}]})  # fmt: skip
        if path.startswith("/api/v1/users/") and method == "PATCH":
            return httpx.Response(200, json={"username": path.rsplit("/", 1)[1], "role": "viewer",
                                             "sites": ["north"], "disabled": True})  # fmt: skip
        if path.startswith("/api/v1/users/") and method == "DELETE":
            return httpx.Response(204)
        if path == "/api/v1/keys" and method == "POST":
            return httpx.Response(201, json={"id": "abc123", "name": body["name"], "owner": "ana",
                                             "role": "viewer", "sites": ["north"], "expires_at": None,
                                             "secret": "gtk_abc123_s3cr3t"})  # fmt: skip
        if path == "/api/v1/keys/abc123" and method == "DELETE":
            return httpx.Response(204)
        if path == "/api/v1/audit":
            entry = {"ts": "2025-01-01T00:00:00+00:00", "actor": "ana", "action": "auth.login",
                     "outcome": "failed", "status": 401, "resource": "", "site": "", "via": "password",
                     "ip": "127.0.0.1", "request_id": "r1"}  # fmt: skip
            return httpx.Response(200, json={"entries": [entry], "total": 1})
        return _error(404, "NOT_FOUND", path)


def test_users_keys_and_audit_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = Admin()
    fake_gateway(monkeypatch, admin)
    made = invoke("users", "create", "bob", "--role", "viewer", "--site", "north", "--generate-password")
    assert made.exit_code == 0, made.output
    method, path, body = admin.bodies[-1]
    assert (method, path) == ("POST", "/api/v1/users")
    assert body["role"] == "viewer" and body["sites"] == ["north"] and len(body["password"]) >= 12
    assert "created user bob: role viewer, sites north" in made.output
    assert body["password"] in made.output and made.output.count(body["password"]) == 1  # shown once
    typed = invoke("users", "create", "eve", "--role", "analyst", "--site", "x", "--password-stdin",
                   input="a long enough password\n")  # fmt: skip
    assert typed.exit_code == 0 and admin.bodies[-1][2]["password"] == "a long enough password"
    assert "a long enough password" not in typed.output

    updated = invoke("users", "update", "bob", "--role", "viewer", "--disable")
    assert updated.exit_code == 0 and admin.bodies[-1][2] == {"role": "viewer", "disabled": True}
    nothing = invoke("users", "update", "bob")
    assert nothing.exit_code == 1 and "nothing to change" in nothing.output
    deleted = invoke("users", "delete", "bob", "--yes")
    assert deleted.exit_code == 0 and admin.bodies[-1][:2] == ("DELETE", "/api/v1/users/bob")
    reset = invoke("users", "password", "bob", "--password-stdin", input="another long password\n")
    assert reset.exit_code == 0 and admin.bodies[-1] == (
        "PATCH", "/api/v1/users/bob", {"password": "another long password"})  # fmt: skip
    listed = invoke("users", "list")
    assert listed.exit_code == 0 and "ana" in listed.output and "analyst" in listed.output

    key = invoke("keys", "create", "ci", "--role", "viewer", "--site", "north", "--expires-in-days", "30")
    assert key.exit_code == 0, key.output
    assert admin.bodies[-1][2] == {"name": "ci", "role": "viewer", "sites": ["north"], "expires_in_days": 30}
    assert key.output.count("gtk_abc123_s3cr3t") == 1 and "shown only this once" in key.output
    revoked = invoke("keys", "revoke", "abc123")
    assert revoked.exit_code == 0 and admin.bodies[-1][:2] == ("DELETE", "/api/v1/keys/abc123")

    seen = fake_gateway(monkeypatch, admin)
    log = invoke("audit", "--actor", "ana", "--action", "auth", "--outcome", "failed", "--since", "2h",
                 "--until", "2030-01-01")  # fmt: skip
    assert log.exit_code == 0, log.output
    query = parse_qs(seen[-1].url.query.decode())
    assert query["actor"] == ["ana"] and query["action"] == ["auth"] and query["outcome"] == ["failed"]
    assert query["until"] == ["2030-01-01T00:00:00+00:00"] and query["since"][0].endswith("+00:00")
    assert "auth.login" in log.output and "1-1 of 1" in log.output
    bad = invoke("audit", "--since", "yesterday-ish")
    assert bad.exit_code == 1 and "--since" in bad.output
