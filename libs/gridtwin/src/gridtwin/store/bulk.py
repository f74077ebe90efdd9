"""Fast bulk writes: MySQL ``LOAD DATA LOCAL INFILE ... REPLACE``, else one compiled executemany upsert.

SQLAlchemy's per-row parameter processing costs as much as the insert itself at 100k rows, so rows are
plain tuples handed to the driver. On MySQL they go as a tab-separated temp file through ``LOAD DATA
LOCAL INFILE``: at 100k twins that costs the server about half what parsing a multi-row INSERT does, and
the client a fifth of mysqlclient's executemany (which formats every row in Python, holding the GIL).
``REPLACE`` is an upsert here because every column is written and nothing references the tables (InnoDB
then updates the row in place, no delete). If the server refuses LOCAL INFILE (``local_infile=OFF``) the
compiled ``INSERT ... ON DUPLICATE KEY UPDATE`` runs through executemany instead. SQLite always uses the
compiled ``INSERT ... ON CONFLICT DO UPDATE``. On MySQL a writer thread sends chunk k (the server works,
the GIL is free) while the caller validates and serialises chunk k+1.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DBAPIError

__all__ = ["ChunkWriter", "Prepared", "Upsert", "select_in", "tsv_bytes"]

# Server/client error codes meaning "LOAD DATA LOCAL is not allowed here": fall back to executemany.
# 1148 ER_NOT_ALLOWED_COMMAND, 2068 CR_LOAD_DATA_LOCAL_INFILE_REJECTED, 3948 ER_CLIENT_LOCAL_FILES_DISABLED,
# 4166 (MariaDB) ER_LOAD_INFILE_CAPABILITY_DISABLED.
LOAD_REFUSED = frozenset({1148, 2068, 3948, 4166})

_NULL = "\\N"  # LOAD DATA's NULL under the default ESCAPED BY '\\'


def _escape(value: Any) -> str:
    """One field in LOAD DATA's default escaping (backslash, tab, newline, CR, NUL; NULL as \\N)."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "1" if value else "0"
    text = value if isinstance(value, str) else str(value)
    return (
        text.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\x00", "\\0")
    )


def tsv_bytes(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """``rows`` as UTF-8 tab-separated lines for ``LOAD DATA`` (default FIELDS/LINES options).

    Written by hand: no library writes MySQL's escaping. Most rows (ids, models, compact JSON) need no
    escaping, so each row is joined as is and checked with a few C-level scans; only rows with a
    special character (or a non-string value) are escaped field by field.
    """
    lines: list[str] = []
    add = lines.append
    for row in rows:
        try:
            line = "\t".join([_NULL if v is None else v for v in row])
        except TypeError:  # a non-string value: the slow path formats it
            add("\t".join([_escape(v) for v in row]))
            continue
        # Every backslash must be one of the NULL markers, every tab a separator.
        if (
            line.count("\\") == row.count(None)
            and line.count("\t") == len(row) - 1
            and "\n" not in line
            and "\r" not in line
            and "\x00" not in line
        ):
            add(line)
        else:
            add("\t".join([_escape(v) for v in row]))
    add("")
    return "\n".join(lines).encode("utf-8")


@dataclass(frozen=True)
class Prepared:
    """Rows in primary-key order and, when they will go through LOAD DATA, their file contents."""

    rows: list[tuple[Any, ...]]
    tsv: bytes | None


class Upsert:
    """Upsert ``columns`` of ``table``: ``LOAD DATA ... REPLACE`` or ``INSERT ... ON DUPLICATE KEY UPDATE``
    (MySQL), ``INSERT ... ON CONFLICT DO UPDATE`` (SQLite)."""

    def __init__(
        self, conn: Connection, table: Table, columns: Sequence[str], update_cols: Sequence[str]
    ) -> None:
        self.columns = tuple(columns)
        self.sqlite = conn.dialect.name == "sqlite"
        values = {c: None for c in columns}
        pk = [c.name for c in table.primary_key.columns]
        if self.sqlite:
            ins = sqlite_dialect.insert(table).values(values)
            stmt: Any = ins.on_conflict_do_update(
                index_elements=pk, set_={c: ins.excluded[c] for c in update_cols}
            )
        else:
            mins = mysql_dialect.insert(table).values(values)
            stmt = mins.on_duplicate_key_update({c: mins.inserted[c] for c in update_cols})
        compiled = stmt.compile(dialect=conn.dialect)
        # Positional driver SQL; bind names come back in placeholder order (they are the column names).
        self.sql = str(compiled)
        order = list(compiled.positiontup or [])
        if order != list(columns):
            raise RuntimeError(f"unexpected bind order {order} for {columns}")
        self.pk_len = len(pk)
        if self.pk_len and list(columns[: self.pk_len]) != pk:
            raise RuntimeError(f"rows must start with the primary key {pk}")
        # REPLACE equals the upsert only when the row is rewritten whole (every column given, every
        # non-key column updated) and no foreign key points at the table: InnoDB then updates in place;
        # with one it would delete and re-insert, cascading to the referencing rows.
        whole = set(columns) == set(table.c.keys()) and set(update_cols) == set(columns) - set(pk)
        referenced = any(
            fk.column.table is table for t in table.metadata.tables.values() for fk in t.foreign_keys
        )
        self.load_sql: str | None = None
        if not self.sqlite and whole and not referenced:
            quote = conn.dialect.identifier_preparer
            cols = ", ".join(quote.quote(c) for c in columns)
            # The file name is a bound parameter: mysqlclient quotes it as a string literal.
            self.load_sql = (
                f"LOAD DATA LOCAL INFILE %s REPLACE INTO TABLE {quote.format_table(table)} "
                f"CHARACTER SET utf8mb4 ({cols})"
            )

    def prepare(self, rows: list[tuple[Any, ...]]) -> Prepared:
        """Sort ``rows`` (in place) and encode them for LOAD DATA: the CPU part of a write, which a
        caller feeding a writer thread does itself so that thread only waits on the server."""
        # Primary-key order: InnoDB appends to its clustered index instead of splitting pages.
        rows.sort(key=lambda r: r[: self.pk_len])
        return Prepared(rows, tsv_bytes(rows) if self.load_sql is not None else None)

    def run(self, conn: Connection, rows: list[tuple[Any, ...]] | Prepared) -> int:
        """Write ``rows``; the driver's affected-row count. On MySQL that tells inserts (1 each) from
        updates (2 each: etags always change; LOAD DATA counts a replaced row as inserted + deleted),
        so ``== len(rows)`` means every row was new. SQLite counts 1 either way."""
        batch = rows if isinstance(rows, Prepared) else self.prepare(rows)
        if not batch.rows:
            return 0
        if self.load_sql is not None:
            try:
                return self._load(conn, batch.tsv or tsv_bytes(batch.rows), len(batch.rows))
            except DBAPIError as exc:
                code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
                if code not in LOAD_REFUSED:
                    raise
                self.load_sql = None  # refused before any row was read: use executemany from now on
        return int(conn.exec_driver_sql(self.sql, batch.rows).rowcount)

    def _load(self, conn: Connection, data: bytes, n_rows: int) -> int:
        assert self.load_sql is not None
        fd, path = tempfile.mkstemp(prefix="gridtwin-bulk-", suffix=".tsv")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            count = int(conn.exec_driver_sql(self.load_sql, (path,)).rowcount)
        finally:
            os.unlink(path)
        # Strict sql_mode makes bad values errors; without it they would be silent warnings.
        warnings = conn.connection.dbapi_connection.warning_count()  # type: ignore[union-attr]
        if warnings:
            shown = conn.exec_driver_sql("SHOW WARNINGS LIMIT 3").fetchall()
            raise RuntimeError(f"bulk load of {n_rows} rows gave {warnings} warnings: {shown}")
        return count


def select_in(conn: Connection, sql: str, keys: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run ``sql`` whose single ``{in}`` slot is filled with one placeholder per key (driver paramstyle)."""
    if not keys:
        return []
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    return [
        tuple(r)
        for r in conn.exec_driver_sql(sql.format(**{"in": ",".join([mark] * len(keys))}), tuple(keys))
    ]


class ChunkWriter:
    """Runs ``work(conn, chunk)`` for each chunk put, in order, on one connection.

    MySQL: in a background thread (the caller must not touch ``conn`` until ``close``). SQLite: inline,
    since the work is in-process CPU anyway. ``close`` waits, and re-raises the first failure.
    """

    def __init__(self, conn: Connection, work: Callable[[Connection, Any], None]) -> None:
        self._conn = conn
        self._work = work
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        if conn.dialect.name != "sqlite":
            self._thread = threading.Thread(target=self._loop, name="gridtwin-bulk-writer", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if self._error is None:
                try:
                    self._work(self._conn, chunk)
                except BaseException as exc:  # handed to the caller in close()
                    self._error = exc

    def put(self, chunk: Any) -> None:
        if self._thread is None:
            self._work(self._conn, chunk)
        else:
            self._queue.put(chunk)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
