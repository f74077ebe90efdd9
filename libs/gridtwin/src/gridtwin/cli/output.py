"""What the ``gridtwin`` command prints: tables, progress and error details, the same way everywhere.

Ids and names are never cut. On a terminal a table is drawn by rich: wide tables wrap their cells
(``overflow="fold"``), never end a cell with an ellipsis, and key columns (ids, names) stay on one line
while the table fits. Anywhere else (a pipe, a log file, ``bash ci/up > log``) a table is plain text: a
title line, then aligned columns of any width, one record per line, easy to ``grep`` and ``cut``.

Progress is a rich bar on a terminal; elsewhere :class:`PlainProgress` prints one line every few
percent (or every ``every_s`` seconds) with done, failed, total and the ETA.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import click
import typer
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from gridtwin.rpc.logging import quiet_library_loggers

__all__ = [
    "CliConsole",
    "Col",
    "ColumnSpec",
    "PlainProgress",
    "cli_where",
    "err",
    "fail",
    "out",
    "plain_lines",
    "print_table",
    "rich_table",
]

# Library INFO chatter (httpx logs every request) stays out of what the commands print.
quiet_library_loggers()


class CliConsole(Console):
    """A rich console that never wraps a printed line when it does not write to a terminal.

    Off a terminal rich assumes 80 columns and would break long lines (and the ids on them) there; a
    log line is better whole.
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if not self.is_terminal:
            kwargs.setdefault("soft_wrap", True)
        super().print(*objects, **kwargs)


out = CliConsole()
err = CliConsole(stderr=True)


def fail(message: str, details: list[dict[str, Any]] | None = None, *, code: int = 1) -> typer.Exit:
    """Print the error and its located details (REST field paths named as this command's flags); the
    exit to raise (status 1 unless told)."""
    err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)  # no markup in it
    for d in details or []:
        where = cli_where(str(d.get("where", "")))
        err.print(f"  {where}: {d.get('message', '')}", highlight=False, markup=False)
    return typer.Exit(code=code)


@dataclass(frozen=True)
class Col:
    """A table column: ``key`` for ids and names (kept on one line), ``numeric`` to align right."""

    header: str
    key: bool = False
    numeric: bool = False


ColumnSpec = Col | str


def _cols(columns: Sequence[ColumnSpec]) -> list[Col]:
    return [c if isinstance(c, Col) else Col(c) for c in columns]


def _cell(value: Any) -> str:
    text = "" if value is None else " ".join(str(value).splitlines())  # one record per line
    return text or "-"  # never an empty field: columns stay countable


def plain_lines(columns: Sequence[ColumnSpec], rows: Iterable[Sequence[Any]], title: str = "") -> list[str]:
    """The plain layout: ``title``, a header and one aligned line per row, no width limit."""
    cols = _cols(columns)
    body = [[_cell(v) for v in row] for row in rows]
    widths = [len(c.header) for c in cols]
    for row in body:
        for i, text in enumerate(row[: len(cols)]):
            widths[i] = max(widths[i], len(text))

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, (col, text) in enumerate(zip(cols, cells, strict=False)):
            last = i == len(cols) - 1
            if col.numeric:
                parts.append(text.rjust(widths[i]))
            else:
                parts.append(text if last else text.ljust(widths[i]))
        return "  ".join(parts).rstrip()

    lines = [title] if title else []
    lines.append(line([c.header for c in cols]))
    lines.extend(line(row) for row in body)
    return lines


def _longest_word(texts: Iterable[str]) -> int:
    return max((len(word) for text in texts for word in text.split()), default=1)


def rich_table(
    columns: Sequence[ColumnSpec],
    rows: Iterable[Sequence[Any]],
    title: str = "",
    *,
    console: Console | None = None,
) -> Table | None:
    """A rich table that folds instead of cutting, for a console ``width`` wide: key columns stay whole
    on one line while the table fits with every word whole, and fold too when it does not. None when
    not even one character per column fits (the caller prints the plain layout then)."""
    console = console or out
    cols = _cols(columns)
    body = [[_cell(v) for v in row] for row in rows]
    cells = [[c.header, *(r[i] for r in body if i < len(r))] for i, c in enumerate(cols)]
    key_widths = [max(len(t) for t in texts) for texts in cells]
    chrome = 3 * len(cols) + 1  # a rule and a space either side of every cell
    whole = sum(w if c.key else _longest_word(t) for c, w, t in zip(cols, key_widths, cells, strict=True))
    if whole + chrome <= console.width:
        keep_keys = True
    elif len(cols) + chrome <= console.width:
        keep_keys = False  # too narrow for whole keys on one line: they fold too (still whole)
    else:
        return None
    table = Table(
        *(
            Column(
                c.header,
                overflow="fold",
                no_wrap=keep_keys and c.key,
                justify="right" if c.numeric else "left",
                min_width=key_widths[i] if keep_keys and c.key else None,
            )
            for i, c in enumerate(cols)
        ),
        title=title or None,
    )
    for row in body:
        table.add_row(*(Text(cell) for cell in row))  # as given: no markup in ids like "a[1]"
    return table


def print_table(
    columns: Sequence[ColumnSpec],
    rows: Iterable[Sequence[Any]],
    title: str = "",
    *,
    console: Console | None = None,
) -> None:
    """Print a table: rich on a terminal, the plain layout anywhere else. Cells are printed as given
    (None as "-"), never cut."""
    console = console or out
    rows = list(rows)
    if console.is_terminal:
        table = rich_table(columns, rows, title, console=console)
        if table is not None:
            console.print(table)
            return
    for text in plain_lines(columns, rows, title):
        console.print(text, markup=False, highlight=False, soft_wrap=True)


class PlainProgress:
    """Progress as plain lines for logs: one when the share done crosses the next ``every_pct`` step,
    when ``every_s`` seconds passed since the last line, or when the status changes; and the last one."""

    def __init__(
        self,
        label: str,
        *,
        console: Console | None = None,
        every_pct: float = 5.0,
        every_s: float = 30.0,
        unit: str = "tasks",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.console = console or out
        self.every_pct = every_pct
        self.every_s = every_s
        self.unit = unit
        self.clock = clock
        self.started = clock()
        self._last_at: float | None = None
        self._last_step = -1
        self._last_status: str | None = None

    def line(self, done: int, failed: int, total: int, eta_s: float | None, status: str) -> str:
        finished = done + failed
        pct = 100.0 * finished / total if total else 0.0
        elapsed = self.clock() - self.started
        if eta_s is None and 0 < finished < total and elapsed > 0:
            eta_s = elapsed / finished * (total - finished)  # at the rate seen here
        eta = f"ETA {eta_s:.0f} s" if eta_s is not None and finished < total else "ETA -"
        return (
            f"{self.label}: {pct:5.1f}% {finished}/{total} {self.unit} "
            f"({done} done, {failed} failed), {eta}, {status}, {elapsed:.0f} s elapsed"
        )

    def update(
        self, done: int, failed: int, total: int, eta_s: float | None = None, status: str = "running"
    ) -> bool:
        """Print a line if one is due; True when it did."""
        now = self.clock()
        pct = 100.0 * (done + failed) / total if total else 0.0
        step = int(pct // self.every_pct) if self.every_pct > 0 else 0
        due = (
            self._last_at is None
            or step > self._last_step
            or status != self._last_status
            or now - self._last_at >= self.every_s
        )
        if not due:
            return False
        text = self.line(done, failed, total, eta_s, status)
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        self._last_at, self._last_step, self._last_status = now, step, status
        return True


# --- error details: REST field paths back to the command's own flags ---------------------------------

# Where the gateway (or a service) names a request field: "body.kw", "query.limit", "path.job_id", or
# a QSTS period or solver field from a service ("period.hours", "solver.max_iterations").
_LOCATION_PREFIXES = ("body", "query", "path", "form", "period", "solver")
# REST field -> the command parameter (Python name) that fills it, where the names differ.
FIELD_PARAMS: dict[str, tuple[str, ...]] = {
    "feeder_glob": ("glob",),
    "feeders": ("feeder",),
    "buses": ("bus",),
    "forecast_days": ("days",),
    "overrides_csv": ("overrides",),
    "mapping_yaml": ("mapping",),
    "path": ("paths",),
    "upload_id": ("path",),
    "upload_ids": ("paths",),
    "file": ("path", "paths", "results"),
    "job_ids": ("jobs",),
}


def _param_flag(command: Any, names: Sequence[str]) -> str | None:
    params = {p.name: p for p in getattr(command, "params", []) if p.name}
    for name in names:
        param = params.get(name)
        if isinstance(param, click.Option):
            long = [o for o in param.opts if o.startswith("--")]
            return (long or list(param.opts))[0]
        if isinstance(param, click.Argument):
            return param.human_readable_name
    return None


def cli_where(where: str, command: Any = None) -> str:
    """``where`` of an error detail as the current command's flag: ``body.kw`` -> ``--kw``,
    ``query.order_by`` -> ``--order-by``, ``period.hours`` -> ``--hours``, a positional argument by its
    name (``JOB_ID``). Anything the command has no flag for is left as it is."""
    if command is None:
        ctx = click.get_current_context(silent=True)
        command = ctx.command if ctx is not None else None
    if command is None or not where:
        return where
    parts = where.replace("[", ".").replace("]", "").split(".")
    if parts[0] in _LOCATION_PREFIXES and len(parts) > 1:
        field, rest = parts[1], parts[2:]
    elif len(parts) == 1:
        field, rest = parts[0], []
    else:
        return where
    flag = _param_flag(command, (field, *FIELD_PARAMS.get(field, ())))
    if flag is None:
        return where
    return f"{flag} ({'.'.join(rest)})" if rest else flag
