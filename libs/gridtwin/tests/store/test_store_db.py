"""Engines and migrations on SQLite and MySQL (marker mysql)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from gridtwin.store.db import downgrade, make_engine, migrate, writer
from gridtwin.store.tables import metadata
from sqlalchemy import Engine, inspect, text

MYSQL_SERVER = "mysql+mysqldb://root@127.0.0.1:3306"
MYSQL_DB = f"gridtwin_test_store_{os.getpid()}"  # per run: parallel runs never share it


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        yield engine
        engine.dispose()
        return
    try:
        import MySQLdb

        admin = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", connect_timeout=3)
    except Exception as exc:
        pytest.skip(f"MySQL not reachable on 127.0.0.1:3306: {exc}")
    cur = admin.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {MYSQL_DB}")
    cur.execute(f"CREATE DATABASE {MYSQL_DB}")  # server default collation: the tables set their own
    engine = make_engine(f"mysql://root@127.0.0.1:3306/{MYSQL_DB}")
    try:
        yield engine
    finally:
        engine.dispose()
        cur.execute(f"DROP DATABASE IF EXISTS {MYSQL_DB}")
        admin.close()


def test_migrate_from_empty_creates_the_schema(empty_engine: Engine) -> None:
    assert inspect(empty_engine).get_table_names() == []
    migrate(empty_engine)
    insp = inspect(empty_engine)
    assert set(insp.get_table_names()) == {"alembic_version", *metadata.tables}
    assert {"models", "twins", "relationships", "feeders", "jobs", "job_tasks"} <= set(metadata.tables)
    twin_indexes = {tuple(ix["column_names"]) for ix in insp.get_indexes("twins")}
    assert {("model",), ("feeder",), ("site",)} <= twin_indexes
    rel_indexes = {tuple(ix["column_names"]) for ix in insp.get_indexes("relationships")}
    assert ("target_id",) in rel_indexes
    assert insp.get_pk_constraint("relationships")["constrained_columns"] == ["source_id", "id"]
    # the migration and the table definitions agree column by column
    for table in metadata.sorted_tables:
        assert {c["name"] for c in insp.get_columns(table.name)} == set(table.columns.keys())
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0006_accounts"


def test_migrate_is_idempotent_and_reversible(empty_engine: Engine) -> None:
    migrate(empty_engine)
    migrate(empty_engine)
    downgrade(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    migrate(empty_engine)
    assert "twins" in inspect(empty_engine).get_table_names()


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
    engine.dispose()


def test_sqlite_writer_takes_the_lock_up_front(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    with writer(engine).begin() as conn:
        # inside BEGIN IMMEDIATE another writer cannot start; a reader still can (WAL)
        other = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
        with other.connect() as reader:
            assert reader.exec_driver_sql("SELECT count(*) FROM twins").scalar() == 0
        raw = other.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA busy_timeout=50")  # type: ignore[union-attr]
            with pytest.raises(Exception, match="locked"):
                raw.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
        finally:
            raw.close()
            other.dispose()
        conn.exec_driver_sql("SELECT 1")
    engine.dispose()


@pytest.mark.mysql
def test_mysql_engine_settings() -> None:
    engine = make_engine("mysql://root@127.0.0.1:3306/")
    assert engine.url.drivername == "mysql+mysqldb"
    assert engine.url.query["charset"] == "utf8mb4"
    assert engine.pool._pre_ping
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT @@character_set_client").scalar() == "utf8mb4"
    except Exception as exc:  # pragma: no cover - no server
        pytest.skip(f"MySQL not reachable: {exc}")
    finally:
        engine.dispose()


def test_unsupported_url() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        make_engine("postgresql://localhost/x")
