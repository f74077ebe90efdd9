"""``gridtwin up`` end to end: every service in one process, the gateway answering, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from e2e_support import free_port


def test_up_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    http_port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("GRIDTWIN_") or k == "GRIDTWIN_SHARED_DATA"
    }
    cmd = [
        sys.executable,
        "-m",
        "gridtwin.cli.main",
        "up",
        "--port",
        str(http_port),
        "--data-dir",
        str(tmp_path),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        ready: dict[str, object] = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                reply = httpx.get(f"http://127.0.0.1:{http_port}/readyz", timeout=2)
                if reply.status_code == 200:
                    ready = reply.json()
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert ready, "gateway never became ready"
        assert ready["backends"] == {
            "twin_registry": "SERVING",
            "ingestion": "SERVING",
            "powerflow": "SERVING",
            "hosting": "SERVING",
        }
        assert (tmp_path / "gridtwin.db").is_file()  # embedded SQLite under --data-dir
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{http_port}" in out and "GridTwin stopped (SIGTERM)" in out
