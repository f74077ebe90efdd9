"""Accounts in SQL: users (argon2id hashes only), API keys (SHA-256 of the secret only), rotating
refresh-token families, and the append-only audit log.

Hashing and token signing live in ``gridtwin.access``; this store keeps what they produce. Times are
UTC (naive in the database). Nothing here edits or deletes an audit row: the database refuses it too.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from gridtwin.access.principal import ALL_SITES, Principal
from gridtwin.access.roles import Role, parse_role
from gridtwin.errors import ConflictError, ErrorDetail, InputError, NotAuthenticatedError, NotFoundError
from gridtwin.store.db import writer
from gridtwin.store.tables import USERNAME_MAX, api_keys, audit_log, refresh_tokens, users

__all__ = [
    "BOOTSTRAP_ADMIN",
    "AccountStore",
    "ApiKeyRecord",
    "AuditEntry",
    "UserRecord",
    "check_sites",
    "check_username",
    "ensure_admin",
    "sha256_hex",
]

USERNAME_RE = re.compile(rf"[A-Za-z0-9_.@-]{{1,{USERNAME_MAX}}}")
SITE_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}|\*")
KEY_PREFIX = "gtk"
BOOTSTRAP_ADMIN = "admin"
AUDIT_PAGE_MAX = 1000


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_username(name: str) -> str:
    if not USERNAME_RE.fullmatch(name or ""):
        raise InputError(
            "bad username",
            [ErrorDetail(where="username", message=f"{name!r}: [A-Za-z0-9_.@-], 1-64 characters")],
        )
    return name


def check_sites(sites: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(str(s) for s in sites)
    bad = sorted(s for s in chosen if not SITE_RE.fullmatch(s))
    if bad:
        raise InputError(
            "bad site", [ErrorDetail(where="sites", message=f"{s!r}: [A-Za-z0-9_.-] or *") for s in bad]
        )
    return chosen


@dataclass(frozen=True)
class UserRecord:
    username: str
    password_hash: str = field(repr=False)
    role: Role
    sites: frozenset[str]
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    oidc_subject: str | None
    created_at: datetime
    updated_at: datetime

    def principal(self, via: str = "password", request_id: str = "") -> Principal:
        return Principal(self.username, self.role, self.sites, via=via, request_id=request_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "role": self.role.value,
            "sites": sorted(self.sites),
            "disabled": self.disabled,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
            "oidc": bool(self.oidc_subject),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    name: str
    owner: str
    role: Role
    sites: frozenset[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def principal(self, request_id: str = "") -> Principal:
        return Principal(f"key:{self.id}", self.role, self.sites, via="api_key", request_id=request_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "role": self.role.value,
            "sites": sorted(self.sites),
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "last_used_at": _iso(self.last_used_at),
            "revoked": self.revoked_at is not None,
        }


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    action: str
    outcome: str  # ok | denied | failed | error
    via: str = ""
    resource: str = ""
    site: str = ""
    status: int = 0
    ip: str = ""
    request_id: str = ""
    trace_id: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def _user(row: Any) -> UserRecord:
    return UserRecord(
        username=row.username,
        password_hash=row.password_hash,
        role=Role(row.role),
        sites=frozenset(json.loads(row.sites_json)),
        disabled=bool(row.disabled),
        failed_logins=int(row.failed_logins),
        locked_until=_aware(row.locked_until),
        oidc_subject=row.oidc_subject,
        created_at=_aware(row.created_at) or datetime.now(UTC),
        updated_at=_aware(row.updated_at) or datetime.now(UTC),
    )


def _key(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        owner=row.owner,
        role=Role(row.role),
        sites=frozenset(json.loads(row.sites_json)),
        created_at=_aware(row.created_at) or datetime.now(UTC),
        expires_at=_aware(row.expires_at),
        last_used_at=_aware(row.last_used_at),
        revoked_at=_aware(row.revoked_at),
    )


class AccountStore:
    """Users, API keys, refresh-token families and the audit log on one SQL database."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    # -- users ------------------------------------------------------------------------------------

    def count_users(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())

    def create_user(
        self,
        username: str,
        password_hash: str,
        role: Role | str,
        sites: Iterable[str],
        *,
        oidc_subject: str | None = None,
    ) -> UserRecord:
        check_username(username)
        now = _now()
        row = {
            "username": username,
            "password_hash": password_hash,
            "role": parse_role(str(role)).value,
            "sites_json": json.dumps(sorted(check_sites(sites))),
            "disabled": False,
            "failed_logins": 0,
            "locked_until": None,
            "oidc_subject": oidc_subject,
            "created_at": now,
            "updated_at": now,
            "password_changed_at": now if password_hash else None,
        }
        with self._writer.begin() as conn:
            if conn.execute(sa.select(users.c.username).where(users.c.username == username)).first():
                raise ConflictError(
                    "user exists",
                    [ErrorDetail(where="username", message=f"{username} exists", code="exists")],
                )
            conn.execute(sa.insert(users), row)
        return self.user(username)

    def user(self, username: str) -> UserRecord:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        if row is None:
            raise NotFoundError(
                "no such user", [ErrorDetail(where="username", message=username, code="not_found")]
            )
        return _user(row)

    def find_user(self, username: str) -> UserRecord | None:
        try:
            return self.user(username)
        except NotFoundError:
            return None

    def user_by_oidc(self, subject: str) -> UserRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.oidc_subject == subject)).first()
        return None if row is None else _user(row)

    def users(self) -> builtins.list[UserRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.username)).all()
        return [_user(r) for r in rows]

    def update_user(
        self,
        username: str,
        *,
        role: Role | str | None = None,
        sites: Iterable[str] | None = None,
        disabled: bool | None = None,
        password_hash: str | None = None,
    ) -> UserRecord:
        values: dict[str, Any] = {"updated_at": _now()}
        if role is not None:
            values["role"] = parse_role(str(role)).value
        if sites is not None:
            values["sites_json"] = json.dumps(sorted(check_sites(sites)))
        if disabled is not None:
            values["disabled"] = disabled
        if password_hash is not None:
            values.update(
                password_hash=password_hash, password_changed_at=_now(), failed_logins=0, locked_until=None
            )
        with self._writer.begin() as conn:
            done = conn.execute(
                sa.update(users).where(users.c.username == username).values(**values)
            ).rowcount
        if not done:
            raise NotFoundError(
                "no such user", [ErrorDetail(where="username", message=username, code="not_found")]
            )
        if disabled or password_hash is not None:
            self.revoke_user_tokens(username)  # a disabled user, or a new password: every session ends
        return self.user(username)

    def delete_user(self, username: str) -> None:
        with self._writer.begin() as conn:
            done = conn.execute(sa.delete(users).where(users.c.username == username)).rowcount
            if done:
                now = _now()
                conn.execute(
                    sa.update(refresh_tokens)
                    .where(refresh_tokens.c.username == username, refresh_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                conn.execute(
                    sa.update(api_keys)
                    .where(api_keys.c.owner == username, api_keys.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
        if not done:
            raise NotFoundError(
                "no such user", [ErrorDetail(where="username", message=username, code="not_found")]
            )

    def login_failed(self, username: str, *, max_failures: int, lock_for: timedelta) -> UserRecord | None:
        """Count a failed login; lock the account for ``lock_for`` after ``max_failures`` in a row."""
        with self._writer.begin() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
            if row is None:
                return None
            failures = int(row.failed_logins) + 1
            values: dict[str, Any] = {"failed_logins": failures}
            if failures >= max_failures:
                values.update(locked_until=_now() + lock_for, failed_logins=0)
            conn.execute(sa.update(users).where(users.c.username == username).values(**values))
        return self.user(username)

    def login_succeeded(self, username: str) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                sa.update(users)
                .where(users.c.username == username)
                .values(failed_logins=0, locked_until=None)
            )

    # -- API keys ---------------------------------------------------------------------------------

    def create_api_key(
        self,
        owner: str,
        name: str,
        role: Role | str,
        sites: Iterable[str],
        *,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """A new key; returns its record and the secret, shown once (only its SHA-256 is kept)."""
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        row = {
            "id": key_id,
            "secret_sha256": sha256_hex(secret),
            "name": (name or "key")[:200],
            "owner": owner,
            "role": parse_role(str(role)).value,
            "sites_json": json.dumps(sorted(check_sites(sites))),
            "created_at": _now(),
            "expires_at": expires_at.astimezone(UTC).replace(tzinfo=None) if expires_at else None,
            "last_used_at": None,
            "revoked_at": None,
        }
        with self._writer.begin() as conn:
            conn.execute(sa.insert(api_keys), row)
        return self.api_key(key_id), secret

    def api_key(self, key_id: str) -> ApiKeyRecord:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise NotFoundError(
                "no such API key", [ErrorDetail(where="key", message=key_id, code="not_found")]
            )
        return _key(row)

    def api_keys(self, owner: str | None = None) -> builtins.list[ApiKeyRecord]:
        stmt = sa.select(api_keys).order_by(api_keys.c.created_at)
        if owner is not None:
            stmt = stmt.where(api_keys.c.owner == owner)
        with self._engine.connect() as conn:
            return [_key(r) for r in conn.execute(stmt).all()]

    def verify_api_key(self, secret: str) -> ApiKeyRecord:
        """The key a secret belongs to; ``NotAuthenticatedError`` for unknown, revoked or expired keys."""
        parts = secret.split("_")
        if len(parts) < 3 or parts[0] != KEY_PREFIX:
            raise NotAuthenticatedError(
                "invalid API key", [ErrorDetail(where="api_key", message="malformed")]
            )
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == parts[1])).first()
        if row is None or not secrets.compare_digest(row.secret_sha256, sha256_hex(secret)):
            raise NotAuthenticatedError("invalid API key", [ErrorDetail(where="api_key", message="unknown")])
        record = _key(row)
        now = datetime.now(UTC)
        if record.revoked_at is not None or (record.expires_at is not None and record.expires_at <= now):
            raise NotAuthenticatedError(
                "invalid API key", [ErrorDetail(where="api_key", message="revoked or expired")]
            )
        with self._writer.begin() as conn:
            conn.execute(sa.update(api_keys).where(api_keys.c.id == record.id).values(last_used_at=_now()))
        return record

    def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        with self._writer.begin() as conn:
            done = conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            ).rowcount
        record = self.api_key(key_id)
        if not done and record.revoked_at is None:
            raise NotFoundError(
                "no such API key", [ErrorDetail(where="key", message=key_id, code="not_found")]
            )
        return record

    # -- refresh tokens ---------------------------------------------------------------------------

    def issue_refresh(
        self, username: str, via: str, ttl: timedelta, family: str | None = None
    ) -> tuple[str, str]:
        """A new refresh token (returned once; its SHA-256 kept) in ``family`` (new when None)."""
        token = secrets.token_urlsafe(48)
        fam = family or secrets.token_hex(16)
        now = _now()
        with self._writer.begin() as conn:
            conn.execute(
                sa.insert(refresh_tokens),
                {
                    "token_sha256": sha256_hex(token),
                    "family": fam,
                    "username": username,
                    "via": via,
                    "issued_at": now,
                    "expires_at": now + ttl,
                    "rotated_at": None,
                    "revoked_at": None,
                },
            )
        return token, fam

    def rotate_refresh(self, token: str, ttl: timedelta) -> tuple[str, str, str, str]:
        """Spend ``token`` for a new one of its family: (new token, family, username, via).

        A token used twice means it was copied: the whole family is revoked and the call refused.
        """
        digest = sha256_hex(token)
        refused = NotAuthenticatedError(
            "invalid refresh token",
            [ErrorDetail(where="refresh_token", message="unknown, expired or revoked")],
        )
        with self._writer.begin() as conn:
            row = conn.execute(
                sa.select(refresh_tokens).where(refresh_tokens.c.token_sha256 == digest)
            ).first()
            if row is None:
                raise refused
            now = _now()
            if row.rotated_at is not None or row.revoked_at is not None:
                # Reuse of a spent token: revoke the family (the thief's and the owner's tokens alike).
                conn.execute(
                    sa.update(refresh_tokens)
                    .where(refresh_tokens.c.family == row.family, refresh_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                reused = row.rotated_at is not None and row.revoked_at is None
                if reused:
                    refused.details = [
                        ErrorDetail(
                            where="refresh_token",
                            message="reused: every session of it is ended",
                            code="reused",
                        )
                    ]
                failure: NotAuthenticatedError | None = refused
            elif row.expires_at <= now:
                failure = refused
            else:
                failure = None
                conn.execute(
                    sa.update(refresh_tokens)
                    .where(refresh_tokens.c.token_sha256 == digest)
                    .values(rotated_at=now)
                )
        if failure is not None:
            raise failure
        new, family = self.issue_refresh(row.username, row.via, ttl, family=row.family)
        return new, family, row.username, row.via

    def revoke_family_of(self, token: str) -> str | None:
        """Logout: revoke the family ``token`` belongs to; returns its username (None if unknown)."""
        digest = sha256_hex(token)
        with self._writer.begin() as conn:
            row = conn.execute(
                sa.select(refresh_tokens).where(refresh_tokens.c.token_sha256 == digest)
            ).first()
            if row is None:
                return None
            conn.execute(
                sa.update(refresh_tokens)
                .where(refresh_tokens.c.family == row.family, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
        return str(row.username)

    def revoke_user_tokens(self, username: str) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                sa.update(refresh_tokens)
                .where(refresh_tokens.c.username == username, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )

    def family_revoked(self, family: str) -> bool:
        with self._engine.connect() as conn:
            live = conn.execute(
                sa.select(sa.func.count())
                .select_from(refresh_tokens)
                .where(refresh_tokens.c.family == family, refresh_tokens.c.revoked_at.is_(None))
            ).scalar_one()
        return int(live) == 0

    # -- audit ------------------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                sa.insert(audit_log),
                {
                    "ts": _now(),
                    "actor": entry.actor[: USERNAME_MAX + 16] or "-",
                    "via": entry.via[:16],
                    "action": entry.action[:64],
                    "resource": entry.resource[:512],
                    "site": entry.site[:128],
                    "outcome": entry.outcome[:16],
                    "status": int(entry.status),
                    "ip": entry.ip[:64],
                    "request_id": entry.request_id[:64],
                    "trace_id": entry.trace_id[:32],
                    "detail_json": json.dumps(entry.detail, default=str, sort_keys=True),
                },
            )

    def audit_entries(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """A page of audit rows, newest first, and how many match."""
        if not 1 <= limit <= AUDIT_PAGE_MAX or offset < 0:
            raise InputError(
                "bad page", [ErrorDetail(where="limit", message=f"1..{AUDIT_PAGE_MAX}, offset >= 0")]
            )
        a = audit_log.c
        where = []
        if actor:
            where.append(a.actor == actor)
        if action:
            where.append(a.action.like(f"{action}%"))
        if outcome:
            where.append(a.outcome == outcome)
        if since is not None:
            where.append(a.ts >= since.astimezone(UTC).replace(tzinfo=None))
        if until is not None:
            where.append(a.ts < until.astimezone(UTC).replace(tzinfo=None))
        with self._engine.connect() as conn:
            total = int(
                conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(*where)).scalar_one()
            )
            rows = conn.execute(
                sa.select(audit_log).where(*where).order_by(a.id.desc()).limit(limit).offset(offset)
            ).all()
        out = []
        for r in rows:
            doc = {k: getattr(r, k) for k in r._mapping if k != "detail_json"}
            doc["ts"] = r.ts.replace(tzinfo=UTC).isoformat()
            doc["detail"] = json.loads(r.detail_json)
            out.append(doc)
        return out, total


def ensure_admin(
    store: AccountStore, password_hash: Callable[[str], str], password: str | None
) -> str | None:
    """On a fresh install (no user yet) create the admin ``admin`` with every site: with ``password``
    when given (GRIDTWIN_ADMIN_PASSWORD), else a generated one, returned so the caller prints it once
    (only its hash is kept). Returns None when users exist already (nothing changes)."""
    if store.count_users():
        return None
    from gridtwin.access.passwords import generate_password

    chosen = password or generate_password()
    try:
        store.create_user(BOOTSTRAP_ADMIN, password_hash(chosen), Role.ADMIN, [ALL_SITES])
    except ConflictError:  # another process made it first
        return None
    store.audit(
        AuditEntry(
            actor="-", via="bootstrap", action="users.bootstrap", resource=BOOTSTRAP_ADMIN, outcome="ok"
        )
    )
    return None if password else chosen
