"""Passwords: argon2id hashes (argon2-cffi, RFC 9106 parameters), never the password itself.

``verify_password`` costs the same for unknown users (a dummy hash is checked), so response times do
not tell which user names exist.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gridtwin.errors import ErrorDetail, InputError

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "check_password",
    "generate_password",
    "hash_password",
    "verify_password",
]

MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing cost is bounded; a megabyte "password" is an attack, not a password
_HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


def check_password(password: str, where: str = "password") -> str:
    """The password if it fits the policy (length), else an ``InputError`` naming ``where``."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InputError(
            "password does not fit the policy",
            [
                ErrorDetail(
                    where=where, message=f"{MIN_LENGTH} to {MAX_LENGTH} characters", code="password_policy"
                )
            ],
        )
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(check_password(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (None or "": an unknown or OIDC-only user)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return bool(_HASHER.verify(stored_hash or _dummy_hash(), password)) and bool(stored_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (rehash on the next login)."""
    try:
        return bool(_HASHER.check_needs_rehash(stored_hash))
    except InvalidHashError:
        return True


def generate_password() -> str:
    """A random password (24 URL-safe characters, ~143 bits) for a bootstrap admin."""
    return secrets.token_urlsafe(18)
