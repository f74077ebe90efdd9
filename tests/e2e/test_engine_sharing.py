"""One OpenDSS engine, two services: a snapshot and a per-bus hosting study of the same feeder, run at
the same time through the PowerFlow and HostingCapacity services of one process (as the all-in-one
runs them), give the answers each gives alone. The engine owns its lock, so a snapshot can never land
between a study's test-DER edits, nor a study's solve between a snapshot's load and read.

Studies are compared exactly. Snapshots are compared to the power flow's own tolerance: a warm
snapshot starts from the previous solution and stops within OpenDSS's 1e-4 convergence tolerance, a
few 1e-6 pu from a cold one; a test DER left in the circuit would move voltages by percents."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from e2e_support import IEEE13, INTERNAL_SECRET, SHARED_DATA, signed_channel
from gridtwin.config import Settings
from gridtwin.rpc.runner import RunningService, discover_services, start_grpc_services, stop_grpc_services
from gridtwin.rpc.stubs import hosting_stub, ingestion_stub, powerflow_stub
from gridtwin.rpc.v1 import hosting_pb2, ingestion_pb2, powerflow_pb2

pytestmark = pytest.mark.skipif(not IEEE13.is_file(), reason="shared test data not found")
CALLER = Settings(internal_secret=INTERNAL_SECRET)  # signs the tests' calls (an admin of every site)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("sharing")
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'db.sqlite'}",
        import_roots=[SHARED_DATA],
        internal_secret=INTERNAL_SECRET,
    )
    wanted = ("twin_registry", "ingestion", "powerflow", "hosting")
    specs = [s for s in discover_services().specs if s.name in wanted]
    running: list[RunningService] = start_grpc_services(specs, settings, free_ports=True)
    addr = {r.spec.name: r.address for r in running}
    with signed_channel(addr["ingestion"], CALLER) as ch:
        ingestion_stub(ch).ImportOpenDss(
            ingestion_pb2.ImportOpenDssRequest(feeder="share13", site="t", path=str(IEEE13)), timeout=120
        )
    yield addr
    stop_grpc_services(running, grace_s=1)


def _snapshot(addr: dict[str, str]) -> dict[str, Any]:
    with signed_channel(addr["powerflow"], CALLER) as ch:
        reply = powerflow_stub(ch).Snapshot(powerflow_pb2.SnapshotRequest(feeder="share13"), timeout=300)
    return {
        "converged": reply.converged,
        "source_kw": reply.source_kw,
        "losses_kw": reply.losses_kw,
        "voltages": sorted((v.bus, v.node, v.pu) for v in reply.voltages),
    }


def _per_bus(addr: dict[str, str]) -> list[tuple[str, float, str]]:
    with signed_channel(addr["hosting"], CALLER) as ch:
        reply = hosting_stub(ch).PerBus(
            hosting_pb2.PerBusRequest(feeder="share13", method="exact"), timeout=600
        )
    table = pa.ipc.open_stream(reply.table.arrow_ipc).read_all().to_pandas()
    assert json.loads(reply.summary_json)["buses"] == len(table)
    return sorted(zip(table["bus"], table["capacity_kw"].round(9), table["limiting_criterion"], strict=True))


def test_snapshot_and_study_at_once_equal_each_alone(services: dict[str, str], tmp_path: Path) -> None:
    snapshot_alone = _snapshot(services)
    study_alone = _per_bus(services)
    assert snapshot_alone["converged"] and len(study_alone) > 10

    snapshots: list[dict[str, Any]] = []
    studies: list[list[tuple[str, float, str]]] = []
    errors: list[BaseException] = []
    study_done = threading.Event()

    def study() -> None:
        try:
            studies.append(_per_bus(services))
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)
        finally:
            study_done.set()

    def snapshots_meanwhile() -> None:
        try:
            while not study_done.is_set() or len(snapshots) < 3:
                snapshots.append(_snapshot(services))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=study), threading.Thread(target=snapshots_meanwhile)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    assert not errors, errors
    assert studies == [study_alone]
    assert len(snapshots) >= 3
    for got in snapshots:
        _assert_same_snapshot(got, snapshot_alone)


def _assert_same_snapshot(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["converged"]
    assert got["source_kw"] == pytest.approx(want["source_kw"], rel=1e-5)
    assert got["losses_kw"] == pytest.approx(want["losses_kw"], rel=1e-3)
    assert [v[:2] for v in got["voltages"]] == [v[:2] for v in want["voltages"]]
    assert [v[2] for v in got["voltages"]] == pytest.approx([v[2] for v in want["voltages"]], abs=2e-5)
