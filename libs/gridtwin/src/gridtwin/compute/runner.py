"""``JobRunner``: a QSTS job as one Dask task per feeder, checkpointed feeder by feeder in SQL.

Each submitted job gets a thread in this process that loads feeder models (a small thread pool),
keeps at most ``max_in_flight`` tasks outstanding (a model IPC is a few MB; the scheduler should not
hold a whole utility), and handles results as they complete: a finished feeder's summary and element
rows are written in the same transaction that marks its task done (``JobStore.task_done``), so a
resubmitted or restarted job skips it. A failed feeder is recorded with its details and the rest go
on. Progress goes to Redis pub/sub (``events.JobEvents``); at the end the run manifest is written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import distributed

from gridtwin.compute.cluster import close_client, worker_count
from gridtwin.compute.events import JobEvents
from gridtwin.compute.manifest import build_manifest
from gridtwin.compute.qsts_task import FeederTask, TaskOutcome, run_feeder_qsts
from gridtwin.compute.specs import qsts_params, spec_from_json
from gridtwin.errors import ConflictError, ErrorDetail, GridTwinError, NotFoundError
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.store.jobs import JobRecord, JobStore
from gridtwin.store.results import QstsResultStore

__all__ = ["QSTS_KIND", "JobKind", "JobRunner"]

log = logging.getLogger(__name__)

QSTS_KIND = "qsts"
LOADER_THREADS = 4


def _scenario_json(params: dict[str, Any]) -> str:
    """The scenario a job's params carry, as the JSON its tasks take ("" for the base case)."""
    body = params.get("scenario")
    return json.dumps(body, sort_keys=True) if body else ""


def _error_details(feeder: str, exc: BaseException) -> list[dict[str, str]]:
    """An exception as ``ErrorDetail`` dicts (GridTwinError keeps its own details)."""
    if isinstance(exc, GridTwinError):
        head = {"where": feeder, "message": exc.message, "code": type(exc).__name__}
        return [head, *(d.to_dict() for d in exc.details)]
    code = "worker_lost" if type(exc).__name__ == "KilledWorker" else type(exc).__name__
    return [{"where": feeder, "message": f"{type(exc).__name__}: {exc}", "code": code}]


@dataclass(frozen=True)
class JobKind:
    """What a non-QSTS feeder job does with each feeder: the task object a worker gets (from the job
    id, the feeder and its model IPC), the function it runs (returning a ``TaskOutcome``), how a done
    feeder's result is written in the checkpoint transaction, and where the run manifest lives."""

    name: str
    make_task: Callable[[str, str, bytes], Any]
    task_fn: Callable[[Any], TaskOutcome]
    rows_writer: Callable[[str, TaskOutcome], Callable[[Any], None]]
    manifests: Any  # has read_manifest(job_id) and write_manifest(job_id, manifest)


@dataclass
class _JobRun:
    """One job being run by this runner (its thread, outstanding futures, cancel/stop flags)."""

    job_id: str
    thread: threading.Thread | None = None
    futures: dict[str, distributed.Future[Any]] = field(default_factory=dict)  # dask key -> future
    cancelled: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    scenario_json: str = ""
    kind: JobKind | None = None  # None: a QSTS job (FeederTask, run_feeder_qsts, QSTS result rows)


class JobRunner:
    """Runs QSTS jobs on a Dask cluster. Thread-safe; one client per runner, created on first use."""

    def __init__(
        self,
        jobs: JobStore,
        results: QstsResultStore,
        events: JobEvents,
        client_factory: Callable[[], distributed.Client],
        feeder_loader: Callable[[str], bytes],
        profile_root: Path,
        *,
        retries: int = 2,
        max_in_flight: int | None = None,
        task_fn: Callable[[FeederTask], TaskOutcome] = run_feeder_qsts,
        close_client_on_close: bool = True,
    ) -> None:
        self.jobs = jobs
        self.results = results
        self.events = events
        self._client_factory = client_factory
        self._feeder_loader = feeder_loader
        self.profile_root = Path(profile_root)
        self.retries = retries
        self.max_in_flight = max_in_flight
        self._task_fn = task_fn  # tests wrap run_feeder_qsts (e.g. to kill a worker once)
        self._close_client = close_client_on_close  # False when the factory hands out a shared client
        self._client: distributed.Client | None = None
        self._client_lock = threading.Lock()
        self._runs: dict[str, _JobRun] = {}
        self._runs_lock = threading.Lock()
        self._closed = False
        self.tasks_submitted: Counter[str] = Counter()  # job id -> Dask tasks submitted by this runner

    # --- public API ----------------------------------------------------------------------------------

    def submit_qsts(
        self,
        feeders: Sequence[str],
        spec: QstsSpec,
        *,
        site: str = "",
        job_id: str | None = None,
        params_extra: dict[str, Any] | None = None,
        scenario: dict[str, Any] | None = None,
        scenario_id: str = "",
    ) -> JobRecord:
        """Create (or resubmit ``job_id``) and start it in the background; returns the queued record.
        Feeders already done in an earlier run of the job are skipped. ``scenario`` (a validated
        scenario as JSON-ready dict) is composed on every feeder before its run."""
        if self._closed:
            raise ConflictError("runner is closed", [ErrorDetail(where="runner", message="closed")])
        if job_id is not None:
            self._check_not_active(job_id)
        extra = dict(params_extra or {})
        if scenario is not None:
            extra.update(scenario=scenario, scenario_id=scenario_id)
        params = qsts_params(list(feeders), spec, extra)
        record = self.jobs.create(QSTS_KIND, params, list(feeders), site=site, job_id=job_id)
        self._start(record.id, spec, _scenario_json(params))
        return record

    def submit_job(
        self,
        kind: JobKind,
        feeders: Sequence[str],
        params: dict[str, Any],
        *,
        site: str = "",
        job_id: str | None = None,
    ) -> JobRecord:
        """A job of another kind (e.g. stochastic hosting capacity): one task per feeder, same
        checkpoints, retries, events, cancel and resubmit semantics as QSTS jobs."""
        if self._closed:
            raise ConflictError("runner is closed", [ErrorDetail(where="runner", message="closed")])
        if job_id is not None:
            self._check_not_active(job_id)
        record = self.jobs.create(
            kind.name, {**params, "feeders": list(feeders)}, list(feeders), site=site, job_id=job_id
        )
        self._start(record.id, QstsSpec(), kind=kind)  # the spec is unused by other kinds
        return record

    def resume_unfinished(self) -> list[str]:
        """Restart every queued/running QSTS job from its stored params (at service start)."""
        resumed: list[str] = []
        for record in self.jobs.unfinished():
            if record.kind != QSTS_KIND or self._active(record.id):
                continue
            try:
                spec = spec_from_json(dict(record.params.get("spec") or {}))
            except GridTwinError as exc:
                self.jobs.set_status(record.id, "failed", f"cannot resume: {exc}")
                continue
            feeders = [str(f) for f in record.params.get("feeders", [])]
            # Resubmit semantics: running/failed tasks back to pending, done tasks kept.
            self.jobs.create(QSTS_KIND, record.params, feeders, site=record.site, job_id=record.id)
            self._start(record.id, spec, _scenario_json(record.params))
            resumed.append(record.id)
        return resumed

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel outstanding tasks and mark the job cancelled (finished feeders keep their results)."""
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
        """Stop job threads (their jobs stay queued/running, to be resumed) and close the client."""
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
            if self._client is not None and self._close_client:
                close_client(self._client)
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

    def _start(
        self, job_id: str, spec: QstsSpec, scenario_json: str = "", kind: JobKind | None = None
    ) -> None:
        run = _JobRun(job_id, scenario_json=scenario_json, kind=kind)
        run.thread = threading.Thread(
            target=self._run_job, args=(run, spec), name=f"gridtwin-job-{job_id}", daemon=True
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

    def _run_job(self, run: _JobRun, spec: QstsSpec) -> None:
        job_id = run.job_id
        started = datetime.now(UTC)
        feeder_info: dict[str, dict[str, Any]] = {}
        try:
            record = self.jobs.set_status(job_id, "running")
            self._publish(job_id, "started", record)
            client = self.client()
            todo = [t.task_key for t in self.jobs.tasks(job_id, status="pending")]
            attempts = {t.task_key: t.attempts for t in self.jobs.tasks(job_id)}
            in_flight = self.max_in_flight or 2 * worker_count(client)
            self._run_tasks(run, client, spec, todo, attempts, in_flight, feeder_info, started)
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
                queue.append((feeder, pool.submit(self._feeder_loader, feeder)))
                if len(queue) >= ahead:
                    yield queue.popleft()
            while queue:
                yield queue.popleft()

    def _run_tasks(
        self,
        run: _JobRun,
        client: distributed.Client,
        spec: QstsSpec,
        todo: list[str],
        attempts: dict[str, int],
        in_flight: int,
        feeder_info: dict[str, dict[str, Any]],
        started: datetime,
    ) -> None:
        job_id = run.job_id
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
                task: Any = (
                    run.kind.make_task(job_id, feeder, ipc)
                    if run.kind is not None
                    else FeederTask(
                        job_id=job_id,
                        feeder=feeder,
                        model_ipc=ipc,
                        spec=spec,
                        profile_root=str(self.profile_root),
                        results_root=str(self.results.root),
                        scenario_json=run.scenario_json,
                        scenario_tag=job_id,
                    )
                )
                if run.cancelled.is_set() or not self.jobs.task_started(job_id, feeder):
                    return  # cancelled while this feeder was loading: do not start it
                future = client.submit(
                    run.kind.task_fn if run.kind is not None else self._task_fn,
                    task,
                    key=f"{run.kind.name if run.kind else 'qsts'}-{job_id}-{feeder}-{attempt}",
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
            self._handle(job_id, feeder, future, feeder_info, run.kind)
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
        kind: JobKind | None = None,
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
                write=(
                    kind.rows_writer(job_id, outcome)
                    if kind is not None
                    else self.results.rows_writer(job_id, outcome.summary, outcome.elements)
                ),
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
        store = kind.manifests if kind is not None else self.results
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
