"""PowerFlow over gRPC: compiles once per feeder version, recompiles after an edit, and the edit shows
in the physics (more load -> more power from the source, more losses)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from gridtwin.access import ALL_SITES, Principal, Role
from gridtwin.access.tokens import new_secret
from gridtwin.config import Settings
from gridtwin.rpc.client import channel as rpc_channel
from gridtwin.rpc.runner import discover_services, start_grpc_services, stop_grpc_services
from gridtwin.rpc.stubs import ingestion_stub, powerflow_stub, registry_stub
from gridtwin.rpc.v1 import ingestion_pb2, powerflow_pb2
from gridtwin.rpc.v1 import twin_registry_pb2 as pb

SHARED_DATA = Path(
    os.environ.get("GRIDTWIN_SHARED_DATA", Path(__file__).resolve().parents[4] / "shared" / "data")
)
IEEE13 = SHARED_DATA / "opendss" / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"

pytestmark = pytest.mark.skipif(not IEEE13.is_file(), reason="shared test data not found")


# The services accept only signed callers: the tests sign as an admin of every site, as the gateway
# would for a user it verified.
CALLER = Settings(internal_secret=new_secret())
ADMIN = Principal("test-admin", Role.ADMIN, frozenset({ALL_SITES}))


def channel(addr: str) -> grpc.Channel:
    return rpc_channel(addr, CALLER, principal=ADMIN)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def addr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("powerflow")
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'pf.db'}",
        twin_registry_addr=f"127.0.0.1:{_free_port()}",
        ingestion_addr=f"127.0.0.1:{_free_port()}",
        powerflow_addr=f"127.0.0.1:{_free_port()}",
        import_roots=[SHARED_DATA],
        internal_secret=CALLER.internal_secret,
    )
    specs = [s for s in discover_services().specs if s.name in ("twin_registry", "ingestion", "powerflow")]
    running = start_grpc_services(specs, settings)
    addrs = {r.spec.name: r.address for r in running}
    with channel(addrs["ingestion"]) as ch:
        ingestion_stub(ch).ImportOpenDss(
            ingestion_pb2.ImportOpenDssRequest(feeder="pf13", site="t", path=str(IEEE13)), timeout=120
        )
    yield addrs
    stop_grpc_services(running, grace_s=1)


def _snapshot(addr: dict[str, str], feeder: str = "pf13") -> Any:
    with channel(addr["powerflow"]) as ch:
        return powerflow_stub(ch).Snapshot(powerflow_pb2.SnapshotRequest(feeder=feeder), timeout=120)


def test_recompiles_only_when_the_feeder_changes(addr: dict[str, str]) -> None:
    first = _snapshot(addr)
    assert first.converged and first.version
    again = _snapshot(addr)
    assert not again.recompiled and again.version == first.version
    assert [v.pu for v in again.voltages] == pytest.approx([v.pu for v in first.voltages], abs=1e-5)

    with channel(addr["twin_registry"]) as ch:
        stub = registry_stub(ch)
        load = stub.GetTwin(pb.GetTwinRequest(id="pf13.loads.671"), timeout=30)
        p_kw = json.loads(load.json)["p_kw"]
        patch = [{"op": "replace", "path": "/p_kw", "value": p_kw + 300.0}]
        stub.PatchTwin(
            pb.PatchTwinRequest(id=load.id, json_patch=json.dumps(patch), if_match=load.etag), timeout=30
        )

    edited = _snapshot(addr)
    assert edited.recompiled and edited.version != first.version
    assert edited.converged
    # 300 kW more load: the source delivers at least that much more (plus losses).
    assert edited.source_kw - first.source_kw > 300.0
    # (Voltages at 671 need not drop: the regulators move their taps to hold them.)
    assert edited.losses_kw > first.losses_kw


def test_response_carries_elements_and_losses(addr: dict[str, str]) -> None:
    reply = _snapshot(addr)
    names = {e.name for e in reply.elements}
    assert "line.650632" in names and "transformer.xfm1" in names
    assert 0 < reply.losses_kw < 0.05 * reply.source_kw
    assert reply.solve_ms >= 0


def test_empty_feeder_is_invalid_argument(addr: dict[str, str]) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _snapshot(addr, "")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _bump_load(addr: dict[str, str], kw: float) -> None:
    """Edit the feeder (a new version: the next snapshot compiles and solves from a cold start)."""
    with channel(addr["twin_registry"]) as ch:
        stub = registry_stub(ch)
        load = stub.GetTwin(pb.GetTwinRequest(id="pf13.loads.671"), timeout=30)
        patch = [{"op": "replace", "path": "/p_kw", "value": json.loads(load.json)["p_kw"] + kw}]
        stub.PatchTwin(
            pb.PatchTwinRequest(id=load.id, json_patch=json.dumps(patch), if_match=load.etag), timeout=30
        )


def test_solver_options_cap_the_solve_and_the_reply_says_so(addr: dict[str, str]) -> None:
    _bump_load(addr, 10.0)
    with channel(addr["powerflow"]) as ch:
        stub = powerflow_stub(ch)
        capped = stub.Snapshot(
            powerflow_pb2.SnapshotRequest(
                feeder="pf13", solver=powerflow_pb2.SolverOptions(max_iterations=1)
            ),
            timeout=120,
        )
        assert not capped.converged
        assert capped.message.startswith("power flow did not converge within max_iterations=1")
        assert capped.solver.max_iterations == 1 and capped.solver.max_control_iterations == 100
        plain = stub.Snapshot(powerflow_pb2.SnapshotRequest(feeder="pf13"), timeout=120)
        assert plain.converged and plain.message == "" and plain.solver.max_iterations == 100
        with pytest.raises(grpc.RpcError) as info:
            stub.Snapshot(
                powerflow_pb2.SnapshotRequest(
                    feeder="pf13", solver=powerflow_pb2.SolverOptions(tolerance=2.0)
                ),
                timeout=120,
            )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "solver.tolerance" in (info.value.details() or "")


def test_a_qsts_job_stores_its_solver(addr: dict[str, str]) -> None:
    with channel(addr["powerflow"]) as ch:
        job = powerflow_stub(ch).RunQSTS(
            powerflow_pb2.RunQstsRequest(
                feeders=["pf13"],
                period=powerflow_pb2.QstsPeriod(hours=2),
                solver=powerflow_pb2.SolverOptions(max_iterations=30, tolerance=0.0005),
            ),
            timeout=120,
        )
    solver = json.loads(job.params_json)["spec"]["solver"]
    assert (solver["max_iterations"], solver["max_control_iterations"], solver["tolerance"]) == (
        30,
        None,
        0.0005,
    )
    assert solver["default_max_iterations"] == 100
