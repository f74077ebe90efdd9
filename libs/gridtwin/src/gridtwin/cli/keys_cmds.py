"""``gridtwin keys list|create|revoke``: API keys for scripts and CI.

A key has its own role and sites, at most its creator's. Its secret (``gtk_...``) is printed once, when
it is made (only its SHA-256 is kept); give it to a script as ``GRIDTWIN_TOKEN`` or as the header
``Authorization: Bearer gtk_...``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gridtwin.cli import session
from gridtwin.cli.client_cmds import API, JsonOption, UrlOption, call
from gridtwin.cli.output import Col, out, print_table

__all__ = ["keys_app", "register"]

COLUMNS = (
    Col("id", key=True),
    Col("name", key=True),
    Col("owner", key=True),
    "role",
    "sites",
    "expires",
    "last used",
    "revoked",
)
keys_app = typer.Typer(help="API keys for scripts and CI (the secret is shown once).", no_args_is_help=True)


def _rows(result: Any) -> list[dict[str, Any]]:
    if isinstance(result, dict):
        return list(result.get("keys") or [])
    return list(result or [])


@keys_app.command("list")
def keys_list(
    owner: Annotated[str, typer.Option("--owner", help="(admins) another user's keys")] = "",
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Your API keys (an admin: another user's with --owner). Secrets are never shown again."""
    result = call("GET", url, f"{API}/keys", params={"owner": owner} if owner else None)
    if as_json:
        out.print_json(data=result)
        return
    print_table(
        COLUMNS,
        [
            (
                k.get("id"),
                k.get("name"),
                k.get("owner"),
                k.get("role"),
                ", ".join(k.get("sites") or []) or "-",
                k.get("expires_at") or "never",
                k.get("last_used_at") or "-",
                "yes" if k.get("revoked") else "no",
            )
            for k in _rows(result)
        ],
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="what the key is for (a CI job, a script)")],
    role: Annotated[
        str | None, typer.Option("--role", help="admin | operator | analyst | viewer (default: yours)")
    ] = None,
    sites: Annotated[
        list[str] | None, typer.Option("--site", help="a site the key may see (repeatable; default: yours)")
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", min=1, help="expiry (default: the gateway's)")
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Create an API key; its secret is printed this once."""
    body: dict[str, Any] = {"name": name}
    if role is not None:
        body["role"] = role
    if sites:
        body["sites"] = list(sites)
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    made = call("POST", url, f"{API}/keys", json=body)
    if as_json:
        out.print_json(data=made)  # the secret included: asked for, and shown only now
        return
    record = made.get("key", made) if isinstance(made, dict) else {}
    secret = made.get("secret", "") if isinstance(made, dict) else ""
    out.print(
        f"API key {record.get('id', '?')} ({record.get('name', name)}): role {record.get('role', '?')}, "
        f"sites {', '.join(record.get('sites') or []) or '-'}, expires {record.get('expires_at') or 'never'}",
        markup=False,
        highlight=False,
    )
    out.print("its secret, shown only this once (only its hash is kept):", markup=False)
    out.print(f"  {secret}", markup=False, highlight=False)
    out.print(
        f"use it as {session.TOKEN_ENV}=<secret> for the gridtwin command, or send "
        "'Authorization: Bearer <secret>'",
        markup=False,
        highlight=False,
    )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id (from keys list)")],
    url: UrlOption = None,
) -> None:
    """Revoke an API key: refused from the next request on."""
    call("DELETE", url, f"{API}/keys/{key_id}")
    out.print(f"revoked API key {key_id}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
