"""``gridtwin up`` end to end: every service in one process, the gateway answering, clean SIGTERM; on a
fresh install the admin's generated password printed once (and never again), the signing secrets kept
0600 and reused, so a session survives a restart."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
from e2e_support import free_port
from live_support import ADMIN, Client, printed_password, running_gridtwin


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
    password = printed_password(out)
    assert len(password) >= 20 and out.count(password) == 1, out  # printed once, nowhere else
    assert "First start: the administrator account was created." in out
    secrets_file = tmp_path / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600


def test_the_printed_password_logs_in_and_the_session_survives_a_restart(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    with running_gridtwin(data, printed_admin=True, port=port) as live:
        assert live.admin_password, live.output
        me = live.cli("whoami", "--json")  # logged in by `gridtwin login` with the printed password
        assert me.returncode == 0, me.stdout + me.stderr
        assert '"role": "admin"' in me.stdout and '"username": "admin"' in me.stdout
        admin = Client(live.url, live.env, ADMIN, live.admin_password, tmp_path / "kept").login()
        assert admin.api("GET", "/feeders", auth=False).status_code == 401
        anonymous = admin.cli("feeders", "list", env={"XDG_CONFIG_HOME": str(tmp_path / "nobody")})
        assert anonymous.returncode == 1 and "gridtwin login" in anonymous.stderr, anonymous.stderr
    with running_gridtwin(data, printed_admin=True, port=port) as again:
        assert again.admin_password == "" and "First start" not in again.output  # never shown again
        assert "Log in with: gridtwin login" in again.output
        kept = admin.cli("whoami")  # the session saved before the restart: same secrets, still valid
        assert kept.returncode == 0 and "admin" in kept.stdout, kept.stdout + kept.stderr
