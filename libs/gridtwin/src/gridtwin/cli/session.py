"""Who the ``gridtwin`` command calls the gateway as, and what it says when the gateway says no.

In order: ``GRIDTWIN_TOKEN`` from the environment (an access token, or a ``gtk_`` API key for scripts
and CI) wins; else what ``gridtwin login`` saved for that gateway URL; else nothing (the gateway answers
401 and the command says to log in).

``gridtwin login`` keeps, per gateway URL, the user, role, sites, the access token with its expiry and
the refresh token in ``$XDG_CONFIG_HOME/gridtwin/credentials.json`` (default ``~/.config/gridtwin/``):
mode 0600 in a 0700 folder, replaced atomically. A file other users may read, or one another user owns,
is refused, saying so (it would hand its tokens out). An access token about to expire is exchanged
first (``POST /api/v1/auth/refresh``, the rotated pair saved) under a lock on the file, so two commands
never present the same refresh token (the gateway takes a reused one for a stolen one and ends the
session). A refresh that fails forgets the session and asks to log in again. No token or password is
ever printed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import typer

from gridtwin.cli.output import fail

__all__ = [
    "CREDENTIALS_FILE",
    "DEFAULT_URL",
    "TOKEN_ENV",
    "CredentialStore",
    "Credentials",
    "FileStore",
    "Login",
    "MemoryStore",
    "TokenStore",
    "config_dir",
    "credentials",
    "credentials_path",
    "env_token",
    "http_failure",
    "login_hint",
    "password_login",
    "read_password",
    "read_passwords",
    "refresh",
    "store",
    "using",
]

DEFAULT_URL = "http://127.0.0.1:8000"  # the gateway of `gridtwin up` on this machine
AUTH = "/api/v1/auth"
TOKEN_ENV = "GRIDTWIN_TOKEN"  # nosec B105  # the variable's name, not a secret
CREDENTIALS_FILE = "credentials.json"
REFRESH_MARGIN_S = 30.0  # exchange an access token this close to its expiry before using it
AUTH_TIMEOUT = httpx.Timeout(30.0)
FILE_VERSION = 1


# --- what a login is --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    """One session on one gateway (tokens are kept out of ``repr``, so out of tracebacks)."""

    url: str
    username: str
    role: str
    sites: tuple[str, ...]
    expires_at: float  # the access token's, seconds since the epoch
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False, default="")

    def expiring(self, margin_s: float = REFRESH_MARGIN_S, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at - margin_s

    @classmethod
    def from_reply(cls, url: str, body: Mapping[str, Any], now: float | None = None) -> Login:
        """From the gateway's token answer (``/auth/token`` or ``/auth/refresh``)."""
        try:
            return cls(
                url=url,
                username=str(body.get("username") or ""),
                role=str(body.get("role") or ""),
                sites=tuple(str(s) for s in body.get("sites") or ()),
                expires_at=(time.time() if now is None else now) + float(body["expires_in"]),
                access_token=str(body["access_token"]),
                refresh_token=str(body.get("refresh_token") or ""),
            )
        except (KeyError, TypeError, ValueError):
            raise fail(f"the gateway at {url} answered the login without a usable token") from None

    @classmethod
    def from_json(cls, url: str, doc: Mapping[str, Any]) -> Login:
        return cls(
            url=url,
            username=str(doc.get("username") or ""),
            role=str(doc.get("role") or ""),
            sites=tuple(str(s) for s in doc.get("sites") or ()),
            expires_at=float(doc.get("expires_at") or 0),
            access_token=str(doc["access_token"]),
            refresh_token=str(doc.get("refresh_token") or ""),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "role": self.role,
            "sites": list(self.sites),
            "expires_at": self.expires_at,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
        }

    def describe(self) -> dict[str, Any]:
        """What may be shown: no token."""
        return {"url": self.url, "username": self.username, "role": self.role, "sites": list(self.sites)}


@dataclass(frozen=True)
class Credentials:
    """What a request carries: ``kind`` is ``env`` (GRIDTWIN_TOKEN), ``login``, ``key`` (a fixed API key
    given in code), ``none`` (never logged in to that gateway) or ``ended`` (the saved session expired
    or was revoked, and is forgotten)."""

    kind: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    username: str = ""
    login: Login | None = None

    @classmethod
    def of(cls, login: Login) -> Credentials:
        return cls("login", {"Authorization": f"Bearer {login.access_token}"}, login.username, login)


def env_token() -> str:
    return os.environ.get(TOKEN_ENV, "").strip()


# --- talking to the gateway's auth routes -----------------------------------------------------------


def _error_body(resp: httpx.Response) -> tuple[str, str, list[dict[str, Any]]]:
    """(message, code, details) of a gateway error; the status line when the body is not one."""
    try:
        body = resp.json()["error"]
        return str(body.get("message", "")), str(body.get("code", "")), list(body.get("details") or [])
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"{resp.reason_phrase}: {resp.text[:300]}", "", []


def _retry_after(resp: httpx.Response) -> str:
    value = resp.headers.get("retry-after", "").strip()
    if not value:
        return "retry a little later"
    return f"retry after {value} s" if value.isdigit() else f"retry after {value}"


def password_login(base: str, username: str, password: str) -> Login:
    """``POST /api/v1/auth/token`` (OAuth2 password grant); exit 1 saying why when refused."""
    form = {"grant_type": "password", "username": username, "password": password}
    try:
        resp = httpx.request("POST", f"{base}{AUTH}/token", data=form, timeout=AUTH_TIMEOUT)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the gateway at {base}: {exc}") from None
    if resp.is_success:
        return Login.from_reply(base, resp.json())
    message, code, _ = _error_body(resp)
    if resp.status_code == 423 or "lock" in f"{message} {code}".lower():
        raise fail(
            f"login failed: the account {username} is locked after repeated failed logins "
            f"({resp.status_code}); {_retry_after(resp)}, or ask an administrator"
        )
    if resp.status_code == 429:
        raise fail(f"login failed: too many attempts (429); {_retry_after(resp)}")
    if resp.status_code in (400, 401, 403):
        raise fail(
            f"login failed: wrong username or password, or the account is disabled ({resp.status_code})"
        )
    raise fail(f"login failed: {message} ({resp.status_code} {code})".replace(" )", ")"))


def refresh(login: Login) -> Login | None:
    """The rotated session from ``POST /api/v1/auth/refresh``; None when the gateway refuses it (expired,
    revoked, logged out, the user disabled or removed)."""
    if not login.refresh_token:
        return None
    try:
        resp = httpx.request(
            "POST",
            f"{login.url}{AUTH}/refresh",
            json={"refresh_token": login.refresh_token},
            timeout=AUTH_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the gateway at {login.url}: {exc}") from None
    if resp.is_success:
        fresh = Login.from_reply(login.url, resp.json())
        return fresh if fresh.username else dataclasses.replace(fresh, username=login.username)
    if resp.status_code == 429:
        raise fail(f"refreshing the session was refused: too many requests (429); {_retry_after(resp)}")
    if resp.status_code >= 500:
        message, code, _ = _error_body(resp)
        raise fail(f"refreshing the session failed: {message} ({resp.status_code} {code})")
    return None


# --- where logins are kept --------------------------------------------------------------------------


class CredentialStore(Protocol):
    def current(self, base: str, *, refused: Login | None = None) -> Credentials:
        """The session for ``base``, refreshed first when about to expire, or when ``refused`` (a login
        the gateway just answered 401 to) is still the one kept."""
        ...

    def save(self, login: Login) -> None: ...

    def forget(self, base: str) -> Login | None: ...


def _next(login: Login, refused: Login | None) -> tuple[Login | None, bool]:
    """(the login to use, whether it changed) after a refresh when one is due."""
    if refused is not None and refused.access_token != login.access_token:
        return login, False  # someone refreshed it since that request: use theirs
    if refused is None and not login.expiring():
        return login, False
    return refresh(login), True


class MemoryStore:
    """Logins held by this process only (the demo of ``gridtwin up``): nothing written to disk."""

    def __init__(self, *logins: Login) -> None:
        self._logins = {login.url: login for login in logins}
        self._lock = threading.Lock()

    def current(self, base: str, *, refused: Login | None = None) -> Credentials:
        with self._lock:
            login = self._logins.get(base)
            if login is None:
                return Credentials("none")
            fresh, _ = _next(login, refused)
            if fresh is None:
                del self._logins[base]
                return Credentials("ended", username=login.username)
            self._logins[base] = fresh
            return Credentials.of(fresh)

    def save(self, login: Login) -> None:
        with self._lock:
            self._logins[login.url] = login

    def forget(self, base: str) -> Login | None:
        with self._lock:
            return self._logins.pop(base, None)


class TokenStore:
    """One fixed bearer token (an API key) for every gateway: nothing to refresh, nothing written."""

    def __init__(self, token: str, label: str) -> None:
        self._headers = {"Authorization": f"Bearer {token}"}
        self._label = label

    def current(self, base: str, *, refused: Login | None = None) -> Credentials:
        return Credentials("key", dict(self._headers), self._label)

    def save(self, login: Login) -> None:
        raise TypeError("a fixed token keeps no login")

    def forget(self, base: str) -> Login | None:
        return None


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/gridtwin``, default ``~/.config/gridtwin``."""
    root = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(root) if root else Path.home() / ".config") / "gridtwin"


def credentials_path() -> Path:
    return config_dir() / CREDENTIALS_FILE


class FileStore:
    """Logins per gateway URL in one JSON file (0600), read and rewritten under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def check(self) -> None:
        """Exit 1 when the file may be read by others or is not this user's: it is not used then."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return
        if info.st_uid != os.getuid():
            raise fail(
                f"{self.path} belongs to another user (uid {info.st_uid}): its tokens are not used; "
                "delete it and log in again with `gridtwin login`"
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise fail(
                f"{self.path} may be read by other users (mode {mode:04o}): it holds your tokens, so it is "
                f"not used; make it private with `chmod 600 {self.path}` (or delete it and log in again)"
            )

    def _read(self) -> dict[str, Any]:
        self.check()
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": FILE_VERSION, "gateways": {}}
        except (OSError, ValueError) as exc:
            raise fail(f"{self.path} cannot be read ({exc}); delete it and log in again") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("gateways"), dict):
            raise fail(f"{self.path} is not a GridTwin credentials file; delete it and log in again")
        return doc

    def _write(self, doc: dict[str, Any]) -> None:
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".credentials-", suffix=".tmp")  # 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def current(self, base: str, *, refused: Login | None = None) -> Credentials:
        if not self.path.exists():
            return Credentials("none")
        with self._locked():
            doc = self._read()
            entry = doc["gateways"].get(base)
            if not isinstance(entry, dict) or "access_token" not in entry:
                return Credentials("none")
            login = Login.from_json(base, entry)
            fresh, changed = _next(login, refused)
            if fresh is None:
                del doc["gateways"][base]
                self._write(doc)
                return Credentials("ended", username=login.username)
            if changed:
                doc["gateways"][base] = fresh.to_json()
                self._write(doc)
            return Credentials.of(fresh)

    def save(self, login: Login) -> None:
        with self._locked():
            doc = self._read()
            doc["version"] = FILE_VERSION
            doc["gateways"][login.url] = login.to_json()
            self._write(doc)

    def forget(self, base: str) -> Login | None:
        if not self.path.exists():
            return None
        with self._locked():
            doc = self._read()
            entry = doc["gateways"].pop(base, None)
            if entry is None:
                return None
            self._write(doc)
        return Login.from_json(base, entry) if isinstance(entry, dict) and "access_token" in entry else None


_override: ContextVar[CredentialStore | None] = ContextVar("gridtwin_cli_credentials", default=None)


def store() -> CredentialStore:
    """Where logins are kept: the credentials file, unless ``using`` put another store in place."""
    return _override.get() or FileStore(credentials_path())


@contextlib.contextmanager
def using(chosen: CredentialStore) -> Iterator[CredentialStore]:
    """Within the block (this thread or task), commands call as the logins of ``chosen``."""
    token = _override.set(chosen)
    try:
        yield chosen
    finally:
        _override.reset(token)


def credentials(base: str, *, refused: Credentials | None = None) -> Credentials:
    """What a request to ``base`` carries: the store ``using`` put in place (code that logged in itself,
    like the demo of ``gridtwin up``), else ``GRIDTWIN_TOKEN``, else the credentials file. With
    ``refused`` (what the gateway just answered 401 to), the session is refreshed once if it can be;
    anything else is returned as it was."""
    chosen = _override.get()
    token = env_token()
    if chosen is None and token:
        return Credentials("env", {"Authorization": f"Bearer {token}"}, f"the {TOKEN_ENV} identity")
    kept = chosen or FileStore(credentials_path())
    if refused is not None:
        if refused.kind != "login" or refused.login is None:
            return refused
        return kept.current(base, refused=refused.login)
    return kept.current(base)


# --- what the command says --------------------------------------------------------------------------


def login_hint(base: str, username: str = "") -> str:
    url = "" if base == DEFAULT_URL else f" --url {base}"
    return f"`gridtwin login{url} --username {username or 'NAME'}`"


def http_failure(resp: httpx.Response, base: str, creds: Credentials) -> typer.Exit:
    """Print why the gateway refused a request (401: how to log in; 403: not allowed, and why; 429: when
    to retry; anything else: its error and located details); the exit to raise (status 1)."""
    message, code, details = _error_body(resp)
    status = f"{resp.status_code} {code}".strip()
    if resp.status_code == 401:
        if creds.kind == "env":
            text = (
                f"the gateway at {base} refused the token in {TOKEN_ENV} (invalid, expired or revoked): "
                f"set a valid access token or API key, or unset {TOKEN_ENV} and log in with "
                f"{login_hint(base)}"
            )
        elif creds.kind == "key":
            text = f"the gateway at {base} refused {creds.username} (revoked or expired)"
        elif creds.kind in ("login", "ended"):
            text = (
                f"your session on {base} has ended (expired, revoked, logged out, or the account changed): "
                f"log in again with {login_hint(base, creds.username)}"
            )
        else:
            text = f"not logged in to {base}: log in with {login_hint(base)}"
        return fail(f"{text} (401)")
    if resp.status_code == 403:
        who = creds.username or "this caller"
        return fail(f"not allowed ({status}) as {who}: {message or 'forbidden'}", details)
    if resp.status_code == 429:
        return fail(
            f"too many requests ({status}): the gateway limits how fast one may call it; {_retry_after(resp)}"
        )
    return fail(f"{message} ({status})", details)


# --- passwords from the user ------------------------------------------------------------------------


def read_passwords(from_stdin: bool, prompts: tuple[str, ...], *, confirm_last: bool = False) -> list[str]:
    """One password per prompt: from standard input (one per line) or asked on the terminal, never echoed."""
    if from_stdin:
        found = []
        for prompt in prompts:
            line = sys.stdin.readline().rstrip("\r\n")
            if not line:
                raise fail(f"no {prompt} on standard input (one per line)")
            found.append(line)
        return found
    if not sys.stdin.isatty():
        raise fail("no terminal to ask for the password on: give it on standard input with --password-stdin")
    return [
        str(
            typer.prompt(
                p.capitalize(), hide_input=True, confirmation_prompt=confirm_last and i == len(prompts) - 1
            )
        )
        for i, p in enumerate(prompts)
    ]


def read_password(from_stdin: bool, prompt: str = "password", *, confirm: bool = False) -> str:
    return read_passwords(from_stdin, (prompt,), confirm_last=confirm)[0]
