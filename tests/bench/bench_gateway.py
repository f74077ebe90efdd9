"""Gateway benchmark: REST throughput/latency of one twin GET, and snapshot overhead over plain OpenDSS.

Run: ``uv run python tests/bench/bench_gateway.py`` (prints figures, asserts nothing).

Topology, all on 127.0.0.1: the back ends (twin registry, ingestion, powerflow, hosting) each in its own
process as deployed, the gateway alone in one process with ONE uvicorn worker, and this process as the
load generator. Access control is on as deployed: every process gets the same internal secret in its
environment (the services accept only calls the gateway signed), the gateway its JWT secret, an admin is
made first with ``gridtwin admin create``, and every request carries that admin's access token from
``POST /api/v1/auth/token`` (its cost is part of the figures). The per-user and per-address rate limits
are raised out of the way: this measures throughput, not the limiter (the overload drill does that).
EPRI ckt5 is uploaded through the REST API first.

(a) ``GET /api/v1/twins/{id}``: a fixed number of requests (default 5,000) from an asyncio httpx client
    with bounded concurrency; prints requests/s and p50/p95 ms (targets: >= 520 req/s, p95 <= 50 ms).
(b) Warm snapshot through the gateway vs opendssdirect compiling the original ckt5 and then solving and
    reading the same results in this process; prints both medians and the difference (target <= 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # typer/click at import time
    from gridtwin.access.tokens import new_secret
    from gridtwin.cli.client_cmds import zip_model

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("GRIDTWIN_SHARED_DATA", REPO.parent / "shared" / "data"))
CKT5 = SHARED / "opendss" / "EPRITestCircuits" / "ckt5"
HOST = "127.0.0.1"  # every request of this benchmark stays on the loopback interface
USER = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Login:
    """The benchmark's admin session: an access token, refreshed before it expires."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url
        reply = httpx.post(
            f"{url}/api/v1/auth/token",
            data={"grant_type": "password", "username": USER, "password": password},
            timeout=60,
        )
        if reply.status_code != 200:
            raise SystemExit(f"login failed: {reply.status_code} {reply.text[:500]}")
        self._keep(reply.json())

    def _keep(self, body: dict[str, Any]) -> None:
        self._body = body
        self._expires_at = time.time() + float(body["expires_in"])

    @property
    def headers(self) -> dict[str, str]:
        if time.time() > self._expires_at - 120:  # a phase never starts on a token about to expire
            reply = httpx.post(
                f"{self.url}/api/v1/auth/refresh",
                json={"refresh_token": self._body["refresh_token"]},
                timeout=60,
            )
            reply.raise_for_status()
            self._keep(reply.json())
        return {"Authorization": f"Bearer {self._body['access_token']}"}


@contextmanager
def stack(workdir: Path) -> Iterator[tuple[str, str]]:
    """Start the back ends and the gateway as separate processes; yield the gateway's base URL and the
    benchmark admin's password."""
    ports = {name: free_port() for name in ("twin_registry", "ingestion", "powerflow", "hosting", "gateway")}
    env = {
        **os.environ,
        "GRIDTWIN_HOST": HOST,
        "GRIDTWIN_DATA_DIR": str(workdir),
        "GRIDTWIN_DTDL_DIR": os.environ.get("GRIDTWIN_DTDL_DIR", str(REPO / "dtdl")),
        "GRIDTWIN_TWIN_REGISTRY_ADDR": f"{HOST}:{ports['twin_registry']}",
        "GRIDTWIN_INGESTION_ADDR": f"{HOST}:{ports['ingestion']}",
        "GRIDTWIN_POWERFLOW_ADDR": f"{HOST}:{ports['powerflow']}",
        "GRIDTWIN_HOSTING_ADDR": f"{HOST}:{ports['hosting']}",
        "GRIDTWIN_GATEWAY_PORT": str(ports["gateway"]),
        "GRIDTWIN_LOG_LEVEL": "WARNING",
        "GRIDTWIN_OTEL_EXPORTER": "none",
        # One internal secret for every process (the services refuse calls not signed with it), the
        # JWT secret for the gateway; in the children's environment only, as a deployment would.
        "GRIDTWIN_INTERNAL_SECRET": new_secret(),
        "GRIDTWIN_JWT_SECRET": new_secret(),
        "GRIDTWIN_RATE_LIMIT_PER_S": "1000000",
        "GRIDTWIN_RATE_LIMIT_BURST": "1000000",
        "GRIDTWIN_RATE_LIMIT_IP_PER_S": "1000000",
        "GRIDTWIN_RATE_LIMIT_IP_BURST": "1000000",
    }
    env.pop("GRIDTWIN_TOKEN", None)
    password = f"bench-{secrets.token_urlsafe(16)}"
    made = subprocess.run(
        [sys.executable, "-m", "gridtwin.cli.main", "admin", "create", "--username", USER, "--password-stdin",
         "--data-dir", str(workdir)],
        env=env, input=password + "\n", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if made.returncode != 0:
        raise SystemExit(f"gridtwin admin create failed: {made.stdout}{made.stderr}")
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for name, module in (
            ("twin_registry", "gridtwin_twin_registry"),
            ("ingestion", "gridtwin_ingestion"),
            ("powerflow", "gridtwin_powerflow"),
            ("hosting", "gridtwin_hosting"),
            ("gateway", "gridtwin_gateway"),
        ):
            log = (workdir / f"{name}.log").open("wb")
            logs.append(log)
            proc_env = {**env, "GRIDTWIN_GRPC_PORT": str(ports[name])}
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", module], env=proc_env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        url = f"http://{HOST}:{ports['gateway']}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            dead = [p.args for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise SystemExit(f"the stack did not become ready (exited: {dead}); logs in {workdir}")
            time.sleep(0.2)
        yield url, password
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def _raw_get_loop(
    host: str, port: int, path: str, headers: dict[str, str], count: list[int], latencies: list[float]
) -> int:
    """One keep-alive HTTP/1.1 connection issuing GETs until the shared budget ``count`` runs out."""
    reader, writer = await asyncio.open_connection(host, port)
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n{extra}\r\n".encode()
    )
    errors = 0
    try:
        while count[0] > 0:
            count[0] -= 1
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - start) * 1000)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
    finally:
        writer.close()
        await writer.wait_closed()
    return errors


async def load(
    url: str, path: str, headers: dict[str, str], requests: int, concurrency: int, client: str = "raw"
) -> tuple[float, list[float], int]:
    """``requests`` GETs with at most ``concurrency`` in flight; (elapsed s, latencies ms, errors).

    ``raw``: one keep-alive asyncio stream per concurrent request. On this 2-core machine the load
    generator shares the CPU with the system under test, and httpx spends ~3 ms of CPU per request
    (more than the gateway and the registry together), so it would measure itself; ``httpx`` is kept
    to compare.
    """
    latencies: list[float] = []
    parsed = httpx.URL(url)
    if client == "raw":
        budget = [requests]
        started = time.perf_counter()
        errors = sum(
            await asyncio.gather(
                *(
                    _raw_get_loop(parsed.host, parsed.port or 80, path, headers, budget, latencies)
                    for _ in range(concurrency)
                )
            )
        )
        return time.perf_counter() - started, latencies, errors

    errors = 0
    remaining = requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=headers) as http:

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                resp = await http.get(path)
                latencies.append((time.perf_counter() - start) * 1000)
                if resp.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, errors


def bench_get(url: str, login: Login, twin_id: str, requests: int, concurrency: int, client: str) -> None:
    path = f"/api/v1/twins/{twin_id}"
    # warm-up: connections, caches
    asyncio.run(load(url, path, login.headers, min(500, requests), concurrency, client))
    elapsed, latencies, errors = asyncio.run(load(url, path, login.headers, requests, concurrency, client))
    rate = len(latencies) / elapsed
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    print(
        f"(a) GET {path}: {len(latencies)} requests, concurrency {concurrency}, {client} client, errors {errors}"
    )
    print(f"    {rate:.0f} req/s (target >= 520), p50 {p50:.1f} ms, p95 {p95:.1f} ms (target <= 50)")


def dss_baseline(master: Path, runs: int) -> list[float]:
    """Plain opendssdirect in this process: compile once, then solve and read the same results."""
    import opendssdirect as dss

    dss.Text.Command(f'compile "{master}"')
    dss.Solution.Solve()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        dss.Solution.Solve()
        _ = (
            dss.Solution.Converged(),
            dss.Solution.Iterations(),
            dss.Circuit.AllNodeNames(),
            dss.Circuit.AllBusVMag(),
            dss.Circuit.AllBusMagPu(),
            dss.Circuit.AllBusVolts(),
            dss.PDElements.AllNames(),
            dss.PDElements.AllMaxCurrents(False),
            dss.PDElements.AllPctNorm(False),
            dss.PDElements.AllPctEmerg(False),
            dss.PDElements.AllPowers(),
            dss.Circuit.Losses(),
            dss.Circuit.LineLosses(),
            dss.Circuit.TotalPower(),
        )
        times.append((time.perf_counter() - start) * 1000)
    return times


def bench_snapshot(url: str, login: Login, feeder: str, master: Path, runs: int) -> None:
    with httpx.Client(base_url=url, timeout=600, headers=login.headers) as client:
        start = time.perf_counter()
        first = client.post(f"/api/v1/feeders/{feeder}/snapshot")
        cold_ms = (time.perf_counter() - start) * 1000
        first.raise_for_status()
        times, solve = [], []
        for _ in range(runs):
            start = time.perf_counter()
            resp = client.post(f"/api/v1/feeders/{feeder}/snapshot")
            times.append((time.perf_counter() - start) * 1000)
            resp.raise_for_status()
            solve.append(resp.json()["solve_ms"])
    snap = first.json()
    base = dss_baseline(master, runs)
    ours, plain = statistics.median(times), statistics.median(base)
    print(
        f"(b) snapshot {feeder}: {len(snap['voltages'])} voltages, {len(snap['elements'])} elements, "
        f"converged {snap['converged']}, cold {cold_ms:.0f} ms"
    )
    print(
        f"    warm median via gateway {ours:.1f} ms (service solve_ms {statistics.median(solve):.1f}); "
        f"plain opendssdirect solve+read {plain:.1f} ms; overhead {ours - plain:.1f} ms (target <= 50)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--snapshots", type=int, default=15)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load generator")
    args = parser.parse_args()
    if not CKT5.is_dir():
        raise SystemExit(f"EPRI ckt5 not found at {CKT5} (set GRIDTWIN_SHARED_DATA)")
    with tempfile.TemporaryDirectory(prefix="gridtwin-bench-") as tmp, stack(Path(tmp)) as (url, password):
        login = Login(url, password)
        data, master = zip_model(CKT5 / "Master_ckt5.dss")
        start = time.perf_counter()
        resp = httpx.post(
            f"{url}/api/v1/feeders/import",
            files={"file": ("ckt5.zip", data, "application/zip")},
            data={"feeder": "ckt5", "site": "bench", "master": master},
            headers=login.headers,
            timeout=600,
        )
        if resp.status_code != 200:
            raise SystemExit(f"import failed: {resp.status_code} {resp.text[:2000]}")
        report: dict[str, Any] = resp.json()
        print(
            f"imported ckt5 via REST in {time.perf_counter() - start:.1f} s: "
            f"{report['twins']} twins, {report['relationships']} relationships"
        )
        page = httpx.get(
            f"{url}/api/v1/twins",
            params={"feeder": "ckt5", "model": "dtmi:gridtwin:Load;1", "page_size": 1},
            headers=login.headers,
        ).json()
        twin_id = page["twins"][0]["$dtId"]
        bench_get(url, login, twin_id, args.requests, args.concurrency, args.client)
        bench_snapshot(url, login, "ckt5", CKT5 / "Master_ckt5.dss", args.snapshots)


if __name__ == "__main__":
    main()
