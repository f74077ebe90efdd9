"""gridtwin.rpc: health, reflection, error mapping with details metadata, tracing across a call; calls
carry an internal token (``e2e_support.signed_channel``), health and reflection answer without one."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from e2e_support import INTERNAL_SECRET, signed_channel
from gridtwin.config import Settings
from gridtwin.errors import (
    ConflictError,
    DssInputError,
    EngineError,
    ErrorDetail,
    NotConvergedError,
    NotFoundError,
)
from gridtwin.rpc import errors as rpc_errors
from gridtwin.rpc.client import channel
from gridtwin.rpc.logging import setup_json_logging
from gridtwin.rpc.server import ServiceSpec, build_server
from gridtwin.rpc.stubs import add_servicer, powerflow_stub
from gridtwin.rpc.telemetry import memory_exporter, setup_telemetry
from gridtwin.rpc.v1 import powerflow_pb2, powerflow_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry import trace

RAISES: dict[str, BaseException] = {
    "bad": DssInputError(
        "script does not compile", [ErrorDetail(where="Master.dss:12", message="no such bus")]
    ),
    "missing": NotFoundError(
        "no such feeder", [ErrorDetail(where="f1", message="feeder not found", code="not_found")]
    ),
    "etag": ConflictError("etag mismatch", [ErrorDetail(where="f1.load.a", message="stale", code="etag")]),
    "dup": ConflictError("exists", [ErrorDetail(where="f1.load.a", message="id exists", code="exists")]),
    "diverged": NotConvergedError("did not converge"),
    "engine": EngineError("OpenDSS failed"),
    "boom": RuntimeError("secret internal state /etc/shadow"),
}


SETTINGS = Settings(internal_secret=INTERNAL_SECRET)


class _Servicer(powerflow_pb2_grpc.PowerFlowServicer):  # type: ignore[misc]
    def Snapshot(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.feeder in RAISES:
            raise RAISES[request.feeder]
        return powerflow_pb2.SnapshotResponse(feeder=request.feeder, converged=True)


SPEC = ServiceSpec(
    name="probe",
    default_port=0,
    add_to_server=lambda server, _settings: add_servicer(
        powerflow_pb2_grpc.add_PowerFlowServicer_to_server, _Servicer(), server
    ),
    grpc_services=("gridtwin.v1.PowerFlow",),
)


@pytest.fixture(scope="module")
def addr() -> Iterator[str]:
    setup_telemetry("rpc-infra-test", "memory")
    server = build_server([SPEC], 0, SETTINGS)
    server.start()
    yield f"127.0.0.1:{server.gridtwin_port}"
    server.stop(0).wait()


def test_health_serving(addr: str) -> None:
    with channel(addr) as ch:  # no token: probes carry none
        stub = health_pb2_grpc.HealthStub(ch)
        for name in ("", "probe", "gridtwin.v1.PowerFlow"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as info:
            stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_services(addr: str) -> None:
    with channel(addr) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {"gridtwin.v1.PowerFlow", "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize(
    ("feeder", "code", "where"),
    [
        ("bad", grpc.StatusCode.INVALID_ARGUMENT, "Master.dss:12"),
        ("missing", grpc.StatusCode.NOT_FOUND, "f1"),
        ("etag", grpc.StatusCode.ABORTED, "f1.load.a"),
        ("dup", grpc.StatusCode.ALREADY_EXISTS, "f1.load.a"),
        ("diverged", grpc.StatusCode.FAILED_PRECONDITION, None),
        ("engine", grpc.StatusCode.INTERNAL, None),
    ],
)
def test_error_mapping(addr: str, feeder: str, code: grpc.StatusCode, where: str | None) -> None:
    assert rpc_errors.grpc_status_for(RAISES[feeder]) == code
    with signed_channel(addr, SETTINGS) as ch, pytest.raises(grpc.RpcError) as info:
        powerflow_stub(ch).Snapshot(powerflow_pb2.SnapshotRequest(feeder=feeder), timeout=5)
    err: Any = info.value
    assert err.code() == code
    details = rpc_errors.details_from_rpc_error(err)
    if where is None:
        assert details == []
    else:
        assert details[0]["where"] == where
        assert where in (err.details() or "")
    rebuilt = rpc_errors.error_from_rpc_error(err)
    assert isinstance(RAISES[feeder], type(rebuilt))
    assert [d.where for d in rebuilt.details] == [d.where for d in getattr(RAISES[feeder], "details", [])]


def test_unknown_exception_is_internal_and_safe(addr: str, caplog: pytest.LogCaptureFixture) -> None:
    with signed_channel(addr, SETTINGS) as ch, pytest.raises(grpc.RpcError) as info:
        powerflow_stub(ch).Snapshot(powerflow_pb2.SnapshotRequest(feeder="boom"), timeout=5)
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "shadow" not in (info.value.details() or "")
    assert any("unhandled error" in r.message and r.exc_info for r in caplog.records)


def test_trace_context_crosses_the_call(addr: str) -> None:
    exporter = memory_exporter()
    assert exporter is not None
    exporter.clear()
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("caller") as parent, signed_channel(addr, SETTINGS) as ch:
        powerflow_stub(ch).Snapshot(powerflow_pb2.SnapshotRequest(feeder="ok"), timeout=5)
        trace_id = parent.get_span_context().trace_id
    spans = exporter.get_finished_spans()
    server_spans = [s for s in spans if s.kind == trace.SpanKind.SERVER and s.name.endswith("Snapshot")]
    client_spans = [s for s in spans if s.kind == trace.SpanKind.CLIENT and s.name.endswith("Snapshot")]
    assert server_spans and client_spans
    assert server_spans[-1].context is not None and server_spans[-1].context.trace_id == trace_id
    assert client_spans[-1].context is not None and client_spans[-1].context.trace_id == trace_id


def test_json_logs_carry_trace_ids(capsys: pytest.CaptureFixture[str]) -> None:
    setup_json_logging("probe", "INFO")
    try:
        with trace.get_tracer("test").start_as_current_span("work") as span:
            logging.getLogger("gridtwin.test").info("inside a span")
            ids = span.get_span_context()
        out = capsys.readouterr().out.strip().splitlines()[-1]
    finally:
        for handler in list(logging.getLogger().handlers):
            if handler.get_name() == "gridtwin-json":
                logging.getLogger().removeHandler(handler)
    record = json.loads(out)
    assert record["message"] == "inside a span" and record["service"] == "probe"
    assert record["level"] == "INFO" and record["logger"] == "gridtwin.test"
    assert record["time"].endswith("+00:00")
    assert record["trace_id"] == format(ids.trace_id, "032x")
    assert record["span_id"] == format(ids.span_id, "016x")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    settings = Settings(tls_cert=cert, tls_key=key, internal_secret=INTERNAL_SECRET)
    server = build_server([SPEC], 0, settings)
    server.start()
    try:
        addr = f"127.0.0.1:{server.gridtwin_port}"
        with signed_channel(addr, settings) as ch:
            reply = powerflow_stub(ch).Snapshot(powerflow_pb2.SnapshotRequest(feeder="ok"), timeout=10)
            assert reply.converged
        with signed_channel(addr, SETTINGS) as plain, pytest.raises(grpc.RpcError) as info:
            powerflow_stub(plain).Snapshot(powerflow_pb2.SnapshotRequest(feeder="ok"), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(0).wait()
