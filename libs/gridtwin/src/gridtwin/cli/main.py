"""The ``gridtwin`` command. One module per command group; each exposes a Typer ``app``."""

from __future__ import annotations

import typer

from gridtwin.cli import client_cmds, dtdl, hosting_cmds, jobs_cmds, measurements_cmds, scenario_cmds, up

app = typer.Typer(
    name="gridtwin",
    help="GridTwin: digital twin and OpenDSS planning for distribution feeders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(dtdl.app, name="dtdl", help="Validate DTDL model sets.")
app.command("up", help="Run every service on localhost (all-in-one, embedded defaults).")(up.up)
client_cmds.register(app)
jobs_cmds.register(app)
scenario_cmds.register(app)
hosting_cmds.register(app)
measurements_cmds.register(app)

if __name__ == "__main__":
    app()
