"""A small OIDC provider for the tests, served for real on 127.0.0.1: discovery, JWKS, an authorize
endpoint that approves its one test user at once, and a token endpoint that checks the client's secret,
the redirect URI and the PKCE verifier, and issues an RS256 ID token signed with a key made here.

Knobs for the failure cases: ``wrong_nonce`` (the ID token names another nonce), ``rogue_key`` (signed
with a key the JWKS does not publish), ``audience`` (issued to another client)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "gridtwin-test"
CLIENT_SECRET = "oidc-client-secret-for-tests"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Provider:
    base: str
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(
            2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"}
        )
    )
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "u-1001",
            "preferred_username": "olivia",
            "email": "olivia@utility.example",
            "gridtwin_role": "operator",
            "gridtwin_sites": ["north"],
        }
    )
    wrong_nonce: bool = False
    rogue_key: bool = False
    audience: str = CLIENT_ID
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.base, "aud": self.audience, "iat": now, "exp": now + 300,
            "nonce": "not-the-nonce" if self.wrong_nonce else nonce, **self.user,
        }  # fmt: skip
        key = RSAKey.generate_key(2048, parameters={"kid": "k1"}) if self.rogue_key else self.key
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)

    def app(self) -> Starlette:
        async def discovery(_: Request) -> Response:
            return JSONResponse({
                "issuer": self.base,
                "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token",
                "jwks_uri": f"{self.base}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            })  # fmt: skip

        async def jwks(_: Request) -> Response:
            return JSONResponse(KeySet([self.key]).as_dict(private=False))

        async def authorize(request: Request) -> Response:
            q = request.query_params
            if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
                return JSONResponse({"error": "unauthorized_client"}, status_code=400)
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return JSONResponse(
                    {"error": "invalid_request", "error_description": "PKCE S256 required"}, 400
                )
            code = secrets.token_urlsafe(24)
            self.codes[code] = {
                "nonce": q.get("nonce", ""), "challenge": q["code_challenge"], "redirect_uri": q.get("redirect_uri", ""),
            }  # fmt: skip
            return RedirectResponse(
                f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}", 302
            )

        async def token(request: Request) -> Response:
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != expected:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            form = await request.form()
            grant = self.codes.pop(str(form.get("code", "")), None)  # a code is good once
            if form.get("grant_type") != "authorization_code" or grant is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if form.get("redirect_uri") != grant["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, 400)
            verifier = str(form.get("code_verifier", ""))
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if challenge != grant["challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
            return JSONResponse({
                "access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                "id_token": self.id_token(grant["nonce"]),
            })  # fmt: skip

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
            ]
        )


@contextmanager
def running_provider() -> Iterator[Provider]:
    """The provider on a free loopback port, for the time of the block."""
    port = _free_port()
    provider = Provider(base=f"http://127.0.0.1:{port}")
    config = uvicorn.Config(
        provider.app(),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="off",
        access_log=False,
        ws="none",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="oidc-provider", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test OIDC provider did not start")
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)
