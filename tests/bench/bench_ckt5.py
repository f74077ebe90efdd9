"""EPRI ckt5 through the registry: bulk upsert of its twins (SQLite and MySQL) and feeder export.

Prints figures, asserts nothing:
- read (OpenDSS -> feeder model) and feeder_to_twins time;
- bulk upsert of ckt5's twins and relationships, validated against the ontology, twins/s, on SQLite and on
  MySQL (database ``gridtwin_bench_ckt5`` on 127.0.0.1:3306, created and dropped here; GRIDTWIN_BENCH_MYSQL=0
  skips it);
- export of the whole feeder through gRPC (TwinRegistry.ExportFeeder, the registry service in this process
  on a free port) including decoding the Arrow IPC into a FeederModel, median of 10 (target <= 0.3 s).

    uv run python tests/bench/bench_ckt5.py
"""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import gridtwin._dsslib  # noqa: F401  (load OpenDSS safely before anything else)
import sqlalchemy as sa
from gridtwin.access import ALL_SITES, Principal, Role
from gridtwin.access.tokens import new_secret
from gridtwin.config import Settings
from gridtwin.grid.model import FeederModel
from gridtwin.grid.ontology import build_interfaces
from gridtwin.grid.twins import feeder_to_twins
from gridtwin.ingest.opendss import read_opendss
from gridtwin.rpc.client import channel
from gridtwin.rpc.runner import discover_services, start_grpc_services, stop_grpc_services
from gridtwin.rpc.stubs import registry_stub
from gridtwin.rpc.v1 import twin_registry_pb2
from gridtwin.store.db import make_engine, migrate
from gridtwin.twin.registry import TwinRegistry

SHARED = Path(os.environ.get("GRIDTWIN_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
CKT5 = SHARED / "opendss" / "EPRITestCircuits" / "ckt5" / "Master_ckt5.dss"
MYSQL_SERVER = "mysql+mysqldb://root@127.0.0.1:3306"
MYSQL_DB = "gridtwin_bench_ckt5"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def upsert(
    label: str, engine: sa.Engine, twins: list[dict[str, object]], rels: list[dict[str, object]]
) -> None:
    migrate(engine)
    registry = TwinRegistry(engine)
    registry.upload_models(list(build_interfaces().values()))
    for attempt in ("first load", "re-upsert"):
        start = time.perf_counter()
        registry.bulk_upsert(twins, rels, replace_feeder="ckt5")  # type: ignore[arg-type]
        dt = time.perf_counter() - start
        print(
            f"  {label:6} {attempt:10} {len(twins):6d} twins + {len(rels):6d} relationships in {dt:6.2f} s"
            f" = {len(twins) / dt:8,.0f} twins/s ({(len(twins) + len(rels)) / dt:8,.0f} rows/s)"
        )
    times = []
    for _ in range(5):
        start = time.perf_counter()
        registry.export_feeder("ckt5")
        times.append(time.perf_counter() - start)
    print(f"  {label:6} export_feeder (in process) median {statistics.median(times) * 1000:6.1f} ms")


def main() -> None:
    start = time.perf_counter()
    model, _ = read_opendss(CKT5, "ckt5", site="bench")
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    twins, rels = feeder_to_twins(model)
    conv_s = time.perf_counter() - start
    print(
        f"ckt5: read {read_s:.2f} s, feeder_to_twins {conv_s * 1000:.0f} ms -> {len(twins)} twins, {len(rels)} rels"
    )

    print("bulk upsert (validated against the ontology, one transaction):")
    tmp = Path(tempfile.mkdtemp(prefix="gridtwin-bench-ckt5-"))
    upsert("sqlite", make_engine(f"sqlite:///{tmp / 'sqlite.db'}"), twins, rels)
    if os.environ.get("GRIDTWIN_BENCH_MYSQL", "1") != "0":
        server = sa.create_engine(MYSQL_SERVER)
        with server.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {MYSQL_DB}"))
            conn.execute(sa.text(f"CREATE DATABASE {MYSQL_DB} CHARACTER SET utf8mb4"))
        try:
            mysql = make_engine(f"{MYSQL_SERVER}/{MYSQL_DB}")
            upsert("mysql", mysql, twins, rels)
            mysql.dispose()
        finally:
            with server.begin() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {MYSQL_DB}"))
            server.dispose()

    print("export through gRPC (registry service in this process, SQLite):")
    settings = Settings(
        data_dir=tmp,
        database_url=f"sqlite:///{tmp / 'sqlite.db'}",
        twin_registry_addr=f"127.0.0.1:{free_port()}",
        internal_secret=new_secret(),
    )
    specs = [s for s in discover_services().specs if s.name == "twin_registry"]
    running = start_grpc_services(specs, settings)
    try:
        bench = Principal("bench", Role.ADMIN, frozenset({ALL_SITES}))  # signed as the gateway would
        stub = registry_stub(channel(running[0].address, settings, principal=bench))
        times, sizes = [], []
        for _ in range(10):
            start = time.perf_counter()
            reply = stub.ExportFeeder(twin_registry_pb2.ExportFeederRequest(feeder="ckt5"), timeout=60)
            exported = FeederModel.from_ipc(reply.feeder_model_ipc)
            times.append(time.perf_counter() - start)
            sizes.append(len(reply.feeder_model_ipc))
        counts = sum(exported.counts().values())
        print(
            f"  ExportFeeder + decode: median {statistics.median(times) * 1000:.0f} ms, "
            f"best {min(times) * 1000:.0f} ms ({sizes[0] / 1e6:.1f} MB, {counts} rows; target <= 300 ms)"
        )
    finally:
        stop_grpc_services(running, grace_s=1)


if __name__ == "__main__":
    main()
