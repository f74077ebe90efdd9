"""Feeder bookkeeping and twin look-ups shared by the registry's writes (set-based SQL, no per-row work).

Each feeder has a row in ``feeders`` whose ``version`` is bumped in the same transaction as any write
to a twin or relationship of the feeder, and whose ``twin_count`` is recounted then.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, literal_column, select, update
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from gridtwin.store.tables import feeders, relationships, twins

__all__ = ["IN_CHUNK", "chunks", "feeders_across", "now", "touch_feeders", "twin_heads"]

# Keys per IN (...) list: SQLite allows 32766 bound parameters, MySQL's packet is the other bound.
IN_CHUNK = 5000

# (model, feeder, site) of a stored twin
Head = tuple[str, str | None, str | None]


def now() -> datetime:
    """UTC now, naive (the DateTime columns are timezone-less UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def twin_heads(conn: Connection, ids: Iterable[str]) -> dict[str, Head]:
    """id -> (model, feeder, site) for the stored twins among ``ids``."""
    out: dict[str, Head] = {}
    cols = (twins.c.id, twins.c.model, twins.c.feeder, twins.c.site)
    for chunk in chunks(sorted(set(ids))):
        for tid, model, feeder, site in conn.execute(select(*cols).where(twins.c.id.in_(chunk))):
            out[tid] = (model, feeder, site)
    return out


def touch_feeders(conn: Connection, touched: Mapping[str | None, str | None]) -> None:
    """Bump the version of each feeder in ``touched`` (feeder -> site, None keys ignored), recount twins."""
    names = sorted(f for f in touched if f)
    if not names:
        return
    stamp = now()
    rows = [{"id": f, "site": touched[f], "version": 1, "twin_count": 0, "updated_at": stamp} for f in names]
    fc = feeders.c
    stmt: Any
    if conn.dialect.name == "sqlite":
        ins = sqlite_dialect.insert(feeders)
        stmt = ins.on_conflict_do_update(
            index_elements=["id"],
            set_={
                "version": fc.version + literal_column("1"),
                "site": func.coalesce(ins.excluded.site, fc.site),
                "updated_at": ins.excluded.updated_at,
            },
        )
    else:
        mins = mysql_dialect.insert(feeders)
        # literal 1: mysqlclient's executemany cannot take a bound value in the ON DUPLICATE part
        stmt = mins.on_duplicate_key_update(
            version=fc.version + literal_column("1"),
            site=func.coalesce(mins.inserted.site, fc.site),
            updated_at=mins.inserted.updated_at,
        )
    conn.execute(stmt, rows)
    count = select(func.count()).select_from(twins).where(twins.c.feeder == fc.id).scalar_subquery()
    for chunk in chunks(names):
        conn.execute(update(feeders).where(fc.id.in_(chunk)).values(twin_count=count))


def feeders_across(conn: Connection, ids: Sequence[str]) -> dict[str | None, str | None]:
    """Feeder -> site of the twins at the other end of relationships from or to ``ids``."""
    rc, tc = relationships.c, twins.c
    out: dict[str | None, str | None] = {}
    outgoing = select(tc.feeder, tc.site).join_from(relationships, twins, tc.id == rc.target_id)
    incoming = select(tc.feeder, tc.site).join_from(relationships, twins, tc.id == rc.source_id)
    for chunk in chunks(list(ids)):
        for stmt in (outgoing.where(rc.source_id.in_(chunk)), incoming.where(rc.target_id.in_(chunk))):
            for feeder, site in conn.execute(stmt.distinct()):
                out.setdefault(feeder, site)
    return out
