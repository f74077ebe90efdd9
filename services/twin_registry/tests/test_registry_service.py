"""TwinRegistry over gRPC: ontology at start, CRUD with etags, bulk replace, cheap version checks,
graceful SIGTERM shutdown of ``python -m gridtwin_twin_registry``, and no start without the internal
secret (the service answers only signed callers)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from gridtwin.access import ALL_SITES, Principal, Role
from gridtwin.access.tokens import new_secret
from gridtwin.config import Settings
from gridtwin.rpc.client import channel
from gridtwin.rpc.errors import details_from_rpc_error
from gridtwin.rpc.server import build_server, release
from gridtwin.rpc.stubs import registry_stub
from gridtwin.rpc.v1 import twin_registry_pb2 as pb
from gridtwin_twin_registry.server import SERVICE
from grpc_health.v1 import health_pb2, health_pb2_grpc

LOAD = "dtmi:gridtwin:Load;1"
SECRET = new_secret()
ADMIN = Principal("test-admin", Role.ADMIN, frozenset({ALL_SITES}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("registry")
    settings = Settings(
        data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'reg.db'}", internal_secret=SECRET
    )
    server = build_server([SERVICE], 0, settings)
    server.start()
    with channel(f"127.0.0.1:{server.gridtwin_port}", settings, principal=ADMIN) as ch:
        yield registry_stub(ch)
    server.stop(0).wait()
    release(server)


def _feeder_docs(feeder: str, loads: list[str]) -> tuple[list[str], list[Any]]:
    twins = [
        {"$dtId": feeder, "$metadata": {"$model": "dtmi:gridtwin:Feeder;1"}, "feeder": feeder, "site": "s1"},
        *(
            {
                "$dtId": f"{feeder}.loads.{name}",
                "$metadata": {"$model": LOAD},
                "feeder": feeder,
                "site": "s1",
                "p_kw": 10.0,
            }
            for name in loads
        ),
    ]
    rels = [
        pb.Relationship(id=f"c-{name}", source_id=feeder, name="contains", target_id=f"{feeder}.loads.{name}")
        for name in loads
    ]
    return [json.dumps(t) for t in twins], rels


def test_ontology_uploaded_at_start(stub: Any) -> None:
    models = {m.id for m in stub.ListModels(pb.ListModelsRequest(), timeout=10).models}
    assert {"dtmi:gridtwin:Load;1", "dtmi:gridtwin:Feeder;1", "dtmi:gridtwin:Bus;1"} <= models


def test_crud_with_etags(stub: Any) -> None:
    twins, rels = _feeder_docs("f1", ["a"])
    stub.BulkUpsert(pb.BulkUpsertRequest(twins_json=twins, relationships=rels), timeout=10)
    got = stub.GetTwin(pb.GetTwinRequest(id="f1.loads.a"), timeout=10)
    patched = stub.PatchTwin(
        pb.PatchTwinRequest(
            id=got.id,
            json_patch=json.dumps([{"op": "replace", "path": "/p_kw", "value": 12.5}]),
            if_match=got.etag,
        ),
        timeout=10,
    )
    assert json.loads(patched.json)["p_kw"] == 12.5 and patched.etag != got.etag
    with pytest.raises(grpc.RpcError) as info:
        stub.PatchTwin(pb.PatchTwinRequest(id=got.id, json_patch="[]", if_match=got.etag), timeout=10)
    assert info.value.code() == grpc.StatusCode.ABORTED
    with pytest.raises(grpc.RpcError) as info:
        stub.CreateTwin(pb.CreateTwinRequest(json="{not json"), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details_from_rpc_error(info.value)[0]["where"] == "json"
    with pytest.raises(grpc.RpcError) as info:
        stub.GetTwin(pb.GetTwinRequest(id="nope"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_bad_twin_is_invalid_argument_naming_it(stub: Any) -> None:
    bad = {"$dtId": "f9.loads.x", "$metadata": {"$model": LOAD}, "feeder": "f9", "p_kw": "lots"}
    with pytest.raises(grpc.RpcError) as info:
        stub.BulkUpsert(pb.BulkUpsertRequest(twins_json=[json.dumps(bad)]), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details_from_rpc_error(info.value)[0]["where"] == "f9.loads.x"


def test_replace_feeder_prunes_and_versions(stub: Any) -> None:
    twins, rels = _feeder_docs("f2", ["a", "b", "c"])
    stub.BulkUpsert(pb.BulkUpsertRequest(twins_json=twins, relationships=rels), timeout=10)
    first = stub.ExportFeeder(pb.ExportFeederRequest(feeder="f2"), timeout=10)
    assert first.version and not first.unchanged
    same = stub.ExportFeeder(pb.ExportFeederRequest(feeder="f2", known_version=first.version), timeout=10)
    assert same.unchanged and same.feeder_model_ipc == b""

    twins, rels = _feeder_docs("f2", ["a", "d"])
    stub.BulkUpsert(
        pb.BulkUpsertRequest(twins_json=twins, relationships=rels, replace_feeder="f2"), timeout=10
    )
    loads = stub.QueryTwins(pb.QueryTwinsRequest(model=LOAD, feeder="f2"), timeout=10)
    assert [t.id for t in loads.twins] == ["f2.loads.a", "f2.loads.d"]
    kept = stub.ListRelationships(pb.ListRelationshipsRequest(source_id="f2", name="contains"), timeout=10)
    assert sorted(r.id for r in kept.relationships) == ["c-a", "c-d"]
    changed = stub.ExportFeeder(pb.ExportFeederRequest(feeder="f2", known_version=first.version), timeout=10)
    assert not changed.unchanged and changed.version != first.version

    feeders = stub.ListFeeders(pb.ListFeedersRequest(site="s1"), timeout=10).feeders
    assert {f.id: f.twin_count for f in feeders}["f2"] == 3
    assert stub.DeleteFeeder(pb.DeleteFeederRequest(feeder="f2"), timeout=10).deleted == 3
    with pytest.raises(grpc.RpcError) as info:
        stub.ExportFeeder(pb.ExportFeederRequest(feeder="f2"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_sigterm_drains_and_exits_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "GRIDTWIN_DATA_DIR": str(tmp_path),
        "GRIDTWIN_DATABASE_URL": "",
        "GRIDTWIN_GRPC_PORT": str(port),
        "GRIDTWIN_INTERNAL_SECRET": SECRET,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridtwin_twin_registry"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        with channel(f"127.0.0.1:{port}") as ch:
            health = health_pb2_grpc.HealthStub(ch)
            while True:
                try:
                    reply = health.Check(health_pb2.HealthCheckRequest(service="twin_registry"), timeout=2)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "service did not become SERVING"
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)  # drains within the grace period, no hang
        assert proc.returncode == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    messages = [r["message"] for r in records]
    assert "serving" in messages and "shutting down" in messages and messages[-1] == "stopped"
    assert all(r["service"] == "twin_registry" and r["time"].endswith("+00:00") for r in records)


def test_no_start_without_the_internal_secret(tmp_path: Path) -> None:
    """No unauthenticated mode: without GRIDTWIN_INTERNAL_SECRET the service says so and exits."""
    env = {k: v for k, v in os.environ.items() if k != "GRIDTWIN_INTERNAL_SECRET"}
    env.update(
        GRIDTWIN_DATA_DIR=str(tmp_path), GRIDTWIN_DATABASE_URL="", GRIDTWIN_GRPC_PORT=str(_free_port())
    )
    done = subprocess.run(
        [sys.executable, "-m", "gridtwin_twin_registry"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "GRIDTWIN_INTERNAL_SECRET" in done.stderr
    assert not (tmp_path / "gridtwin.db").exists()  # refused before anything was opened


def test_build_server_refuses_a_short_secret(tmp_path: Path) -> None:
    from gridtwin.errors import InputError

    settings = Settings(data_dir=tmp_path, internal_secret="too-short")
    with pytest.raises(InputError) as info:
        build_server([SERVICE], 0, settings)
    assert info.value.details[0].where == "GRIDTWIN_INTERNAL_SECRET"
    assert "too-short" not in str(info.value)
