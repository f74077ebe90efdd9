"""Twin registry benchmark: bulk upsert throughput and feeder export time, on SQLite and MySQL.

Prints figures, asserts nothing. Twins are synthetic feeder assets (buses, line segments, loads) of
the real ontology in ``dtdl/``, validated by the real DTDL model set, as the registry service does.
MySQL uses database ``gridtwin_bench`` on 127.0.0.1:3306 (created and dropped here); set
GRIDTWIN_BENCH_MYSQL=0 to skip it. MySQL figures vary by +-20% from run to run (the server's page
cleaner and the previous run's DROP DATABASE compete for the 2 cores); compare a few runs.

    uv run python tests/bench/bench_registry.py [--twins 100000] [--feeder-twins 7000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gridtwin.store.db import make_engine, migrate
from gridtwin.twin.dtdl import load_model_set
from gridtwin.twin.registry import TwinRegistry
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parents[2]
MYSQL_SERVER = "mysql+mysqldb://root@127.0.0.1:3306"
MYSQL_DB = "gridtwin_bench"
DTMI = "dtmi:gridtwin:{};1"


def synthetic_feeder(
    feeder: str, n_twins: int, site: str = "bench"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A radial feeder of about ``n_twins`` twins: a chain of buses, a line between each pair, a load per bus."""
    n_bus = max(2, n_twins // 3)

    def head(kind: str, model: str, name: str, ordinal: int) -> dict[str, Any]:
        return {
            "$dtId": f"{feeder}.{kind}.{name}",
            "$metadata": {"$model": DTMI.format(model)},
            "site": site,
            "feeder": feeder,
            "name": name,
            "ordinal": ordinal,
        }

    twins: list[dict[str, Any]] = [
        {
            "$dtId": feeder,
            "$metadata": {"$model": DTMI.format("Feeder")},
            "site": site,
            "feeder": feeder,
            "name": feeder,
        }
    ]
    rels: list[dict[str, Any]] = []
    for i in range(n_bus):
        bus = head("bus", "Bus", f"b{i}", i) | {
            "base_kv": 12.47,
            "nodes": [1, 2, 3],
            "x": i * 10.0,
            "y": i * 5.0,
            "has_coords": True,
        }
        twins.append(bus)
        rels.append(_rel(feeder, "contains", bus["$dtId"]))
    for i in range(n_bus - 1):
        line = head("line", "LineSegment", f"l{i}", i) | {
            "bus1": f"b{i}",
            "bus2": f"b{i + 1}",
            "phases": 3,
            "linecode": "336acsr",
            "length_m": 120.5 + i % 50,
            "norm_amps_a": 400.0,
            "emerg_amps_a": 600.0,
            "is_switch": False,
            "enabled": True,
        }
        twins.append(line)
        rels.append(_rel(line["$dtId"], "connectsTo", f"{feeder}.bus.b{i}", "bus1"))
        rels.append(_rel(line["$dtId"], "connectsTo", f"{feeder}.bus.b{i + 1}", "bus2"))
    for i in range(n_bus):
        load = head("load", "Load", f"ld{i}", i) | {
            "bus1": f"b{i}",
            "phases": 1,
            "conn": "wye",
            "model": 1,
            "kv": 7.2,
            "p_kw": 5.0 + i % 7,
            "q_kvar": 1.5,
        }
        twins.append(load)
        rels.append(_rel(load["$dtId"], "connectsTo", f"{feeder}.bus.b{i}", "bus1"))
    return twins, rels


def _rel(source: str, name: str, target: str, rel_id: str | None = None) -> dict[str, Any]:
    return {
        "$relationshipId": rel_id or f"{name}.{target}",
        "$sourceId": source,
        "$relationshipName": name,
        "$targetId": target,
    }


@contextmanager
def sqlite_engine() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def mysql_engine() -> Iterator[Engine]:
    import MySQLdb

    admin = MySQLdb.connect(host="127.0.0.1", port=3306, user="root")
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


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run(backend: str, make: Callable[[], Any], n_twins: int, feeder_twins: int) -> None:
    catalog = load_model_set([ROOT / "dtdl"])
    n_feeders = max(1, -(-n_twins // feeder_twins))  # ceil: cut to exactly n_twins below
    twins: list[dict[str, Any]] = []
    rels: list[dict[str, Any]] = []
    for k in range(n_feeders):
        t, r = synthetic_feeder(f"bench{k:03d}", feeder_twins)
        twins += t
        rels += r
    twins = twins[:n_twins]
    kept = {t["$dtId"] for t in twins}
    rels = [r for r in rels if r["$sourceId"] in kept and r["$targetId"] in kept]
    with make() as engine:
        migrate(engine)
        if engine.dialect.name != "sqlite":
            with engine.connect() as conn:
                local = conn.exec_driver_sql("SELECT @@local_infile").scalar()
            path = "LOAD DATA LOCAL INFILE" if local else "executemany (server local_infile=OFF)"
            print(f"{backend:6s} bulk write path: {path}")
        reg = TwinRegistry(engine, catalog=catalog)
        secs, _ = timed(lambda: reg.bulk_upsert(twins, []))
        print(
            f"{backend:6s} bulk upsert {len(twins)} new twins:            {secs:6.2f} s  {len(twins) / secs:9.0f} twins/s"
        )
        secs, _ = timed(lambda: reg.bulk_upsert([], rels))
        print(
            f"{backend:6s} bulk upsert {len(rels)} new relationships:    {secs:6.2f} s  {len(rels) / secs:9.0f} rels/s"
        )
        secs, _ = timed(lambda: reg.bulk_upsert(twins, rels))
        total = len(twins) + len(rels)
        print(
            f"{backend:6s} bulk re-upsert twins+relationships ({total}): {secs:6.2f} s  {len(twins) / secs:9.0f} twins/s"
        )
        best = min(timed(lambda: reg.export_feeder("bench000"))[0] for _ in range(5))
        t_tab, r_tab = reg.export_feeder("bench000")
        print(
            f"{backend:6s} export feeder ({t_tab.num_rows} twins, {r_tab.num_rows} rels): {best * 1000:6.1f} ms (best of 5)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--twins", type=int, default=100_000)
    parser.add_argument("--feeder-twins", type=int, default=7_000)
    args = parser.parse_args()
    run("sqlite", sqlite_engine, args.twins, args.feeder_twins)
    if os.environ.get("GRIDTWIN_BENCH_MYSQL", "1") != "0":
        run("mysql", mysql_engine, args.twins, args.feeder_twins)


if __name__ == "__main__":
    main()
