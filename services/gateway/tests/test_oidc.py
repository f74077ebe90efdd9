"""OIDC login against a local provider the test starts: the authorization-code flow with PKCE, the ID
token verified (signature from the JWKS, issuer, audience, nonce), the user matched or created from the
claims; a bad state, nonce, signature or audience refuses the login (and is audited)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from gateway_fakes import ApiClient, FakeBackends, accounts
from gridtwin_gateway.app import create_app
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider
from pydantic import SecretStr


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as p:
        yield p


@pytest.fixture
def browser(fake_backends: FakeBackends, provider: Provider) -> Iterator[ApiClient]:
    provider.wrong_nonce, provider.rogue_key, provider.audience = False, False, CLIENT_ID
    settings = fake_backends.settings.model_copy(
        update={
            "oidc_issuer": provider.base,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET),
        }
    )
    with ApiClient(create_app(settings)) as api:
        yield api


def start(browser: ApiClient, next_path: str = "/api/v1/auth/me") -> str:
    """The login up to the provider's redirect back: the callback URL (path and query)."""
    begin = browser.get("/api/v1/auth/oidc/login", params={"next": next_path})
    assert begin.status_code == 302, begin.text
    to_provider = begin.headers["location"]
    query = parse_qs(urlsplit(to_provider).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    assert (
        "gridtwin_oidc" in begin.headers["set-cookie"] and "httponly" in begin.headers["set-cookie"].lower()
    )
    back = httpx.get(to_provider, follow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    url = urlsplit(back.headers["location"])
    assert url.path == "/api/v1/auth/oidc/callback"
    return f"{url.path}?{url.query}"


def test_happy_path(browser: ApiClient, provider: Provider, fake_backends: FakeBackends) -> None:
    done = browser.get(start(browser))
    assert done.status_code == 302, done.text
    assert done.headers["location"] == "/api/v1/auth/me"
    me = browser.get("/api/v1/auth/me").json()
    assert me == {"username": "olivia", "role": "operator", "sites": ["north"], "via": "oidc"}
    user = accounts(fake_backends.settings).user("olivia")
    assert user.oidc_subject == f"{provider.base}|u-1001" and not user.password_hash
    # Cookie session: writes need the CSRF header, as for a password login.
    csrf = browser.cookies.get("gridtwin_csrf")
    assert browser.post("/api/v1/jobs", json={"feeders": ["f1"]}).status_code == 403
    assert (
        browser.post("/api/v1/jobs", json={"feeders": ["f1"]}, headers={"X-CSRF-Token": csrf}).status_code
        == 202
    )
    # The next login finds the same user; the provider's claims move the role and sites.
    provider.user["gridtwin_role"], provider.user["gridtwin_sites"] = "analyst", ["north", "south"]
    try:
        assert browser.get(start(browser)).status_code == 302
        assert browser.get("/api/v1/auth/me").json()["role"] == "analyst"
    finally:
        provider.user["gridtwin_role"], provider.user["gridtwin_sites"] = "operator", ["north"]
    assert accounts(fake_backends.settings).user("olivia").sites == frozenset({"north", "south"})
    rows, _ = accounts(fake_backends.settings).audit_entries(
        action="GET /api/v1/auth/oidc/callback", outcome="ok"
    )
    assert rows and rows[0]["actor"] == "olivia" and rows[0]["via"] == "oidc"


def test_bad_state_is_refused(browser: ApiClient, fake_backends: FakeBackends) -> None:
    callback = start(browser)
    forged = callback.replace("state=", "state=x")
    resp = browser.get(forged)
    assert resp.status_code == 401
    assert resp.json()["error"]["details"][0]["code"] == "oidc_state"
    rows, _ = accounts(fake_backends.settings).audit_entries(
        action="GET /api/v1/auth/oidc/callback", outcome="failed"
    )
    assert rows and rows[0]["status"] == 401


def test_another_browser_cannot_finish_the_login(browser: ApiClient, fake_backends: FakeBackends) -> None:
    callback = start(browser)
    with ApiClient(browser.app) as other:  # no flow cookie: a login started elsewhere
        assert other.get(callback).status_code == 401


def test_bad_nonce_is_refused(browser: ApiClient, provider: Provider) -> None:
    provider.wrong_nonce = True
    resp = browser.get(start(browser))
    assert resp.status_code == 401
    assert resp.json()["error"]["details"][0]["where"] == "id_token"
    assert browser.get("/api/v1/auth/me").status_code == 401


@pytest.mark.parametrize("knob", ["rogue_key", "audience"])
def test_bad_id_token_is_refused(browser: ApiClient, provider: Provider, knob: str) -> None:
    if knob == "rogue_key":
        provider.rogue_key = True
    else:
        provider.audience = "another-client"
    assert browser.get(start(browser)).status_code == 401


def test_a_code_is_good_once(browser: ApiClient) -> None:
    callback = start(browser)
    assert browser.get(callback).status_code == 302
    assert browser.get(callback).status_code == 401


def test_next_stays_on_the_gateway(browser: ApiClient) -> None:
    assert browser.get(start(browser, "//evil.example/x")).headers["location"] == "/docs"


def test_not_configured_is_404(client: ApiClient) -> None:
    client.use_token(None)
    assert client.get("/api/v1/auth/oidc/login").status_code == 404
    assert client.get("/api/v1/auth/oidc/callback", params={"code": "c", "state": "s"}).status_code == 404
