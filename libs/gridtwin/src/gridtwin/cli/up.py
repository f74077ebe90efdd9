"""``gridtwin up``: the all-in-one runner (filled in by the services work)."""

from __future__ import annotations


def up() -> None:
    raise SystemExit("not built yet")
