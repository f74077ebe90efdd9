"""Jobs and their tasks in SQL: the durable state a job runner resumes from.

A job has one task per unit of work (a feeder for QSTS). A task turns ``done`` in the same transaction
that writes its results (``task_done(write=...)``): that transaction is the checkpoint, so a job
resubmitted or resumed after a crash redoes exactly the tasks that are not ``done``. The job's counters
(total/done/failed) are recounted from its task rows in every transaction that changes a task, under a
lock on the job row (``SELECT ... FOR UPDATE`` on MySQL; SQLite's write transactions are serial anyway).

Sites: a job belongs to the sites of its feeders, kept in ``jobs.site``: "" (none: a shared job), one
site, or several joined by commas in sorted order ("north,south"); "*" when they do not fit the column
(or a name holds a comma): such a job is seen only by principals of every site. A caller sees a job when
it holds every one of the job's sites (``job_visible``; the SQL filter is ``job_site_clause``); another
site's job does not exist for it (the same ``NotFoundError`` as a missing one). ``create`` can refuse a
new job when one of its sites already has ``max_active_per_site`` jobs queued or running
(``RateLimitedError``: the per-site quota).
"""

from __future__ import annotations

import builtins
import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from gridtwin.access.principal import Principal
from gridtwin.errors import ConflictError, ErrorDetail, InputError, NotFoundError, RateLimitedError
from gridtwin.store.db import writer
from gridtwin.store.sites import check_writable
from gridtwin.store.tables import JOB_KIND_MAX, SITE_MAX, TASK_KEY_MAX, WORKER_MAX, job_tasks, jobs

__all__ = [
    "JOB_STATUSES",
    "TASK_STATUSES",
    "TERMINAL_JOB_STATUSES",
    "JobRecord",
    "JobStore",
    "TaskRecord",
    "decode_sites",
    "encode_sites",
    "job_site_clause",
    "job_visible",
]

JOB_STATUSES = ("queued", "running", "succeeded", "partial", "failed", "cancelled")
TASK_STATUSES = ("pending", "running", "done", "failed", "cancelled")
TERMINAL_JOB_STATUSES = frozenset({"succeeded", "partial", "failed", "cancelled"})

JOB_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MESSAGE_MAX = 16_000  # characters kept of a job message (the column is TEXT: 64 KiB on MySQL)
LIST_LIMIT_MAX = 1000
ACTIVE_JOB_STATUSES = ("queued", "running")
SITES_TOO_MANY = "*"  # a job's sites that do not fit jobs.site: only principals of every site see it
QUOTA_RETRY_S = 30.0


def encode_sites(sites: Iterable[str | None]) -> str:
    """A job's sites as ``jobs.site`` holds them ("" none, "a", "a,b", or "*": see the module doc)."""
    named = sorted({s for s in sites if s})
    text = ",".join(named)
    if len(text) > SITE_MAX or any("," in s or s == SITES_TOO_MANY for s in named):
        return SITES_TOO_MANY
    return text


def decode_sites(site: str) -> builtins.list[str]:
    """The sites of a ``jobs.site`` value (["*"] for a job of too many sites)."""
    return [s for s in site.split(",") if s]


def job_visible(principal: Principal | None, site: str) -> bool:
    """Whether ``principal`` sees a job of ``site`` (``jobs.site``): it holds every one of them."""
    if principal is None or principal.all_sites or not site:
        return True
    return site != SITES_TOO_MANY and all(s in principal.sites for s in decode_sites(site))


def job_site_clause(column: Any, sites: frozenset[str] | None) -> sa.ColumnElement[bool] | None:
    """SQL for ``job_visible`` (None: no filter): shared jobs, and jobs every site of which is in
    ``sites`` (each of the caller's sites is cut out of ``,<jobs.site>,``; what is left is ","
    exactly when nothing else was there)."""
    if sites is None:
        return None
    rest: Any = sa.literal(",") + column + sa.literal(",")
    for site in sorted(sites):
        rest = sa.func.replace(rest, f",{site},", ",")
    return sa.or_(column == "", sa.and_(column != SITES_TOO_MANY, rest == ","))


def _now() -> datetime:
    """UTC now, naive (the columns hold naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    status: str
    site: str
    params: dict[str, Any]  # site: "" | "a" | "a,b" | "*" (see the module doc)
    created_at: datetime  # tz-aware UTC, like the other times
    started_at: datetime | None
    finished_at: datetime | None
    total_tasks: int
    done_tasks: int
    failed_tasks: int
    message: str

    @property
    def sites(self) -> builtins.list[str]:
        return decode_sites(self.site)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 strings with offset."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "site": self.site,
            "params": self.params,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "total_tasks": self.total_tasks,
            "done_tasks": self.done_tasks,
            "failed_tasks": self.failed_tasks,
            "message": self.message,
        }


@dataclass(frozen=True)
class TaskRecord:
    job_id: str
    task_key: str
    status: str
    attempts: int
    error: list[dict[str, str]] | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    worker: str


def _job_record(row: sa.Row[Any]) -> JobRecord:
    m = row._mapping
    created = _aware(m["created_at"])
    assert created is not None  # NOT NULL column
    return JobRecord(
        id=m["id"],
        kind=m["kind"],
        status=m["status"],
        site=m["site"],
        params=json.loads(m["params_json"]),
        created_at=created,
        started_at=_aware(m["started_at"]),
        finished_at=_aware(m["finished_at"]),
        total_tasks=int(m["total_tasks"]),
        done_tasks=int(m["done_tasks"]),
        failed_tasks=int(m["failed_tasks"]),
        message=m["message"],
    )


def _task_record(row: sa.Row[Any]) -> TaskRecord:
    m = row._mapping
    return TaskRecord(
        job_id=m["job_id"],
        task_key=m["task_key"],
        status=m["status"],
        attempts=int(m["attempts"]),
        error=None if m["error_json"] is None else json.loads(m["error_json"]),
        started_at=_aware(m["started_at"]),
        finished_at=_aware(m["finished_at"]),
        duration_s=None if m["duration_s"] is None else float(m["duration_s"]),
        worker=m["worker"],
    )


def _check_status(status: str | None, allowed: Sequence[str], field: str) -> None:
    if status is not None and status not in allowed:
        raise InputError(
            f"unknown {field} {status!r}",
            [ErrorDetail(where=field, message=f"must be one of {', '.join(allowed)}")],
        )


def _worker(worker: str) -> str:
    return worker[:WORKER_MAX]


class JobStore:
    """Jobs and tasks on SQLite or MySQL; every method is one short transaction."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    # --- reads -------------------------------------------------------------------------------------

    def get(self, job_id: str, *, principal: Principal | None = None) -> JobRecord:
        """The job (``NotFoundError`` when missing, or of sites ``principal`` does not all hold)."""
        with self._engine.connect() as conn:
            return self._get(conn, job_id, principal)

    def list(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
        principal: Principal | None = None,
    ) -> tuple[builtins.list[JobRecord], int]:
        """Jobs newest first (ties by id), and how many match in all (those ``principal`` sees)."""
        _check_status(status, JOB_STATUSES, "status")
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise InputError(
                "bad limit", [ErrorDetail(where="limit", message=f"must be 1..{LIST_LIMIT_MAX}")]
            )
        if offset < 0:
            raise InputError("bad offset", [ErrorDetail(where="offset", message="must be >= 0")])
        where: builtins.list[sa.ColumnElement[bool]] = []
        if status is not None:
            where.append(jobs.c.status == status)
        if kind is not None:
            where.append(jobs.c.kind == kind)
        visible = job_site_clause(jobs.c.site, None if principal is None else principal.site_filter())
        if visible is not None:
            where.append(visible)
        page = (
            sa.select(jobs)
            .where(*where)
            .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        count = sa.select(sa.func.count()).select_from(jobs).where(*where)
        with self._engine.connect() as conn:
            rows = conn.execute(page).all()
            total = int(conn.execute(count).scalar_one())
        return [_job_record(r) for r in rows], total

    def tasks(
        self, job_id: str, *, status: str | None = None, principal: Principal | None = None
    ) -> builtins.list[TaskRecord]:
        """The job's tasks by key (NotFoundError for an unknown job)."""
        _check_status(status, TASK_STATUSES, "status")
        stmt = sa.select(job_tasks).where(job_tasks.c.job_id == job_id)
        if status is not None:
            stmt = stmt.where(job_tasks.c.status == status)
        with self._engine.connect() as conn:
            self._get(conn, job_id, principal)
            rows = conn.execute(stmt.order_by(job_tasks.c.task_key)).all()
        return [_task_record(r) for r in rows]

    def unfinished(self) -> builtins.list[JobRecord]:
        """Jobs queued or running, oldest first: what a restarted runner resumes."""
        stmt = (
            sa.select(jobs)
            .where(jobs.c.status.in_(ACTIVE_JOB_STATUSES))
            .order_by(jobs.c.created_at, jobs.c.id)
        )
        with self._engine.connect() as conn:
            return [_job_record(r) for r in conn.execute(stmt)]

    # --- jobs --------------------------------------------------------------------------------------

    def create(
        self,
        kind: str,
        params: dict[str, Any],
        task_keys: Sequence[str],
        *,
        site: str = "",
        job_id: str | None = None,
        principal: Principal | None = None,
        max_active_per_site: int | None = None,
    ) -> JobRecord:
        """A new queued job with one pending task per key, or a resubmit of ``job_id`` if it exists:
        same kind required, params (and site, when given) replaced, new keys added, tasks not done back to
        pending (done tasks are kept: their results are checkpointed), status queued.

        ``site``: the job's sites as ``encode_sites`` writes them. ``principal``: a resubmitted job must
        be one it may change (another site's id is taken: ``ConflictError``). ``max_active_per_site``:
        the quota; a site of the job that has that many jobs queued or running already refuses it
        (``RateLimitedError``), checked in the transaction that creates it."""
        keys = list(task_keys)
        self._check_create(kind, keys, site, job_id)
        params_json = json.dumps(params, sort_keys=True, separators=(",", ":"))
        stamp = _now()
        with self._writer.begin() as conn:
            existing = None
            if job_id is not None:
                existing = conn.execute(
                    sa.select(jobs.c.kind, jobs.c.site).where(jobs.c.id == job_id).with_for_update()
                ).first()
            if existing is not None and not job_visible(principal, existing.site):
                raise ConflictError(
                    f"job id {job_id} is taken",
                    [ErrorDetail(where="job_id", message="choose another id", code="exists")],
                )
            if existing is not None:
                check_writable(principal, decode_sites(existing.site) or [""], "job_id")
            if max_active_per_site is not None:
                self._check_quota(conn, site, max_active_per_site, job_id)
            if existing is None:
                new_id = job_id or uuid.uuid4().hex[:16]
                conn.execute(
                    sa.insert(jobs).values(
                        id=new_id,
                        kind=kind,
                        status="queued",
                        site=site,
                        params_json=params_json,
                        created_at=stamp,
                        started_at=None,
                        finished_at=None,
                        total_tasks=len(keys),
                        done_tasks=0,
                        failed_tasks=0,
                        message="",
                    )
                )
                if keys:
                    conn.execute(sa.insert(job_tasks), [self._new_task(new_id, k) for k in keys])
                return self._get(conn, new_id)
            assert job_id is not None
            if existing.kind != kind:
                raise ConflictError(
                    f"job {job_id} exists with another kind",
                    [
                        ErrorDetail(
                            where=job_id, message=f"job is {existing.kind!r}, not {kind!r}", code="conflict"
                        )
                    ],
                )
            self._resubmit(conn, job_id, params_json, keys, site)
            return self._recount(conn, job_id)

    def set_status(self, job_id: str, status: str, message: str = "") -> JobRecord:
        """Set the status (``running`` stamps started_at once; terminal statuses stamp finished_at)."""
        _check_status(status, JOB_STATUSES, "status")
        with self._writer.begin() as conn:
            job = self._lock(conn, job_id)
            values: dict[str, Any] = {"status": status, "message": message[:MESSAGE_MAX]}
            if status == "running" and job.started_at is None:
                values["started_at"] = _now()
            if status in TERMINAL_JOB_STATUSES:
                values["finished_at"] = _now()
            else:
                values["finished_at"] = None
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(**values))
            return self._get(conn, job_id)

    def cancel(self, job_id: str, *, principal: Principal | None = None) -> JobRecord:
        """Pending and running tasks become cancelled; the job becomes cancelled unless it has ended.
        ``principal`` must see the job (else ``NotFoundError``) and may not cancel a shared one
        unless it holds every site."""
        with self._writer.begin() as conn:
            job = self._lock(conn, job_id, principal)
            check_writable(principal, job.sites or [""], "job_id")
            conn.execute(
                sa.update(job_tasks)
                .where(job_tasks.c.job_id == job_id, job_tasks.c.status.in_(("pending", "running")))
                .values(status="cancelled")
            )
            if job.status not in TERMINAL_JOB_STATUSES:
                conn.execute(
                    sa.update(jobs).where(jobs.c.id == job_id).values(status="cancelled", finished_at=_now())
                )
            return self._recount(conn, job_id)

    def finish(self, job_id: str) -> JobRecord:
        """Close the job from its task counts: succeeded (all done), failed (none done), else partial
        (tasks not done count against it); a cancelled job stays cancelled."""
        with self._writer.begin() as conn:
            self._lock(conn, job_id)
            job = self._recount(conn, job_id)
            if job.status == "cancelled":
                status = "cancelled"
            elif job.done_tasks == job.total_tasks:
                status = "succeeded"
            elif job.done_tasks == 0:
                status = "failed"
            else:
                status = "partial"
            values: dict[str, Any] = {"status": status}
            if job.finished_at is None or status != job.status:
                values["finished_at"] = _now()
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(**values))
            return self._get(conn, job_id)

    # --- tasks -------------------------------------------------------------------------------------

    def task_started(self, job_id: str, key: str, *, worker: str = "") -> bool:
        """Mark a pending (or retried running) task running; False when it was cancelled or finished
        meanwhile (a cancel racing the submission): the caller must then not run it."""
        with self._writer.begin() as conn:
            result = conn.execute(
                sa.update(job_tasks)
                .where(
                    job_tasks.c.job_id == job_id,
                    job_tasks.c.task_key == key,
                    job_tasks.c.status.in_(("pending", "running")),
                )
                .values(
                    status="running",
                    attempts=job_tasks.c.attempts + 1,
                    started_at=_now(),
                    finished_at=None,
                    worker=_worker(worker),
                )
            )
            if result.rowcount == 0:
                exists = conn.execute(
                    sa.select(job_tasks.c.status).where(
                        job_tasks.c.job_id == job_id, job_tasks.c.task_key == key
                    )
                ).first()
                if exists is None:
                    self._get(conn, job_id)  # NotFoundError naming the job if it is the job that is missing
                    raise NotFoundError(
                        f"task {key} of job {job_id} not found",
                        [ErrorDetail(where=f"{job_id}/{key}", message="no such task")],
                    )
                return False
            return True

    def task_done(
        self,
        job_id: str,
        key: str,
        *,
        duration_s: float,
        worker: str = "",
        write: Callable[[sa.Connection], None] | None = None,
    ) -> JobRecord:
        """The checkpoint: ``write(conn)`` (the task's result rows), the task marked done and the job's
        counters, all in one transaction; if any part raises, none of it is kept."""
        with self._writer.begin() as conn:
            if write is not None:
                write(conn)  # before the job row lock, so the lock is held only briefly
            self._lock(conn, job_id)
            self._update_task(
                conn,
                job_id,
                key,
                status="done",
                error_json=None,
                finished_at=_now(),
                duration_s=float(duration_s),
                worker=_worker(worker),
            )
            return self._recount(conn, job_id)

    def task_failed(
        self, job_id: str, key: str, error: builtins.list[dict[str, str]], *, worker: str = ""
    ) -> JobRecord:
        with self._writer.begin() as conn:
            self._lock(conn, job_id)
            self._update_task(
                conn,
                job_id,
                key,
                status="failed",
                error_json=json.dumps(error, separators=(",", ":")),
                finished_at=_now(),
                worker=_worker(worker),
            )
            return self._recount(conn, job_id)

    # --- internals ---------------------------------------------------------------------------------

    @staticmethod
    def _check_create(kind: str, keys: builtins.list[str], site: str, job_id: str | None) -> None:
        details: builtins.list[ErrorDetail] = []
        if not kind or len(kind) > JOB_KIND_MAX:
            details.append(ErrorDetail(where="kind", message=f"must be 1..{JOB_KIND_MAX} characters"))
        if len(site) > SITE_MAX:
            details.append(ErrorDetail(where="site", message=f"must be at most {SITE_MAX} characters"))
        if job_id is not None and not JOB_ID_RE.fullmatch(job_id):
            details.append(ErrorDetail(where="job_id", message="must match [A-Za-z0-9_-]{1,64}"))
        seen: set[str] = set()
        for i, key in enumerate(keys):
            if not key or len(key) > TASK_KEY_MAX:
                details.append(
                    ErrorDetail(where=f"task_keys[{i}]", message=f"must be 1..{TASK_KEY_MAX} characters")
                )
            elif key in seen:
                details.append(ErrorDetail(where=f"task_keys[{i}]", message=f"duplicate task key {key!r}"))
            seen.add(key)
        if details:
            raise InputError("invalid job", details)

    @staticmethod
    def _new_task(job_id: str, key: str) -> dict[str, Any]:
        return {
            "job_id": job_id,
            "task_key": key,
            "status": "pending",
            "attempts": 0,
            "error_json": None,
            "started_at": None,
            "finished_at": None,
            "duration_s": None,
            "worker": "",
        }

    def _resubmit(
        self, conn: sa.Connection, job_id: str, params_json: str, keys: builtins.list[str], site: str
    ) -> None:
        values: dict[str, Any] = {
            "params_json": params_json,
            "status": "queued",
            "started_at": None,
            "finished_at": None,
            "message": "",
        }
        if site:
            values["site"] = site
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(**values))
        # Tasks not done run again; attempts are kept as history, the old error and times are cleared.
        conn.execute(
            sa.update(job_tasks)
            .where(job_tasks.c.job_id == job_id, job_tasks.c.status != "done")
            .values(status="pending", error_json=None, started_at=None, finished_at=None, duration_s=None)
        )
        have = set(
            conn.execute(sa.select(job_tasks.c.task_key).where(job_tasks.c.job_id == job_id)).scalars()
        )
        new = [self._new_task(job_id, k) for k in keys if k not in have]
        if new:
            conn.execute(sa.insert(job_tasks), new)

    def active_count(self, site: str) -> int:
        """Jobs queued or running that belong to ``site`` (alone or among others)."""
        with self._engine.connect() as conn:
            return self._active(conn, site)

    @staticmethod
    def _active(conn: sa.Connection, site: str, but: str | None = None) -> int:
        c = jobs.c
        mine = c.site == site if site else c.site == ""
        if site:
            mine = sa.or_(
                mine, (sa.literal(",") + c.site + sa.literal(",")).contains(f",{site},", autoescape=True)
            )
        stmt = sa.select(sa.func.count()).select_from(jobs).where(c.status.in_(ACTIVE_JOB_STATUSES), mine)
        if but is not None:
            stmt = stmt.where(c.id != but)
        return int(conn.execute(stmt).scalar_one())

    def _check_quota(self, conn: sa.Connection, site: str, limit: int, job_id: str | None) -> None:
        full = [s for s in (decode_sites(site) or [""]) if self._active(conn, s, job_id) >= limit]
        if full:
            raise RateLimitedError(
                "too many jobs running for this site",
                [
                    ErrorDetail(
                        where="site",
                        message=f"{s or 'shared'}: {limit} jobs queued or running already; "
                        "wait for one to finish",
                        code="quota",
                    )
                    for s in full
                ],
                retry_after_s=QUOTA_RETRY_S,
            )

    @staticmethod
    def _missing(job_id: str) -> NotFoundError:
        return NotFoundError(f"job {job_id} not found", [ErrorDetail(where=job_id, message="no such job")])

    def _get(self, conn: sa.Connection, job_id: str, principal: Principal | None = None) -> JobRecord:
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        if row is None or not job_visible(principal, row.site):
            raise self._missing(job_id)
        return _job_record(row)

    def _lock(self, conn: sa.Connection, job_id: str, principal: Principal | None = None) -> JobRecord:
        """The job row, locked for this transaction (serialises counter updates of one job)."""
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id).with_for_update()).first()
        if row is None or not job_visible(principal, row.site):
            raise self._missing(job_id)
        return _job_record(row)

    def _update_task(self, conn: sa.Connection, job_id: str, key: str, **values: Any) -> None:
        result = conn.execute(
            sa.update(job_tasks)
            .where(job_tasks.c.job_id == job_id, job_tasks.c.task_key == key)
            .values(**values)
        )
        if result.rowcount == 0:
            self._get(conn, job_id)  # NotFoundError naming the job if it is the job that is missing
            raise NotFoundError(
                f"task {key} of job {job_id} not found",
                [ErrorDetail(where=f"{job_id}/{key}", message="no such task")],
            )

    def _recount(self, conn: sa.Connection, job_id: str) -> JobRecord:
        counts: dict[str, int] = {
            status: int(n)
            for status, n in conn.execute(
                sa.select(job_tasks.c.status, sa.func.count())
                .where(job_tasks.c.job_id == job_id)
                .group_by(job_tasks.c.status)
            )
        }
        conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                total_tasks=sum(counts.values()),
                done_tasks=counts.get("done", 0),
                failed_tasks=counts.get("failed", 0),
            )
        )
        return self._get(conn, job_id)
