"""``JobRunner``: a feeder job as one Dask task per feeder, checkpointed feeder by feeder in SQL.

The runner knows no job kind: QSTS, stochastic hosting capacity (and training, fault sweeps, later)
register a ``JobKind`` (how to build a feeder's task from the job's stored params, the function a
worker runs, how a done feeder's rows are written, where the run manifest lives). Feeder models come
from a ``FeederSource`` (the registry, in this process or over gRPC).

Each submitted job gets a thread in this process that loads feeder models (a small thread pool),
keeps at most ``max_in_flight`` tasks outstanding (a model IPC is a few MB; the scheduler should not
hold a whole utility), and handles results as they complete: a finished feeder's summary and element
rows are written in the same transaction that marks its task done (``JobStore.task_done``), so a
resubmitted or restarted job skips it. A failed feeder is recorded with its details and the rest go
on. Progress goes to Redis pub/sub (``events.JobEvents``); at the end the run manifest is written.

Sites: a job belongs to the sites of its feeders (``JobStore``'s module doc says how they are kept).
``submit`` with the caller's principal refuses feeders the caller cannot see or of sites it does not
hold (403) and applies the per-site quota (``max_jobs_per_site`` queued or running: 429). Job threads
run outside any request and load feeders as the service itself.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import distributed

from gridtwin.access.principal import Principal, SitesDenied
from gridtwin.compute.cluster import worker_count
from gridtwin.compute.events import JobEvents
from gridtwin.compute.kinds import JobKind, TaskFactory
from gridtwin.compute.manifest import build_manifest
from gridtwin.compute.tasks import TaskOutcome
from gridtwin.errors import ConflictError, ErrorDetail, GridTwinError, InputError, NotFoundError
from gridtwin.grid.source import FeederSource
from gridtwin.store.jobs import JobRecord, JobStore, encode_sites
from gridtwin.store.sites import check_writable

__all__ = ["JobKind", "JobRunner", "TaskFactory"]

log = logging.getLogger(__name__)

LOADER_THREADS = 4


def _error_details(feeder: str, exc: BaseException) -> list[dict[str, str]]:
    """An exception as ``ErrorDetail`` dicts (GridTwinError keeps its own details)."""
    if isinstance(exc, GridTwinError):
        head = {"where": feeder, "message": exc.message, "code": type(exc).__name__}
        return [head, *(d.to_dict() for d in exc.details)]
    code = "worker_lost" if type(exc).__name__ == "KilledWorker" else type(exc).__name__
    return [{"where": feeder, "message": f"{type(exc).__name__}: {exc}", "code": code}]


@dataclass
class _JobRun:
    """One job being run by this runner (its thread, outstanding futures, cancel/stop flags)."""

    job_id: str
    thread: threading.Thread | None = None
    futures: dict[str, distributed.Future[Any]] = field(default_factory=dict)  # dask key -> future
    cancelled: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    kind: JobKind | None = None


class JobRunner:
    """Runs feeder jobs of the registered kinds on a Dask cluster. Thread-safe.

    ``client()`` returns the Dask client (called when the first job starts: the process's shared
    cluster, ``cluster.ClusterLease.client``); ``feeders`` gives the feeder models.
    """

    def __init__(
        self,
        jobs: JobStore,
        events: JobEvents,
        client: Callable[[], distributed.Client],
        feeders: FeederSource,
        *,
        retries: int = 2,
        max_in_flight: int | None = None,
        max_jobs_per_site: int | None = None,
    ) -> None:
        self.jobs = jobs
        self.max_jobs_per_site = max_jobs_per_site
        self.events = events
        self._client_factory = client
        self.feeders = feeders
        self.retries = retries
        self.max_in_flight = max_in_flight
        self._kinds: dict[str, JobKind] = {}
        self._client: distributed.Client | None = None
        self._client_lock = threading.Lock()
        self._runs: dict[str, _JobRun] = {}
        self._runs_lock = threading.Lock()
        self._closed = False
        self.tasks_submitted: Counter[str] = Counter()  # job id -> Dask tasks submitted by this runner

    # --- public API ----------------------------------------------------------------------------------

    def register(self, kind: JobKind) -> None:
        """Let jobs of ``kind.name`` be submitted and resumed here (registering again replaces it)."""
        self._kinds[kind.name] = kind

    @property
    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    def kind(self, name: str) -> JobKind:
        try:
            return self._kinds[name]
        except KeyError:
            known = ", ".join(sorted(self._kinds)) or "none"
            raise InputError(
                "unknown job kind", [ErrorDetail(where="kind", message=f"{name!r}: this runner has {known}")]
            ) from None

    def submit(
        self,
        kind: str,
        feeders: Sequence[str],
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        principal: Principal | None = None,
        quota: bool = True,
        site: str | None = None,
    ) -> JobRecord:
        """Create (or resubmit ``job_id``) a job of ``kind`` over ``feeders`` and start it in the
        background; returns the queued record. Feeders done in an earlier run of the job are skipped.
        ``params`` are stored with the job (with the feeder list) and checked by the kind first.

        ``principal``: the caller (None: a trusted caller in the process); the job's sites come from its
        feeders (``job_site``, or ``site`` when the caller worked them out already) and, with a
        principal, the per-site quota applies unless ``quota`` is False (the later jobs of a sweep
        admitted as one)."""
        job_kind = self.kind(kind)
        if self._closed:
            raise ConflictError("runner is closed", [ErrorDetail(where="runner", message="closed")])
        if job_id is not None:
            self._check_not_active(job_id)
        stored = {**params, "feeders": list(feeders)}
        job_kind.prepare(job_id or "check", stored)  # bad params fail here, before a job row exists
        sites = self.job_site(feeders, principal) if site is None else site
        limit = self.max_jobs_per_site if principal is not None and quota else None
        record = self.jobs.create(
            kind,
            stored,
            list(feeders),
            site=sites,
            job_id=job_id,
            principal=principal,
            max_active_per_site=limit,
        )
        self._start(record.id, job_kind)
        return record

    def job_site(self, feeders: Sequence[str], principal: Principal | None = None) -> str:
        """The sites a job over ``feeders`` belongs to (``encode_sites``): its feeders' sites, as the
        feeder source lists them for the caller. With a principal, a feeder it does not see (another
        site's or a missing one: the same answer) or of a site it does not hold refuses the job
        (``SitesDenied``, 403); a job of shared (site-less) feeders only belongs to the caller's sites.
        """
        known = {f.id: f.site or "" for f in self.feeders.list_feeders()}
        sites = {known[f] for f in feeders if known.get(f)}
        if principal is None or principal.all_sites:
            return encode_sites(sites)
        unseen = sorted({f for f in feeders if f not in known})
        if unseen:
            raise SitesDenied(
                "feeders not among your sites",
                [
                    ErrorDetail(where="feeders", message=f"{f}: not a feeder of your sites", code="site")
                    for f in unseen[:50]
                ],
            )
        principal.may_create_in(sites, "feeders")
        return encode_sites(sites or principal.sites)

    def resume_unfinished(self, kinds: Iterable[str] | None = None) -> list[str]:
        """Restart every queued/running job of ``kinds`` (default: every registered kind) from its
        stored params, at service start. A job whose params no longer pass is marked failed."""
        wanted = set(kinds) if kinds is not None else set(self._kinds)
        resumed: list[str] = []
        for record in self.jobs.unfinished():
            if record.kind not in wanted or record.kind not in self._kinds or self._active(record.id):
                continue
            job_kind = self._kinds[record.kind]
            try:
                job_kind.prepare(record.id, record.params)
            except GridTwinError as exc:
                self.jobs.set_status(record.id, "failed", f"cannot resume: {exc}")
                continue
            feeders = [str(f) for f in record.params.get("feeders", [])]
            # Resubmit semantics: running/failed tasks back to pending, done tasks kept.
            self.jobs.create(record.kind, record.params, feeders, site=record.site, job_id=record.id)
            self._start(record.id, job_kind)
            resumed.append(record.id)
        return resumed

    def cancel(self, job_id: str, *, principal: Principal | None = None) -> JobRecord:
        """Cancel outstanding tasks and mark the job cancelled (finished feeders keep their results).
        ``principal`` must see the job (else ``NotFoundError``) and be allowed to change it."""
        if principal is not None:
            job = self.jobs.get(job_id, principal=principal)
            check_writable(principal, job.sites or [""], "job_id")
        run = self._runs.get(job_id)
        if run is not None:
            run.cancelled.set()
            self._cancel_futures(run)
        record = self.jobs.cancel(job_id)
        self.events.emit(
            job_id,
            "cancelled",
            done=record.done_tasks,
            failed=record.failed_tasks,
            total=record.total_tasks,
            status=record.status,
        )
        return record

    def wait(self, job_id: str, timeout_s: float | None = None) -> JobRecord:
        """Block until this runner's thread for ``job_id`` ends; ``TimeoutError`` if it does not in time."""
        run = self._runs.get(job_id)
        if run is not None and run.thread is not None:
            run.thread.join(timeout_s)
            if run.thread.is_alive():
                raise TimeoutError(f"job {job_id} still running after {timeout_s} s")
        return self.jobs.get(job_id)

    def close(self) -> None:
        """Stop job threads (their jobs stay queued/running, to be resumed). The client is not ours:
        whoever handed it out (the process's shared cluster) closes it."""
        self._closed = True
        with self._runs_lock:
            runs = list(self._runs.values())
        for run in runs:
            run.stopping.set()
            self._cancel_futures(run)
        for run in runs:
            if run.thread is not None:
                run.thread.join(60)
        with self._client_lock:
            self._client = None

    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------------------------

    def client(self) -> distributed.Client:
        with self._client_lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def _active(self, job_id: str) -> bool:
        run = self._runs.get(job_id)
        return run is not None and run.thread is not None and run.thread.is_alive()

    def _check_not_active(self, job_id: str) -> None:
        if self._active(job_id):
            raise ConflictError(
                f"job {job_id} is running", [ErrorDetail(where=job_id, message="wait for it or cancel it")]
            )

    def _start(self, job_id: str, kind: JobKind) -> None:
        run = _JobRun(job_id, kind=kind)
        run.thread = threading.Thread(
            target=self._run_job, args=(run,), name=f"gridtwin-job-{job_id}", daemon=True
        )
        with self._runs_lock:
            self._runs[job_id] = run
        run.thread.start()

    def _cancel_futures(self, run: _JobRun) -> None:
        with run.lock:
            futures = list(run.futures.values())
        if futures and self._client is not None:
            with contextlib.suppress(Exception):  # the cluster may already be gone
                self._client.cancel(futures)  # type: ignore[no-untyped-call]

    def _publish(self, job_id: str, type_: str, record: JobRecord, **fields: Any) -> None:
        try:
            self.events.emit(
                job_id,
                type_,
                done=record.done_tasks,
                failed=record.failed_tasks,
                total=record.total_tasks,
                status=record.status,
                **fields,
            )
        except Exception:  # progress is best effort: Redis down must not fail the job
            log.exception("could not publish %s event of job %s", type_, job_id)

    def _run_job(self, run: _JobRun) -> None:
        job_id = run.job_id
        assert run.kind is not None
        started = datetime.now(UTC)
        feeder_info: dict[str, dict[str, Any]] = {}
        try:
            record = self.jobs.set_status(job_id, "running")
            make_task = run.kind.prepare(job_id, record.params)
            self._publish(job_id, "started", record)
            client = self.client()
            todo = [t.task_key for t in self.jobs.tasks(job_id, status="pending")]
            attempts = {t.task_key: t.attempts for t in self.jobs.tasks(job_id)}
            in_flight = self.max_in_flight or 2 * worker_count(client)
            self._run_tasks(run, client, make_task, todo, attempts, in_flight, feeder_info)
            if run.stopping.is_set() or run.cancelled.is_set():
                self._write_manifest(job_id, feeder_info, started, interrupted=True, kind=run.kind)
                return  # closed: left running for resume; cancelled: cancel() published
            record = self.jobs.finish(job_id)
            self._write_manifest(job_id, feeder_info, started, kind=run.kind)
            self._publish(job_id, "finished", record, eta_s=0.0)
        except Exception as exc:
            log.exception("job %s crashed", job_id)
            with contextlib.suppress(Exception):
                record = self.jobs.set_status(job_id, "failed", f"{type(exc).__name__}: {exc}"[:500])
                self._write_manifest(job_id, feeder_info, started, kind=run.kind)
                self._publish(job_id, "finished", record)

    def _load_models(self, todo: list[str], ahead: int) -> Generator[tuple[str, Future[bytes]], None, None]:
        """Feeder models loaded in a small pool, at most ``ahead`` loads ahead of the consumer."""
        with ThreadPoolExecutor(LOADER_THREADS, thread_name_prefix="gridtwin-load") as pool:
            queue: deque[tuple[str, Future[bytes]]] = deque()
            pending = iter(todo)
            for feeder in pending:
                queue.append((feeder, pool.submit(self.feeders.feeder_ipc, feeder)))
                if len(queue) >= ahead:
                    yield queue.popleft()
            while queue:
                yield queue.popleft()

    def _run_tasks(
        self,
        run: _JobRun,
        client: distributed.Client,
        make_task: TaskFactory,
        todo: list[str],
        attempts: dict[str, int],
        in_flight: int,
        feeder_info: dict[str, dict[str, Any]],
    ) -> None:
        job_id = run.job_id
        kind = run.kind
        assert kind is not None
        loads = self._load_models(todo, max(in_flight, LOADER_THREADS))
        completed = distributed.as_completed([], with_results=False, loop=client.loop)  # type: ignore[no-untyped-call]
        keys: dict[str, str] = {}  # dask key -> feeder
        t0 = time.monotonic()
        handled = 0

        def progress(feeder: str) -> None:
            """task_done / task_failed event with counts and an ETA from this run's rate."""
            nonlocal handled
            handled += 1
            record = self.jobs.get(job_id)
            remaining = record.total_tasks - record.done_tasks - record.failed_tasks
            eta = remaining * (time.monotonic() - t0) / handled
            info = feeder_info.get(feeder, {})
            if info.get("status") == "done":
                self._publish(job_id, "task_done", record, feeder=feeder, eta_s=eta)
            else:
                message = str((info.get("error") or [{}])[0].get("message", ""))
                self._publish(job_id, "task_failed", record, feeder=feeder, eta_s=eta, message=message)

        def refill() -> None:
            while len(keys) < in_flight and not (run.cancelled.is_set() or run.stopping.is_set()):
                nxt = next(loads, None)
                if nxt is None:
                    return
                feeder, loading = nxt
                try:
                    ipc = loading.result()
                except Exception as exc:  # a feeder that cannot be loaded fails alone
                    self._record_failure(job_id, feeder, _error_details(feeder, exc), "", feeder_info)
                    progress(feeder)
                    continue
                attempt = attempts.get(feeder, 0) + 1
                task = make_task(feeder, ipc)
                if run.cancelled.is_set() or not self.jobs.task_started(job_id, feeder):
                    return  # cancelled while this feeder was loading: do not start it
                future = client.submit(
                    kind.task_fn,
                    task,
                    key=f"{kind.name}-{job_id}-{feeder}-{attempt}",
                    retries=self.retries,
                    pure=False,
                )
                with run.lock:
                    run.futures[str(future.key)] = future
                keys[str(future.key)] = feeder
                self.tasks_submitted[job_id] += 1
                completed.add(future)  # type: ignore[no-untyped-call]

        refill()
        for future in completed:
            feeder = keys.pop(str(future.key))
            with run.lock:
                run.futures.pop(str(future.key), None)
            if run.cancelled.is_set() or run.stopping.is_set():
                continue  # drain: cancel() / close() own the job's state now
            self._handle(job_id, feeder, future, feeder_info, kind)
            future.release()
            progress(feeder)
            refill()
        loads.close()  # stop loading (waits only for the few loads already started)

    def _handle(
        self,
        job_id: str,
        feeder: str,
        future: distributed.Future[Any],
        feeder_info: dict[str, dict[str, Any]],
        kind: JobKind,
    ) -> None:
        if future.status == "cancelled":
            self._record_failure(
                job_id,
                feeder,
                [{"where": feeder, "message": "task cancelled", "code": "cancelled"}],
                "",
                feeder_info,
            )
            return
        if future.status == "error":
            exc = future.exception()  # type: ignore[no-untyped-call]
            self._record_failure(job_id, feeder, _error_details(feeder, exc), "", feeder_info)
            return
        outcome: TaskOutcome = future.result()
        if not outcome.ok:
            self._record_failure(job_id, feeder, outcome.error or [], outcome.worker, feeder_info, outcome)
            return
        try:
            self.jobs.task_done(
                job_id,
                feeder,
                duration_s=float(outcome.timings.get("total", 0.0)),
                worker=outcome.worker,
                write=kind.rows_writer(job_id, outcome),
            )
        except Exception as exc:  # the checkpoint did not happen: the feeder counts as failed
            self._record_failure(
                job_id, feeder, _error_details(feeder, exc), outcome.worker, feeder_info, outcome
            )
            return
        feeder_info[feeder] = self._info("done", outcome)

    @staticmethod
    def _info(
        status: str, outcome: TaskOutcome | None, error: list[dict[str, str]] | None = None
    ) -> dict[str, Any]:
        return {
            "status": status,
            "version": outcome.version if outcome else None,
            "timings_s": dict(outcome.timings) if outcome else {},
            "worker": outcome.worker if outcome else "",
            "peak_rss_mb": outcome.peak_rss_mb if outcome else None,
            "error": error,
            **(outcome.info if outcome else {}),
        }

    def _record_failure(
        self,
        job_id: str,
        feeder: str,
        error: list[dict[str, str]],
        worker: str,
        feeder_info: dict[str, dict[str, Any]],
        outcome: TaskOutcome | None = None,
    ) -> None:
        self.jobs.task_failed(job_id, feeder, error, worker=worker)
        feeder_info[feeder] = self._info("failed", outcome, error)

    def _write_manifest(
        self,
        job_id: str,
        feeder_info: dict[str, dict[str, Any]],
        started: datetime,
        *,
        interrupted: bool = False,
        kind: JobKind | None = None,
    ) -> None:
        """run.json, merged with an earlier run's manifest (feeders done then are skipped now)."""
        if kind is None:
            return
        store = kind.manifests
        try:
            previous = store.read_manifest(job_id)
        except (NotFoundError, FileNotFoundError):
            previous = {}
        except Exception:  # an unreadable old manifest is replaced, not fatal
            log.warning("unreadable manifest of job %s replaced", job_id)
            previous = {}
        record = self.jobs.get(job_id)
        feeders: dict[str, dict[str, Any]] = dict(previous.get("feeders") or {})
        feeders.update(feeder_info)
        done_or_failed = {t.task_key: t for t in self.jobs.tasks(job_id)}
        for key, task in done_or_failed.items():  # task rows are the truth for status
            feeders.setdefault(key, self._info(task.status, None, task.error))["status"] = task.status
        finished = datetime.now(UTC)
        runs = list(previous.get("runs") or [])
        runs.append(
            {
                "started_utc": started.isoformat(),
                "finished_utc": finished.isoformat(),
                "wall_s": (finished - started).total_seconds(),
                "tasks_submitted": self.tasks_submitted[job_id],
                "interrupted": interrupted,
            }
        )
        manifest = build_manifest(
            job_id=job_id,
            kind=record.kind,
            status=record.status,
            params=record.params,
            feeders=feeders,
            started=record.started_at,
            finished=record.finished_at,
            runs=runs,
        )
        try:
            store.write_manifest(job_id, manifest)
        except Exception:
            log.exception("could not write the manifest of job %s", job_id)
