"""Shared by the store tests: a migrated engine on SQLite or on the real MariaDB (marker mysql),
in a database of its own that is dropped afterwards. MySQL database names carry this run's id
(``RUN_SUFFIX``) so that two test runs on one server (a developer's and CI's) never share one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from gridtwin.store.db import make_engine, migrate

RUN_SUFFIX = f"_{os.getpid()}"


@contextmanager
def migrated_engine(kind: str, mysql_db: str, sqlite_dir: Path) -> Iterator[sa.Engine]:
    if kind == "sqlite":
        eng = make_engine(f"sqlite:///{sqlite_dir / f'{mysql_db}.db'}")
        migrate(eng)
        try:
            yield eng
        finally:
            eng.dispose()
        return
    try:
        import MySQLdb

        admin = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", connect_timeout=3)
    except Exception as exc:
        pytest.skip(f"MySQL not reachable on 127.0.0.1:3306: {exc}")
    mysql_db += RUN_SUFFIX
    cur = admin.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {mysql_db}")
    cur.execute(f"CREATE DATABASE {mysql_db}")
    eng = make_engine(f"mysql://root@127.0.0.1:3306/{mysql_db}")
    try:
        migrate(eng)
        yield eng
    finally:
        eng.dispose()
        cur.execute(f"DROP DATABASE IF EXISTS {mysql_db}")
        admin.close()
