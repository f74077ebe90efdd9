"""The gateway served by ``run_gateway`` (uvicorn, one worker, in a thread) and the client CLI on it,
logged in as the test user (its access token in ``GRIDTWIN_TOKEN``, as a script would pass it)."""

from __future__ import annotations

import io
import os
import socket
import threading
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_fakes import FakeBackends
from gridtwin_gateway.server import SERVICE, run_gateway

with warnings.catch_warnings():
    # typer trips click's deprecation warnings at import time.
    warnings.simplefilter("ignore", DeprecationWarning)
    from gridtwin.cli.main import app as cli
    from typer.testing import CliRunner

SHARED = Path(os.environ.get("GRIDTWIN_SHARED_DATA", Path(__file__).resolve().parents[4] / "shared" / "data"))
IEEE13 = SHARED / "opendss" / "IEEETestCases" / "13Bus"
UPLOAD_LIMIT = 1_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def gateway_url(fake_backends: FakeBackends, tester_token: str) -> Iterator[str]:
    port = free_port()
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=run_gateway,
        kwargs={
            "settings": fake_backends.settings.model_copy(update={"max_upload_bytes": UPLOAD_LIMIT}),
            "port": port,
            "ready_event": ready,
            "stop_event": stop,
        },
        daemon=True,
    )
    thread.start()
    assert ready.wait(20), "the gateway did not start"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRIDTWIN_TOKEN", tester_token)
        yield f"http://127.0.0.1:{port}"
    stop.set()
    thread.join(20)
    assert not thread.is_alive(), "the gateway did not stop on stop_event"


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def test_service_spec() -> None:
    assert SERVICE.name == "gateway" and SERVICE.default_port == 8000
    assert SERVICE.asgi_app is not None and not SERVICE.is_grpc


def test_run_gateway_serves_http(gateway_url: str) -> None:
    assert httpx.get(f"{gateway_url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{gateway_url}/readyz").status_code == 200
    assert httpx.get(f"{gateway_url}/docs").status_code == 200


def test_feeders_list(gateway_url: str) -> None:
    result = run("--url", gateway_url, "feeders", "list")
    assert result.exit_code == 0, result.output
    assert "f1" in result.output
    # GRIDTWIN_URL is honoured, and --url on the command wins over it.
    assert run("feeders", "list", env={"GRIDTWIN_URL": gateway_url}).exit_code == 0
    assert (
        run("feeders", "list", "--url", gateway_url, env={"GRIDTWIN_URL": "http://127.0.0.1:9"}).exit_code
        == 0
    )


def test_twin_get_and_query(gateway_url: str) -> None:
    got = run("--url", gateway_url, "twin", "get", "f1.loads.a")
    assert got.exit_code == 0, got.output
    assert '"$dtId": "f1.loads.a"' in got.output
    query = run(
        "--url", gateway_url, "twin", "query", "--feeder", "f1", "--filter", "p_kw:gt:1", "--limit", "1"
    )
    assert query.exit_code == 0, query.output
    assert "f1.loads.a" in query.output


def test_errors_print_message_and_details(gateway_url: str) -> None:
    bad = run("--url", gateway_url, "twin", "query", "--filter", "p_kw:about:1")
    assert bad.exit_code == 1
    assert "bad filter" in bad.output and "query.filter[0]" in bad.output
    missing = run("--url", gateway_url, "twin", "get", "status.NOT_FOUND")
    assert missing.exit_code == 1
    assert "NOT_FOUND" in missing.output and "status.NOT_FOUND: chosen by the test" in missing.output
    snap = run("--url", gateway_url, "powerflow", "snapshot", "--feeder", "nothere")
    assert snap.exit_code == 1 and "no feeder nothere" in snap.output
    down = run("--url", "http://127.0.0.1:9", "feeders", "list")
    assert down.exit_code == 1 and "cannot reach the gateway" in down.output


def test_import_uploads_the_folder_and_what_it_references(
    gateway_url: str, fake_backends: FakeBackends
) -> None:
    result = run("--url", gateway_url, "import", "opendss", str(IEEE13), "--feeder", "f1", "--site", "demo")
    assert result.exit_code == 0, result.output
    assert "imported feeder f1" in result.output
    sent = fake_backends.calls.last()
    names = zipfile.ZipFile(io.BytesIO(sent.zip)).namelist()
    # IEEE 13's line codes redirect one level up: that file travels too.
    assert {"13Bus/IEEE13Nodeckt.dss", "13Bus/IEEELineCodes.DSS", "IEEELineCodes.DSS"} <= set(names)
    assert (sent.feeder, sent.site, sent.master, sent.replace) == (
        "f1",
        "demo",
        "13Bus/IEEE13Nodeckt.dss",
        False,
    )

    by_path = run(
        "--url", gateway_url, "import", "opendss", str(IEEE13), "--feeder", "f1", "--server-path", "--replace"
    )
    assert by_path.exit_code == 0, by_path.output
    assert fake_backends.calls.last().path == str(IEEE13)
    assert fake_backends.calls.last().replace is True


def test_oversize_upload_over_real_http(
    gateway_url: str, fake_backends: FakeBackends, tester_token: str
) -> None:
    n_before = len(fake_backends.calls.requests)
    big = os.urandom(3 * UPLOAD_LIMIT)  # incompressible, so the archive really is that large
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("master.dss", "clear\n")
        zf.writestr("pad.bin", big)

    def chunks() -> Iterator[bytes]:
        # Streamed without a Content-Length: the gateway must count while it reads.
        head = (
            b'--b0\r\nContent-Disposition: form-data; name="feeder"\r\n\r\nf1\r\n'
            b'--b0\r\nContent-Disposition: form-data; name="file"; filename="big.zip"\r\n\r\n'
        )
        yield head
        data = buf.getvalue()
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]
        yield b"\r\n--b0--\r\n"

    try:
        resp = httpx.post(
            f"{gateway_url}/api/v1/feeders/import",
            content=chunks(),
            headers={
                "Content-Type": "multipart/form-data; boundary=b0",
                "Authorization": f"Bearer {tester_token}",
            },
            timeout=30,
        )
        assert resp.status_code == 413
        assert resp.json()["error"]["details"][0]["where"] == "file"
    except httpx.WriteError:
        pass  # the server answered 413 and closed while the client was still sending: also a refusal
    assert len(fake_backends.calls.requests) == n_before
    assert httpx.get(f"{gateway_url}/healthz").status_code == 200
