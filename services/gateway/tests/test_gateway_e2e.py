"""End to end through REST: the gateway over the REAL twin registry, ingestion and powerflow services.

IEEE 13 is uploaded as a zip, its twins queried and edited, a snapshot solved by OpenDSS in the
powerflow service, and one trace id is followed from the gateway's HTTP span into the services.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_fakes import TESTER, TESTER_PASSWORD, ApiClient, auth_settings, make_user
from gridtwin.config import Settings
from gridtwin.rpc.server import build_server, release
from gridtwin.rpc.telemetry import memory_exporter, setup_telemetry
from gridtwin_gateway.app import create_app
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

with warnings.catch_warnings():
    # typer (imported by the CLI module) trips click's deprecation warnings at import time.
    warnings.simplefilter("ignore", DeprecationWarning)
    from gridtwin.cli.client_cmds import zip_model

SHARED = Path(os.environ.get("GRIDTWIN_SHARED_DATA", Path(__file__).resolve().parents[4] / "shared" / "data"))
IEEE13 = SHARED / "opendss" / "IEEETestCases" / "13Bus"
REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def backend_specs() -> list[Any]:
    from gridtwin_hosting.server import SERVICE as HOSTING
    from gridtwin_ingestion.server import SERVICE as INGESTION
    from gridtwin_powerflow.server import SERVICE as POWERFLOW
    from gridtwin_twin_registry.server import SERVICE as REGISTRY

    return [REGISTRY, INGESTION, POWERFLOW, HOSTING]  # the registry first: the others connect to it


@pytest.fixture(scope="module")
def real_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    setup_telemetry("gateway-e2e", "memory")
    settings = auth_settings(
        tmp_path_factory.mktemp("gridtwin"),
        dtdl_dir=REPO / "dtdl",
        twin_registry_addr=f"127.0.0.1:{free_port()}",
        ingestion_addr=f"127.0.0.1:{free_port()}",
        powerflow_addr=f"127.0.0.1:{free_port()}",
        hosting_addr=f"127.0.0.1:{free_port()}",
    )
    make_user(settings, TESTER, TESTER_PASSWORD, "operator", ["demo"])
    servers = []
    for spec in backend_specs():
        port = int(getattr(settings, f"{spec.name}_addr").rpartition(":")[2])
        server = build_server([spec], port, settings, max_workers=8)
        server.start()
        servers.append((spec, server))
    yield settings
    for _, server in reversed(servers):
        server.stop(None).wait()
        release(server)


@pytest.fixture(scope="module")
def api(real_settings: Settings) -> Iterator[ApiClient]:
    with ApiClient(create_app(real_settings)) as client:
        client.login()  # an operator of the site "demo": every call below is made as that user
        yield client


@pytest.fixture(scope="module")
def imported(api: ApiClient) -> dict[str, Any]:
    # The CLI's packer: the 13Bus folder plus the line codes it redirects to one level up.
    data, master = zip_model(IEEE13)
    assert master == "13Bus/IEEE13Nodeckt.dss"
    resp = api.post(
        "/api/v1/feeders/import",
        files={"file": ("13bus.zip", data, "application/zip")},
        data={"feeder": "ieee13", "site": "demo", "master": master},
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_import_report(imported: dict[str, Any]) -> None:
    assert imported["feeder"] == "ieee13"
    assert imported["twins"] > 30 and imported["relationships"] > 0
    assert imported["report"]["counts"].get("loads", 0) == 15


def test_readyz_real(api: ApiClient) -> None:
    resp = api.get("/readyz")
    assert resp.status_code == 200, resp.text


def test_feeders_and_twins(api: ApiClient, imported: dict[str, Any]) -> None:
    feeders = api.get("/api/v1/feeders", params={"site": "demo"}).json()["feeders"]
    assert [f["id"] for f in feeders] == ["ieee13"]

    loads = api.get(
        "/api/v1/twins", params={"feeder": "ieee13", "model": "dtmi:gridtwin:Load;1", "page_size": 10}
    )
    assert loads.status_code == 200, loads.text
    page = loads.json()
    assert len(page["twins"]) == 10 and page["next_page_token"]
    rest = api.get(
        "/api/v1/twins",
        params={"feeder": "ieee13", "model": "dtmi:gridtwin:Load;1", "page_token": page["next_page_token"]},
    ).json()
    ids = {t["$dtId"] for t in page["twins"] + rest["twins"]}
    assert len(ids) == 15 and "ieee13.loads.671" in ids

    twin = api.get("/api/v1/twins/ieee13.loads.671")
    assert twin.status_code == 200
    etag = twin.headers["etag"]
    assert twin.json()["$dtId"] == "ieee13.loads.671"

    missing = api.get("/api/v1/twins/ieee13.loads.nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["details"][0]["where"]

    bad = api.get("/api/v1/twins", params={"feeder": "ieee13", "filter": "p_kw:around:1"})
    assert bad.status_code == 400

    assert api.get("/api/v1/twins/ieee13.loads.671/relationships").status_code == 200
    near = api.get("/api/v1/twins/ieee13.loads.671/traverse", params={"hops": 2, "direction": "both"})
    assert near.status_code == 200 and near.json()["twins"]

    # The current ETag is accepted and replaced; the old one is then refused with 412.
    ops = [{"op": "replace", "path": "/p_kw", "value": 1200.0}]
    patched = api.patch("/api/v1/twins/ieee13.loads.671", json=ops, headers={"If-Match": etag})
    assert patched.status_code == 200, patched.text
    assert patched.json()["p_kw"] == 1200.0
    assert patched.headers["etag"] != etag
    stale = api.patch("/api/v1/twins/ieee13.loads.671", json=ops, headers={"If-Match": etag})
    assert stale.status_code == 412, stale.text
    assert stale.json()["error"]["details"][0]["where"] == "ieee13.loads.671"
    restore = [{"op": "replace", "path": "/p_kw", "value": 1155.0}]
    assert api.patch("/api/v1/twins/ieee13.loads.671", json=restore).status_code == 200


def test_snapshot_through_gateway(api: ApiClient, imported: dict[str, Any]) -> None:
    resp = api.post("/api/v1/feeders/ieee13/snapshot")
    assert resp.status_code == 200, resp.text
    snap = resp.json()
    assert snap["feeder"] == "ieee13" and snap["converged"] is True
    for key in (
        "losses_kw",
        "losses_kvar",
        "source_kw",
        "source_kvar",
        "line_losses_kw",
        "transformer_losses_kw",
    ):
        assert isinstance(snap[key], float)
    # IEEE 13 carries about 3.5 MW of load; losses are positive and a small share of the source power.
    assert 3000 < snap["source_kw"] < 4000
    assert 0 < snap["losses_kw"] < 0.1 * snap["source_kw"]
    buses = {v["bus"] for v in snap["voltages"]}
    assert {"650", "671", "675"} <= buses
    assert all(set(v) == {"bus", "node", "pu", "angle_deg"} for v in snap["voltages"])
    assert all(0.8 < v["pu"] < 1.2 for v in snap["voltages"] if v["pu"] > 0)
    assert any(e["name"].startswith("line.") for e in snap["elements"])
    assert {"name", "loading_pct"} <= set(snap["elements"][0])
    missing = api.get("/api/v1/feeders/nothere/snapshot")
    assert missing.status_code == 404


def test_one_trace_spans_gateway_and_service(api: ApiClient, imported: dict[str, Any]) -> None:
    exporter = memory_exporter()
    assert isinstance(exporter, InMemorySpanExporter)
    exporter.clear()
    assert api.get("/api/v1/twins/ieee13.loads.671").status_code == 200
    spans = exporter.get_finished_spans()
    http = [s for s in spans if s.kind == SpanKind.SERVER and "/api/v1/twins" in s.name]
    assert http, [s.name for s in spans]
    trace_id = http[0].context.trace_id
    grpc_server = [s for s in spans if s.kind == SpanKind.SERVER and "TwinRegistry/GetTwin" in s.name]
    assert grpc_server, [s.name for s in spans]
    assert grpc_server[0].context.trace_id == trace_id
    client = [s for s in spans if s.kind == SpanKind.CLIENT and "GetTwin" in s.name]
    assert client and client[0].context.trace_id == trace_id
