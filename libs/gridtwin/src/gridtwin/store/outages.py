"""Outage records in SQL (table ``outages``, migration 0005), one import at a time, all or nothing.

Rows are ``OUTAGE_COLUMNS`` frames (``gridtwin.ingest.oms``) plus ``device_twin`` (after linking; ""
when absent). Times are tz-aware UTC in frames and naive UTC in SQL; a naive time handed in is taken as
UTC. Strings are checked against the column widths first, so a bad row is an ``InputError`` naming it
(its ``src``) rather than a database error halfway through.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.store.db import writer
from gridtwin.store.tables import outages

__all__ = ["FRAME_COLUMNS", "OutageStore"]

# What ``frame`` returns: ``gridtwin.ingest.oms.OUTAGE_COLUMNS``, then ``device_twin`` and ``import_id``.
FRAME_COLUMNS: tuple[str, ...] = (
    "outage_id", "feeder", "device", "start_utc", "end_utc", "duration_min", "cause_code", "cause",
    "customers_interrupted", "customer_minutes", "momentary", "src", "device_twin", "import_id",
)  # fmt: skip
CHUNK_ROWS = 5_000
_STRINGS = ("feeder", "outage_id", "device", "device_twin", "cause_code", "cause", "src")
_REQUIRED = (
    "feeder", "device", "start_utc", "end_utc", "duration_min", "customers_interrupted", "customer_minutes",
)  # fmt: skip


def _width(column: str) -> int:
    length = getattr(outages.c[column].type, "length", None)
    assert isinstance(length, int)
    return length


def _naive_utc(value: Any) -> datetime:
    if value is None or pd.isna(value):
        raise ValueError("missing time")
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(UTC).tz_localize(None)
    return ts.to_pydatetime()


def _aware(value: datetime) -> pd.Timestamp:
    return (
        pd.Timestamp(value).tz_localize(UTC) if value.tzinfo is None else pd.Timestamp(value).tz_convert(UTC)
    )


class OutageStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    def insert(self, import_id: str, site: str, frame: pd.DataFrame) -> int:
        """Store the frame's rows under ``import_id`` in one transaction; the number of rows written."""
        details: list[ErrorDetail] = []
        for name, value in (("import_id", import_id), ("site", site)):
            if not value or len(value) > _width(name):
                details.append(ErrorDetail(name, f"must be 1..{_width(name)} characters", "length"))
        lacking = [c for c in _REQUIRED if c not in frame.columns]
        if lacking:
            details.append(ErrorDetail("frame", f"missing columns {', '.join(lacking)}", "column"))
        if details:
            raise InputError("cannot store outages", details)
        rows: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = frame.to_dict("records")  # type: ignore[assignment]  # str columns
        for i, rec in enumerate(records):
            where = str(rec.get("src") or f"row {i + 1}")
            row = self._row(import_id, site, rec, where, details)
            if row is not None:
                rows.append(row)
        if details:
            raise InputError(f"cannot store outages: {len(details)} bad value(s)", details)
        with self._writer.begin() as conn:
            for first in range(0, len(rows), CHUNK_ROWS):
                conn.execute(sa.insert(outages), rows[first : first + CHUNK_ROWS])
        return len(rows)

    @staticmethod
    def _row(
        import_id: str, site: str, rec: dict[str, Any], where: str, details: list[ErrorDetail]
    ) -> dict[str, Any] | None:
        n_before = len(details)
        row: dict[str, Any] = {"import_id": import_id, "site": site}
        for name in _STRINGS:
            value = rec.get(name)
            text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
            if len(text) > _width(name):
                details.append(
                    ErrorDetail(
                        where, f"{name} is {len(text)} characters; the column holds {_width(name)}", "length"
                    )
                )
            row[name] = text
        if not row["outage_id"]:
            row["outage_id"] = where[: _width("outage_id")]
        try:
            row["start_utc"] = _naive_utc(rec["start_utc"])
            row["end_utc"] = _naive_utc(rec["end_utc"])
        except (TypeError, ValueError) as exc:
            details.append(ErrorDetail(where, f"bad time: {exc}", "time"))
        numbers: dict[str, float] = {}
        for name in ("duration_min", "customer_minutes", "customers_interrupted"):
            try:
                numbers[name] = float(rec[name])
            except (TypeError, ValueError):
                numbers[name] = math.nan
            if not math.isfinite(numbers[name]) or numbers[name] < 0:
                details.append(ErrorDetail(where, f"{name} {rec[name]!r} is not a number >= 0", "number"))
            elif name == "customers_interrupted" and not numbers[name].is_integer():
                details.append(ErrorDetail(where, f"{name} {rec[name]!r} is not a whole number", "number"))
        if len(details) > n_before:
            return None
        row["duration_min"] = numbers["duration_min"]
        row["customer_minutes"] = numbers["customer_minutes"]
        row["customers_interrupted"] = int(numbers["customers_interrupted"])
        momentary = rec.get("momentary")
        row["momentary"] = bool(momentary) if momentary is not None else numbers["duration_min"] <= 5.0
        return row

    def frame(
        self,
        site: str,
        feeders: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """Stored rows of ``site`` whose start is in ``[start, end)``, ordered by start; ``FRAME_COLUMNS``,
        times tz-aware UTC."""
        t = outages
        stmt = sa.select(*(t.c[c] for c in FRAME_COLUMNS)).where(t.c.site == site)
        if feeders is not None:
            stmt = stmt.where(t.c.feeder.in_(list(feeders)))
        if start is not None:
            stmt = stmt.where(t.c.start_utc >= _naive_utc(start))
        if end is not None:
            stmt = stmt.where(t.c.start_utc < _naive_utc(end))
        stmt = stmt.order_by(t.c.start_utc, t.c.id)
        with self._engine.connect() as conn:
            records = [dict(r._mapping) for r in conn.execute(stmt)]
        return _to_frame(records)

    def delete_import(self, import_id: str) -> int:
        """Remove an import's rows; how many there were."""
        with self._writer.begin() as conn:
            result = conn.execute(sa.delete(outages).where(outages.c.import_id == import_id))
        return int(result.rowcount or 0)

    def feeders(self, site: str) -> list[str]:
        t = outages
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.feeder).where(t.c.site == site).distinct().order_by(t.c.feeder))
            return [str(r[0]) for r in rows]


def _to_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    recs = list(records)

    def strings(name: str) -> pd.Series:
        return pd.Series([r[name] for r in recs], dtype=object).astype(str)

    def times(name: str) -> pd.Series:
        return pd.Series([_aware(r[name]) for r in recs], dtype="datetime64[us, UTC]")

    frame = pd.DataFrame(
        {
            **{c: strings(c) for c in (*_STRINGS, "import_id")},
            "start_utc": times("start_utc"),
            "end_utc": times("end_utc"),
            "duration_min": pd.Series([r["duration_min"] for r in recs], dtype="float64"),
            "customers_interrupted": pd.Series([r["customers_interrupted"] for r in recs], dtype="int64"),
            "customer_minutes": pd.Series([r["customer_minutes"] for r in recs], dtype="float64"),
            "momentary": pd.Series([bool(r["momentary"]) for r in recs], dtype="bool"),
        }
    )
    return frame[list(FRAME_COLUMNS)]
