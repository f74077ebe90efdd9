"""``gridtwin audit``: the gateway's append-only audit log (admins): logins, refusals and writes, newest
first, filtered by actor, action (a prefix of the method and route, ``POST /api/v1/auth/token`` for
logins, ``DELETE /api/v1/users`` for removed users; ``users.`` or ``keys.`` for what ``gridtwin admin``
and ``gridtwin up`` did locally), outcome and time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from gridtwin.cli.client_cmds import API, JsonOption, UrlOption, call
from gridtwin.cli.output import Col, fail, out, print_table

__all__ = ["audit", "parse_when", "register"]

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
COLUMNS = (
    "time",
    Col("actor", key=True),
    Col("action", key=True),
    "outcome",
    Col("status", numeric=True),
    Col("resource", key=True),
    "site",
    "via",
    "ip",
    Col("request", key=True),
)
TimeOption = "ISO date or time (UTC unless it says otherwise), or an age like 30m, 2h, 7d"


def parse_when(text: str, flag: str, now: datetime | None = None) -> str:
    """``text`` as an ISO 8601 time with its zone: an age (``2h`` = two hours ago) or a date/time
    (naive ones are UTC)."""
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative:
        delta = timedelta(**{_UNITS[relative.group(2)]: float(relative.group(1))})
        return ((now or datetime.now(UTC)) - delta).isoformat(timespec="seconds")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail("bad time", [{"where": flag, "message": f"{text!r}: {TimeOption}"}]) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat(timespec="seconds")


def audit(
    actor: Annotated[str, typer.Option("--actor", help="who: a user name, key:<id>, or - (anonymous)")] = "",
    action: Annotated[
        str, typer.Option("--action", help="what, by prefix (auth.login, users, jobs.run)")
    ] = "",
    outcome: Annotated[str, typer.Option("--outcome", help="ok | denied | failed | error")] = "",
    since: Annotated[str, typer.Option("--since", help=f"from: {TimeOption}")] = "",
    until: Annotated[str, typer.Option("--until", help=f"before: {TimeOption}")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="entries to show")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="skip this many first")] = 0,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Query the audit log (admins): newest first."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    for name, value in (("actor", actor), ("action", action), ("outcome", outcome)):
        if value:
            params[name] = value
    if since:
        params["since"] = parse_when(since, "--since")
    if until:
        params["until"] = parse_when(until, "--until")
    page = call("GET", url, f"{API}/audit", params=params)
    if as_json:
        out.print_json(data=page)
        return
    entries = list(page.get("entries") or [])
    total = int(page.get("total") or len(entries))
    shown = f"{offset + 1}-{offset + len(entries)}" if entries else "none"
    print_table(
        COLUMNS,
        [
            (
                e.get("ts"),
                e.get("actor"),
                e.get("action"),
                e.get("outcome"),
                e.get("status") or "-",
                e.get("resource"),
                e.get("site"),
                e.get("via"),
                e.get("ip"),
                e.get("request_id"),
            )
            for e in entries
        ],
        f"audit log: {shown} of {total}",
    )


def register(app: typer.Typer) -> None:
    app.command("audit", help="Query the audit log (admins).")(audit)
