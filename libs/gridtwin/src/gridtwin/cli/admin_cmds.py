"""``gridtwin admin create``: an account made on this machine, straight in the installation's database,
with no gateway: the first admin of a deployment, or a lost password.

It reads the same settings as the services (``GRIDTWIN_DATABASE_URL``, else the SQLite file under
``--data-dir`` / ``GRIDTWIN_DATA_DIR``), brings the schema up to date, and creates the user, or, when it
exists, sets its password, unlocks and enables it (its sessions end). Who can run it can read the
database anyway; the change is written to the audit log (``via local``).
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from gridtwin.access import ALL_SITES
from gridtwin.access.passwords import generate_password, hash_password
from gridtwin.access.roles import Role, parse_role
from gridtwin.cli import session
from gridtwin.cli.output import fail, out
from gridtwin.config import Settings
from gridtwin.errors import GridTwinError

__all__ = ["admin_app", "create", "register"]

admin_app = typer.Typer(
    help="Work on this installation's database directly (no gateway): first admin, lost password.",
    no_args_is_help=True,
)


def _local_actor() -> str:
    try:
        return f"local:{getpass.getuser()}"
    except (OSError, KeyError):
        return "local"


@admin_app.command("create")
def create(
    username: Annotated[str, typer.Option("--username", "-u", help="the account to create or reset")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input (one line)")
    ] = False,
    generate: Annotated[
        bool, typer.Option("--generate-password", help="generate a password and print it once")
    ] = False,
    role: Annotated[
        str | None,
        typer.Option("--role", help="admin (default for a new account) | operator | analyst | viewer"),
    ] = None,
    sites: Annotated[
        list[str] | None,
        typer.Option("--site", help="a site it may see (repeatable); default for a new admin: every site"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="the installation's data folder (default GRIDTWIN_DATA_DIR)"),
    ] = None,
) -> None:
    """Create an account (an admin by default) in the local database, or reset an existing one's
    password (also unlocking and enabling it)."""
    # The store (SQLAlchemy, Alembic) is imported here: every other command starts without it.
    from gridtwin.store.accounts import AccountStore, AuditEntry, check_sites, check_username
    from gridtwin.store.db import make_engine, migrate

    try:
        check_username(username)
        chosen_role = parse_role(role) if role is not None else None
        chosen_sites = check_sites(sites) if sites else None
    except GridTwinError as exc:
        raise fail(exc.message, [d.to_dict() for d in exc.details]) from None
    if password_stdin and generate:
        raise fail("--password-stdin and --generate-password exclude each other")
    password = generate_password() if generate else session.read_password(password_stdin, confirm=True)
    try:
        hashed = hash_password(password)
    except GridTwinError as exc:
        raise fail(exc.message, [d.to_dict() for d in exc.details]) from None

    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir.expanduser().resolve()})
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url(), mysql_local_infile=settings.mysql_local_infile)
    try:
        migrate(engine)
        accounts = AccountStore(engine)
        existing = accounts.find_user(username)
        if existing is None:
            new_role = chosen_role or Role.ADMIN
            new_sites = chosen_sites if chosen_sites is not None else frozenset({ALL_SITES})
            if new_role != Role.ADMIN and chosen_sites is None:
                raise fail("a user who is not an admin needs its sites: give --site (repeatable)")
            user = accounts.create_user(username, hashed, new_role, new_sites)
            action, did = "users.create", "created"
        else:
            user = accounts.update_user(
                username, role=chosen_role, sites=chosen_sites, disabled=False, password_hash=hashed
            )
            accounts.login_succeeded(username)  # unlocked
            action, did = "users.password", "reset the password of (unlocked, enabled; its sessions ended)"
        accounts.audit(
            AuditEntry(
                actor=_local_actor(),
                via="local",
                action=action,
                resource=username,
                outcome="ok",
                detail={"role": user.role.value, "sites": sorted(user.sites)},
            )
        )
    except GridTwinError as exc:
        raise fail(exc.message, [d.to_dict() for d in exc.details]) from None
    finally:
        engine.dispose()
    where = "the database of GRIDTWIN_DATABASE_URL" if settings.database_url else str(settings.data_dir)
    sites_text = "every site" if ALL_SITES in user.sites else ", ".join(sorted(user.sites))
    out.print(
        f"{did} {username}: role {user.role.value}, {sites_text} (in {where})", markup=False, highlight=False
    )
    if generate:
        out.print(f"password of {username} (shown only this once; only its hash is kept):", markup=False)
        out.print(f"  {password}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(admin_app, name="admin")
