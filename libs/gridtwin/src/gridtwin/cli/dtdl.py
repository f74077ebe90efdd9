"""``gridtwin dtdl validate PATH...``: check DTDL model sets against the language's rules."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gridtwin.errors import DtdlError, ErrorDetail
from gridtwin.twin.dtdl import parse_model_set, read_documents
from gridtwin.twin.dtdl.model_set import json_files

app = typer.Typer(no_args_is_help=True)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


@app.callback()
def main() -> None:
    """Validate DTDL (v2 and v3) model sets."""


@app.command()
def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or folders; every .json under them is one model set.")
    ],
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json")] = OutputFormat.text,
) -> None:
    """Validate the model set; exit 0 when valid, 1 with one line per error (file and element) when not."""
    files = json_files(paths)
    docs, errors = read_documents(paths)
    interfaces: list[str] = []
    if not errors:
        try:
            interfaces = sorted(parse_model_set(docs).interfaces)
        except DtdlError as exc:
            errors = exc.details
    _report(files, interfaces, errors, output)
    raise typer.Exit(1 if errors else 0)


def _report(
    files: list[Path], interfaces: list[str], errors: list[ErrorDetail], output: OutputFormat
) -> None:
    if output is OutputFormat.json:
        body = {
            "valid": not errors,
            "files": len(files),
            "interfaces": interfaces,
            "errors": [e.to_dict() for e in errors],
        }
        typer.echo(json.dumps(body, indent=2))
        return
    if errors:
        for error in errors:
            typer.echo(f"{error.where}: {error.message}")
        typer.echo(f"invalid: {len(errors)} error(s) in {len(files)} file(s)", err=True)
    else:
        typer.echo(f"valid: {len(interfaces)} interface(s) in {len(files)} file(s)")
