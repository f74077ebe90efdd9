"""Who is calling the gateway, and may they: the ``Gate`` (accounts store, token signer, caches, rate
limits, OIDC) and ``guard``, the dependency every route runs before anything else.

Credentials, first found wins: ``Authorization: Bearer <access JWT>``, ``Authorization: Bearer gtk_...``
or ``X-API-Key: gtk_...`` (an API key), or the ``gridtwin_access`` session cookie (then every unsafe
request must carry ``X-CSRF-Token`` equal to the ``gridtwin_csrf`` cookie, which is bound to the session by
an HMAC). An access token is verified (signature, expiry, audience) and its user re-read from the accounts
store (cached for ``CACHE_TTL_S``; a change made through this gateway clears it at once), so a disabled or
removed user, or a session that was logged out, is refused. An API key acts with the lower of its own
role and its owner's current one, on the sites both hold.

``guard`` maps the matched route to its permission (``authz.ROUTE_PERMISSIONS``), charges the caller's and
the address's token buckets, checks the permission, and makes the caller the principal of the back-end
calls (``context.set_principal``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Generic, TypeVar

import redis
from gridtwin.access.passwords import hash_password, needs_rehash, verify_password
from gridtwin.access.principal import ALL_SITES, Principal
from gridtwin.access.roles import MATRIX, ROLES, Role
from gridtwin.access.tokens import TokenSigner
from gridtwin.config import Settings
from gridtwin.errors import AccessDeniedError, ErrorDetail, NotAuthenticatedError
from gridtwin.store.accounts import AccountStore, ApiKeyRecord, AuditEntry, UserRecord, sha256_hex
from opentelemetry import trace
from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection

from gridtwin_gateway.authz import permission_for
from gridtwin_gateway.context import RequestInfo, request_info, set_principal
from gridtwin_gateway.errors import CHALLENGE, ApiError, retry_after_header
from gridtwin_gateway.oidc import OidcClient
from gridtwin_gateway.ratelimit import Bucket, TokenBuckets

__all__ = [
    "ACCESS_COOKIE",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "REFRESH_COOKIE",
    "Caller",
    "Gate",
    "Session",
    "capped_role",
    "capped_sites",
    "current_principal",
    "forbidden",
    "guard",
    "unauthenticated",
]

log = logging.getLogger(__name__)

ACCESS_COOKIE: Final = "gridtwin_access"
REFRESH_COOKIE: Final = "gridtwin_refresh"
CSRF_COOKIE: Final = "gridtwin_csrf"
CSRF_HEADER: Final = "x-csrf-token"
UNSAFE: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CACHE_TTL_S: Final = 5.0
CACHE_MAX: Final = 10_000
KEY_PREFIX: Final = "gtk_"

V = TypeVar("V")


# -- answers --------------------------------------------------------------------------------------


def unauthenticated(message: str, where: str = "authorization", code: str = "invalid_token") -> ApiError:
    """401 with ``WWW-Authenticate: Bearer`` (RFC 6750)."""
    return ApiError(
        401,
        "UNAUTHENTICATED",
        "not authenticated",
        [{"where": where, "message": message, "code": code}],
        CHALLENGE,
    )


def forbidden(message: str, where: str, code: str = "forbidden") -> ApiError:
    return ApiError(
        403, "PERMISSION_DENIED", "not allowed", [{"where": where, "message": message, "code": code}]
    )


def _from_refusal(exc: NotAuthenticatedError) -> ApiError:
    d = exc.details[0] if exc.details else ErrorDetail(where="authorization", message=exc.message)
    return unauthenticated(d.message, d.where, d.code if d.code != "invalid" else "invalid_token")


# -- small things ---------------------------------------------------------------------------------


class TtlCache(Generic[V]):
    """A dict whose entries live ``ttl_s`` seconds (bounded: cleared whole when full)."""

    def __init__(self, ttl_s: float, max_items: int = CACHE_MAX) -> None:
        self._ttl = ttl_s
        self._max = max_items
        self._items: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> tuple[bool, V | None]:
        hit = self._items.get(key)
        if hit is None:
            return False, None
        if time.monotonic() > hit[0]:
            self._items.pop(key, None)
            return False, None
        return True, hit[1]

    def put(self, key: str, value: V) -> None:
        if len(self._items) >= self._max:
            self._items.clear()
        self._items[key] = (time.monotonic() + self._ttl, value)

    def drop(self, key: str) -> None:
        self._items.pop(key, None)

    def drop_where(self, test: Callable[[V], bool]) -> None:
        for key in [k for k, (_, v) in self._items.items() if test(v)]:
            self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


_RANK = {role: i for i, role in enumerate(ROLES)}  # admin 0 ... viewer 3


def capped_role(wanted: Role, cap: Role) -> Role:
    """The lower of two roles (each role's permissions include the next one's)."""
    return wanted if _RANK.get(wanted, 99) >= _RANK.get(cap, 99) else cap


def capped_sites(wanted: frozenset[str], cap: frozenset[str]) -> frozenset[str]:
    """The sites both hold."""
    if ALL_SITES in wanted:
        return cap
    if ALL_SITES in cap:
        return wanted
    return wanted & cap


def role_within(wanted: Role, cap: Role) -> bool:
    return all(cap in roles for roles, _ in MATRIX.values() if wanted in roles)


def sites_within(wanted: frozenset[str], cap: frozenset[str]) -> bool:
    return ALL_SITES in cap or (ALL_SITES not in wanted and wanted <= cap)


def _trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else ""


@dataclass(frozen=True)
class Caller:
    principal: Principal
    family: str = ""  # the access token's refresh family
    key_owner: str = ""
    cookie: bool = False


@dataclass(frozen=True)
class Session:
    """What a login or refresh hands out."""

    user: UserRecord
    access_token: str
    expires_in: int
    refresh_token: str
    family: str
    via: str

    def token_body(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "bearer",  # nosec B105  # OAuth2's token type (RFC 6749), not a secret
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "username": self.user.username,
            "role": self.user.role.value,
            "sites": sorted(self.user.sites),
        }


class Gate:
    """The gateway's accounts, tokens, caches and rate limits (one per app, ``app.state.gate``)."""

    def __init__(
        self,
        settings: Settings,
        store: AccountStore,
        signer: TokenSigner,
        redis_client: redis.Redis,
        jwt_secret: str,
    ) -> None:
        self.settings = settings
        self.store = store
        self.signer = signer
        self.redis = redis_client
        self._in_process = type(redis_client).__module__.startswith("fakeredis")
        self.buckets = TokenBuckets(redis_client)
        self.namespace = f"gridtwin:{settings.resolved_instance_id()}"
        self._csrf_key = hashlib.sha256(b"gridtwin-csrf|" + jwt_secret.encode()).digest()
        self._users: TtlCache[UserRecord | None] = TtlCache(CACHE_TTL_S)
        self._families: TtlCache[tuple[bool, str]] = TtlCache(CACHE_TTL_S)  # fam -> (revoked, user)
        self._keys: TtlCache[ApiKeyRecord] = TtlCache(CACHE_TTL_S)  # sha256(secret) -> record
        self.oidc: OidcClient | None = None
        if settings.oidc_issuer:
            flow_secret = hashlib.sha256(b"gridtwin-oidc|" + jwt_secret.encode()).hexdigest()
            self.oidc = OidcClient(settings, flow_secret)

    # -- Redis, off the event loop when it is a real server ----------------------------------------

    async def _redis_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._in_process:
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    # -- caches -----------------------------------------------------------------------------------

    async def user(self, username: str, *, fresh: bool = False) -> UserRecord | None:
        if not fresh:
            hit, cached = self._users.get(username)
            if hit:
                return cached
        found = await asyncio.to_thread(self.store.find_user, username)
        self._users.put(username, found)
        return found

    async def family_revoked(self, family: str, username: str) -> bool:
        hit, cached = self._families.get(family)
        if hit and cached is not None:
            return cached[0]
        revoked = await asyncio.to_thread(self.store.family_revoked, family)
        self._families.put(family, (revoked, username))
        return revoked

    def forget_user(self, username: str) -> None:
        """A user changed (role, sites, disabled, password, removed): re-read everything of theirs."""
        self._users.drop(username)
        self._families.drop_where(lambda v: v[1] == username)
        self._keys.drop_where(lambda r: r.owner == username)

    def forget_sessions(self) -> None:
        """A session family was revoked (logout, reuse of a refresh token): re-check them all."""
        self._families.clear()

    def forget_key(self, key_id: str) -> None:
        self._keys.drop_where(lambda r: r.id == key_id)

    # -- credentials ------------------------------------------------------------------------------

    async def authenticate(self, conn: HTTPConnection, method: str) -> Caller:
        header = conn.headers.get("authorization", "")
        if header:
            scheme, _, value = header.partition(" ")
            token = value.strip()
            if scheme.lower() != "bearer" or not token:
                raise unauthenticated(
                    "use Authorization: Bearer <access token or API key>", code="invalid_request"
                )
            if token.startswith(KEY_PREFIX):
                return await self._from_api_key(token)
            return await self._from_access_token(token)
        key = conn.headers.get("x-api-key", "").strip()
        if key:
            return await self._from_api_key(key)
        cookie = conn.cookies.get(ACCESS_COOKIE, "")
        if cookie:
            caller = await self._from_access_token(cookie, cookie=True)
            if method in UNSAFE:
                self.check_csrf(conn, caller.family)
            elif method == "WS":
                self._check_origin(conn)
            return caller
        raise unauthenticated("no credentials: log in at /api/v1/auth/token", code="missing")

    async def _from_access_token(self, token: str, cookie: bool = False) -> Caller:
        try:
            claims = self.signer.verify_access(token)
        except NotAuthenticatedError as exc:
            raise _from_refusal(exc) from None
        user = await self.user(str(claims["sub"]))
        if user is None or user.disabled:
            raise unauthenticated("the account is disabled or removed", code="account")
        family = str(claims.get("fam") or "")
        if family and await self.family_revoked(family, user.username):
            raise unauthenticated("the session has ended (logged out or revoked)", code="revoked")
        principal = user.principal(via=str(claims.get("via") or "password"))
        return Caller(principal, family=family, cookie=cookie)

    async def _from_api_key(self, secret: str) -> Caller:
        if len(secret) > 512:
            raise unauthenticated("malformed API key", "api_key")
        digest = sha256_hex(secret)
        hit, record = self._keys.get(digest)
        if not hit or record is None:
            try:
                record = await asyncio.to_thread(self.store.verify_api_key, secret)
            except NotAuthenticatedError as exc:
                raise _from_refusal(exc) from None
            self._keys.put(digest, record)
        if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
            self._keys.drop(digest)
            raise unauthenticated("the API key has expired", "api_key", "expired")
        owner = await self.user(record.owner)
        if owner is None or owner.disabled:
            raise unauthenticated("the API key's owner is disabled or removed", "api_key", "account")
        principal = replace(
            record.principal(),
            role=capped_role(record.role, owner.role),
            sites=capped_sites(record.sites, owner.sites),
        )
        return Caller(principal, key_owner=record.owner)

    # -- CSRF (double submit, bound to the session by an HMAC) ------------------------------------

    def csrf_token(self, family: str) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._csrf_mac(family, nonce)}"

    def _csrf_mac(self, family: str, nonce: str) -> str:
        return hmac.new(self._csrf_key, f"{family}|{nonce}".encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_matches(self, token: str, family: str) -> bool:
        nonce, _, mac = token.partition(".")
        return bool(nonce and mac) and hmac.compare_digest(mac, self._csrf_mac(family, nonce))

    def check_csrf(self, conn: HTTPConnection, family: str | None) -> None:
        """403 unless the header equals the cookie (and, when the session is known, is bound to it)."""
        header = conn.headers.get(CSRF_HEADER, "")
        cookie = conn.cookies.get(CSRF_COOKIE, "")
        if not header or not cookie or not hmac.compare_digest(header.encode(), cookie.encode()):
            raise forbidden(
                "a cookie session must send X-CSRF-Token equal to the gridtwin_csrf cookie",
                CSRF_HEADER,
                "csrf",
            )
        if family is not None and not self.csrf_matches(header, family):
            raise forbidden("the CSRF token belongs to another session", CSRF_HEADER, "csrf")

    def _check_origin(self, conn: HTTPConnection) -> None:
        origin = conn.headers.get("origin", "")
        if not origin or origin in self.settings.cors_origins:
            return
        host = conn.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            raise forbidden(
                "a cookie session's WebSocket must come from the gateway's own origin", "Origin", "origin"
            )

    # -- rate limits ------------------------------------------------------------------------------

    async def charge(self, info: RequestInfo, who: str | None) -> None:
        """429 with Retry-After when the user's (``who``; an API key's owner: a user's keys share one
        budget) or the address's bucket is empty."""
        s = self.settings
        buckets = [Bucket(f"{self.namespace}:rl:ip:{info.ip}", s.rate_limit_ip_per_s, s.rate_limit_ip_burst)]
        if who is not None:
            buckets.insert(
                0, Bucket(f"{self.namespace}:rl:user:{who}", s.rate_limit_per_s, s.rate_limit_burst)
            )
        decision = await self._redis_call(self.buckets.charge, buckets)
        if not decision.allowed:
            which = "address" if decision.bucket == buckets[-1].key else "user"
            info.detail["limit"] = which
            raise ApiError(
                429,
                "RESOURCE_EXHAUSTED",
                "too many requests",
                [
                    {
                        "where": which,
                        "message": f"this {which}'s request budget is spent; retry later",
                        "code": "rate_limited",
                    }
                ],
                retry_after_header(decision.retry_after_s),
            )

    # -- logging in -------------------------------------------------------------------------------

    def _login_key(self, username: str, what: str) -> str:
        return f"{self.namespace}:login:{what}:{sha256_hex(username.lower())[:32]}"

    async def _unknown_lock_s(self, username: str) -> float:
        """Seconds an unknown user name stays "locked" (they lock like real ones: no enumeration)."""
        try:
            ms = await self._redis_call(self.redis.pttl, self._login_key(username, "lock"))
        except redis.RedisError:
            return 0.0
        return max(0.0, int(ms) / 1000.0) if ms and int(ms) > 0 else 0.0

    async def _unknown_failed(self, username: str) -> bool:
        s = self.settings

        def count() -> bool:
            key = self._login_key(username, "fails")
            failures = int(self.redis.incr(key))
            self.redis.expire(key, s.login_lock_s)
            if failures >= s.login_max_failures:
                self.redis.set(self._login_key(username, "lock"), "1", ex=s.login_lock_s)
                self.redis.delete(key)
                return True
            return False

        try:
            return bool(await self._redis_call(count))
        except redis.RedisError:
            return False

    async def audit(self, entry: AuditEntry) -> None:
        try:
            await asyncio.to_thread(self.store.audit, entry)
        except Exception as exc:  # the audit must never fail the answer already given
            log.error("audit row not written: %s", type(exc).__name__)

    async def login(self, username: str, password: str, info: RequestInfo) -> Session:
        """Check a user name and password (lockout, rehash) and start a session; audited."""
        s = self.settings
        info.audit = True
        info.actor, info.via = username[:80] or "-", "password"
        user = await asyncio.to_thread(self.store.find_user, username) if username else None
        now = datetime.now(UTC)
        lock_s = 0.0
        if user is not None and user.locked_until is not None and user.locked_until > now:
            lock_s = (user.locked_until - now).total_seconds()
        elif user is None:
            lock_s = await self._unknown_lock_s(username)
        if lock_s > 0:
            info.outcome, info.detail["reason"] = "denied", "locked"
            raise ApiError(
                423,
                "LOCKED",
                "account locked",
                [
                    {
                        "where": "username",
                        "message": "too many failed logins; try again later",
                        "code": "locked",
                    }
                ],
                retry_after_header(lock_s),
            )
        stored = user.password_hash if user is not None else None
        ok = await asyncio.to_thread(verify_password, stored, password)
        if user is None or not ok or user.disabled:
            reason = "unknown_user" if user is None else "bad_password" if not ok else "disabled"
            info.outcome, info.detail["reason"] = "failed", reason
            locked_now = False
            if user is None:
                locked_now = await self._unknown_failed(username)
            elif not ok:
                after = await asyncio.to_thread(
                    self.store.login_failed,
                    username,
                    max_failures=s.login_max_failures,
                    lock_for=timedelta(seconds=s.login_lock_s),
                )
                locked_now = bool(after and after.locked_until and after.locked_until > now)
            if locked_now:
                info.detail["locked"] = True
                await self.audit(
                    AuditEntry(
                        actor=info.actor, via="password", action="auth.lockout", outcome="denied",
                        resource=info.path, status=423, ip=info.ip, request_id=info.request_id,
                        trace_id=info.trace_id, detail={"for_s": s.login_lock_s},
                    )
                )  # fmt: skip
            raise unauthenticated("invalid username or password", "username", "invalid_grant")
        await asyncio.to_thread(self.store.login_succeeded, username)
        if needs_rehash(user.password_hash):
            # Stronger parameters than the stored hash's: store a new hash (this ends older sessions).
            new_hash = await asyncio.to_thread(hash_password, password)
            user = await asyncio.to_thread(lambda: self.store.update_user(username, password_hash=new_hash))
            self.forget_user(username)
        info.outcome = "ok"
        return await self.start_session(user, "password")

    async def start_session(self, user: UserRecord, via: str) -> Session:
        ttl = timedelta(seconds=self.settings.refresh_token_ttl_s)
        refresh, family = await asyncio.to_thread(self.store.issue_refresh, user.username, via, ttl)
        access, expires_in = self.signer.access_token(user.principal(via=via), family=family)
        return Session(user, access, expires_in, refresh, family, via)

    async def refresh(self, token: str, info: RequestInfo) -> Session:
        """Spend a refresh token for a new pair; a reused one ends its family (audited either way)."""
        info.audit = True
        ttl = timedelta(seconds=self.settings.refresh_token_ttl_s)
        try:
            new, family, username, via = await asyncio.to_thread(self.store.rotate_refresh, token, ttl)
        except NotAuthenticatedError as exc:
            self.forget_sessions()
            info.outcome = "failed"
            if any(d.code == "reused" for d in exc.details):
                info.detail["reason"] = "reused"
            raise _from_refusal(exc) from None
        info.actor, info.via = username, via
        user = await self.user(username, fresh=True)
        if user is None or user.disabled:
            await asyncio.to_thread(self.store.revoke_family_of, new)
            self.forget_sessions()
            info.outcome = "failed"
            raise unauthenticated("the account is disabled or removed", "refresh_token", "account")
        access, expires_in = self.signer.access_token(user.principal(via=via), family=family)
        info.outcome = "ok"
        return Session(user, access, expires_in, new, family, via)

    async def logout(self, refresh_token: str) -> str | None:
        username = await asyncio.to_thread(self.store.revoke_family_of, refresh_token)
        self.forget_sessions()
        return username


# -- the dependency of every route ----------------------------------------------------------------


def _route_template(conn: HTTPConnection) -> str:
    route = conn.scope.get("route")
    return str(getattr(route, "path", "") or conn.scope.get("path", ""))


async def _admit(conn: HTTPConnection, info: RequestInfo) -> None:
    gate: Gate = conn.app.state.gate
    method = info.method
    try:
        permission = permission_for(method, info.template)
    except KeyError:
        raise forbidden("this route has no permission defined", info.template, "no_permission") from None
    if permission is None:
        await gate.charge(info, None)
        return
    try:
        caller = await gate.authenticate(conn, method)
    except ApiError:
        await gate.charge(info, None)  # a flood of bad credentials spends the address's budget
        raise
    principal = replace(caller.principal, request_id=info.request_id)
    info.principal, info.via, info.key_owner, info.family = (
        principal,
        principal.via,
        caller.key_owner,
        caller.family,
    )
    if caller.key_owner:
        info.detail["key_owner"] = caller.key_owner
    await gate.charge(info, caller.key_owner or principal.subject)
    try:
        principal.require(permission)
    except AccessDeniedError as exc:
        d = exc.details[0]
        raise forbidden(d.message, d.where) from None
    set_principal(principal)
    conn.state.principal = principal


async def guard(conn: HTTPConnection) -> None:
    """Authenticate, rate-limit and authorize the request for its route (every route depends on it)."""
    info = request_info(conn)
    info.template = _route_template(conn)
    info.trace_id = info.trace_id or _trace_id()
    try:
        await _admit(conn, info)
    except ApiError as exc:
        if conn.scope["type"] != "websocket":
            raise
        info.status = exc.status
        detail = exc.details[0]["message"] if exc.details else exc.message
        # 1008: policy violation; the reason carries the HTTP status the request would have had.
        raise WebSocketException(code=1008, reason=f"{exc.status} {detail}"[:120]) from None


async def current_principal(conn: HTTPConnection) -> Principal:
    """The caller the guard admitted (for routes that act on the caller's own account)."""
    principal = request_info(conn).principal
    if principal is None:
        raise unauthenticated("no credentials", code="missing")
    return principal
