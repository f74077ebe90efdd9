"""In-process gRPC servers with small test servicers, for the gateway's HTTP <-> gRPC mapping.

The servicers return canned twins and import reports, or fail with a chosen status code; they test
the gateway's translation only. Power-flow numbers are never canned here: the snapshot's content is
tested end to end against the real services.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
from fastapi import FastAPI
from gridtwin.access.passwords import hash_password
from gridtwin.access.principal import Principal
from gridtwin.config import Settings
from gridtwin.errors import NotAuthenticatedError
from gridtwin.rpc.auth import current_principal
from gridtwin.rpc.errors import DETAILS_KEY
from gridtwin.rpc.server import ServiceSpec, build_server
from gridtwin.rpc.stubs import add_servicer
from gridtwin.rpc.v1 import (
    common_pb2,
    hosting_pb2,
    hosting_pb2_grpc,
    ingestion_pb2,
    ingestion_pb2_grpc,
    measurements_pb2,
    measurements_pb2_grpc,
    powerflow_pb2,
    powerflow_pb2_grpc,
    twin_registry_pb2,
    twin_registry_pb2_grpc,
)
from gridtwin.store.accounts import AccountStore
from gridtwin.store.db import make_engine, migrate

ETAG = "etag-1"
# Test secrets (never used outside the tests); the fakes' servers share them with the gateway.
INTERNAL_SECRET = "test-internal-secret-0123456789abcdefghij"
JWT_SECRET = "test-jwt-secret-0123456789abcdefghijklmnop"
ADMIN_PASSWORD = "bootstrap-admin-password"
TESTER = "tester"
TESTER_PASSWORD = "tester-password-123"


def auth_settings(data_dir: Path, **update: Any) -> Settings:
    """Settings with the test secrets, the accounts database under ``data_dir`` and limits high
    enough that only the tests about limits meet them."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "otel_exporter": "none",
        "data_dir": data_dir,
        "internal_secret": INTERNAL_SECRET,
        "jwt_secret": JWT_SECRET,
        "admin_password": ADMIN_PASSWORD,
        "rate_limit_per_s": 10_000.0,
        "rate_limit_burst": 100_000,
        "rate_limit_ip_per_s": 10_000.0,
        "rate_limit_ip_burst": 100_000,
        "cookie_secure": False,
        **update,
    }
    return Settings(**values)


def accounts(settings: Settings) -> AccountStore:
    """The accounts store of ``settings``' database (migrated)."""
    return _accounts(settings.resolved_database_url())


@functools.lru_cache(maxsize=64)
def _accounts(url: str) -> AccountStore:
    engine = make_engine(url)
    migrate(engine)
    return AccountStore(engine)


def make_user(
    settings: Settings, username: str, password: str, role: str = "admin", sites: Iterable[str] = ("*",)
) -> None:
    """A user in the accounts store (as ``gridtwin users create`` would make one)."""
    store = accounts(settings)
    if store.find_user(username) is None:
        store.create_user(username, hash_password(password), role, sites)


def abort_for(context: grpc.ServicerContext, key: str) -> None:
    """Ids like ``status.NOT_FOUND`` (``status-NOT_FOUND`` where dots are not allowed) make a servicer fail with that code and one located detail;
    ``quota-30`` fails with RESOURCE_EXHAUSTED and ``retry-after: 30`` (a site's job quota)."""
    if key.startswith("quota-"):
        context.set_trailing_metadata((("retry-after", key[len("quota-") :]),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many running jobs for the site")
    if key.startswith(("status.", "status-")):
        code = grpc.StatusCode[key[len("status.") :]]
        details = [{"where": key, "message": "chosen by the test", "code": "test"}]
        context.set_trailing_metadata(((DETAILS_KEY, json.dumps(details).encode()),))
        context.abort(code, f"failed on purpose: {key}: chosen by the test")


def twin(twin_id: str, etag: str = ETAG, **props: Any) -> twin_registry_pb2.Twin:
    doc = {"$dtId": twin_id, "$metadata": {"$model": "dtmi:gridtwin:Load;1"}, "feeder": "f1", **props}
    return twin_registry_pb2.Twin(
        id=twin_id, model="dtmi:gridtwin:Load;1", site="s", feeder="f1", etag=etag, json=json.dumps(doc)
    )


@dataclass
class Calls:
    """What the servicers received, for assertions on the translated requests, and who called
    (the principal the service verified from the gateway's internal token)."""

    requests: list[Any] = field(default_factory=list)
    callers: list[tuple[str, Principal | None]] = field(default_factory=list)

    def last(self) -> Any:
        return self.requests[-1]

    def caller(self, rpc: str) -> None:
        try:
            self.callers.append((rpc, current_principal()))
        except NotAuthenticatedError:
            self.callers.append((rpc, None))


class Registry(twin_registry_pb2_grpc.TwinRegistryServicer):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def GetTwin(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        self.calls.caller("GetTwin")
        abort_for(context, request.id)
        if request.id.startswith("sleep-"):  # sleep-1.5: answers after 1.5 s (time limits)
            time.sleep(float(request.id[len("sleep-") :]))
        return twin(request.id, p_kw=12.5)

    def CreateTwin(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        doc = json.loads(request.json)
        abort_for(context, doc.get("$dtId", ""))
        return twin(doc["$dtId"])

    def _conditional(self, request: Any, context: grpc.ServicerContext) -> None:
        self.calls.requests.append(request)
        abort_for(context, request.id)
        if request.if_match and request.if_match not in (ETAG, "*"):
            context.abort(grpc.StatusCode.ABORTED, f"etag mismatch: {request.id}")

    def ReplaceTwin(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._conditional(request, context)
        return twin(request.id, etag="etag-2")

    def PatchTwin(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._conditional(request, context)
        return twin(request.id, etag="etag-2")

    def DeleteTwin(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._conditional(request, context)
        return twin_registry_pb2.DeleteTwinResponse(deleted=1)

    def QueryTwins(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        abort_for(context, request.feeder)
        return twin_registry_pb2.QueryTwinsResponse(
            twins=[twin("f1.loads.a"), twin("f1.loads.b")], next_page_token="p2"
        )

    def Traverse(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        abort_for(context, request.start_id)
        return twin_registry_pb2.QueryTwinsResponse(twins=[twin("f1.buses.x")])

    def ListRelationships(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        abort_for(context, request.source_id)
        rel = twin_registry_pb2.Relationship(
            id="r1", source_id=request.source_id, name="connectsTo", target_id="f1.buses.x", etag="e",
            properties_json='{"terminal": 1}',
        )  # fmt: skip
        return twin_registry_pb2.ListRelationshipsResponse(relationships=[rel])

    def ListFeeders(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        abort_for(context, request.site)
        info = twin_registry_pb2.FeederInfo(id="f1", site=request.site or "s", twin_count=7, version="v1")
        return twin_registry_pb2.ListFeedersResponse(feeders=[info])

    def DeleteFeeder(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        abort_for(context, request.feeder)
        return twin_registry_pb2.DeleteTwinResponse(deleted=7)

    def ListModels(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        model = {"@id": "dtmi:gridtwin:Load;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3"}
        info = twin_registry_pb2.ModelInfo(
            id="dtmi:gridtwin:Load;1", display_name="Load", json=json.dumps(model)
        )
        return twin_registry_pb2.ListModelsResponse(models=[info])

    def UploadModels(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        ids = [json.loads(m).get("@id", "") for m in request.models_json]
        for i in ids:
            abort_for(context, i)
        return twin_registry_pb2.UploadModelsResponse(ids=ids)


class Ingestion(ingestion_pb2_grpc.IngestionServicer):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def ImportOpenDss(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        abort_for(context, request.feeder)
        report = common_pb2.ImportReport(
            source=request.path or "upload.zip",
            counts={"loads": 3},
            unmapped=[
                common_pb2.ErrorDetail(where="master.dss:4", message="Monitor not mapped", code="unmapped")
            ],
        )
        return ingestion_pb2.ImportOpenDssResponse(
            feeder=request.feeder, twins=10, relationships=9, report=report
        )

    def GenerateSynthetic(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        self.calls.caller("GenerateSynthetic")
        yield ingestion_pb2.SyntheticProgress(done=1, total=1, feeder="synth-1", twins=3, elapsed_s=0.1)


class Measurements(measurements_pb2_grpc.MeasurementsServicer):
    """Takes uploads (a client-streaming call), nothing else."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def UploadFile(self, request_iterator: Any, context: grpc.ServicerContext) -> Any:
        chunks = list(request_iterator)
        self.calls.requests.append(chunks[0] if chunks else None)
        self.calls.caller("UploadFile")
        size = sum(len(c.data) for c in chunks)
        return measurements_pb2.UploadedFile(
            upload_id="up1", filename=chunks[0].filename if chunks else "", size_bytes=size, sha256="0" * 64
        )


class PowerFlow(powerflow_pb2_grpc.PowerFlowServicer):
    """Only fails: the numbers of a snapshot come from the real service in the end-to-end test."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def Snapshot(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        abort_for(context, request.feeder)
        context.abort(grpc.StatusCode.NOT_FOUND, f"no feeder {request.feeder}")

    def RunQSTS(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        return powerflow_pb2.Job(id="j1", kind="qsts", status="queued", params_json="{}")

    def RunScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        return powerflow_pb2.Job(id="j2", kind="qsts", status="queued", params_json="{}")


class Hosting(hosting_pb2_grpc.HostingCapacityServicer):
    """Records the translated requests and answers with empty results."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def PerBus(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        return hosting_pb2.PerBusResponse(feeder=request.feeder, version="1", summary_json="{}")

    def CheckConnection(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        return hosting_pb2.ConnectionReply(ok=True, bus=request.bus, version="1")

    def RunStochastic(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.requests.append(request)
        return powerflow_pb2.Job(id="j3", kind="hosting_stochastic", status="queued", params_json="{}")


@dataclass
class FakeBackends:
    settings: Settings
    calls: Calls


class ApiClient:
    """A blocking facade over ``httpx.AsyncClient`` + ``ASGITransport`` on a private event loop.

    Starlette's TestClient now warns when used with httpx; this keeps every request (and the app's
    grpc.aio channels) on one loop, which is what the channels need.
    """

    def __init__(self, app: FastAPI, token: str = "") -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="api-client", daemon=True)
        self._thread.start()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
        if token:
            self.use_token(token)

    def use_token(self, token: str | None) -> None:
        """Send ``Authorization: Bearer <token>`` on every request (None: no credentials)."""
        if token is None:
            self._client.headers.pop("Authorization", None)
        else:
            self._client.headers["Authorization"] = f"Bearer {token}"

    def login(self, username: str = TESTER, password: str = TESTER_PASSWORD) -> dict[str, Any]:
        """Log in with the password grant, as a client would, and use the access token from now on."""
        resp = self.post(
            "/api/v1/auth/token", data={"username": username, "password": password, "grant_type": "password"}
        )
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        self.use_token(body["access_token"])
        return body

    @property
    def cookies(self) -> httpx.Cookies:
        return self._client.cookies

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=120)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self.run(self._client.request(method, url, **kwargs))
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self.run(self._client.aclose())
        backends = self.app.state.backends
        if backends is not None:
            self.run(backends.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def running_fakes(**update: Any) -> Iterator[FakeBackends]:
    """The test servicers on their own in-process gRPC servers, on free ports; the settings carry the
    test secrets and a fresh accounts database with the user ``tester`` (admin, every site)."""
    calls = Calls()
    data_dir = Path(tempfile.mkdtemp(prefix="gridtwin-gateway-"))
    settings = auth_settings(data_dir, **update)
    make_user(settings, TESTER, TESTER_PASSWORD)
    servers = []
    addrs = {}
    specs = {
        "twin_registry": ServiceSpec(
            name="twin_registry",
            default_port=0,
            add_to_server=lambda s, _c: add_servicer(
                twin_registry_pb2_grpc.add_TwinRegistryServicer_to_server, Registry(calls), s
            ),
            grpc_services=("gridtwin.v1.TwinRegistry",),
        ),
        "ingestion": ServiceSpec(
            name="ingestion",
            default_port=0,
            add_to_server=lambda s, _c: (
                add_servicer(ingestion_pb2_grpc.add_IngestionServicer_to_server, Ingestion(calls), s),
                add_servicer(
                    measurements_pb2_grpc.add_MeasurementsServicer_to_server, Measurements(calls), s
                ),
            )[-1],
            grpc_services=("gridtwin.v1.Ingestion", "gridtwin.v1.Measurements"),
        ),
        "powerflow": ServiceSpec(
            name="powerflow",
            default_port=0,
            add_to_server=lambda s, _c: add_servicer(
                powerflow_pb2_grpc.add_PowerFlowServicer_to_server, PowerFlow(calls), s
            ),
            grpc_services=("gridtwin.v1.PowerFlow",),
        ),
        "hosting": ServiceSpec(
            name="hosting",
            default_port=0,
            add_to_server=lambda s, _c: add_servicer(
                hosting_pb2_grpc.add_HostingCapacityServicer_to_server, Hosting(calls), s
            ),
            grpc_services=("gridtwin.v1.HostingCapacity",),
        ),
    }
    for name, spec in specs.items():
        server = build_server([spec], 0, settings, max_workers=4)
        server.start()
        servers.append(server)
        addrs[f"{name}_addr"] = f"127.0.0.1:{server.gridtwin_port}"
    try:
        yield FakeBackends(settings=settings.model_copy(update=addrs), calls=calls)
    finally:
        for server in servers:
            server.stop(None).wait()
        shutil.rmtree(data_dir, ignore_errors=True)
