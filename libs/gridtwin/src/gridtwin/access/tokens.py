"""Tokens: short-lived JWT access tokens for users, and internal tokens that carry a verified principal
from the gateway (or a job) to the services. PyJWT, HS256 only.

Two secrets: a user's access token is never accepted as an internal token (different key and
audience), so a token leaked from a browser cannot be replayed against a service's port, and a process
that can reach a service's port but does not hold the internal secret cannot impersonate the gateway.
Verification pins the algorithm (``alg: none`` and key-confusion tricks are refused), requires expiry,
issue time, issuer and audience, and allows a few seconds of clock skew.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from gridtwin.access.principal import Principal
from gridtwin.errors import ErrorDetail, NotAuthenticatedError

__all__ = ["ACCESS_AUDIENCE", "INTERNAL_AUDIENCE", "TokenSigner", "new_secret"]

ALGORITHM = "HS256"
ISSUER = "gridtwin"
ACCESS_AUDIENCE = "gridtwin-api"
INTERNAL_AUDIENCE = "gridtwin-internal"
LEEWAY_S = 5
MIN_SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def _refused(why: str, code: str = "invalid_token") -> NotAuthenticatedError:
    return NotAuthenticatedError(
        "not authenticated", [ErrorDetail(where="authorization", message=why, code=code)]
    )


@dataclass(frozen=True)
class TokenSigner:
    """Signs and verifies internal tokens and, where users log in (the gateway), access tokens.
    Secrets are at least 32 bytes and must differ; a service holds only the internal one."""

    internal_secret: str
    access_secret: str = ""
    access_ttl_s: int = 900
    internal_ttl_s: int = 120

    def __post_init__(self) -> None:
        for name in ("internal_secret", "access_secret"):
            value = getattr(self, name)
            if (value or name == "internal_secret") and len(value.encode()) < MIN_SECRET_BYTES:
                raise ValueError(f"{name} must be at least {MIN_SECRET_BYTES} bytes")
        if self.access_secret == self.internal_secret:
            raise ValueError("the access and internal secrets must differ")

    # -- users ------------------------------------------------------------------------------------

    def access_token(self, principal: Principal, *, family: str = "") -> tuple[str, int]:
        """A signed access token for ``principal`` and its lifetime in seconds."""
        if not self.access_secret:
            raise ValueError("this signer holds no access secret (only the gateway issues access tokens)")
        now = int(time.time())
        claims: dict[str, Any] = {
            **principal.to_claims(),
            "iss": ISSUER,
            "aud": ACCESS_AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttl_s,
            "jti": uuid.uuid4().hex,
        }
        if family:
            claims["fam"] = family  # the refresh family it came from: logout ends it at once
        return jwt.encode(claims, self.access_secret, algorithm=ALGORITHM), self.access_ttl_s

    def verify_access(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token; ``NotAuthenticatedError`` saying why otherwise."""
        if not self.access_secret:
            raise _refused("access tokens are not accepted here")
        return self._verify(token, self.access_secret, ACCESS_AUDIENCE)

    # -- internal ---------------------------------------------------------------------------------

    def internal_token(self, principal: Principal) -> str:
        """A token carrying ``principal`` from the gateway (or a job) to a service, valid briefly."""
        now = int(time.time())
        claims = {
            **principal.to_claims(),
            "iss": ISSUER,
            "aud": INTERNAL_AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + self.internal_ttl_s,
        }
        return jwt.encode(claims, self.internal_secret, algorithm=ALGORITHM)

    def verify_internal(self, token: str) -> Principal:
        return Principal.from_claims(self._verify(token, self.internal_secret, INTERNAL_AUDIENCE))

    # -- both -------------------------------------------------------------------------------------

    @staticmethod
    def _verify(token: str, secret: str, audience: str) -> dict[str, Any]:
        if not token or len(token) > 8192:
            raise _refused("missing or oversized token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=ISSUER,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _refused("token expired", "expired") from exc
        except jwt.InvalidTokenError as exc:
            raise _refused(f"invalid token ({type(exc).__name__})") from exc
        try:
            Principal.from_claims(claims)
        except (KeyError, ValueError) as exc:
            raise _refused("token claims are not a principal") from exc
        return claims
