"""HTTP <-> gRPC translation of the gateway against in-process gRPC servers (test servicers)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import grpc
import pytest
from gateway_fakes import ETAG, ApiClient, FakeBackends
from gridtwin_gateway.app import create_app
from gridtwin_gateway.errors import http_status_for


def assert_error_body(body: dict[str, Any], code: str) -> list[dict[str, str]]:
    assert set(body) == {"error"}
    err = body["error"]
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["details"], list)
    for d in err["details"]:
        assert {"where", "message"} <= set(d)
    return list(err["details"])


STATUS_CASES = [
    ("INVALID_ARGUMENT", 400),
    ("NOT_FOUND", 404),
    ("ALREADY_EXISTS", 409),
    ("ABORTED", 409),
    ("FAILED_PRECONDITION", 409),
    ("PERMISSION_DENIED", 403),
    ("UNAUTHENTICATED", 401),
    ("RESOURCE_EXHAUSTED", 429),
    ("UNAVAILABLE", 503),
    ("DEADLINE_EXCEEDED", 504),
    ("INTERNAL", 500),
    ("UNKNOWN", 500),
    ("DATA_LOSS", 500),
]


@pytest.mark.parametrize(("grpc_code", "http_status"), STATUS_CASES)
def test_every_status_maps_with_located_details(client: ApiClient, grpc_code: str, http_status: int) -> None:
    resp = client.get(f"/api/v1/twins/status.{grpc_code}")
    assert resp.status_code == http_status
    details = assert_error_body(resp.json(), grpc_code)
    # The service's trailing-metadata details reach the body, and the message is not repeated in it.
    assert details == [{"where": f"status.{grpc_code}", "message": "chosen by the test", "code": "test"}]
    assert resp.json()["error"]["message"] == "failed on purpose"


@pytest.mark.parametrize("grpc_code", ["ABORTED", "FAILED_PRECONDITION"])
def test_conflict_is_412_when_if_match_sent(client: ApiClient, grpc_code: str) -> None:
    resp = client.put(
        f"/api/v1/twins/status.{grpc_code}", json={"$dtId": "x"}, headers={"If-Match": '"etag-1"'}
    )
    assert resp.status_code == 412
    assert_error_body(resp.json(), grpc_code)


def test_resource_exhausted_on_import_is_413(client: ApiClient) -> None:
    resp = client.post(
        "/api/v1/feeders/import-path", json={"path": "/x", "feeder": "status-RESOURCE_EXHAUSTED"}
    )
    assert resp.status_code == 413
    assert_error_body(resp.json(), "RESOURCE_EXHAUSTED")


def test_status_table_is_complete() -> None:
    for code in grpc.StatusCode:
        if code != grpc.StatusCode.OK:
            assert 400 <= http_status_for(code) < 600


def test_get_twin_passes_document_and_etag(client: ApiClient) -> None:
    resp = client.get("/api/v1/twins/f1.loads.671")
    assert resp.status_code == 200
    assert resp.headers["etag"] == f'"{ETAG}"'
    doc = resp.json()
    assert doc["$dtId"] == "f1.loads.671"
    assert doc["p_kw"] == 12.5


def test_if_match_is_unquoted_for_the_registry(client: ApiClient, fake_backends: FakeBackends) -> None:
    resp = client.put(
        "/api/v1/twins/f1.loads.a", json={"$dtId": "f1.loads.a"}, headers={"If-Match": f'"{ETAG}"'}
    )
    assert resp.status_code == 200
    assert resp.headers["etag"] == '"etag-2"'
    assert fake_backends.calls.last().if_match == ETAG

    stale = client.put(
        "/api/v1/twins/f1.loads.a", json={"$dtId": "f1.loads.a"}, headers={"If-Match": '"old"'}
    )
    assert stale.status_code == 412
    assert_error_body(stale.json(), "ABORTED")

    unconditional = client.put("/api/v1/twins/f1.loads.a", json={"$dtId": "f1.loads.a"})
    assert unconditional.status_code == 200
    assert fake_backends.calls.last().if_match == ""


def test_patch_sends_json_patch(client: ApiClient, fake_backends: FakeBackends) -> None:
    ops = [{"op": "replace", "path": "/p_kw", "value": 20}]
    resp = client.patch(
        "/api/v1/twins/f1.loads.a",
        json=ops,
        headers={"If-Match": f'"{ETAG}"', "Content-Type": "application/json-patch+json"},
    )
    assert resp.status_code == 200, resp.text
    sent = fake_backends.calls.last()
    assert sent.if_match == ETAG
    assert sent.json_patch.replace(" ", "") == '[{"op":"replace","path":"/p_kw","value":20}]'

    bad = client.patch("/api/v1/twins/f1.loads.a", json={"op": "replace"})
    assert bad.status_code == 422
    assert_error_body(bad.json(), "VALIDATION_ERROR")


def test_delete_twin_and_create(client: ApiClient) -> None:
    assert client.delete("/api/v1/twins/f1.loads.a", headers={"If-Match": "*"}).status_code == 204
    assert client.delete("/api/v1/twins/f1.loads.a", headers={"If-Match": '"nope"'}).status_code == 412
    created = client.post("/api/v1/twins", json={"$dtId": "f1.loads.new", "$metadata": {"$model": "m"}})
    assert created.status_code == 201
    assert created.headers["location"] == "/api/v1/twins/f1.loads.new"
    assert created.headers["etag"] == f'"{ETAG}"'
    dup = client.post("/api/v1/twins", json={"$dtId": "status.ALREADY_EXISTS"})
    assert dup.status_code == 409


def test_query_paging_and_filters(client: ApiClient, fake_backends: FakeBackends) -> None:
    resp = client.get(
        "/api/v1/twins",
        params=[
            ("model", "dtmi:gridtwin:Load;1"),
            ("feeder", "f1"),
            ("site", "s"),
            ("filter", "p_kw:gt:100"),
            ("filter", "name:eq:671"),
            ("filter", "phases:eq:A.B"),
            ("filter", "label:eq:a:b"),
            ("page_size", "50"),
            ("page_token", "tok"),
        ],
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [t["$dtId"] for t in body["twins"]] == ["f1.loads.a", "f1.loads.b"]
    assert body["next_page_token"] == "p2"
    sent = fake_backends.calls.last()
    assert (sent.model, sent.feeder, sent.site) == ("dtmi:gridtwin:Load;1", "f1", "s")
    assert (sent.page.page_size, sent.page.page_token) == (50, "tok")
    assert [(f.path, f.op, f.value_json) for f in sent.filters] == [
        ("p_kw", "gt", "100"),
        ("name", "eq", "671"),
        ("phases", "eq", '"A.B"'),
        ("label", "eq", '"a:b"'),
    ]


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("p_kw", "prop:op:value"),
        ("p_kw:zz:1", "operator"),
        (":eq:1", "prop:op:value"),
        ("p:eq:[1]", "scalar"),
    ],
)
def test_query_filter_errors_name_the_parameter(client: ApiClient, bad: str, fragment: str) -> None:
    resp = client.get("/api/v1/twins", params=[("filter", "p_kw:gt:1"), ("filter", bad)])
    assert resp.status_code == 400
    details = assert_error_body(resp.json(), "INVALID_ARGUMENT")
    assert details[0]["where"] == "query.filter[1]"
    assert fragment in details[0]["message"]


def test_paging_params_are_validated(client: ApiClient) -> None:
    for size in ("0", "10001", "many"):
        resp = client.get("/api/v1/twins", params={"page_size": size})
        assert resp.status_code == 422
        details = assert_error_body(resp.json(), "VALIDATION_ERROR")
        assert details[0]["where"] == "query.page_size"


def test_relationships_and_traverse(client: ApiClient, fake_backends: FakeBackends) -> None:
    rels = client.get("/api/v1/twins/f1.loads.a/relationships", params={"name": "connectsTo"}).json()
    assert rels["relationships"] == [
        {
            "$relationshipId": "r1",
            "$sourceId": "f1.loads.a",
            "$relationshipName": "connectsTo",
            "$targetId": "f1.buses.x",
            "$etag": "e",
            "terminal": 1,
        }
    ]
    resp = client.get(
        "/api/v1/twins/f1.loads.a/traverse",
        params=[
            ("hops", "3"),
            ("names", "connectsTo,contains"),
            ("names", "servedBy"),
            ("direction", "both"),
        ],
    )
    assert resp.status_code == 200
    assert [t["$dtId"] for t in resp.json()["twins"]] == ["f1.buses.x"]
    sent = fake_backends.calls.last()
    assert (sent.start_id, sent.max_hops, sent.direction) == ("f1.loads.a", 3, "both")
    assert list(sent.relationship_names) == ["connectsTo", "contains", "servedBy"]
    bad = client.get("/api/v1/twins/f1.loads.a/traverse", params={"direction": "sideways"})
    assert bad.status_code == 422
    assert assert_error_body(bad.json(), "VALIDATION_ERROR")[0]["where"] == "query.direction"


def test_feeders_and_models(client: ApiClient, fake_backends: FakeBackends) -> None:
    assert client.get("/api/v1/feeders", params={"site": "north"}).json() == {
        "feeders": [{"id": "f1", "site": "north", "twin_count": 7, "version": "v1"}]
    }
    assert client.delete("/api/v1/feeders/f1").json() == {"deleted": 7}
    assert client.delete("/api/v1/feeders/bad.id").status_code == 422
    models = client.get("/api/v1/models").json()["models"]
    assert models[0]["id"] == "dtmi:gridtwin:Load;1"
    assert models[0]["model"]["@type"] == "Interface"
    up = client.post("/api/v1/models", json=[{"@id": "dtmi:x:A;1"}, {"@id": "dtmi:x:B;1"}])
    assert up.status_code == 201
    assert up.json() == {"ids": ["dtmi:x:A;1", "dtmi:x:B;1"]}
    assert client.post("/api/v1/models", json={"@id": "status.INVALID_ARGUMENT"}).status_code == 400


def test_snapshot_errors_map(client: ApiClient) -> None:
    assert client.post("/api/v1/feeders/nothere/snapshot").status_code == 404
    resp = client.get("/api/v1/feeders/status-FAILED_PRECONDITION/snapshot")
    assert resp.status_code == 409
    assert_error_body(resp.json(), "FAILED_PRECONDITION")


def _zip_bytes(size: int = 0) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("master.dss", "clear\n")
        if size:
            # Stored, not deflated, so the archive really is that large.
            zf.writestr("pad.bin", b"\0" * size, compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


def test_upload_import(client: ApiClient, fake_backends: FakeBackends) -> None:
    data = _zip_bytes()
    resp = client.post(
        "/api/v1/feeders/import",
        files={"file": ("f1.zip", data, "application/zip")},
        data={"feeder": "f1", "site": "north", "master": "master.dss", "replace": "true"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["feeder"] == "f1" and body["twins"] == 10 and body["relationships"] == 9
    assert body["report"]["counts"] == {"loads": 3}
    assert body["report"]["unmapped"][0]["where"] == "master.dss:4"
    sent = fake_backends.calls.last()
    assert sent.zip == data
    assert (sent.feeder, sent.site, sent.master, sent.replace) == ("f1", "north", "master.dss", True)


def test_import_path(client: ApiClient, fake_backends: FakeBackends) -> None:
    resp = client.post("/api/v1/feeders/import-path", json={"path": "/data/13Bus", "feeder": "f1"})
    assert resp.status_code == 200
    assert fake_backends.calls.last().path == "/data/13Bus"
    missing = client.post("/api/v1/feeders/import-path", json={"path": "/data/13Bus"})
    assert missing.status_code == 422
    assert assert_error_body(missing.json(), "VALIDATION_ERROR")[0]["where"] == "body.feeder"


def test_upload_over_limit_is_413(fake_backends: FakeBackends, tester_token: str) -> None:
    settings = fake_backends.settings.model_copy(update={"max_upload_bytes": 100_000})
    with ApiClient(create_app(settings), token=tester_token) as small:
        n_before = len(fake_backends.calls.requests)
        resp = small.post(
            "/api/v1/feeders/import",
            files={"file": ("big.zip", _zip_bytes(300_000), "application/zip")},
            data={"feeder": "f1"},
        )
        assert resp.status_code == 413
        details = assert_error_body(resp.json(), "RESOURCE_EXHAUSTED")
        assert details[0]["where"] == "file"
        assert "100000" in details[0]["message"]
        # Refused at the gateway: the ingestion service never saw it.
        assert len(fake_backends.calls.requests) == n_before

        # Without a Content-Length the limit still holds, counted while the body streams in.
        body, ctype = _multipart_body(_zip_bytes(300_000))

        async def chunks() -> Any:
            for i in range(0, len(body), 16_384):
                yield body[i : i + 16_384]

        streamed = small.post("/api/v1/feeders/import", content=chunks(), headers={"Content-Type": ctype})
        assert streamed.status_code == 413
        assert len(fake_backends.calls.requests) == n_before

        ok = small.post(
            "/api/v1/feeders/import", files={"file": ("ok.zip", _zip_bytes(50_000))}, data={"feeder": "f1"}
        )
        assert ok.status_code == 200


def _multipart_body(payload: bytes) -> tuple[bytes, str]:
    boundary = "gridtwin-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="feeder"\r\n\r\nf1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    return head + payload + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("headers", "content", "status", "where"),
    [
        ({"Content-Type": "application/json"}, b"{}", 400, "Content-Type"),
        ({"Content-Type": "multipart/form-data"}, b"--x\r\n", 400, "body"),
        ({"Content-Type": "multipart/form-data; boundary=zz"}, b"--zz\r\nno-header-end", 400, "body"),
        # found by the API fuzzer (issue 15): a bad part header was python-multipart's error, a 500
        ({"Content-Type": "multipart/form-data; boundary=zz"}, b"--zz\r\n294964182--zz--\r\n", 400, "body"),
    ],
)
def test_bad_multipart(
    client: ApiClient, headers: dict[str, str], content: bytes, status: int, where: str
) -> None:
    resp = client.post("/api/v1/feeders/import", content=content, headers=headers)
    assert resp.status_code == status, resp.text
    assert assert_error_body(resp.json(), "INVALID_ARGUMENT")[0]["where"] == where


def test_upload_needs_file_and_feeder(client: ApiClient) -> None:
    no_file = client.post("/api/v1/feeders/import", files={"x": ("a.txt", b"a")}, data={"feeder": "f1"})
    assert no_file.status_code == 422
    assert assert_error_body(no_file.json(), "VALIDATION_ERROR")[0]["where"] == "body.file"
    no_feeder = client.post("/api/v1/feeders/import", files={"file": ("a.zip", _zip_bytes())})
    assert no_feeder.status_code == 422
    assert assert_error_body(no_feeder.json(), "VALIDATION_ERROR")[0]["where"] == "body.feeder"


def test_health_and_readiness(client: ApiClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "backends": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "backends": {
            "twin_registry": "SERVING",
            "ingestion": "SERVING",
            "powerflow": "SERVING",
            "hosting": "SERVING",
        },
    }


def test_unreachable_backend_is_503(fake_backends: FakeBackends, tester_token: str) -> None:
    # A port nothing listens on (bound then released); the call fails fast instead of waiting.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    settings = fake_backends.settings.model_copy(update={"twin_registry_addr": dead})
    with ApiClient(create_app(settings), token=tester_token) as c:
        resp = c.get("/api/v1/twins/f1.loads.a")
        assert resp.status_code == 503
        assert_error_body(resp.json(), "UNAVAILABLE")
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["backends"]["twin_registry"] == "UNAVAILABLE"


def test_unknown_route_uses_error_body(client: ApiClient) -> None:
    resp = client.get("/api/v1/nothing")
    assert resp.status_code == 404
    assert_error_body(resp.json(), "NOT_FOUND")


def test_openapi_served(client: ApiClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/feeders/import",
        "/api/v1/feeders/import-path",
        "/api/v1/feeders",
        "/api/v1/feeders/{feeder}",
        "/api/v1/feeders/{feeder}/snapshot",
        "/api/v1/twins",
        "/api/v1/twins/{twin_id}",
        "/api/v1/twins/{twin_id}/relationships",
        "/api/v1/twins/{twin_id}/traverse",
        "/api/v1/models",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    snap = paths["/api/v1/feeders/{feeder}/snapshot"]["post"]["responses"]["200"]
    assert snap["content"]["application/json"]["schema"]["$ref"].endswith("/SnapshotOut")
    assert "SnapshotOut" in spec["components"]["schemas"]
    assert "multipart/form-data" in paths["/api/v1/feeders/import"]["post"]["requestBody"]["content"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_quota_refusal_carries_retry_after(client: ApiClient) -> None:
    resp = client.get("/api/v1/twins/quota-30")
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "30"
    assert client.get("/api/v1/twins/status.RESOURCE_EXHAUSTED").headers["retry-after"] == "1"
    assert client.get("/api/v1/twins/status.UNAUTHENTICATED").headers["www-authenticate"].startswith("Bearer")
