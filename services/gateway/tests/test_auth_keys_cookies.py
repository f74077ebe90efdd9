"""API keys (role and sites capped at the creator's, revocation, owners disabled) and browser sessions
(httpOnly SameSite cookies, the CSRF double submit bound to the session, renewal, logout)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from gateway_fakes import ApiClient, FakeBackends, make_user


def _user(fake_backends: FakeBackends, role: str, sites: tuple[str, ...]) -> tuple[str, str]:
    name, password = f"k{uuid.uuid4().hex[:10]}", "a-long-password-3"
    make_user(fake_backends.settings, name, password, role, sites)
    return name, password


def _login(api: ApiClient, name: str, password: str) -> dict[str, str]:
    api.use_token(None)
    token = api.post("/api/v1/auth/token", data={"username": name, "password": password}).json()[
        "access_token"
    ]
    return {"Authorization": f"Bearer {token}"}


def test_keys_are_capped_at_the_creator(client: ApiClient, fake_backends: FakeBackends) -> None:
    name, password = _user(fake_backends, "analyst", ("north", "south"))
    me = _login(client, name, password)
    above_role = client.post("/api/v1/keys", json={"name": "ci", "role": "operator"}, headers=me)
    assert above_role.status_code == 403 and above_role.json()["error"]["details"][0]["where"] == "body.role"
    above_sites = client.post("/api/v1/keys", json={"name": "ci", "sites": ["east"]}, headers=me)
    assert above_sites.status_code == 403
    every_site = client.post("/api/v1/keys", json={"name": "ci", "sites": ["*"]}, headers=me)
    assert every_site.status_code == 403
    made = client.post(
        "/api/v1/keys",
        json={"name": "ci", "role": "viewer", "sites": ["north"], "expires_in_days": 30},
        headers=me,
    )
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["secret"].startswith("gtk_") and key["role"] == "viewer" and key["sites"] == ["north"]
    assert key["owner"] == name and key["expires_at"]
    default = client.post("/api/v1/keys", json={"name": "same"}, headers=me).json()
    assert (default["role"], default["sites"]) == ("analyst", ["north", "south"])

    # The key works as a bearer token and as X-API-Key, with its own (lower) role.
    client.use_token(None)
    for headers in ({"Authorization": f"Bearer {key['secret']}"}, {"X-API-Key": key["secret"]}):
        who = client.get("/api/v1/auth/me", headers=headers).json()
        assert who == {"username": f"key:{key['id']}", "role": "viewer", "sites": ["north"], "via": "api_key"}
        assert client.post("/api/v1/jobs", json={"feeders": ["f1"]}, headers=headers).status_code == 403
    # A key does not mint keys or change passwords.
    by_key = {"X-API-Key": key["secret"]}
    assert client.post("/api/v1/keys", json={"name": "x"}, headers=by_key).status_code == 403
    assert (
        client.post(
            "/api/v1/auth/password", json={"current_password": "a", "new_password": "b" * 12}, headers=by_key
        ).status_code
        == 403
    )

    listed = client.get("/api/v1/keys", headers=me).json()["keys"]
    assert {k["id"] for k in listed} == {key["id"], default["id"]} and all("secret" not in k for k in listed)
    assert client.get("/api/v1/keys", params={"owner": "tester"}, headers=me).status_code == 403

    assert client.delete(f"/api/v1/keys/{key['id']}", headers=me).status_code == 204
    assert client.get("/api/v1/auth/me", headers=by_key).status_code == 401
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": "gtk_nothing_here"}).status_code == 401


def test_key_follows_its_owner(client: ApiClient, fake_backends: FakeBackends) -> None:
    admin = {"Authorization": client._client.headers["Authorization"]}
    name, password = _user(fake_backends, "operator", ("north",))
    me = _login(client, name, password)
    secret = client.post("/api/v1/keys", json={"name": "etl"}, headers=me).json()["secret"]
    by_key = {"X-API-Key": secret}
    assert client.get("/api/v1/auth/me", headers=by_key).json()["role"] == "operator"
    # The owner demoted: the key acts with no more than the owner holds now.
    assert (
        client.patch(
            f"/api/v1/users/{name}", json={"role": "viewer", "sites": ["north", "west"]}, headers=admin
        ).status_code
        == 200
    )
    assert client.get("/api/v1/auth/me", headers=by_key).json() == {
        "username": secret.split("_")[1] and f"key:{secret.split('_')[1]}",
        "role": "viewer",
        "sites": ["north"],
        "via": "api_key",
    }
    assert client.patch(f"/api/v1/users/{name}", json={"disabled": True}, headers=admin).status_code == 200
    assert client.get("/api/v1/auth/me", headers=by_key).status_code == 401
    # Others' keys: admins see and revoke them; a user cannot.
    other, other_password = _user(fake_backends, "viewer", ("south",))
    theirs = _login(client, other, other_password)
    key_id = secret.split("_")[1]
    assert client.delete(f"/api/v1/keys/{key_id}", headers=theirs).status_code == 404
    assert any(
        k["id"] == key_id
        for k in client.get("/api/v1/keys", params={"owner": name}, headers=admin).json()["keys"]
    )
    assert client.delete(f"/api/v1/keys/{key_id}", headers=admin).status_code == 204


def test_session_cookies_and_csrf(gateway: Callable[..., ApiClient], fake_backends: FakeBackends) -> None:
    name, password = _user(fake_backends, "operator", ("*",))
    api = gateway()
    resp = api.post("/api/v1/auth/session", data={"username": name, "password": password})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (
        set(body) == {"username", "role", "sites", "via", "expires_in", "csrf_token"}
        and body["username"] == name
    )
    cookies = {c.split("=", 1)[0]: c for c in resp.headers.get_list("set-cookie")}
    assert {"gridtwin_access", "gridtwin_refresh", "gridtwin_csrf"} == set(cookies)
    for cookie_name in ("gridtwin_access", "gridtwin_refresh"):
        assert (
            "httponly" in cookies[cookie_name].lower() and "samesite=strict" in cookies[cookie_name].lower()
        )
    assert "httponly" not in cookies["gridtwin_csrf"].lower()
    assert "path=/api/v1/auth" in cookies["gridtwin_refresh"].lower()
    csrf = api.cookies.get("gridtwin_csrf")
    assert csrf == body["csrf_token"]

    # Reads need the cookie only; writes the CSRF header too, equal to the cookie.
    assert api.get("/api/v1/auth/me").json()["via"] == "password"
    assert api.get("/api/v1/feeders").status_code == 200
    no_header = api.post("/api/v1/jobs", json={"feeders": ["f1"]})
    assert no_header.status_code == 403 and no_header.json()["error"]["details"][0]["code"] == "csrf"
    wrong = api.post("/api/v1/jobs", json={"feeders": ["f1"]}, headers={"X-CSRF-Token": "x.y"})
    assert wrong.status_code == 403
    ok = api.post("/api/v1/jobs", json={"feeders": ["f1"]}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 202, ok.text

    # A CSRF token of another session is refused even when cookie and header agree.
    other = gateway()
    other_csrf = other.post("/api/v1/auth/session", data={"username": name, "password": password}).json()[
        "csrf_token"
    ]
    bare = gateway()
    access = api.cookies.get("gridtwin_access")
    swapped = bare.post(
        "/api/v1/jobs",
        json={"feeders": ["f1"]},
        headers={
            "Cookie": f"gridtwin_access={access}; gridtwin_csrf={other_csrf}",
            "X-CSRF-Token": other_csrf,
        },
    )
    assert swapped.status_code == 403

    # Renewal rotates the cookies (CSRF header required); the old refresh cookie is spent.
    assert api.put("/api/v1/auth/session").status_code == 403
    renewed = api.put("/api/v1/auth/session", headers={"X-CSRF-Token": csrf})
    assert renewed.status_code == 200, renewed.text
    new_csrf = renewed.json()["csrf_token"]
    assert new_csrf != csrf and api.cookies.get("gridtwin_csrf") == new_csrf
    assert (
        api.post("/api/v1/jobs", json={"feeders": ["f1"]}, headers={"X-CSRF-Token": new_csrf}).status_code
        == 202
    )

    # Logout: the session ends and the cookies go.
    assert api.delete("/api/v1/auth/session").status_code == 403
    out = api.delete("/api/v1/auth/session", headers={"X-CSRF-Token": new_csrf})
    assert out.status_code == 204
    assert not api.cookies.get("gridtwin_access")
    assert api.get("/api/v1/auth/me").status_code == 401


def test_secure_cookies_by_default(gateway: Callable[..., ApiClient], fake_backends: FakeBackends) -> None:
    name, password = _user(fake_backends, "viewer", ("north",))
    api = gateway(cookie_secure=True)
    resp = api.post("/api/v1/auth/session", data={"username": name, "password": password})
    assert all("secure" in c.lower() for c in resp.headers.get_list("set-cookie"))


def test_a_bearer_token_needs_no_csrf(client: ApiClient) -> None:
    client.cookies.set("gridtwin_access", "junk")  # ignored: the header wins
    assert client.post("/api/v1/jobs", json={"feeders": ["f1"]}).status_code == 202
