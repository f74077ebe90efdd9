"""One registry contract suite, run against SQLite (temp file) and MySQL (``gridtwin_test``, marker mysql).

The engine and schema are made once per backend per session; each test starts from empty tables and a
registry that has the small test ontology below uploaded (parsed by the real DTDL parser).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from gridtwin.store.db import make_engine, migrate
from gridtwin.store.tables import metadata
from gridtwin.twin.registry import TwinRegistry
from registry_docs import TEST_MODELS
from sqlalchemy import Engine, delete

MYSQL_SERVER = "mysql+mysqldb://root@127.0.0.1:3306"
MYSQL_DB = f"gridtwin_test_{os.getpid()}"  # per run: parallel runs never share it


def _mysql_engine() -> Iterator[Engine]:
    try:
        import MySQLdb

        admin = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", connect_timeout=3)
    except Exception as exc:  # the server is part of the dev setup (ci/services); say so when absent
        pytest.skip(f"MySQL not reachable on 127.0.0.1:3306: {exc}")
    cur = admin.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {MYSQL_DB}")
    cur.execute(f"CREATE DATABASE {MYSQL_DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    engine = make_engine(f"{MYSQL_SERVER}/{MYSQL_DB}")
    try:
        yield engine
    finally:
        engine.dispose()
        cur.execute(f"DROP DATABASE IF EXISTS {MYSQL_DB}")
        admin.close()


@pytest.fixture(scope="session", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = Path(tmp_path_factory.mktemp("registry")) / "twins.db"
        eng = make_engine(f"sqlite:///{path}")
        migrate(eng)
        yield eng
        eng.dispose()
    else:
        for eng in _mysql_engine():
            migrate(eng)
            yield eng


@pytest.fixture
def registry(engine: Engine) -> TwinRegistry:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))
    reg = TwinRegistry(engine)
    reg.upload_models(TEST_MODELS)
    return reg


@pytest.fixture
def dialect(engine: Engine) -> str:
    return engine.dialect.name
