"""The CYME import routes carry the ``regulators`` option to the ingestion service; a value that is not
``controlled`` or ``fixed`` is a 400 naming the field, before any back end is called."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from gateway_fakes import ApiClient, FakeBackends, Ingestion, running_fakes
from gridtwin.rpc.v1 import common_pb2, ingestion_pb2
from gridtwin_gateway.app import create_app


def _import_cyme(self: Ingestion, request: Any, context: grpc.ServicerContext) -> Any:
    self.calls.requests.append(request)
    return ingestion_pb2.ImportOpenDssResponse(
        feeder=request.feeder, twins=5, relationships=4, report=common_pb2.ImportReport(source="upload.zip")
    )


@pytest.fixture(scope="module")
def cyme_backends() -> Iterator[FakeBackends]:
    """The test servicers, the ingestion one answering ImportCyme too (added for this module only)."""
    Ingestion.ImportCyme = _import_cyme  # type: ignore[attr-defined]
    try:
        with running_fakes() as fakes:
            yield fakes
    finally:
        del Ingestion.ImportCyme  # type: ignore[attr-defined]


@pytest.fixture
def api(cyme_backends: FakeBackends) -> Iterator[ApiClient]:
    with ApiClient(create_app(cyme_backends.settings)) as client:
        client.login()  # the user the fakes' accounts store holds
        yield client


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("network.txt", "[SI]\n")
    return buf.getvalue()


@pytest.mark.parametrize(("given", "sent"), [(None, ""), ("fixed", "fixed"), ("Controlled", "controlled")])
def test_upload_sends_the_regulators_option(
    api: ApiClient, cyme_backends: FakeBackends, given: str | None, sent: str
) -> None:
    form = {"feeder": "c1"} | ({"regulators": given} if given is not None else {})
    resp = api.post("/api/v1/feeders/import-cyme", files={"file": ("c1.zip", _zip())}, data=form)
    assert resp.status_code == 200, resp.text
    request = cyme_backends.calls.last()
    assert isinstance(request, ingestion_pb2.ImportCymeRequest) and request.regulators == sent


def test_path_sends_the_regulators_option(api: ApiClient, cyme_backends: FakeBackends) -> None:
    resp = api.post(
        "/api/v1/feeders/import-cyme-path", json={"path": "/data/cyme", "feeder": "c2", "regulators": "fixed"}
    )
    assert resp.status_code == 200, resp.text
    assert cyme_backends.calls.last().regulators == "fixed"


@pytest.mark.parametrize("route", ["upload", "path"])
def test_invalid_regulators_is_a_400_naming_the_field(
    api: ApiClient, cyme_backends: FakeBackends, route: str
) -> None:
    before = len(cyme_backends.calls.requests)
    if route == "upload":
        resp = api.post(
            "/api/v1/feeders/import-cyme",
            files={"file": ("c3.zip", _zip())},
            data={"feeder": "c3", "regulators": "sometimes"},
        )
    else:
        resp = api.post(
            "/api/v1/feeders/import-cyme-path", json={"path": "/x", "feeder": "c3", "regulators": "sometimes"}
        )
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert [d["where"] for d in error["details"]] == ["body.regulators"]
    assert len(cyme_backends.calls.requests) == before  # refused before the back end is called
