"""``gridtwin up`` as a user runs it, for the end-to-end tests: the all-in-one in a child process on free
ports (embedded defaults: SQLite file, in-process Redis stand-in, Dask LocalCluster), its output collected,
and SIGTERM on the way out.

Access control is on, as for a user, with no way around it: the child gets ``GRIDTWIN_ADMIN_PASSWORD``
(so its fresh install's ``admin`` has a password the tests know), and every call goes through a login.
``Live.cli`` is the ``gridtwin`` command logged in as admin by ``gridtwin login`` (its own config folder,
as a user's ``~/.config``); ``Live.api`` is REST with an access token from ``POST /api/v1/auth/token``,
refreshed through ``/auth/refresh`` before it expires. ``Live.as_user`` does the same for another account
(made by the admin through the API when asked to)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from e2e_support import free_port

__all__ = ["ADMIN", "Client", "Live", "printed_password", "running_gridtwin"]

ADMIN = "admin"
REFRESH_MARGIN_S = 60.0


class Client:
    """One account on a live gateway: the CLI (logged in with ``gridtwin login``, its own config folder)
    and REST (its own tokens)."""

    def __init__(
        self, url: str, env: Mapping[str, str], username: str, password: str, config_dir: Path
    ) -> None:
        self.url = url
        self.username = username
        self.password = password
        self.config_dir = config_dir
        self.env = {
            **{k: v for k, v in env.items() if k not in ("GRIDTWIN_TOKEN", "GRIDTWIN_ADMIN_PASSWORD")},
            "XDG_CONFIG_HOME": str(config_dir),
        }
        self._tokens: dict[str, Any] = {}
        self._expires_at = 0.0
        self._lock = threading.Lock()

    # -- logging in ----------------------------------------------------------------------------------

    def login(self) -> Client:
        """``gridtwin login`` for the CLI, ``POST /auth/token`` for REST."""
        done = self.cli("login", "--username", self.username, "--password-stdin", input=self.password + "\n")
        assert done.returncode == 0, done.stdout + done.stderr
        reply = httpx.post(
            f"{self.url}/api/v1/auth/token",
            data={"grant_type": "password", "username": self.username, "password": self.password},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        self._keep(reply.json())
        return self

    def _keep(self, body: dict[str, Any]) -> None:
        self._tokens = body
        self._expires_at = time.time() + float(body["expires_in"])

    @property
    def token(self) -> str:
        """A valid access token (refreshed first when it is about to expire)."""
        with self._lock:
            if time.time() >= self._expires_at - REFRESH_MARGIN_S:
                reply = httpx.post(
                    f"{self.url}/api/v1/auth/refresh",
                    json={"refresh_token": self._tokens["refresh_token"]},
                    timeout=60,
                )
                assert reply.status_code == 200, reply.text
                self._keep(reply.json())
            return str(self._tokens["access_token"])

    @property
    def refresh_token(self) -> str:
        """The REST session's current refresh token (to log it out)."""
        return str(self._tokens["refresh_token"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    # -- calling -------------------------------------------------------------------------------------

    def cli(
        self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The ``gridtwin`` command against this live gateway, as this account."""
        return subprocess.run(
            [sys.executable, "-m", "gridtwin.cli.main", "--url", self.url, *args],
            env={**self.env, **(env or {})},
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
        )

    def api(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        """REST ``/api/v1{path}`` as this account (``auth=False``: with no credentials)."""
        headers = {**(self.headers if auth else {}), **dict(kwargs.pop("headers", None) or {})}
        return httpx.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=120, **kwargs)


class Live:
    def __init__(
        self, proc: subprocess.Popen[str], url: str, env: dict[str, str], data_dir: Path, clients_dir: Path
    ) -> None:
        self.proc = proc
        self.url = url
        self.env = env
        self.data_dir = data_dir
        self.clients_dir = clients_dir
        self.admin_password = env.get("GRIDTWIN_ADMIN_PASSWORD", "")
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._admin: Client | None = None

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

    # -- accounts ------------------------------------------------------------------------------------

    def client(self, username: str, password: str) -> Client:
        """An account's CLI and REST, not logged in yet (its own, empty config folder)."""
        folder = Path(tempfile.mkdtemp(prefix=f"{username}-", dir=self.clients_dir))
        return Client(self.url, self.env, username, password, folder)

    @property
    def admin(self) -> Client:
        """The bootstrap admin, logged in (once) on the CLI and REST."""
        if self._admin is None:
            self._admin = self.client(ADMIN, self.admin_password).login()
        return self._admin

    def as_user(self, username: str, role: str, sites: Sequence[str], password: str = "") -> Client:
        """A new account made by the admin through ``gridtwin users create``, logged in."""
        password = password or f"pw-{secrets.token_urlsafe(12)}"
        args = ["users", "create", username, "--role", role, "--password-stdin"]
        for site in sites:
            args += ["--site", site]
        done = self.admin.cli(*args, input=password + "\n")
        assert done.returncode == 0, done.stdout + done.stderr
        return self.client(username, password).login()

    # -- as the admin (what most tests do) -----------------------------------------------------------

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """The ``gridtwin`` command against this live gateway, logged in as the admin."""
        return self.admin.cli(*args, input=input)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """REST as the admin."""
        return self.admin.api(method, path, **kwargs)


def printed_password(output: str) -> str:
    """The bootstrap admin's password as ``gridtwin up`` prints it on a fresh install ("" if not)."""
    found = [line.split(":", 1)[1].strip() for line in output.splitlines() if line.startswith("  password:")]
    assert len(found) <= 1, output
    return found[0] if found else ""


@contextmanager
def running_gridtwin(
    data_dir: Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ready: str = "GridTwin is up",
    printed_admin: bool = False,
    port: int | None = None,
) -> Iterator[Live]:
    """``gridtwin up --port P --data-dir D ARGS`` until ``ready`` appears in its output; stopped after.
    The internal services take free loopback ports themselves, as they do for a user; the bootstrap
    admin's password comes from ``GRIDTWIN_ADMIN_PASSWORD`` (made here unless ``env`` sets it), or with
    ``printed_admin`` from what a fresh install prints once (``Live.admin_password``; "" when it printed
    none)."""
    port = port or free_port()
    full_env = {
        **os.environ,
        "COLUMNS": "200",
        "GRIDTWIN_ADMIN_PASSWORD": f"e2e-{secrets.token_urlsafe(16)}",
        **(env or {}),
    }
    if printed_admin:
        full_env.pop("GRIDTWIN_ADMIN_PASSWORD")
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "TWIN_REGISTRY_ADDR",
        "INGESTION_ADDR",
        "POWERFLOW_ADDR",
        "HOSTING_ADDR",
        "INTERNAL_SECRET",
        "JWT_SECRET",
        "TOKEN",
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
    clients_dir = Path(tempfile.mkdtemp(prefix="gridtwin-e2e-clients-"))
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    live = Live(proc, f"http://127.0.0.1:{port}", full_env, data_dir, clients_dir)
    try:
        live.wait_for(ready, timeout_s=600)
        if printed_admin:
            live.wait_for("Ctrl-C to stop.", timeout_s=60)
            live.admin_password = printed_password(live.output)
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
        shutil.rmtree(clients_dir, ignore_errors=True)
