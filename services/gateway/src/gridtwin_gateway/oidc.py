"""OIDC login against the utility's identity provider: the authorization-code flow with PKCE.

``begin`` builds the provider's authorization URL (Authlib's OAuth 2 grant parameters and S256 code
challenge) and a short-lived signed cookie holding the state, nonce, code verifier and where to go next;
``finish`` checks the state against that cookie, redeems the code at the token endpoint (client secret
and code verifier), and verifies the ID token: signature against the provider's published keys
(asymmetric algorithms only, keys refetched once for an unknown ``kid``), issuer, audience, expiry and the
nonce. Nothing is kept on the server between the two steps.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt as pyjwt
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from gridtwin.config import Settings
from gridtwin.errors import ErrorDetail, NotAuthenticatedError, UpstreamError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

__all__ = ["FLOW_COOKIE", "OidcClient", "OidcFlow", "safe_next"]

FLOW_COOKIE = "gridtwin_oidc"
FLOW_TTL_S = 600
FLOW_AUDIENCE = "gridtwin-oidc-flow"
ID_TOKEN_ALGORITHMS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]
CACHE_S = 3600.0
HTTP_TIMEOUT_S = 10.0


def _refused(message: str, where: str, code: str = "oidc") -> NotAuthenticatedError:
    return NotAuthenticatedError("OIDC login failed", [ErrorDetail(where=where, message=message, code=code)])


def safe_next(value: str) -> str:
    """A local path to go to after login; anything else (another host, ``//host``) becomes ``/docs``."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 2048:
        return value
    return "/docs"


@dataclass(frozen=True)
class OidcFlow:
    state: str
    nonce: str
    verifier: str
    next: str


class OidcClient:
    """The gateway as an OIDC relying party of ``settings.oidc_issuer``."""

    def __init__(self, settings: Settings, flow_secret: str) -> None:
        if not settings.oidc_issuer or not settings.oidc_client_id:
            raise ValueError("OIDC needs GRIDTWIN_OIDC_ISSUER and GRIDTWIN_OIDC_CLIENT_ID")
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self._client_secret = (
            settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
        )
        self.role_claim = settings.oidc_role_claim
        self.sites_claim = settings.oidc_sites_claim
        self._flow_secret = flow_secret
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False) as client:
                response = await client.get(url)
                response.raise_for_status()
                body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamError(
                "identity provider unreachable",
                [ErrorDetail(where=url, message=type(exc).__name__, code="oidc_upstream")],
            ) from exc
        if not isinstance(body, dict):
            raise UpstreamError(
                "identity provider answered nonsense", [ErrorDetail(where=url, message="not a JSON object")]
            )
        return body

    async def discovery(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._discovery is None or now - self._discovery[0] > CACHE_S:
            doc = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
                raise UpstreamError(
                    "identity provider misconfigured",
                    [
                        ErrorDetail(
                            where="issuer", message="discovery names another issuer", code="oidc_issuer"
                        )
                    ],
                )
            self._discovery = (now, doc)
        return self._discovery[1]

    async def _key_set(self, refresh: bool = False) -> KeySet:
        now = time.monotonic()
        if refresh or self._keys is None or now - self._keys[0] > CACHE_S:
            doc = await self.discovery()
            keys = KeySet.import_key_set(await self._get_json(str(doc["jwks_uri"])))  # type: ignore[arg-type]
            self._keys = (now, keys)
        return self._keys[1]

    # -- the flow's cookie ------------------------------------------------------------------------

    def _seal(self, flow: OidcFlow) -> str:
        now = int(time.time())
        claims = {
            "aud": FLOW_AUDIENCE, "iat": now, "exp": now + FLOW_TTL_S,
            "st": flow.state, "no": flow.nonce, "cv": flow.verifier, "nx": flow.next,
        }  # fmt: skip
        return pyjwt.encode(claims, self._flow_secret, algorithm="HS256")

    def _unseal(self, cookie: str) -> OidcFlow:
        try:
            claims = pyjwt.decode(
                cookie, self._flow_secret, algorithms=["HS256"], audience=FLOW_AUDIENCE,
                options={"require": ["exp", "aud"]},
            )  # fmt: skip
            return OidcFlow(str(claims["st"]), str(claims["no"]), str(claims["cv"]), str(claims["nx"]))
        except (pyjwt.InvalidTokenError, KeyError) as exc:
            raise _refused("the login flow expired or its cookie is missing; start again", "state") from exc

    # -- the two steps ----------------------------------------------------------------------------

    async def begin(self, redirect_uri: str, next_path: str) -> tuple[str, str]:
        """The provider's authorization URL and the flow cookie's value."""
        doc = await self.discovery()
        flow = OidcFlow(generate_token(32), generate_token(32), generate_token(64), safe_next(next_path))
        url = prepare_grant_uri(
            str(doc["authorization_endpoint"]),
            self.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope="openid profile email",
            state=flow.state,
            nonce=flow.nonce,
            code_challenge=create_s256_code_challenge(flow.verifier),
            code_challenge_method="S256",
        )
        return url, self._seal(flow)

    async def finish(
        self, code: str, state: str, cookie: str, redirect_uri: str
    ) -> tuple[dict[str, Any], str]:
        """The verified ID token's claims and where to go next."""
        flow = self._unseal(cookie)
        if not state or not secrets.compare_digest(state, flow.state):
            raise _refused("state does not match this browser's login", "state", "oidc_state")
        if not code:
            raise _refused("no authorization code", "code")
        doc = await self.discovery()
        auth = base64.b64encode(f"{self.client_id}:{self._client_secret}".encode()).decode()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": flow.verifier,
            "client_id": self.client_id,
        }
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False) as client:
                response = await client.post(
                    str(doc["token_endpoint"]), data=form, headers={"Authorization": f"Basic {auth}"}
                )
        except httpx.HTTPError as exc:
            raise UpstreamError(
                "identity provider unreachable",
                [ErrorDetail(where="token_endpoint", message=type(exc).__name__)],
            ) from exc
        if response.status_code != 200:
            raise _refused(f"the provider refused the code ({response.status_code})", "code")
        try:
            id_token = str(response.json()["id_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise _refused("the provider returned no ID token", "id_token") from exc
        return await self.verify_id_token(id_token, flow.nonce), flow.next

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        issuer = str((await self.discovery())["issuer"])
        keys = await self._key_set()
        try:
            try:
                token = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
            except JoseError as exc:
                if "key" not in type(exc).__name__.lower():
                    raise
                token = jwt.decode(
                    id_token, await self._key_set(refresh=True), algorithms=ID_TOKEN_ALGORITHMS
                )
            claims = dict(token.claims)
            jwt.JWTClaimsRegistry(
                leeway=30,
                iss={"essential": True, "value": issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(claims)
        except (JoseError, ValueError) as exc:
            raise _refused(
                f"the ID token is not valid ({type(exc).__name__})", "id_token", "oidc_token"
            ) from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise _refused("the ID token was issued to another party", "id_token", "oidc_token")
        return claims
