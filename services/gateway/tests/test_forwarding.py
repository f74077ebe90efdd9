"""The gateway forwards the verified caller to the services: every kind of gRPC call (unary, server
streaming, client streaming) carries a fresh internal token for the request's user (or API key), which
the service verifies; readiness probes carry none; a process without the internal secret is refused."""

from __future__ import annotations

import uuid

import grpc
import pytest
from gateway_fakes import ApiClient, FakeBackends, make_user
from gridtwin.access.principal import Principal, system_principal
from gridtwin.access.roles import Role
from gridtwin.access.tokens import TokenSigner
from gridtwin.rpc.auth_aio import aio_caller_interceptors
from gridtwin.rpc.v1 import twin_registry_pb2, twin_registry_pb2_grpc


def _as(client: ApiClient, fake_backends: FakeBackends, role: str, sites: list[str]) -> str:
    name = f"fw{uuid.uuid4().hex[:8]}"
    make_user(fake_backends.settings, name, "a-long-password-6", role, sites)
    client.login(name, "a-long-password-6")
    return name


def _last(fake_backends: FakeBackends, rpc: str) -> Principal | None:
    return [p for name, p in fake_backends.calls.callers if name == rpc][-1]


def test_unary_call_carries_the_user(client: ApiClient, fake_backends: FakeBackends) -> None:
    name = _as(client, fake_backends, "analyst", ["north", "south"])
    rid = f"rid-{uuid.uuid4().hex[:8]}"
    assert client.get("/api/v1/twins/f1.loads.a", headers={"X-Request-ID": rid}).status_code == 200
    caller = _last(fake_backends, "GetTwin")
    assert caller == Principal(
        name, Role.ANALYST, frozenset({"north", "south"}), via="password", request_id=rid
    )


def test_streaming_calls_carry_the_user(client: ApiClient, fake_backends: FakeBackends) -> None:
    name = _as(client, fake_backends, "operator", ["north"])
    synth = client.post("/api/v1/feeders/synthetic", json={"feeders": 1, "site": "north"})
    assert synth.status_code == 200, synth.text
    assert '"feeder":"synth-1"' in synth.text
    streamed = _last(fake_backends, "GenerateSynthetic")  # server streaming
    assert streamed is not None and (streamed.subject, streamed.role) == (name, Role.OPERATOR)
    up = client.post("/api/v1/uploads", params={"filename": "reads.csv"}, content=b"meter,ts,kwh\n" * 1000)
    assert up.status_code == 200, up.text
    assert up.json()["size_bytes"] == 13_000
    uploaded = _last(fake_backends, "UploadFile")  # client streaming
    assert uploaded is not None and uploaded.subject == name and uploaded.sites == frozenset({"north"})


def test_api_key_calls_carry_the_key(client: ApiClient, fake_backends: FakeBackends) -> None:
    _as(client, fake_backends, "operator", ["north"])
    key = client.post("/api/v1/keys", json={"name": "etl", "role": "viewer"}).json()
    client.use_token(key["secret"])
    assert client.get("/api/v1/twins/f1.loads.b").status_code == 200
    caller = _last(fake_backends, "GetTwin")
    assert caller is not None
    assert (caller.subject, caller.role, caller.via) == (f"key:{key['id']}", Role.VIEWER, "api_key")


def test_probes_need_no_caller(client: ApiClient) -> None:
    client.use_token(None)
    assert client.get("/readyz").status_code == 200


def test_the_services_refuse_callers_without_the_secret(fake_backends: FakeBackends) -> None:
    addr = fake_backends.settings.twin_registry_addr
    wrong = TokenSigner("another-internal-secret-0123456789abcdef").internal_token(
        system_principal("gateway")
    )
    with grpc.insecure_channel(addr) as channel:
        stub = twin_registry_pb2_grpc.TwinRegistryStub(channel)
        for metadata in ((), (("authorization", f"Bearer {wrong}"),)):
            with pytest.raises(grpc.RpcError) as err:
                stub.GetTwin(twin_registry_pb2.GetTwinRequest(id="f1.loads.a"), metadata=metadata, timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_one_interceptor_per_call_kind() -> None:
    interceptors = aio_caller_interceptors(TokenSigner("x" * 40), system_principal("gateway"))
    kinds = [
        grpc.aio.UnaryUnaryClientInterceptor,
        grpc.aio.UnaryStreamClientInterceptor,
        grpc.aio.StreamUnaryClientInterceptor,
        grpc.aio.StreamStreamClientInterceptor,
    ]
    # grpc.aio files each interceptor under the first kind it implements: one object per kind.
    assert [next(k for k in kinds if isinstance(i, k)) for i in interceptors] == kinds
