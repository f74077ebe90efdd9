"""``gridtwin up`` as a user runs it, for the end-to-end tests: the all-in-one in a child process on free
ports (embedded defaults: SQLite file, in-process Redis stand-in, Dask LocalCluster), its output collected,
the CLI and REST pointed at it, and SIGTERM on the way out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from e2e_support import free_port

__all__ = ["Live", "running_gridtwin"]


class Live:
    def __init__(self, proc: subprocess.Popen[str], url: str, env: dict[str, str], data_dir: Path) -> None:
        self.proc = proc
        self.url = url
        self.env = env
        self.data_dir = data_dir
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def close(self) -> None:
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.output:
            assert self.proc.poll() is None, self.output
            assert time.monotonic() < deadline, f"{text!r} never appeared:\n{self.output}"
            time.sleep(0.5)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The ``gridtwin`` command against this live gateway."""
        return subprocess.run(
            [sys.executable, "-m", "gridtwin.cli.main", "--url", self.url, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}/api/v1{path}", timeout=120, **kwargs)


@contextmanager
def running_gridtwin(
    data_dir: Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ready: str = "GridTwin is up",
) -> Iterator[Live]:
    """``gridtwin up --port P --data-dir D ARGS`` until ``ready`` appears in its output; stopped after.
    The internal services take free loopback ports themselves, as they do for a user."""
    port = free_port()
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "TWIN_REGISTRY_ADDR",
        "INGESTION_ADDR",
        "POWERFLOW_ADDR",
        "HOSTING_ADDR",
    ):
        if f"GRIDTWIN_{name}" not in (env or {}):
            full_env.pop(f"GRIDTWIN_{name}", None)
    cmd = [
        sys.executable,
        "-m",
        "gridtwin.cli.main",
        "up",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *args,
    ]
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    live = Live(proc, f"http://127.0.0.1:{port}", full_env, data_dir)
    try:
        live.wait_for(ready, timeout_s=600)
        yield live
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        live.close()
