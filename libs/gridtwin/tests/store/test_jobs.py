"""JobStore contract suite, run on SQLite (temp file) and MySQL (``gridtwin_test_jobs``, marker mysql)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest
import sqlalchemy as sa
from gridtwin.errors import ConflictError, InputError, NotFoundError
from gridtwin.store.db import make_engine, migrate
from gridtwin.store.jobs import JOB_STATUSES, JobStore
from gridtwin.store.tables import job_tasks, jobs, metadata, qsts_element_results, qsts_feeder_results
from store_support import migrated_engine

MYSQL_DB = "gridtwin_test_jobs"
OWN_TABLES = (jobs, job_tasks, qsts_feeder_results, qsts_element_results)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    with migrated_engine(request.param, MYSQL_DB, tmp_path_factory.mktemp("jobs")) as eng:
        yield eng


@pytest.fixture
def store(engine: sa.Engine) -> JobStore:
    with engine.begin() as conn:
        for table in OWN_TABLES:
            conn.execute(sa.delete(table))
    return JobStore(engine)


def test_schema_matches_metadata_and_result_columns(engine: sa.Engine) -> None:
    from gridtwin.powerflow.qsts_results import ELEMENT_COLUMNS, FEEDER_SUMMARY_COLUMNS

    cols = [c.name for c in qsts_feeder_results.columns]
    assert cols == ["job_id", *FEEDER_SUMMARY_COLUMNS]
    assert [c.name for c in qsts_element_results.columns] == ["job_id", "feeder", *ELEMENT_COLUMNS]
    insp = sa.inspect(engine)
    for table in OWN_TABLES:
        assert [c["name"] for c in insp.get_columns(table.name)] == list(table.columns.keys())
        assert insp.get_pk_constraint(table.name)["constrained_columns"] == [
            c.name for c in table.primary_key
        ]
        got = {ix["name"]: ix["column_names"] for ix in insp.get_indexes(table.name)}
        assert got == {ix.name: [c.name for c in ix.columns] for ix in table.indexes}
    assert set(insp.get_table_names()) == {"alembic_version", *metadata.tables}


def test_create_get_and_to_dict(store: JobStore) -> None:
    job = store.create("qsts", {"hours": 24, "feeders": ["a", "b"]}, ["a", "b"], site="north")
    assert len(job.id) == 16 and int(job.id, 16) >= 0
    assert (job.kind, job.status, job.site) == ("qsts", "queued", "north")
    assert (job.total_tasks, job.done_tasks, job.failed_tasks) == (2, 0, 0)
    assert job.created_at.tzinfo is UTC and job.started_at is None and job.finished_at is None
    assert store.get(job.id) == job
    data = job.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["created_at"].endswith("+00:00") and data["params"] == {"hours": 24, "feeders": ["a", "b"]}
    tasks = store.tasks(job.id)
    assert [(t.task_key, t.status, t.attempts, t.error, t.worker) for t in tasks] == [
        ("a", "pending", 0, None, ""),
        ("b", "pending", 0, None, ""),
    ]
    named = store.create("qsts", {}, [], job_id="my-run_1")
    assert named.id == "my-run_1" and named.total_tasks == 0


def test_create_validation_and_not_found(store: JobStore) -> None:
    with pytest.raises(InputError) as exc:
        store.create("qsts", {}, ["a", "b", "a"])
    assert [d.where for d in exc.value.details] == ["task_keys[2]"]
    with pytest.raises(InputError) as exc:
        store.create("qsts", {}, ["a"], job_id="bad/id")
    assert exc.value.details[0].where == "job_id"
    with pytest.raises(InputError):
        store.create("", {}, ["a"])
    with pytest.raises(NotFoundError) as nf:
        store.get("nope")
    assert nf.value.details[0].where == "nope"
    with pytest.raises(NotFoundError):
        store.tasks("nope")
    with pytest.raises(NotFoundError):
        store.set_status("nope", "running")
    job = store.create("qsts", {}, ["a"])
    with pytest.raises(NotFoundError) as nf:
        store.task_started(job.id, "zz")
    assert nf.value.details[0].where == f"{job.id}/zz"
    with pytest.raises(InputError):
        store.set_status(job.id, "exploded")


def test_list_newest_first_filters_and_paging(store: JobStore) -> None:
    made = [store.create("qsts" if i % 2 == 0 else "hosting", {"i": i}, [f"t{i}"]) for i in range(7)]
    store.set_status(made[0].id, "running")
    page, total = store.list(limit=3)
    assert total == 7
    assert [j.params["i"] for j in page] == [6, 5, 4]
    page2, _ = store.list(limit=3, offset=3)
    page3, _ = store.list(limit=3, offset=6)
    assert [j.params["i"] for j in page2 + page3] == [3, 2, 1, 0]
    qsts, n = store.list(kind="qsts")
    assert n == 4 and [j.params["i"] for j in qsts] == [6, 4, 2, 0]
    running, n = store.list(status="running")
    assert n == 1 and running[0].id == made[0].id
    assert store.list(status="queued", kind="hosting")[1] == 3
    with pytest.raises(InputError) as exc:
        store.list(status="bogus")
    assert exc.value.details[0].where == "status"
    with pytest.raises(InputError):
        store.list(limit=0)


def test_task_lifecycle_and_counters(store: JobStore) -> None:
    job = store.create("qsts", {}, ["a", "b", "c"])
    store.task_started(job.id, "a", worker="w1")
    (a,) = store.tasks(job.id, status="running")
    assert (a.task_key, a.attempts, a.worker) == ("a", 1, "w1") and a.started_at is not None
    done = store.task_done(job.id, "a", duration_s=1.5, worker="w1")
    assert (done.done_tasks, done.failed_tasks, done.total_tasks) == (1, 0, 3)
    store.task_started(job.id, "b")
    store.task_started(job.id, "b")
    err = [{"where": "feeder b", "message": "did not compile", "code": "engine"}]
    failed = store.task_failed(job.id, "b", err, worker="w2")
    assert (failed.done_tasks, failed.failed_tasks) == (1, 1)
    tasks = {t.task_key: t for t in store.tasks(job.id)}
    assert tasks["a"].status == "done" and tasks["a"].duration_s == 1.5
    assert tasks["a"].finished_at is not None and tasks["a"].finished_at.tzinfo is UTC
    assert tasks["b"].status == "failed" and tasks["b"].attempts == 2 and tasks["b"].error == err
    assert tasks["c"].status == "pending"
    assert [t.task_key for t in store.tasks(job.id, status="pending")] == ["c"]


def test_set_status_stamps_times(store: JobStore) -> None:
    job = store.create("qsts", {}, ["a"])
    running = store.set_status(job.id, "running", "working")
    assert running.started_at is not None and running.finished_at is None and running.message == "working"
    again = store.set_status(job.id, "running")
    assert again.started_at == running.started_at
    ended = store.set_status(job.id, "failed", "boom")
    assert ended.finished_at is not None and ended.finished_at >= ended.started_at  # type: ignore[operator]
    assert ended.status == "failed" and ended.message == "boom"


def test_resubmit_keeps_done_and_requeues_the_rest(store: JobStore) -> None:
    job = store.create("qsts", {"v": 1}, ["a", "b", "c", "d"], site="s1")
    store.set_status(job.id, "running")
    store.task_started(job.id, "a")
    store.task_done(job.id, "a", duration_s=2.0, worker="w1")
    store.task_started(job.id, "b")
    store.task_failed(job.id, "b", [{"where": "b", "message": "x"}])
    store.task_started(job.id, "c")  # left running (a worker died)
    store.finish(job.id)

    again = store.create("qsts", {"v": 2}, ["a", "b", "e"], job_id=job.id)
    assert again.id == job.id and again.status == "queued" and again.params == {"v": 2}
    assert again.site == "s1" and again.created_at == job.created_at
    assert again.started_at is None and again.finished_at is None
    assert (again.total_tasks, again.done_tasks, again.failed_tasks) == (5, 1, 0)
    tasks = {t.task_key: t for t in store.tasks(job.id)}
    assert {k: t.status for k, t in tasks.items()} == {
        "a": "done",
        "b": "pending",
        "c": "pending",
        "d": "pending",
        "e": "pending",
    }
    assert tasks["a"].duration_s == 2.0 and tasks["a"].worker == "w1"
    assert tasks["b"].error is None and tasks["b"].attempts == 1  # attempts kept as history
    with pytest.raises(ConflictError) as exc:
        store.create("hosting", {}, ["a"], job_id=job.id)
    assert exc.value.details[0].where == job.id
    with pytest.raises(InputError):
        store.create("qsts", {}, ["a", "a"], job_id=job.id)


def test_task_done_is_one_transaction(store: JobStore) -> None:
    job = store.create("qsts", {}, ["f1", "f2"])
    fr = qsts_feeder_results

    def write_then_fail(conn: sa.Connection) -> None:
        conn.execute(sa.insert(fr).values(job_id=job.id, feeder="f1", steps=24))
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        store.task_done(job.id, "f1", duration_s=1.0, write=write_then_fail)
    with store._engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(fr)).scalar_one() == 0
    assert store.get(job.id).done_tasks == 0
    assert store.tasks(job.id, status="done") == []

    def write_ok(conn: sa.Connection) -> None:
        conn.execute(sa.insert(fr).values(job_id=job.id, feeder="f1", steps=24))

    # an unknown task rolls the written rows back too
    with pytest.raises(NotFoundError):
        store.task_done(job.id, "nope", duration_s=1.0, write=write_ok)
    with store._engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(fr)).scalar_one() == 0

    rec = store.task_done(job.id, "f1", duration_s=1.0, write=write_ok)
    assert rec.done_tasks == 1
    with store._engine.connect() as conn:
        assert conn.execute(sa.select(fr.c.steps)).scalar_one() == 24


def test_concurrent_task_done_counts_every_task(store: JobStore) -> None:
    keys = [f"f{i:02d}" for i in range(24)]
    job = store.create("qsts", {}, keys)
    errors: list[BaseException] = []

    def work(part: list[str]) -> None:
        try:
            for key in part:
                store.task_started(job.id, key)
                store.task_done(job.id, key, duration_s=0.1)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(keys[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get(job.id).done_tasks == len(keys)


def test_cancel(store: JobStore) -> None:
    job = store.create("qsts", {}, ["a", "b", "c"])
    store.set_status(job.id, "running")
    store.task_started(job.id, "a")
    store.task_done(job.id, "a", duration_s=1.0)
    store.task_started(job.id, "b")
    cancelled = store.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert {t.task_key: t.status for t in store.tasks(job.id)} == {
        "a": "done",
        "b": "cancelled",
        "c": "cancelled",
    }
    # A submission racing the cancel must not bring a cancelled task back to running.
    assert store.task_started(job.id, "c") is False
    assert {t.task_key: t.status for t in store.tasks(job.id)}["c"] == "cancelled"
    assert store.finish(job.id).status == "cancelled"
    # a job that already ended keeps its status
    ok = store.create("qsts", {}, ["x"])
    store.task_done(ok.id, "x", duration_s=1.0)
    store.finish(ok.id)
    assert store.cancel(ok.id).status == "succeeded"


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["done", "done"], "succeeded"),
        (["done", "failed"], "partial"),
        (["done", "pending"], "partial"),
        (["failed", "failed"], "failed"),
        ([], "succeeded"),
    ],
)
def test_finish_status(store: JobStore, outcomes: list[str], expected: str) -> None:
    keys = [f"t{i}" for i in range(len(outcomes))]
    job = store.create("qsts", {}, keys)
    store.set_status(job.id, "running")
    for key, outcome in zip(keys, outcomes, strict=True):
        if outcome == "done":
            store.task_done(job.id, key, duration_s=0.5)
        elif outcome == "failed":
            store.task_failed(job.id, key, [{"where": key, "message": "bad"}])
    finished = store.finish(job.id)
    assert finished.status == expected and finished.status in JOB_STATUSES
    assert finished.finished_at is not None


def test_unfinished(store: JobStore) -> None:
    queued = store.create("qsts", {}, ["a"])
    running = store.create("qsts", {}, ["a"])
    store.set_status(running.id, "running")
    done = store.create("qsts", {}, ["a"])
    store.task_done(done.id, "a", duration_s=1.0)
    store.finish(done.id)
    cancelled = store.create("qsts", {}, ["a"])
    store.cancel(cancelled.id)
    assert [j.id for j in store.unfinished()] == [queued.id, running.id]


def test_sqlite_file_survives_a_new_store(tmp_path: Path) -> None:
    # the state a restarted process resumes from is on disk, not in the store object
    eng = make_engine(f"sqlite:///{tmp_path / 'j.db'}")
    migrate(eng)
    job = JobStore(eng).create("qsts", {"k": 1}, ["a", "b"])
    JobStore(eng).task_done(job.id, "a", duration_s=1.0)
    eng.dispose()
    eng2 = make_engine(f"sqlite:///{tmp_path / 'j.db'}")
    assert [j.id for j in JobStore(eng2).unfinished()] == [job.id]
    assert JobStore(eng2).get(job.id).done_tasks == 1
    eng2.dispose()
