"""Commands that talk to a running gateway: import, twin, powerflow (filled in by the gateway work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the client command groups to the top-level app."""
