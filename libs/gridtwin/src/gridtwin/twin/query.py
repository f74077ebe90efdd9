"""Property filters compiled to SQL, and opaque page tokens for keyset paging.

Filters run in the database on the stored properties JSON, viewed through SQLAlchemy's ``JSON`` type
(``json_extract`` on SQLite, ``JSON_EXTRACT``/``JSON_UNQUOTE`` on MySQL). Each comparison is guarded by
the JSON type of the value, so ``lt 5`` never matches the string ``"10"`` on one backend and not on
the other.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, ColumnElement, Connection, Table, and_, func, not_, or_, select, type_coerce
from sqlalchemy.sql.elements import ColumnClause

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.store.feeders import IN_CHUNK, chunks

__all__ = [
    "OPS",
    "PropertyFilter",
    "decode_page_token",
    "encode_page_token",
    "filter_clause",
    "reachable_ids",
    "to_filters",
]

OPS = ("eq", "ne", "lt", "le", "gt", "ge")
# DTDL names: letters, digits, underscores; we allow a dotted path into object properties.
_SEGMENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_MAX_SEGMENTS = 8


@dataclass(frozen=True)
class PropertyFilter:
    """``path`` is a property name or a dotted path into an object property; ``value`` a JSON scalar."""

    path: str
    op: str
    value: Any


def to_filters(filters: Iterable[Any]) -> list[PropertyFilter]:
    """Accept PropertyFilter, ``(path, op, value)`` tuples or ``{"path", "op", "value"}`` mappings."""
    out: list[PropertyFilter] = []
    for i, f in enumerate(filters):
        if isinstance(f, PropertyFilter):
            out.append(f)
        elif isinstance(f, Mapping) and {"path", "op", "value"} <= set(f):
            out.append(PropertyFilter(f["path"], f["op"], f["value"]))
        elif isinstance(f, tuple | list) and len(f) == 3:
            out.append(PropertyFilter(f[0], f[1], f[2]))
        else:
            raise InputError(
                "bad filter", [ErrorDetail(f"filters[{i}]", "expected (path, op, value)", "invalid")]
            )
    return out


def _json_path(path: Any, where: str) -> tuple[str, ...]:
    segments = path.split(".") if isinstance(path, str) else []
    if not segments or len(segments) > _MAX_SEGMENTS or not all(_SEGMENT_RE.fullmatch(s) for s in segments):
        raise InputError(
            "bad filter path",
            [ErrorDetail(where, f"path {str(path)[:80]!r} is not a property name or dotted path", "invalid")],
        )
    return tuple(segments)


def _json_type(column: ColumnClause[Any], path: tuple[str, ...], dialect: str) -> ColumnElement[Any]:
    """Lower-case JSON type name of the value at ``path``, NULL when absent."""
    text_path = "$" + "".join(f'."{s}"' for s in path)  # segments are checked: no quotes inside
    if dialect == "sqlite":
        # integer, real, text, true, false, null, object, array
        return func.json_type(column, text_path)
    # MySQL/MariaDB: INTEGER, DOUBLE, DECIMAL, STRING, BOOLEAN, NULL, OBJECT, ARRAY
    return func.lower(func.json_type(func.json_extract(column, text_path)))


def filter_clause(
    column: ColumnClause[Any], flt: PropertyFilter, dialect: str, where: str
) -> ColumnElement[bool]:
    """The SQL condition for one filter on the properties column (``dialect``: sqlite or mysql)."""
    path = _json_path(flt.path, where)
    op = flt.op
    if op not in OPS:
        raise InputError(
            "bad filter op", [ErrorDetail(where, f"op must be one of {', '.join(OPS)}", "invalid")]
        )
    value = flt.value
    sqlite = dialect == "sqlite"
    jtype = _json_type(column, path, dialect)
    item = type_coerce(column, JSON)[path]

    if value is None or isinstance(value, bool):
        if op not in ("eq", "ne"):
            raise InputError(
                "bad filter", [ErrorDetail(where, "null and booleans compare with eq/ne only", "invalid")]
            )
        if value is None:
            cond: ColumnElement[bool] = or_(jtype.is_(None), jtype == "null")
        elif sqlite:
            cond = jtype == ("true" if value else "false")
        else:
            cond = and_(jtype == "boolean", item.as_string() == ("true" if value else "false"))
        if op == "eq":
            return cond
        # "ne true" also matches twins without the property (SQL NULL would drop them).
        return not_(cond) if value is None else or_(jtype.is_(None), not_(cond))

    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError("bad filter", [ErrorDetail(where, "value must be a finite number", "invalid")])
        numeric = ("integer", "real") if sqlite else ("integer", "double", "decimal", "unsigned integer")
        guard: ColumnElement[bool] = jtype.in_(numeric)
        lhs: ColumnElement[Any] = item.as_float()
    elif isinstance(value, str):
        guard = jtype == ("text" if sqlite else "string")
        lhs = item.as_string()
    else:
        raise InputError("bad filter", [ErrorDetail(where, "value must be a JSON scalar", "invalid_type")])

    compare: ColumnElement[bool] = {
        "eq": lhs == value,
        "ne": lhs != value,
        "lt": lhs < value,
        "le": lhs <= value,
        "gt": lhs > value,
        "ge": lhs >= value,
    }[op]
    if op == "ne":
        # "ne 5" also matches twins where the property is absent or of another type.
        return or_(not_(guard), jtype.is_(None), compare)
    return and_(guard, compare)


def encode_page_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode()


def decode_page_token(token: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        after = data["after"]
        if not isinstance(after, str):
            raise TypeError(after)
        return after
    except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error) as exc:
        raise InputError(
            "bad page token", [ErrorDetail("page_token", "not a token this registry issued")]
        ) from exc


def reachable_ids(
    conn: Connection, relationships: Table, start_id: str, names: Iterable[str], max_hops: int, direction: str
) -> list[str]:
    """Twin ids reachable from ``start_id`` within ``max_hops`` (nearest hop first, by id within a hop).

    One SQL query per hop over the whole frontier (chunked for IN lists); ``names`` limits the
    relationship names followed; ``direction`` is out, in or both.
    """
    wanted = sorted(set(names))
    rc = relationships.c
    seen = {start_id}
    order: list[str] = []
    frontier = [start_id]
    for _ in range(max_hops):
        found: set[str] = set()
        for chunk in chunks(frontier, IN_CHUNK):
            steps = []
            if direction in ("out", "both"):
                steps.append(select(rc.target_id).where(rc.source_id.in_(chunk)))
            if direction in ("in", "both"):
                steps.append(select(rc.source_id).where(rc.target_id.in_(chunk)))
            for stmt in steps:
                if wanted:
                    stmt = stmt.where(rc.name.in_(wanted))
                found.update(conn.execute(stmt.distinct()).scalars())
        frontier = sorted(found - seen)
        if not frontier:
            break
        seen.update(frontier)
        order.extend(frontier)
    return order
