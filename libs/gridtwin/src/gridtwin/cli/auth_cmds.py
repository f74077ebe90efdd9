"""``gridtwin login``, ``logout`` and ``whoami``: a session on a gateway, kept per gateway URL.

``gridtwin login --username U`` asks for the password on the terminal without echo (or reads one line
from standard input with ``--password-stdin``), exchanges it for an access and a refresh token
(``POST /api/v1/auth/token``) and keeps them in the credentials file (``gridtwin.cli.session``: 0600,
refreshed on use). ``logout`` revokes the session on the gateway and forgets it; ``whoami`` asks the
gateway who the command calls as. ``GRIDTWIN_TOKEN`` in the environment wins over any login.
"""

from __future__ import annotations

import time
from typing import Annotated

import httpx
import typer

from gridtwin.cli import session
from gridtwin.cli.client_cmds import API, JsonOption, UrlOption, base_url, call
from gridtwin.cli.output import err, fail, out

__all__ = ["login", "logout", "register", "whoami"]

PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input (one line)")
]


def _sites(sites: list[str] | tuple[str, ...]) -> str:
    return "every site" if "*" in sites else ", ".join(sites) or "no site"


def login(
    username: Annotated[str, typer.Option("--username", "-u", help="your user name")],
    password_stdin: PasswordStdinOption = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Log in to a gateway; the session is kept (0600) in your config folder and refreshed on use."""
    base = base_url(url)
    password = session.read_password(password_stdin)
    got = session.password_login(base, username, password)
    kept = session.store()
    kept.save(got)
    if as_json:
        out.print_json(data={**got.describe(), "expires_in": round(got.expires_at - time.time())})
    else:
        where = getattr(kept, "path", None)
        out.print(
            f"logged in to {base} as {got.username or username} (role {got.role}, {_sites(got.sites)})"
            + (f"; session kept in {where}" if where else ""),
            markup=False,
            highlight=False,
        )
    if session.env_token():
        err.print(
            f"note: {session.TOKEN_ENV} is set in this environment and wins over this login; unset it to "
            "call as the user you just logged in as",
            markup=False,
            highlight=False,
        )


def logout(url: UrlOption = None) -> None:
    """Revoke the session on the gateway (its access tokens stop working at once) and forget it."""
    base = base_url(url)
    kept = session.store()
    creds = kept.current(base)  # refreshed when expiring, so the gateway accepts the logout
    if creds.login is None:
        kept.forget(base)
        state = "the session had already ended" if creds.kind == "ended" else "not logged in"
        out.print(f"{state} on {base}; nothing to log out", markup=False, highlight=False)
        return
    try:
        resp = httpx.request(
            "POST",
            f"{base}{API}/auth/logout",
            json={"refresh_token": creds.login.refresh_token},
            headers=creds.headers,
            timeout=session.AUTH_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        kept.forget(base)
        raise fail(
            f"forgot the session here, but the gateway at {base} could not be reached to revoke it ({exc})"
        ) from None
    kept.forget(base)
    if resp.is_success:
        out.print(f"logged out of {base} ({creds.login.username})", markup=False, highlight=False)
        return
    raise fail(
        f"forgot the session here; the gateway answered the logout with {resp.status_code} "
        f"{resp.reason_phrase}, so it may stay valid until it expires"
    )


def whoami(as_json: JsonOption = False, url: UrlOption = None) -> None:
    """Who the command calls the gateway as: user (or API key), role, sites."""
    me = call("GET", url, f"{API}/auth/me")
    if as_json:
        out.print_json(data=me)
        return
    source = f" (from {session.TOKEN_ENV})" if session.env_token() else ""
    out.print(
        f"{me.get('username', '?')} on {base_url(url)}{source}: role {me.get('role', '?')}, "
        f"{_sites(me.get('sites') or [])} (via {me.get('via', '?')})",
        markup=False,
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("login", help="Log in to a gateway (session kept 0600, refreshed on use).")(login)
    app.command("logout", help="Revoke this gateway's session and forget it.")(logout)
    app.command("whoami", help="Who the command calls the gateway as.")(whoami)
