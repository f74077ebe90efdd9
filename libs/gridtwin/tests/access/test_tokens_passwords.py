"""Passwords (argon2id) and tokens (HS256 JWT, pinned): forged, edited, expired, wrong-audience and
``alg: none`` tokens are refused; the permission matrix covers every role."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from gridtwin.access import ALL_SITES, MATRIX, Principal, Role, allows, system_principal
from gridtwin.access.passwords import check_password, generate_password, hash_password, verify_password
from gridtwin.access.roles import matrix_markdown, parse_role
from gridtwin.access.tokens import TokenSigner, new_secret
from gridtwin.errors import AccessDeniedError, InputError, NotAuthenticatedError, NotFoundError

SIGNER = TokenSigner(internal_secret=new_secret(), access_secret=new_secret(), access_ttl_s=60)
ANA = Principal("ana", Role.ANALYST, frozenset({"north"}))


def test_passwords_are_argon2id_and_policy_checked() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong horse battery")
    assert not verify_password(None, "anything at all")  # unknown user: same cost, always false
    assert not verify_password("not-a-hash", "anything at all")
    with pytest.raises(InputError):
        check_password("short")
    assert len(generate_password()) >= 20


def test_access_token_round_trip_and_every_forgery_refused() -> None:
    token, ttl = SIGNER.access_token(ANA)
    assert ttl == 60 and Principal.from_claims(SIGNER.verify_access(token)) == ANA
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    raised = dict(claims, role="admin", sites=[ALL_SITES])  # edited claims keep the old signature
    edited = ".".join(
        [head, base64.urlsafe_b64encode(json.dumps(raised).encode()).rstrip(b"=").decode(), sig]
    )
    unsigned = jwt.encode(claims, key=None, algorithm="none") if hasattr(jwt, "encode") else ""
    other_key = jwt.encode(claims, new_secret(), algorithm="HS256")
    expired = jwt.encode(dict(claims, exp=int(time.time()) - 60), SIGNER.access_secret, algorithm="HS256")
    for forged in (edited, unsigned, other_key, expired, "", "x.y.z", token + "x"):
        with pytest.raises(NotAuthenticatedError):
            SIGNER.verify_access(forged)
    with pytest.raises(NotAuthenticatedError):
        SIGNER.verify_internal(token)  # a user's token is not an internal one


def test_internal_tokens_carry_the_principal() -> None:
    internal = SIGNER.internal_token(ANA)
    assert SIGNER.verify_internal(internal) == ANA
    service_only = TokenSigner(internal_secret=SIGNER.internal_secret)
    assert service_only.verify_internal(internal) == ANA
    with pytest.raises(NotAuthenticatedError):
        service_only.verify_access(SIGNER.access_token(ANA)[0])
    with pytest.raises(ValueError):
        TokenSigner(internal_secret="too short")


def test_principal_sites_and_matrix() -> None:
    assert ANA.sees("north") and not ANA.sees("south") and ANA.sees("")
    with pytest.raises(NotFoundError):
        ANA.visible("south", "twin x")
    with pytest.raises(AccessDeniedError):
        ANA.may_create_in(["north", "south"])
    with pytest.raises(AccessDeniedError):
        ANA.require("feeders.import")
    ANA.require("jobs.run")
    assert system_principal("powerflow").all_sites and allows(Role.SERVICE, "users.admin")
    for permission, (roles, _) in MATRIX.items():
        assert Role.ADMIN in roles, permission
        assert allows(Role.VIEWER, permission) == (Role.VIEWER in roles)
    assert all(allows(Role.VIEWER, p) for p in MATRIX if p.endswith(".read") and p != "audit.read")
    assert "| `users.admin` | yes |" in matrix_markdown()
    with pytest.raises(InputError):
        parse_role("service")
