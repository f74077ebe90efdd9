"""Fast bulk writes: one compiled upsert run with the driver's executemany, in a writer thread on MySQL.

SQLAlchemy's per-row parameter processing costs as much as the insert itself at 100k rows, so the
statement is compiled once (Core ``insert ... on_conflict_do_update`` / ``on_duplicate_key_update``)
and its SQL handed to ``exec_driver_sql`` with plain tuples. On MySQL a writer thread sends chunk k
(the server works, the GIL is free) while the caller validates and serialises chunk k+1.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

__all__ = ["ChunkWriter", "Upsert", "select_in"]


class Upsert:
    """``INSERT ... ON CONFLICT DO UPDATE`` (SQLite) / ``ON DUPLICATE KEY UPDATE`` (MySQL) for ``columns``."""

    def __init__(
        self, conn: Connection, table: Table, columns: Sequence[str], update_cols: Sequence[str]
    ) -> None:
        self.columns = tuple(columns)
        self.sqlite = conn.dialect.name == "sqlite"
        values = {c: None for c in columns}
        if self.sqlite:
            ins = sqlite_dialect.insert(table).values(values)
            pk = [c.name for c in table.primary_key.columns]
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
        self.pk_len = len(table.primary_key.columns)

    def run(self, conn: Connection, rows: list[tuple[Any, ...]]) -> int:
        """Write ``rows`` (sorted in place); the driver's affected-row count. On MySQL that tells
        inserts (1 each) from updates (2 each: etags always change), so ``== len(rows)`` means every
        row was new. SQLite counts 1 either way."""
        if not rows:
            return 0
        # Primary-key order: InnoDB appends to its clustered index instead of splitting pages.
        rows.sort(key=lambda r: r[: self.pk_len])
        return int(conn.exec_driver_sql(self.sql, rows).rowcount)


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
