"""SQLAlchemy engines for SQLite (embedded default) and MySQL/MariaDB, and Alembic migrations to head.

SQLite: WAL journal (readers never block the writer), foreign keys on, a busy timeout, and write
transactions opened with ``BEGIN IMMEDIATE`` (see ``WRITE``) so two writers queue on the busy timeout
instead of failing on a lock upgrade. MySQL: ``mysql+mysqldb://`` with utf8mb4, pool_pre_ping and LOCAL INFILE
allowed (bulk loads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

__all__ = ["WRITE", "make_engine", "migrate", "writer"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Execution option that marks a connection as a writer (SQLite then begins with BEGIN IMMEDIATE).
WRITE = "gridtwin_write"


def make_engine(url: str, *, mysql_local_infile: bool = True) -> Engine:
    """An engine for ``url``: ``sqlite:///path`` or ``mysql://`` / ``mysql+mysqldb://`` / ``mariadb://``.

    ``mysql_local_infile`` lets bulk writes use ``LOAD DATA LOCAL INFILE`` (about twice as fast); it also
    lets the server ask this client for files, so turn it off (``GRIDTWIN_MYSQL_LOCAL_INFILE=false``) for a
    database server you do not trust: bulk writes then fall back to multi-row upserts.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    if backend in ("mysql", "mariadb"):
        parsed = parsed.set(drivername=f"{backend}+mysqldb")
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        parsed = parsed.set(query=query)
        return create_engine(
            parsed,
            # LOAD DATA LOCAL INFILE for bulk writes (store.bulk); libmariadb allows it by default,
            # libmysqlclient does not, so say it explicitly either way.
            connect_args={"local_infile": 1 if mysql_local_infile else 0},
            pool_pre_ping=True,
            pool_recycle=3600,
            isolation_level="READ COMMITTED",
        )
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r} (sqlite or mysql)")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own BEGIN is deferred and late).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions take the write lock up front on SQLite."""
    return engine.execution_options(**{WRITE: True})


def alembic_config() -> Config:
    """Alembic configuration built in code: the scripts ship inside the package, no alembic.ini."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` (default: the newest)."""
    cfg = alembic_config()
    with writer(engine).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    cfg = alembic_config()
    with writer(engine).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
