"""Kill drills (issue 15): SIGKILL a Dask worker, and separately the powerflow service, in the middle of a
QSTS job over a synthetic utility, in the separate-process deployment; the job must complete with no
feeder lost or duplicated and Parquet results equal to an undisturbed run's.

    uv run --frozen python tests/drills/kill_drills.py                                # 20 feeders x 8760 h
    uv run --frozen python tests/drills/kill_drills.py --feeders 6 --hours 168        # a quick try
    uv run --frozen python tests/drills/kill_drills.py --dask local                   # the powerflow's LocalCluster

The deployment, all on 127.0.0.1, every piece its own process: twin registry, ingestion, powerflow and
hosting (``python -m gridtwin_<name>``), the gateway (``python -m gridtwin_gateway``), a database of this
run's own on the MariaDB at 127.0.0.1:3306 (dropped at the end; ``--database sqlite``: a SQLite file all
of them open), the real Redis at 127.0.0.1:6379 under this run's ``GRIDTWIN_INSTANCE_ID`` (its keys
deleted at the end), and Dask: with ``--dask external`` (the default) a ``dask scheduler`` and one
``dask worker --no-nanny`` process per worker, which the powerflow service reaches through
``GRIDTWIN_DASK=tcp://...``; with ``--dask local`` the powerflow service's own LocalCluster (worker
processes under a nanny, in the powerflow process). Every call goes through the gateway as a user does:
an admin made with ``gridtwin admin create`` logs in (``POST /api/v1/auth/token``), makes the synthetic
utility (``POST /api/v1/feeders/synthetic``) and runs the jobs (``POST /api/v1/jobs``).

Three jobs over the same feeders and period:
  (a) undisturbed;
  (b) ``worker``: when 30 % of the feeders are done, SIGKILL one Dask worker process (external: a
      ``dask worker`` that was running a feeder, then a replacement ``dask worker`` is started; local: a
      LocalCluster worker process, its nanny starts the replacement);
  (c) ``powerflow``: when 30 % are done, SIGKILL the powerflow service and start it again with the same
      environment; it resumes the job on start (``ComputeHost.resume_in_background``).
Each must end ``succeeded``; then, against (a): the job's task rows, its SQL result rows (REST
``/results?level=feeders|elements``), its run manifest and its Parquet folders name each feeder exactly
once (0 lost, 0 duplicated), and every Parquet file (``hourly``, ``buses``, ``elements``) holds the same
table as (a)'s, compared exactly (``pandas.testing.assert_frame_equal(check_exact=True)``, NaN equal to
NaN). No Parquet column is a timing (``time_utc`` is the simulated hour), so none is left out; the SQL
feeder rows are compared too, leaving out ``solve_s`` and ``total_s`` (wall times of that run). Figures:
job times, when each kill happened, which feeders were redone, the comparison. Exit 1 on a failed check.

``tests/e2e/test_kill_drills.py`` runs the same code bounded (few feeders, 168 h) in the suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil
import pyarrow.parquet as pq

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # typer/click at import time
    from gridtwin.access.tokens import new_secret

__all__ = [
    "DrillError",
    "JobRun",
    "Stack",
    "compare_runs",
    "feeder_check",
    "run_drills",
    "run_job",
]

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
MYSQL = {"host": HOST, "port": 3306, "user": "root"}
REDIS_URL = "redis://127.0.0.1:6379/0"
ADMIN = "drill"
SERVICES = {
    "twin_registry": "gridtwin_twin_registry",
    "ingestion": "gridtwin_ingestion",
    "powerflow": "gridtwin_powerflow",
    "hosting": "gridtwin_hosting",
    "gateway": "gridtwin_gateway",
}
PARQUET_FILES = ("hourly", "buses", "elements")
# SQL feeder-summary columns that are wall times of the run that produced them, not results.
TIMING_COLUMNS = ("solve_s", "total_s")
TERMINAL = ("succeeded", "partial", "failed", "cancelled")
POLL_S = 0.1  # progress polling (10 requests/s: under the gateway's per-user limit of 20/s)


class DrillError(Exception):
    """The drill could not be run (a process did not start, a call failed): not a finding."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _log(message: str) -> None:
    print(message, flush=True)


# --- the database and Redis --------------------------------------------------------------------------


class Database:
    """A database of this run's own: MariaDB (created and dropped) or a SQLite file in the work folder."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.name = f"gridtwin_drill_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self._workdir = workdir
        self._created = False

    @property
    def url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self._workdir / 'drill.db'}"
        return f"mysql+mysqldb://{MYSQL['user']}@{MYSQL['host']}:{MYSQL['port']}/{self.name}"

    def _admin(self) -> Any:
        import MySQLdb

        return MySQLdb.connect(connect_timeout=3, **MYSQL)

    def create(self) -> None:
        if self.kind == "sqlite":
            return
        conn = self._admin()
        try:
            conn.cursor().execute(f"CREATE DATABASE {self.name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            self._created = True
        finally:
            conn.close()

    def drop(self) -> None:
        if not self._created:
            return
        conn = self._admin()
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS {self.name}")
            self._created = False
        finally:
            conn.close()


def services_reachable(database: str = "mysql") -> str:
    """Why the drill cannot run here ("" when MariaDB (if asked for) and Redis answer)."""
    import redis

    if database == "mysql":
        try:
            import MySQLdb

            MySQLdb.connect(connect_timeout=3, **MYSQL).close()
        except Exception as exc:
            return f"MariaDB not reachable on {HOST}:3306: {exc}"
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc}"
    return ""


def _drop_redis_keys(instance: str) -> int:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        keys = list(client.scan_iter(match=f"gridtwin:{instance}:*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


# --- the deployment ----------------------------------------------------------------------------------


class Session:
    """The drill's admin on the gateway: an access token, refreshed before it expires."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        reply = httpx.post(
            f"{url}/api/v1/auth/token",
            data={"grant_type": "password", "username": username, "password": password},
            timeout=60,
        )
        if reply.status_code != 200:
            raise DrillError(f"login failed: {reply.status_code} {reply.text[:500]}")
        self._keep(reply.json())

    def _keep(self, body: dict[str, Any]) -> None:
        self._body = body
        self._expires_at = time.monotonic() + float(body["expires_in"])

    @property
    def headers(self) -> dict[str, str]:
        if time.monotonic() > self._expires_at - 60:
            reply = httpx.post(
                f"{self.url}/api/v1/auth/refresh",
                json={"refresh_token": self._body["refresh_token"]},
                timeout=60,
            )
            if reply.status_code != 200:
                raise DrillError(f"refresh failed: {reply.status_code} {reply.text[:500]}")
            self._keep(reply.json())
        return {"Authorization": f"Bearer {self._body['access_token']}"}

    def call(
        self, method: str, path: str, *, ok: Sequence[int] = (200, 202), **kwargs: Any
    ) -> httpx.Response:
        reply = httpx.request(method, f"{self.url}/api/v1{path}", headers=self.headers, timeout=300, **kwargs)
        if reply.status_code not in ok:
            raise DrillError(f"{method} {path}: {reply.status_code} {reply.text[:500]}")
        return reply


@dataclass
class Stack:
    """The separate-process deployment (see the module doc); a context manager that starts everything
    and, on the way out, stops what it started and drops this run's database and Redis keys."""

    workdir: Path
    dask: str = "external"  # external (dask scheduler + dask worker processes) | local (LocalCluster)
    workers: int = 2
    database: str = "mysql"
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    dask_workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    scheduler: subprocess.Popen[bytes] | None = None
    scheduler_addr: str = ""
    session: Session | None = None
    instance: str = field(default_factory=lambda: f"drill-{uuid.uuid4().hex[:12]}")
    _logs: list[Any] = field(default_factory=list)
    _db: Database | None = None
    _orphans: list[int] = field(default_factory=list)  # PIDs of a killed process's children, to reap

    def __post_init__(self) -> None:
        self.ports = {name: free_port() for name in SERVICES}
        self.url = f"http://{HOST}:{self.ports['gateway']}"
        self.data_dir = self.workdir / "data"

    # -- start / stop --------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def env(self) -> dict[str, str]:
        assert self._db is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTWIN_")}
        env.update(
            {
                "GRIDTWIN_HOST": HOST,
                "GRIDTWIN_DATA_DIR": str(self.data_dir),
                "GRIDTWIN_DATABASE_URL": self._db.url,
                "GRIDTWIN_REDIS_URL": REDIS_URL,
                "GRIDTWIN_INSTANCE_ID": self.instance,
                "GRIDTWIN_DTDL_DIR": os.environ.get("GRIDTWIN_DTDL_DIR", str(REPO / "dtdl")),
                "GRIDTWIN_TWIN_REGISTRY_ADDR": f"{HOST}:{self.ports['twin_registry']}",
                "GRIDTWIN_INGESTION_ADDR": f"{HOST}:{self.ports['ingestion']}",
                "GRIDTWIN_POWERFLOW_ADDR": f"{HOST}:{self.ports['powerflow']}",
                "GRIDTWIN_HOSTING_ADDR": f"{HOST}:{self.ports['hosting']}",
                "GRIDTWIN_GATEWAY_PORT": str(self.ports["gateway"]),
                "GRIDTWIN_DASK": self.scheduler_addr if self.dask == "external" else "local",
                "GRIDTWIN_DASK_WORKERS": str(self.workers),
                "GRIDTWIN_LOG_LEVEL": "WARNING",
                "GRIDTWIN_OTEL_EXPORTER": "none",
                "GRIDTWIN_INTERNAL_SECRET": self._internal_secret,
                "GRIDTWIN_JWT_SECRET": self._jwt_secret,
            }
        )
        return env

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._internal_secret = new_secret()
        self._jwt_secret = new_secret()
        self._db = Database(self.database, self.workdir)
        self._db.create()
        if self.dask == "external":
            self._start_scheduler()
            for _ in range(self.workers):
                self.start_worker()
            self.wait_for_workers(self.workers)
        password = f"drill-{secrets.token_urlsafe(18)}"
        made = subprocess.run(
            [sys.executable, "-m", "gridtwin.cli.main", "admin", "create", "--username", ADMIN,
             "--password-stdin"],
            env=self.env(), input=password + "\n", capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if made.returncode != 0:
            raise DrillError(f"gridtwin admin create failed: {made.stdout}{made.stderr}")
        for name in SERVICES:
            self.start_service(name)
        self.wait_ready()
        self.session = Session(self.url, ADMIN, password)

    def _popen(self, args: Sequence[str], log_name: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{log_name}.log").open("ab")
        self._logs.append(log)
        # Its own session: a Ctrl-C of the drill reaches the drill only, which then stops them in order.
        return subprocess.Popen(
            list(args), env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_service(self, name: str) -> subprocess.Popen[bytes]:
        env = {**self.env(), "GRIDTWIN_GRPC_PORT": str(self.ports[name])}
        proc = self._popen([sys.executable, "-m", SERVICES[name]], name, env)
        self.procs[name] = proc
        return proc

    def _dask_cli(self) -> str:
        found = Path(sys.executable).parent / "dask"
        return str(found) if found.exists() else (shutil.which("dask") or "dask")

    def _start_scheduler(self) -> None:
        port = free_port()
        self.scheduler_addr = f"tcp://{HOST}:{port}"
        args = [self._dask_cli(), "scheduler", "--host", HOST, "--port", str(port), "--no-dashboard"]
        self.scheduler = self._popen(args, "dask-scheduler", os.environ)

    def start_worker(self) -> subprocess.Popen[bytes]:
        """One more ``dask worker`` process (one thread, no nanny: a SIGKILL ends it for good)."""
        n = len(self.dask_workers)
        local = self.workdir / "dask-workers"
        local.mkdir(exist_ok=True)
        args = [
            self._dask_cli(), "worker", self.scheduler_addr, "--nthreads", "1", "--no-nanny",
            "--name", f"drill-w{n}", "--local-directory", str(local), "--no-dashboard",
            "--host", HOST,
        ]  # fmt: skip
        # No secrets: a worker gets all it needs in the task (the shared data folder's paths included).
        env = {k: v for k, v in self.env().items() if not k.endswith("_SECRET")}
        proc = self._popen(args, f"dask-worker-{n}", env)
        self.dask_workers.append(proc)
        return proc

    def dask_client(self) -> Any:
        """A client of the external scheduler, to watch it (which worker runs what)."""
        import distributed

        return distributed.Client(self.scheduler_addr, set_as_default=False, timeout=30)  # type: ignore[no-untyped-call]

    def wait_for_workers(self, n: int, timeout_s: float = 120) -> None:
        client = self.dask_client()
        try:
            client.wait_for_workers(n, timeout=timeout_s)
        finally:
            client.close()

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            dead = [name for name, p in self.procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                tails = {n: self.log_tail(n) for n in dead}
                raise DrillError(f"the stack is not ready (exited: {dead}; their logs end: {tails})")
            time.sleep(0.2)

    def log_tail(self, name: str, lines: int = 5) -> list[str]:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace").splitlines()[-lines:] if path.is_file() else []

    def kill_service(self, name: str) -> list[int]:
        """SIGKILL the service's process (no grace, no clean-up); the PIDs of its children then."""
        proc = self.procs[name]
        children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        self._orphans.extend(children)
        return children

    def close(self) -> None:
        for name in reversed(list(self.procs)):  # the gateway first, the registry last
            _stop(self.procs[name])
        for proc in self.dask_workers:
            _stop(proc)
        if self.scheduler is not None:
            _stop(self.scheduler)
        for pid in self._orphans:  # a killed service's workers, if any outlived it
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        for log in self._logs:
            log.close()
        self._logs.clear()
        with contextlib.suppress(Exception):
            _drop_redis_keys(self.instance)
        if self._db is not None:
            self._db.drop()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def local_worker_pids(powerflow_pid: int) -> list[int]:
    """The LocalCluster worker processes of a powerflow process (spawned: ``spawn_main`` children)."""
    out = []
    for child in psutil.Process(powerflow_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any("spawn_main" in part for part in child.cmdline()):
                out.append(child.pid)
    return out


def wait_gone(pids: Sequence[int], timeout_s: float = 30) -> list[int]:
    """The PIDs still alive (not zombies) after waiting up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


# --- running a job -----------------------------------------------------------------------------------


def make_utility(session: Session, feeders: int, seed: int, site: str = "synth") -> list[str]:
    """``POST /feeders/synthetic``: the feeder ids made."""
    made: list[str] = []
    body = {"feeders": feeders, "seed": seed, "site": site}
    with httpx.stream(
        "POST", f"{session.url}/api/v1/feeders/synthetic", json=body, headers=session.headers, timeout=1800
    ) as reply:
        if reply.status_code != 200:
            reply.read()
            raise DrillError(f"synthetic utility: {reply.status_code} {reply.text[:500]}")
        for line in reply.iter_lines():
            if line.strip():
                event = json.loads(line)
                if "error" in event:
                    raise DrillError(f"synthetic utility: {event['error']}")
                made.append(str(event["feeder"]))
    return made


@dataclass
class JobRun:
    """One job as the drill saw it."""

    label: str
    job_id: str
    feeders: list[str]
    wall_s: float = 0.0
    job: dict[str, Any] = field(default_factory=dict)  # the final GET /jobs/{id}?tasks=true
    kill: dict[str, Any] = field(default_factory=dict)  # what was killed, when, and what followed
    unavailable_s: float = 0.0  # how long the gateway could not answer for the job (503)
    progress_after_kill_s: float | None = None  # from the kill to the next feeder done


Disturb = Callable[[dict[str, Any], float], dict[str, Any]]  # (job as polled, elapsed s) -> kill facts


def run_job(
    stack: Stack,
    label: str,
    feeders: Sequence[str],
    hours: int,
    *,
    at_fraction: float = 0.3,
    disturb: Disturb | None = None,
    timeout_s: float = 3600,
) -> JobRun:
    """Submit a QSTS job over ``feeders`` and poll it to its end; once ``at_fraction`` of the feeders
    are done, ``disturb(job, elapsed)`` (once). While the powerflow service is down the gateway answers
    503: polling goes on."""
    session = stack.session
    assert session is not None
    body = {"feeders": list(feeders), "hours": hours}
    t0 = time.monotonic()
    job = session.call("POST", "/jobs", json=body).json()
    run = JobRun(label, job["id"], list(feeders))
    trigger = max(1, math.ceil(at_fraction * len(feeders)))
    down_since: float | None = None
    while True:
        reply = session.call("GET", f"/jobs/{run.job_id}", ok=(200, 503))
        now = time.monotonic()
        if reply.status_code == 503:
            down_since = now if down_since is None else down_since
        else:
            if down_since is not None:
                run.unavailable_s += now - down_since
                down_since = None
            job = reply.json()
            if (
                run.kill
                and run.progress_after_kill_s is None
                and job["done_tasks"] > run.kill["done_at_kill"]
            ):
                run.progress_after_kill_s = now - t0 - run.kill["at_s"]
            if job["status"] in TERMINAL:
                break
            if disturb is not None and not run.kill and job["done_tasks"] >= trigger:
                run.kill = disturb(job, now - t0)
        if now - t0 > timeout_s:
            raise DrillError(f"job {run.job_id} ({label}) still {job['status']} after {timeout_s} s")
        time.sleep(POLL_S)
    run.wall_s = time.monotonic() - t0
    run.job = session.call("GET", f"/jobs/{run.job_id}", params={"tasks": "true"}).json()
    return run


def kill_external_worker(stack: Stack, total: int) -> Disturb:
    """SIGKILL the ``dask worker`` running the most feeders of the job now, then start a replacement."""

    def disturb(job: dict[str, Any], elapsed: float) -> dict[str, Any]:
        client = stack.dask_client()
        try:
            processing = client.processing()  # worker address -> task keys it is running or queued
            info = client.scheduler_info(n_workers=-1)["workers"]
        finally:
            client.close()
        mine = {a: [str(k) for k in keys if job["id"] in str(k)] for a, keys in processing.items()}
        victim = max(mine, key=lambda a: len(mine[a]))
        proc = stack.dask_workers[int(str(info[victim]["name"]).removeprefix("drill-w"))]
        pid = proc.pid
        os.kill(pid, signal.SIGKILL)
        proc.wait(30)
        stack.start_worker()  # not waited for: the job goes on meanwhile, and so does the polling
        return {
            "what": f"dask worker {victim} (pid {pid})",
            "at_s": elapsed,
            "done_at_kill": job["done_tasks"],
            "total": total,
            "feeders_on_it": sorted(_feeder_of(k, job["id"]) for k in mine[victim]),
            "worker": victim,
        }

    return disturb


def kill_local_worker(stack: Stack, total: int) -> Disturb:
    """SIGKILL a worker process of the powerflow service's LocalCluster (its nanny starts another)."""

    def disturb(job: dict[str, Any], elapsed: float) -> dict[str, Any]:
        pids = local_worker_pids(stack.procs["powerflow"].pid)
        if not pids:
            raise DrillError("the powerflow service has no LocalCluster worker processes")
        os.kill(pids[0], signal.SIGKILL)
        return {
            "what": f"LocalCluster worker pid {pids[0]}",
            "at_s": elapsed,
            "done_at_kill": job["done_tasks"],
            "total": total,
            "feeders_on_it": [],
            "worker_pids": pids,
        }

    return disturb


def kill_powerflow(stack: Stack, total: int) -> Disturb:
    """SIGKILL the powerflow service and start it again at once with the same environment (as a
    supervisor would); the drill's polling sees the gateway answer 503 until it is back."""

    def disturb(job: dict[str, Any], elapsed: float) -> dict[str, Any]:
        pid = stack.procs["powerflow"].pid
        children = stack.kill_service("powerflow")
        stack.start_service("powerflow")
        return {
            "what": f"powerflow service (pid {pid}, {len(children)} child processes)",
            "at_s": elapsed,
            "done_at_kill": job["done_tasks"],
            "total": total,
            "children": children,  # the killed service's own processes (its LocalCluster's workers)
        }

    return disturb


def replacement_worker(stack: Stack, kill: Mapping[str, Any], timeout_s: float = 120) -> str:
    """The worker that replaced the killed one ("" when none joined within ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    if stack.dask == "local":
        before = set(kill["worker_pids"])
        while time.monotonic() < deadline:
            started = set(local_worker_pids(stack.procs["powerflow"].pid)) - before
            if started:
                return f"LocalCluster worker pid {min(started)} (started by the nanny)"
            time.sleep(0.2)
        return ""
    client = stack.dask_client()
    try:
        while time.monotonic() < deadline:
            workers = client.scheduler_info(n_workers=-1)["workers"]
            name = f"drill-w{len(stack.dask_workers) - 1}"
            joined = [f"{a} ({w['name']})" for a, w in workers.items() if w["name"] == name]
            if joined:
                return joined[0]
            time.sleep(0.2)
        return ""
    finally:
        client.close()


def _feeder_of(key: str, job_id: str) -> str:
    """The feeder of a Dask key ``qsts-<job>-<feeder>-<attempt>``."""
    rest = key.split(f"-{job_id}-", 1)[-1]
    return rest.rsplit("-", 1)[0]


# --- checking ----------------------------------------------------------------------------------------


def _pages(session: Session, job_id: str, level: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = session.call(
            "GET", f"/jobs/{job_id}/results", params={"level": level, "limit": 10000, "offset": len(rows)}
        ).json()
        rows.extend(page["rows"])
        if not page["rows"] or len(rows) >= page["total"]:
            return rows


def _dupes(items: Sequence[Any]) -> list[Any]:
    return sorted(k for k, n in Counter(items).items() if n > 1)


@dataclass
class Collected:
    """A finished job's results: SQL rows (through REST), manifest, Parquet folders."""

    feeder_rows: list[dict[str, Any]]
    element_rows: list[dict[str, Any]]
    manifest: dict[str, Any]
    folders: list[str]  # feeder ids of the Parquet folders
    strays: list[str]  # files in the job's folder that are not results (a killed write's temp file)


def collect(stack: Stack, run: JobRun) -> Collected:
    assert stack.session is not None
    job_dir = stack.data_dir / "results" / "qsts" / f"job={run.job_id}"
    folders: list[str] = []
    strays: list[str] = []
    for path in sorted(job_dir.iterdir()):
        if path.is_dir() and path.name.startswith("feeder="):
            folders.append(path.name.removeprefix("feeder="))
            expected = {f"{name}.parquet" for name in PARQUET_FILES}
            strays.extend(str(p.relative_to(job_dir)) for p in path.iterdir() if p.name not in expected)
        elif path.name != "run.json":
            strays.append(path.name)
    return Collected(
        feeder_rows=_pages(stack.session, run.job_id, "feeders"),
        element_rows=_pages(stack.session, run.job_id, "elements"),
        manifest=json.loads((job_dir / "run.json").read_text(encoding="utf-8")),
        folders=folders,
        strays=strays,
    )


def feeder_check(run: JobRun, got: Collected) -> list[str]:
    """Failures of "the job completed, each feeder exactly once" (empty: passed)."""
    want = sorted(run.feeders)
    problems: list[str] = []
    job = run.job
    if job["status"] != "succeeded" or job["done_tasks"] != len(want) or job["failed_tasks"]:
        problems.append(
            f"job {job['status']}: {job['done_tasks']} done, {job['failed_tasks']} failed of {len(want)}"
            f" ({job.get('message', '')})"
        )
    views = {
        "task rows": [t["feeder"] for t in job["tasks"] if t["status"] == "done"],
        "SQL feeder rows": [r["feeder"] for r in got.feeder_rows],
        "manifest": [
            f for f, info in (got.manifest.get("feeders") or {}).items() if info["status"] == "done"
        ],
        "Parquet folders": got.folders,
    }
    for what, feeders in views.items():
        dupes = _dupes(feeders)
        lost = sorted(set(want) - set(feeders))
        extra = sorted(set(feeders) - set(want))
        if dupes or lost or extra:
            problems.append(f"{what}: lost {lost}, duplicated {dupes}, unexpected {extra}")
    elements = [(r["feeder"], r["element"]) for r in got.element_rows]
    if _dupes(elements):
        problems.append(f"SQL element rows duplicated: {_dupes(elements)[:10]}")
    return problems


@dataclass
class Comparison:
    files: int = 0
    equal: int = 0
    byte_identical: int = 0
    problems: list[str] = field(default_factory=list)


def compare_runs(stack: Stack, base: JobRun, base_got: Collected, run: JobRun, got: Collected) -> Comparison:
    """``run``'s results against ``base``'s: every Parquet table exactly, the SQL rows without timings."""
    out = Comparison()
    root = stack.data_dir / "results" / "qsts"
    for feeder in sorted(set(base.feeders) & set(run.feeders)):
        for name in PARQUET_FILES:
            a = root / f"job={base.job_id}" / f"feeder={feeder}" / f"{name}.parquet"
            b = root / f"job={run.job_id}" / f"feeder={feeder}" / f"{name}.parquet"
            out.files += 1
            if not (a.is_file() and b.is_file()):
                out.problems.append(f"{feeder}/{name}.parquet missing ({a.is_file()=}, {b.is_file()=})")
                continue
            try:
                pd.testing.assert_frame_equal(
                    pq.read_table(b).to_pandas(), pq.read_table(a).to_pandas(), check_exact=True
                )
            except AssertionError as exc:
                out.problems.append(f"{feeder}/{name}.parquet differs: {str(exc).splitlines()[:3]}")
                continue
            out.equal += 1
            out.byte_identical += a.read_bytes() == b.read_bytes()

    def strip(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
        return {
            tuple(r[k] for k in keys): {k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows
        }

    for level, rows_a, rows_b, keys in (
        ("feeders", base_got.feeder_rows, got.feeder_rows, ("feeder",)),
        ("elements", base_got.element_rows, got.element_rows, ("feeder", "element")),
    ):
        want, have = strip(rows_a, keys), strip(rows_b, keys)
        if want.keys() != have.keys():
            out.problems.append(f"SQL {level} rows: keys differ ({len(want)} vs {len(have)})")
        differing = [k for k in want.keys() & have.keys() if want[k] != have[k]]
        if differing:
            out.problems.append(f"SQL {level} rows differ for {sorted(differing)[:5]}")
    return out


def redone(run: JobRun) -> list[str]:
    """Feeders started more than once by the job runner (SQL attempts > 1)."""
    return sorted(t["feeder"] for t in run.job["tasks"] if t["attempts"] > 1)


# --- the drill ---------------------------------------------------------------------------------------


@dataclass
class DrillResult:
    runs: dict[str, JobRun]
    failures: list[str]


def run_drills(
    stack: Stack,
    feeders: Sequence[str],
    hours: int,
    drills: Sequence[str] = ("worker", "powerflow"),
    at_fraction: float = 0.3,
    report: Callable[[str], None] = _log,
) -> DrillResult:
    """The undisturbed job, then one job per drill, each checked and compared with the first."""
    n = len(feeders)
    base = run_job(stack, "undisturbed", feeders, hours)
    report(f"(a) undisturbed: job {base.job_id} {base.job['status']} in {base.wall_s:.1f} s")
    base_got = collect(stack, base)
    failures = [f"(a) {p}" for p in feeder_check(base, base_got)]
    runs = {"undisturbed": base}
    for letter, drill in zip("bc", drills, strict=False):
        if drill == "worker":
            disturb = (kill_external_worker if stack.dask == "external" else kill_local_worker)(stack, n)
        elif drill == "powerflow":
            disturb = kill_powerflow(stack, n)
        else:
            raise DrillError(f"unknown drill {drill!r}")
        run = run_job(stack, drill, feeders, hours, at_fraction=at_fraction, disturb=disturb)
        runs[drill] = run
        got = collect(stack, run)
        kill = run.kill
        if not kill:
            failures.append(f"({letter}) {drill}: the job ended before {at_fraction:.0%} were done; no kill")
        report(f"({letter}) {drill} kill: job {run.job_id} {run.job['status']} in {run.wall_s:.1f} s")
        if kill:
            pct = 100 * kill["done_at_kill"] / n
            report(
                f"    killed {kill['what']} at {kill['at_s']:.1f} s, {kill['done_at_kill']}/{n} done ({pct:.0f} %)"
            )
            if "feeders_on_it" in kill:
                on_it = ", ".join(kill["feeders_on_it"]) or "not known (LocalCluster)"
                report(f"    the killed worker's feeders (running or queued on it): {on_it}")
                replaced = replacement_worker(stack, kill)
                report(f"    replacement worker: {replaced or 'NONE'}")
                if not replaced:
                    failures.append(f"({letter}) no replacement worker joined")
                by = {t["feeder"]: t["worker"] for t in run.job["tasks"]}
                if kill["feeders_on_it"]:
                    elsewhere = sum(by.get(f) != kill.get("worker") for f in kill["feeders_on_it"])
                    report(
                        f"    of those, finished on another worker: {elsewhere}/{len(kill['feeders_on_it'])}"
                    )
                per_worker = Counter(by.values())
                shown = ", ".join(
                    f"{w}{' (killed)' if w == kill.get('worker') else ''}: {k}"
                    for w, k in sorted(per_worker.items())
                )
                report(f"    feeders done per worker: {shown}")
            if "children" in kill:
                left = wait_gone(kill["children"])  # given 30 s to notice their parent is gone
                report(
                    f"    restarted at once; the gateway answered 503 for {run.unavailable_s:.1f} s; "
                    f"its child processes still alive after the job: {left or 'none'}"
                )
                if left:
                    failures.append(f"({letter}) the killed powerflow service left processes: {left}")
            if run.progress_after_kill_s is not None:
                report(f"    next feeder done {run.progress_after_kill_s:.1f} s after the kill")
        submitted = [r.get("tasks_submitted") for r in got.manifest.get("runs") or []]
        report(
            f"    feeders redone by the runner (attempts > 1): {redone(run) or 'none'}; "
            f"Dask tasks submitted per run: {submitted}"
        )
        problems = feeder_check(run, got)
        cmp = compare_runs(stack, base, base_got, run, got)
        problems += cmp.problems
        report(
            f"    feeders: {len(got.folders)} Parquet folders, {len(got.feeder_rows)} SQL rows, "
            f"{len(got.element_rows)} element rows; Parquet equal to (a): {cmp.equal}/{cmp.files} "
            f"(byte-identical {cmp.byte_identical}); stray files: {got.strays or 'none'}"
        )
        failures += [f"({letter}) {drill}: {p}" for p in problems]
    return DrillResult(runs, failures)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeders", type=int, default=20)
    parser.add_argument("--hours", type=int, default=8760)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--dask", choices=("external", "local"), default="external")
    parser.add_argument("--database", choices=("mysql", "sqlite"), default="mysql")
    parser.add_argument("--drills", default="worker,powerflow", help="comma list of worker, powerflow")
    parser.add_argument("--at", type=float, default=0.3, help="kill when this share of feeders is done")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, results)")
    args = parser.parse_args(argv)
    why = services_reachable(args.database)
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="gridtwin-kill-drills-"))
    keep = args.keep
    _log(
        f"kill drills: {args.feeders} feeders x {args.hours} h, Dask {args.dask} ({args.workers} workers), "
        f"{args.database}; work folder {workdir}"
    )
    try:
        t = time.monotonic()
        with Stack(workdir, dask=args.dask, workers=args.workers, database=args.database) as stack:
            _log(f"stack up in {time.monotonic() - t:.1f} s (gateway {stack.url})")
            assert stack.session is not None
            t = time.monotonic()
            feeders = make_utility(stack.session, args.feeders, args.seed)
            _log(f"synthetic utility: {len(feeders)} feeders in {time.monotonic() - t:.1f} s")
            result = run_drills(stack, feeders, args.hours, args.drills.split(","), args.at)
    except DrillError as exc:
        print(f"drill error: {exc}\nlogs kept in {workdir}", file=sys.stderr)
        return 2
    for failure in result.failures:
        print(f"FAILED {failure}")
    if result.failures or keep:
        print(f"logs and results kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print("all checks passed" if not result.failures else f"{len(result.failures)} check(s) failed")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
