"""The ``gridtwin`` command. One module per command group; each exposes a Typer ``app``."""

from __future__ import annotations

import typer

from gridtwin.cli import (
    admin_cmds,
    audit_cmds,
    auth_cmds,
    client_cmds,
    dtdl,
    hosting_cmds,
    jobs_cmds,
    keys_cmds,
    measurements_cmds,
    scenario_cmds,
    up,
    users_cmds,
)

app = typer.Typer(
    name="gridtwin",
    help="GridTwin: digital twin and OpenDSS planning for distribution feeders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(dtdl.app, name="dtdl", help="Validate DTDL model sets.")
app.command("up", help="Run every service on localhost (all-in-one, embedded defaults).")(up.up)
client_cmds.register(app)
auth_cmds.register(app)
users_cmds.register(app)
keys_cmds.register(app)
audit_cmds.register(app)
admin_cmds.register(app)
jobs_cmds.register(app)
scenario_cmds.register(app)
hosting_cmds.register(app)
measurements_cmds.register(app)

if __name__ == "__main__":
    app()
