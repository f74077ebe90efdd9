"""Scenario documents and sweeps in SQL (SQLite or MySQL).

The store keeps JSON bodies and the text as sent; validating them is ``gridtwin.scenarios``'s job
(the store sits below it and never imports it). Ids are user-chosen or generated, ``[A-Za-z0-9_-]``.

Sites: a scenario has one (``scenarios.site``), or "" for a scenario shared by every site. Every method
takes the caller's ``principal`` (None: a trusted caller): another site's scenarios and their sweeps do
not exist for it, lists hold its sites' and the shared ones; creating one in a site it does not hold,
and creating, changing or deleting a shared one without holding every site, is ``SitesDenied`` (403).
"""

from __future__ import annotations

import builtins
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from gridtwin.access.principal import Principal
from gridtwin.errors import ConflictError, ErrorDetail, InputError, NotFoundError
from gridtwin.store.db import writer
from gridtwin.store.sites import check_writable, site_clause, site_filter
from gridtwin.store.tables import SCENARIO_NAME_MAX, SITE_MAX, scenario_sweeps, scenarios

__all__ = ["ScenarioRecord", "ScenarioStore", "SweepRecord"]

ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
BODY_MAX = 64 * 1024 * 1024  # a resolved scenario with a few inline years is a few MB


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ScenarioRecord:
    id: str
    name: str
    schema_version: int
    body: dict[str, Any]
    source_text: str
    revision: int
    created_at: datetime
    updated_at: datetime
    site: str = ""  # "" = shared by every site

    def to_dict(self, *, with_body: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "schema_version": self.schema_version,
            "revision": self.revision,
            "site": self.site,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
        if with_body:
            out["body"] = self.body
        return out


@dataclass(frozen=True)
class SweepRecord:
    id: str
    scenario_id: str
    method: str
    spec: dict[str, Any]
    samples: list[dict[str, Any]]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scenario_id": self.scenario_id,
            "method": self.method,
            "spec": self.spec,
            "samples": self.samples,
            "created_at": self.created_at.isoformat(),
        }


def _check_id(value: str, where: str) -> None:
    if not ID_RE.fullmatch(value):
        raise InputError("bad id", [ErrorDetail(where=where, message="1-64 characters of A-Z a-z 0-9 _ -")])


def _scenario(row: sa.Row[Any]) -> ScenarioRecord:
    m = row._mapping
    return ScenarioRecord(
        id=m["id"],
        name=m["name"],
        schema_version=int(m["schema_version"]),
        body=json.loads(m["body"]),
        source_text=m["source_text"],
        revision=int(m["revision"]),
        created_at=_aware(m["created_at"]),
        updated_at=_aware(m["updated_at"]),
        site=m["site"] or "",
    )


def _check_site(site: str) -> None:
    if len(site) > SITE_MAX:
        raise InputError("bad site", [ErrorDetail(where="site", message=f"at most {SITE_MAX} characters")])


def _missing(scenario_id: str) -> NotFoundError:
    return NotFoundError("no such scenario", [ErrorDetail(where=scenario_id, message="not found")])


def _sweep(row: sa.Row[Any]) -> SweepRecord:
    m = row._mapping
    return SweepRecord(
        id=m["id"],
        scenario_id=m["scenario_id"],
        method=m["method"],
        spec=json.loads(m["spec"]),
        samples=json.loads(m["samples"]),
        created_at=_aware(m["created_at"]),
    )


class ScenarioStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    @staticmethod
    def _encode(name: str, body: dict[str, Any], source_text: str) -> str:
        if not name or len(name) > SCENARIO_NAME_MAX:
            raise InputError(
                "bad name", [ErrorDetail(where="name", message=f"1-{SCENARIO_NAME_MAX} characters")]
            )
        text = json.dumps(body, sort_keys=True, allow_nan=False)
        if len(text) + len(source_text) > BODY_MAX:
            raise InputError(
                "scenario too large", [ErrorDetail(where="body", message=f"over {BODY_MAX} bytes")]
            )
        return text

    def create(
        self,
        name: str,
        schema_version: int,
        body: dict[str, Any],
        source_text: str,
        scenario_id: str | None = None,
        *,
        site: str = "",
        principal: Principal | None = None,
    ) -> ScenarioRecord:
        sid = scenario_id or f"scn-{uuid.uuid4().hex[:12]}"
        _check_id(sid, "id")
        _check_site(site)
        check_writable(principal, [site])
        text = self._encode(name, body, source_text)
        now = _now()
        with self._writer.begin() as conn:
            if conn.execute(sa.select(scenarios.c.id).where(scenarios.c.id == sid)).first():
                raise ConflictError("scenario exists", [ErrorDetail(where=sid, message="id already used")])
            conn.execute(
                scenarios.insert().values(
                    id=sid, name=name, schema_version=schema_version, body=text, source_text=source_text,
                    revision=1, created_at=now, updated_at=now, site=site,
                )
            )  # fmt: skip
        return self.get(sid)

    def update(
        self,
        scenario_id: str,
        name: str,
        schema_version: int,
        body: dict[str, Any],
        source_text: str,
        expected_revision: int | None = None,
        *,
        site: str | None = None,
        principal: Principal | None = None,
    ) -> ScenarioRecord:
        """Replace the scenario's document (``site``: move it to that site; None keeps it)."""
        text = self._encode(name, body, source_text)
        if site is not None:
            _check_site(site)
        with self._writer.begin() as conn:
            current = self._get(conn, scenario_id, principal)
            check_writable(principal, [current.site])
            new_site = current.site if site is None else site
            if new_site != current.site:
                check_writable(principal, [new_site])
            if expected_revision is not None and expected_revision != current.revision:
                raise ConflictError(
                    "scenario changed",
                    [
                        ErrorDetail(
                            where=scenario_id, message=f"revision is {current.revision}", code="revision"
                        )
                    ],
                )
            conn.execute(
                scenarios.update()
                .where(scenarios.c.id == scenario_id)
                .values(
                    name=name, schema_version=schema_version, body=text, source_text=source_text,
                    revision=current.revision + 1, updated_at=_now(), site=new_site,
                )
            )  # fmt: skip
        return self.get(scenario_id)

    def _get(
        self, conn: sa.Connection, scenario_id: str, principal: Principal | None = None
    ) -> ScenarioRecord:
        row = conn.execute(sa.select(scenarios).where(scenarios.c.id == scenario_id)).first()
        if row is None or (principal is not None and not principal.sees(row.site)):
            raise _missing(scenario_id)
        return _scenario(row)

    def get(self, scenario_id: str, *, principal: Principal | None = None) -> ScenarioRecord:
        with self._engine.connect() as conn:
            return self._get(conn, scenario_id, principal)

    def list(
        self, *, limit: int = 50, offset: int = 0, principal: Principal | None = None
    ) -> tuple[builtins.list[ScenarioRecord], int]:
        if not 1 <= limit <= 1000 or offset < 0:
            raise InputError("bad page", [ErrorDetail(where="limit", message="limit 1..1000, offset >= 0")])
        visible = site_clause(scenarios.c.site, site_filter(principal))
        where = [] if visible is None else [visible]
        page = (
            sa.select(scenarios)
            .where(*where)
            .order_by(scenarios.c.created_at.desc(), scenarios.c.id)
            .limit(limit)
            .offset(offset)
        )
        count = sa.select(sa.func.count()).select_from(scenarios).where(*where)
        with self._engine.connect() as conn:
            rows = conn.execute(page).all()
            total = int(conn.execute(count).scalar_one())
        return [_scenario(r) for r in rows], total

    def delete(self, scenario_id: str, *, principal: Principal | None = None) -> None:
        with self._writer.begin() as conn:
            current = self._get(conn, scenario_id, principal)
            check_writable(principal, [current.site])
            conn.execute(scenario_sweeps.delete().where(scenario_sweeps.c.scenario_id == scenario_id))
            conn.execute(scenarios.delete().where(scenarios.c.id == scenario_id))

    # --- sweeps ----------------------------------------------------------------------------------------

    def create_sweep(
        self,
        scenario_id: str,
        method: str,
        spec: dict[str, Any],
        samples: builtins.list[dict[str, Any]],
        *,
        principal: Principal | None = None,
    ) -> SweepRecord:
        sweep_id = f"swp-{uuid.uuid4().hex[:12]}"
        with self._writer.begin() as conn:
            self._get(conn, scenario_id, principal)
            conn.execute(
                scenario_sweeps.insert().values(
                    id=sweep_id, scenario_id=scenario_id, method=method,
                    spec=json.dumps(spec, sort_keys=True, allow_nan=False),
                    samples=json.dumps(samples, allow_nan=False), created_at=_now(),
                )
            )  # fmt: skip
        return self.get_sweep(sweep_id)

    def get_sweep(self, sweep_id: str, *, principal: Principal | None = None) -> SweepRecord:
        """A sweep (``NotFoundError`` when missing, or when its scenario is not ``principal``'s to see;
        its jobs are checked where they are read)."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(scenario_sweeps).where(scenario_sweeps.c.id == sweep_id)).first()
            if row is not None and principal is not None:
                site = conn.execute(
                    sa.select(scenarios.c.site).where(scenarios.c.id == row.scenario_id)
                ).scalar_one_or_none()
                if site is None or not principal.sees(site):
                    row = None
        if row is None:
            raise NotFoundError("no such sweep", [ErrorDetail(where=sweep_id, message="not found")])
        return _sweep(row)

    def list_sweeps(
        self, scenario_id: str | None = None, *, principal: Principal | None = None
    ) -> builtins.list[SweepRecord]:
        stmt = sa.select(scenario_sweeps).order_by(scenario_sweeps.c.created_at.desc(), scenario_sweeps.c.id)
        visible = site_clause(scenarios.c.site, site_filter(principal))
        if visible is not None:
            stmt = stmt.join_from(
                scenario_sweeps, scenarios, scenarios.c.id == scenario_sweeps.c.scenario_id
            ).where(visible)
        if scenario_id is not None:
            stmt = stmt.where(scenario_sweeps.c.scenario_id == scenario_id)
        with self._engine.connect() as conn:
            return [_sweep(r) for r in conn.execute(stmt).all()]
