"""Two GridTwins on one machine never see each other, as a user would run them: two ``gridtwin up``
side by side (their own ``--port`` and ``--data-dir``, nothing else configured) each see only their own
feeders; a third on a data folder in use, or on a gateway port in use, stops at once saying which; a
service started alone on a taken gRPC port fails fast naming the port (gRPC would otherwise share it)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from e2e_support import IEEE13_DIR, free_port
from live_support import running_gridtwin


def _feeders(live: object) -> list[str]:
    reply = live.api("GET", "/feeders")  # type: ignore[attr-defined]
    assert reply.status_code == 200, reply.text
    return sorted(f["id"] for f in reply.json()["feeders"])


def _clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith("GRIDTWIN_") or k == "GRIDTWIN_SHARED_DATA"
    }


def _up(port: int, data_dir: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "gridtwin.cli.main", "up", "--port", str(port), "--data-dir", str(data_dir)]
    return subprocess.run(cmd, env=_clean_env(), capture_output=True, text=True, timeout=120)


def test_two_installations_side_by_side(tmp_path: Path) -> None:
    with (
        running_gridtwin(tmp_path / "a") as a,
        running_gridtwin(tmp_path / "b") as b,
    ):
        first = a.cli("import", "opendss", str(IEEE13_DIR), "--feeder", "only-in-a", "--site", "a")
        assert first.returncode == 0, first.stdout + first.stderr
        second = b.cli("import", "opendss", str(IEEE13_DIR), "--feeder", "only-in-b", "--site", "b")
        assert second.returncode == 0, second.stdout + second.stderr
        assert _feeders(a) == ["only-in-a"]
        assert _feeders(b) == ["only-in-b"]
        # Each runs a job on its own Dask cluster at the same time (schedulers and dashboards on free ports).
        jobs = [
            live.api("POST", "/jobs", json={"feeders": [feeder], "hours": 24})
            for live, feeder in ((a, "only-in-a"), (b, "only-in-b"))
        ]
        assert all(j.status_code == 202 for j in jobs), [j.text for j in jobs]
        for live, job in zip((a, b), jobs, strict=True):
            status = live.cli("jobs", "show", job.json()["id"], "--wait", "--json")
            assert json.loads(status.stdout)["status"] == "succeeded", status.stdout + status.stderr
        assert live.api("GET", f"/jobs/{jobs[0].json()['id']}").status_code == 404  # a's job is not b's
        # Each one's internal services sit on ports of their own (not the old fixed 50051-50054).
        listed = [line for line in a.output.splitlines() + b.output.splitlines() if "grpc://" in line]
        addresses = [line.split("grpc://")[1].strip() for line in listed]
        assert len(addresses) == 8 and len(set(addresses)) == 8, listed

        # A third on a's data folder stops at once, naming the folder; nothing of a is touched.
        again = _up(free_port(), tmp_path / "a")
        assert again.returncode != 0
        assert "another GridTwin is running on the data folder" in again.stderr + again.stdout
        assert str((tmp_path / "a").resolve()) in again.stderr + again.stdout
        # A third on a's gateway port (its own folder) stops at once, naming the port.
        port = int(a.url.rsplit(":", 1)[1])
        clash = _up(port, tmp_path / "c")
        assert clash.returncode != 0
        assert f"port {port}" in clash.stderr + clash.stdout and "in use" in clash.stderr + clash.stdout
        assert _feeders(a) == ["only-in-a"]


def test_service_alone_on_a_taken_port_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {
            **_clean_env(),
            "GRIDTWIN_GRPC_PORT": str(port),
            "GRIDTWIN_DATA_DIR": str(tmp_path),
        }
        run = subprocess.run(
            [sys.executable, "-m", "gridtwin_twin_registry"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode != 0
    text = run.stdout + run.stderr
    assert f"127.0.0.1:{port}" in text and "in use" in text, text
