"""Utility measurements in SQL: import records, the AMI meter directory and its overrides, and the
measured load per feeder and year.

Reads themselves live in the AMI Parquet store (``gridtwin.store.ami``) and outage rows in
``gridtwin.store.outages``; this store keeps what is small and queried: which import ran, where it got
to (so a resumed import continues), what it reported, and which meter belongs to which transformer.

Sites: every import, meter and load summary has one. Reads and writes take the caller's ``principal``
(None: a trusted caller): another site's imports and summaries do not exist for it, and an import into
a site it does not hold is ``SitesDenied`` (403) before anything is written.
"""

from __future__ import annotations

import builtins
import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from gridtwin.access.principal import Principal
from gridtwin.errors import ConflictError, ErrorDetail, InputError, NotFoundError
from gridtwin.store.db import writer
from gridtwin.store.sites import check_writable, site_clause, site_filter
from gridtwin.store.tables import (
    FEEDER_ID_MAX,
    IMPORT_ID_MAX,
    NAME_MAX,
    SITE_MAX,
    ami_load_summary,
    ami_meter_overrides,
    ami_meters,
    imports,
)

__all__ = [
    "IMPORT_KINDS",
    "IMPORT_STATUSES",
    "METER_COLUMNS",
    "OVERRIDE_COLUMNS",
    "ImportRecord",
    "MeasurementStore",
    "new_import_id",
]

IMPORT_KINDS = ("ami", "meters", "oms", "weather")
IMPORT_STATUSES = ("staging", "committed", "failed")
# The meter directory's columns (the same as gridtwin.ingest.ami.mapping.DIRECTORY_COLUMNS).
METER_COLUMNS = (
    "meter_id", "feeder", "load", "transformer", "bus", "phases", "lon", "lat", "generating", "role",
    "customer_class", "method", "confidence", "reasons",
)  # fmt: skip
OVERRIDE_COLUMNS = ("meter_id", "feeder", "transformer", "note")
_CHUNK = 2000  # rows per executemany / IN list: well under MySQL's packet and placeholder limits


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.replace(tzinfo=UTC).isoformat()


def new_import_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ImportRecord:
    id: str
    kind: str
    site: str
    status: str
    source: str
    params: dict[str, Any]
    progress: dict[str, Any]
    report: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.id,
            "kind": self.kind,
            "site": self.site,
            "status": self.status,
            "source": self.source,
            "params": self.params,
            "progress": self.progress,
            "report": self.report,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at),
        }


def _record(row: sa.Row[Any]) -> ImportRecord:
    m = row._mapping
    return ImportRecord(
        id=m["id"], kind=m["kind"], site=m["site"], status=m["status"], source=m["source"],
        params=json.loads(m["params_json"]), progress=json.loads(m["progress_json"]),
        report=json.loads(m["report_json"]), created_at=m["created_at"], finished_at=m["finished_at"],
    )  # fmt: skip


def _text(value: Any, where: str, limit: int) -> str:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    if len(text) > limit:
        raise InputError("value too long", [ErrorDetail(where=where, message=f"at most {limit} characters")])
    return text


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _json(doc: Any) -> str:
    return json.dumps(doc, allow_nan=False, default=str, separators=(",", ":"))


class MeasurementStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    # --- imports ------------------------------------------------------------------------------------

    def create_import(
        self,
        kind: str,
        site: str,
        source: str,
        params: Mapping[str, Any],
        *,
        import_id: str | None = None,
        principal: Principal | None = None,
    ) -> ImportRecord:
        """A new import row (status staging); an id given that exists already is returned as it is
        (a resumed import), provided it is of the same kind and ``principal`` may write its site."""
        if kind not in IMPORT_KINDS:
            raise InputError("bad import kind", [ErrorDetail(where="kind", message=f"one of {IMPORT_KINDS}")])
        iid = import_id or new_import_id()
        _text(iid, "import_id", IMPORT_ID_MAX)
        _text(site, "site", SITE_MAX)
        check_writable(principal, [site])
        with self._writer.begin() as conn:
            row = conn.execute(sa.select(imports).where(imports.c.id == iid)).first()
            if row is not None:
                rec = _record(row)
                if principal is not None and not principal.sees(rec.site):
                    raise ConflictError(
                        "import id is taken",
                        [ErrorDetail(where="import_id", message="choose another id", code="exists")],
                    )
                check_writable(principal, [rec.site])
                if rec.kind != kind:
                    raise InputError(
                        "import id of another kind",
                        [ErrorDetail(where="import_id", message=f"{iid} is a {rec.kind} import")],
                    )
                return rec
            conn.execute(
                sa.insert(imports).values(
                    id=iid, kind=kind, site=site, status="staging", source=source, params_json=_json(params),
                    progress_json="{}", report_json="{}", created_at=_now(), finished_at=None,
                )
            )  # fmt: skip
        return self.get_import(iid)

    def get_import(self, import_id: str, *, principal: Principal | None = None) -> ImportRecord:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(imports).where(imports.c.id == import_id)).first()
        if row is None or (principal is not None and not principal.sees(row.site)):
            raise NotFoundError("no such import", [ErrorDetail(where="import_id", message=import_id)])
        return _record(row)

    def list_imports(
        self, kind: str = "", *, limit: int = 50, principal: Principal | None = None
    ) -> list[ImportRecord]:
        if not 1 <= limit <= 1000:
            raise InputError("bad limit", [ErrorDetail(where="limit", message="1..1000")])
        stmt = sa.select(imports).order_by(imports.c.created_at.desc(), imports.c.id).limit(limit)
        if kind:
            stmt = stmt.where(imports.c.kind == kind)
        visible = site_clause(imports.c.site, site_filter(principal))
        if visible is not None:
            stmt = stmt.where(visible)
        with self._engine.connect() as conn:
            return [_record(r) for r in conn.execute(stmt).all()]

    def set_progress(self, import_id: str, progress: Mapping[str, Any]) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                sa.update(imports).where(imports.c.id == import_id).values(progress_json=_json(progress))
            )

    def finish_import(self, import_id: str, status: str, report: Mapping[str, Any]) -> ImportRecord:
        if status not in IMPORT_STATUSES:
            raise InputError("bad status", [ErrorDetail(where="status", message=f"one of {IMPORT_STATUSES}")])
        with self._writer.begin() as conn:
            conn.execute(
                sa.update(imports)
                .where(imports.c.id == import_id)
                .values(status=status, report_json=_json(report), finished_at=_now())
            )
        return self.get_import(import_id)

    # --- meter directory ----------------------------------------------------------------------------

    def upsert_meters(self, site: str, frame: pd.DataFrame, import_id: str) -> int:
        """The frame's meters (``METER_COLUMNS``) replace the stored rows of the same meter ids, in one
        transaction."""
        missing = [c for c in METER_COLUMNS if c not in frame.columns]
        if missing:
            raise InputError("meter table lacks columns", [ErrorDetail(where="meters", message=str(missing))])
        now = _now()
        rows: list[dict[str, Any]] = []
        for i, rec in enumerate(frame.to_dict("records")):
            where = f"meters[{i}] ({rec.get('meter_id')})"
            reasons = rec.get("reasons")
            rows.append(
                {
                    "site": site,
                    "meter_id": _text(rec["meter_id"], f"{where}.meter_id", NAME_MAX),
                    "feeder": _text(rec.get("feeder"), f"{where}.feeder", FEEDER_ID_MAX),
                    "load": _text(rec.get("load"), f"{where}.load", NAME_MAX),
                    "transformer": _text(rec.get("transformer"), f"{where}.transformer", NAME_MAX),
                    "bus": _text(rec.get("bus"), f"{where}.bus", NAME_MAX),
                    "phases": _text(rec.get("phases"), f"{where}.phases", 8),
                    "lon": _num(rec.get("lon")),
                    "lat": _num(rec.get("lat")),
                    "generating": bool(rec.get("generating") or False),
                    "role": _text(rec.get("role") or "customer", f"{where}.role", 16),
                    "customer_class": None if _num(rec.get("customer_class")) is None
                    else int(rec["customer_class"]),
                    "method": _text(rec.get("method"), f"{where}.method", 16),
                    "confidence": _text(rec.get("confidence"), f"{where}.confidence", 8),
                    "reasons_json": _json(list(reasons) if reasons is not None else []),
                    "import_id": import_id,
                    "updated_at": now,
                }
            )  # fmt: skip
        t = ami_meters
        with self._writer.begin() as conn:
            ids = [r["meter_id"] for r in rows]
            for k in range(0, len(ids), _CHUNK):
                conn.execute(sa.delete(t).where(t.c.site == site, t.c.meter_id.in_(ids[k : k + _CHUNK])))
            for k in range(0, len(rows), _CHUNK):
                conn.execute(sa.insert(t), rows[k : k + _CHUNK])
        return len(rows)

    def meters(self, site: str, feeders: Iterable[str] | None = None) -> pd.DataFrame:
        """The site's meter directory (``METER_COLUMNS``), optionally for some feeders only."""
        t = ami_meters
        cols = [t.c[c] for c in METER_COLUMNS if c != "reasons"] + [t.c.reasons_json]
        stmt = sa.select(*cols).where(t.c.site == site).order_by(t.c.meter_id)
        wanted = list(feeders) if feeders is not None else None
        if wanted is not None:
            stmt = stmt.where(t.c.feeder.in_(wanted))
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        names = [c for c in METER_COLUMNS if c != "reasons"]
        frame = pd.DataFrame([tuple(r)[:-1] for r in rows], columns=names)
        frame["reasons"] = [json.loads(r[-1]) for r in rows]
        for col in ("lon", "lat"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        frame["generating"] = frame["generating"].astype(bool)
        frame["customer_class"] = pd.to_numeric(frame["customer_class"]).fillna(0).astype("int64")
        return frame[list(METER_COLUMNS)]

    def meter_count(self, site: str) -> int:
        t = ami_meters
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(t.c.site == site)).scalar_one())

    def set_overrides(self, site: str, frame: pd.DataFrame) -> int:
        """Add or replace overrides (``OVERRIDE_COLUMNS``); an empty transformer removes the override."""
        now = _now()
        rows = []
        for i, rec in enumerate(frame.to_dict("records")):
            where = f"overrides[{i}] ({rec.get('meter_id')})"
            rows.append(
                {
                    "site": site,
                    "meter_id": _text(rec["meter_id"], f"{where}.meter_id", NAME_MAX),
                    "feeder": _text(rec.get("feeder"), f"{where}.feeder", FEEDER_ID_MAX),
                    "transformer": _text(rec.get("transformer"), f"{where}.transformer", NAME_MAX),
                    "note": _text(rec.get("note"), f"{where}.note", 2000),
                    "created_at": now,
                }
            )
        t = ami_meter_overrides
        with self._writer.begin() as conn:
            ids = [r["meter_id"] for r in rows]
            for k in range(0, len(ids), _CHUNK):
                conn.execute(sa.delete(t).where(t.c.site == site, t.c.meter_id.in_(ids[k : k + _CHUNK])))
            keep = [r for r in rows if r["transformer"]]
            for k in range(0, len(keep), _CHUNK):
                conn.execute(sa.insert(t), keep[k : k + _CHUNK])
        return len(rows)

    def overrides(self, site: str) -> pd.DataFrame:
        t = ami_meter_overrides
        stmt = sa.select(*(t.c[c] for c in OVERRIDE_COLUMNS)).where(t.c.site == site).order_by(t.c.meter_id)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=list(OVERRIDE_COLUMNS))

    # --- measured load ------------------------------------------------------------------------------

    def put_load_summary(self, site: str, summary: Mapping[str, Any]) -> None:
        """One feeder-year's measured load (the aggregation's ``summary``), replacing the earlier one."""
        feeder, year = str(summary["feeder"]), int(summary["year"])
        peak = summary.get("peak_utc")
        peak_dt = pd.Timestamp(peak).tz_convert("UTC").tz_localize(None).to_pydatetime() if peak else None
        row = {
            "feeder": feeder, "year": year, "site": site, "meters": int(summary.get("meters") or 0),
            "transformers": int(summary.get("transformers") or 0),
            "energy_kwh": _num(summary.get("energy_kwh")), "peak_kw": _num(summary.get("peak_kw")),
            "peak_utc": peak_dt, "load_factor": _num(summary.get("load_factor")),
            "coincidence_factor": _num(summary.get("coincidence_factor")),
            "coverage": _num(summary.get("coverage")), "head_energy_kwh": _num(summary.get("head_energy_kwh")),
            "head_ratio": _num(summary.get("head_ratio")), "summary_json": _json(dict(summary)),
            "updated_at": _now(),
        }  # fmt: skip
        t = ami_load_summary
        with self._writer.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.feeder == feeder, t.c.year == year))
            conn.execute(sa.insert(t).values(**row))

    def load_summaries(
        self,
        *,
        feeders: Sequence[str] | None = None,
        year: int | None = None,
        principal: Principal | None = None,
    ) -> builtins.list[dict[str, Any]]:
        t = ami_load_summary
        stmt = sa.select(t.c.summary_json, t.c.updated_at).order_by(t.c.feeder, t.c.year)
        visible = site_clause(t.c.site, site_filter(principal))
        if visible is not None:
            stmt = stmt.where(visible)
        if feeders is not None:
            stmt = stmt.where(t.c.feeder.in_(list(feeders)))
        if year is not None:
            stmt = stmt.where(t.c.year == year)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for doc, updated in rows:
            d = json.loads(doc)
            d["updated_at"] = _iso(updated)
            out.append(d)
        return out
