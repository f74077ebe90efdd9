"""``gridtwin users list|create|update|delete|password``: accounts on the gateway (admins), and one's own
password.

Roles: admin, operator, analyst, viewer (``docs/SECURITY.md`` has what each may do); sites limit what a
user sees (``*`` is every site). Passwords are asked on the terminal without echo, read from standard
input with ``--password-stdin``, or generated with ``--generate-password`` and then printed once.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gridtwin.access.passwords import generate_password
from gridtwin.cli import session
from gridtwin.cli.client_cmds import API, JsonOption, UrlOption, base_url, call
from gridtwin.cli.output import Col, fail, out, print_table

__all__ = ["register", "users_app"]

users_app = typer.Typer(
    help="User accounts: roles and sites (admin), your own password.", no_args_is_help=True
)

ROLES_HELP = "admin | operator | analyst | viewer"
SitesOption = Annotated[
    list[str] | None, typer.Option("--site", help="a site the user may see (repeatable; * = every site)")
]
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input (one line)")
]
GenerateOption = Annotated[
    bool, typer.Option("--generate-password", help="generate a password and print it once")
]


def _rows(result: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(result, dict):
        return list(result.get(key) or [])
    return list(result or [])


def _sites(sites: list[str]) -> str:
    return ", ".join(sites) or "-"


def _show_password(username: str, password: str) -> None:
    """A generated password, printed this once (on stdout: the one place it goes)."""
    out.print(f"password of {username} (shown only this once; only its hash is kept):", markup=False)
    out.print(f"  {password}", markup=False, highlight=False)


def _new_password(username: str, from_stdin: bool, generate: bool) -> tuple[str, bool]:
    if from_stdin and generate:
        raise fail("--password-stdin and --generate-password exclude each other")
    if generate:
        return generate_password(), True
    return session.read_password(from_stdin, f"new password for {username}", confirm=True), False


@users_app.command("list")
def users_list(as_json: JsonOption = False, url: UrlOption = None) -> None:
    """Every user: role, sites, disabled, locked."""
    result = call("GET", url, f"{API}/users")
    if as_json:
        out.print_json(data=result)
        return
    print_table(
        [Col("user", key=True), Col("role", key=True), "sites", "disabled", "locked until", "oidc"],
        [
            (
                u.get("username"),
                u.get("role"),
                _sites(u.get("sites") or []),
                "yes" if u.get("disabled") else "no",
                u.get("locked_until") or "-",
                "yes" if u.get("oidc") else "no",
            )
            for u in _rows(result, "users")
        ],
    )


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="user name, [A-Za-z0-9_.@-]{1,64}")],
    role: Annotated[str, typer.Option("--role", help=ROLES_HELP)],
    sites: SitesOption = None,
    password_stdin: PasswordStdinOption = False,
    generate: GenerateOption = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Create a user with a role and sites."""
    password, generated = _new_password(username, password_stdin, generate)
    body = {"username": username, "password": password, "role": role, "sites": list(sites or [])}
    user = call("POST", url, f"{API}/users", json=body)
    if as_json:
        out.print_json(data={**(user or {}), **({"password": password} if generated else {})})
        return
    user = user or body
    out.print(
        f"created user {user.get('username', username)}: role {user.get('role', role)}, "
        f"sites {_sites(list(user.get('sites') or sites or []))}",
        markup=False,
        highlight=False,
    )
    if generated:
        _show_password(username, password)


@users_app.command("update")
def users_update(
    username: Annotated[str, typer.Argument(help="user name")],
    role: Annotated[str | None, typer.Option("--role", help=ROLES_HELP)] = None,
    sites: Annotated[
        list[str] | None,
        typer.Option("--site", help="the user's sites, replacing the old ones (repeatable; * = every site)"),
    ] = None,
    disabled: Annotated[
        bool | None, typer.Option("--disable/--enable", help="disable (every session ends) or enable")
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Change a user's role, sites, or whether the account is disabled."""
    body: dict[str, Any] = {}
    if role is not None:
        body["role"] = role
    if sites is not None:
        body["sites"] = list(sites)
    if disabled is not None:
        body["disabled"] = disabled
    if not body:
        raise fail("nothing to change: give --role, --site, --disable or --enable")
    user = call("PATCH", url, f"{API}/users/{username}", json=body)
    if as_json:
        out.print_json(data=user)
        return
    user = user or {}
    state = "disabled" if user.get("disabled") else "enabled"
    out.print(
        f"updated user {username}: role {user.get('role', role)}, sites {_sites(list(user.get('sites') or []))}, "
        f"{state}",
        markup=False,
        highlight=False,
    )


@users_app.command("delete")
def users_delete(
    username: Annotated[str, typer.Argument(help="user name")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    url: UrlOption = None,
) -> None:
    """Delete a user: its sessions end and its API keys are revoked (the audit log keeps its name)."""
    if not yes and not typer.confirm(f"delete user {username} and revoke its sessions and API keys?"):
        raise typer.Exit(code=1)
    call("DELETE", url, f"{API}/users/{username}")
    out.print(f"deleted user {username}", markup=False, highlight=False)


@users_app.command("password")
def users_password(
    username: Annotated[
        str | None,
        typer.Argument(help="(admins) the user whose password to set; without it, your own"),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="read from standard input: the new password (for USERNAME), or yours then the new one",
        ),
    ] = False,
    generate: GenerateOption = False,
    url: UrlOption = None,
) -> None:
    """Change your own password (asks for the current one), or, as an admin, set USERNAME's (it also
    unlocks the account). Every session of that user ends; your own login is renewed with the new one."""
    base = base_url(url)
    if username is not None:
        password, generated = _new_password(username, password_stdin, generate)
        call("PATCH", url, f"{API}/users/{username}", json={"password": password})
        out.print(f"set the password of {username}; its sessions have ended", markup=False, highlight=False)
        if generated:
            _show_password(username, password)
        return
    if generate:
        raise fail("--generate-password sets another user's password: name the user")
    creds = session.credentials(base)
    current, new = session.read_passwords(
        password_stdin, ("current password", "new password"), confirm_last=True
    )
    call("POST", url, f"{API}/auth/password", json={"current_password": current, "new_password": new})
    if creds.kind == "login" and creds.login is not None and creds.login.username:
        # The change ended every session of the user, this one too: log in again with the new password.
        session.store().save(session.password_login(base, creds.login.username, new))
        out.print(f"password changed; logged in again on {base}", markup=False, highlight=False)
        return
    out.print("password changed; every session of the account has ended", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
