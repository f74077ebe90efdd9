"""Overload drill (issue 15): 10x the sustainable rate of a twin GET and of job submission against a real
``gridtwin up``; admitted requests must keep their p95 within 2x of the unloaded figure, the rest must be
refused with 429 + Retry-After, nothing may answer 5xx, and the gateway must serve again as soon as the
load stops. Prints the figures; exit 1 when a check fails.

    GRIDTWIN_SHARED_DATA=/work/shared/data uv run --frozen python tests/drills/overload.py
    uv run --frozen python tests/drills/overload.py --get-rate 40 --duration 30   # harder: 400 GETs/s
    uv run --frozen python tests/drills/overload.py --routes jobs --site-quota 4  # the shipped quota

What runs: ``gridtwin up`` in a child process (temporary data folder, free port, no demo, log level
WARNING), as a user runs it, twice on the same data folder, every request with the admin's access token
from ``POST /api/v1/auth/token`` (refreshed before a phase that could outlive it):

1. calibration, with the rate limits out of the way (1e6/s): IEEE 13 is imported (``POST
   /feeders/import-path``, site ``drill``); the GET route's capacity is measured closed loop
   (``--concurrency`` connections); for jobs (``POST /jobs``: IEEE 13, one hour, the cheapest real job),
   the jobs finished per second with the site's quota always full, then an open-loop ramp of
   submissions at 1/4, 1/2 and 1x that.
2. the drill: the same installation restarted with the limits an operator would set (below).

The sustainable rate, per route:

- GET: the admitted rate the configured per-user limit allows, ``--get-rate`` (default 20/s, the shipped
  ``GRIDTWIN_RATE_LIMIT_PER_S``), given to the child as ``GRIDTWIN_RATE_LIMIT_PER_S`` with a burst of one
  second's worth, and ``GRIDTWIN_RATE_LIMIT_IP_PER_S`` twice that (an address may hold several users).
  The limit is the operator's statement of what one user may sustain, and must be at or below what the
  gateway sustains (the drill stops when it is over the measured capacity); 10x it is what one
  misbehaving client sends. It is not the capacity itself: a refusal still costs the gateway about a
  third of an admitted GET (the CPU figures below), so no single-process gateway absorbs 10x its
  capacity; the limit has to leave room for the refusals.
- job submission: measured, the highest step of the ramp at which the quota refused nothing and the p95
  stayed within 1.5x of the first step's (``--job-rate`` gives it instead). What holds admitted jobs to
  it is the site quota (``--site-quota``, ``GRIDTWIN_SITE_MAX_RUNNING_JOBS``), which answers 429 too
  (detail code ``quota``; the rate limit's is ``rate_limited``: counted apart). The drill runs with a
  quota of 1 by default: on this 2-core all-in-one the Dask workers share the cores with the gateway,
  and the shipped 4 lets a flood through at ~17 one-hour IEEE 13 jobs/s where the p95 stays flat up to
  ~5/s (measured with ``--site-quota 4``: admitted p95 2.3x unloaded): on such a machine 4 is above
  what it sustains.

Per route and phase:

- unloaded: requests paced at a quarter of the sustainable rate (well inside every limit): p50 / p95.
- 1x (reference, not checked): open loop at the sustainable rate, for half the overload's duration.
- overload: an open-loop generator (fixed arrival schedule at ``--factor`` x the sustainable rate, for
  ``--duration`` s, at most ``--max-inflight`` requests in flight: an arrival that finds them all busy is
  shed by the generator, never queued, and fails the drill), raw HTTP/1.1 on keep-alive asyncio
  connections from this one process (httpx costs more CPU per request than the gateway does; one
  process offers 400/s here with a p95 lag behind schedule of a few ms: the offered rate reached and the
  lag are printed). Answers are counted as 2xx / 429 (rate limit, site quota, and 429 without
  Retry-After) / 5xx / other (connection errors, timeouts, any other status); the p95 of the admitted
  (2xx) ones is compared with the unloaded p95.
- recovery: as soon as the load's last request has answered, the same user sends again every
  1/limit s (GET) or 50 ms (jobs) until a 2xx: the time to it is printed (a drained token bucket refills
  at the limit's rate; a quota slot frees when a job ends); then ``--recovery-requests`` paced inside
  the limits: all must succeed.

Also printed: the CPU time the ``gridtwin up`` process (not its Dask workers) spends per request in each
phase, less its idle use, and from the GET phases the cost of one refusal against one admitted GET.

Exit 1 on any 5xx or other answer, a 429 without Retry-After, an arrival shed by the generator, an
admitted p95 over 2x the unloaded p95, or no recovery within ``RECOVERY_TIMEOUT_S``. Jobs still queued
or running at the end are cancelled. Latencies are only as good as the machine is quiet: the generator
shares it with the system under test, and other work on the machine shows up as stalls of tens to
hundreds of ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from live_support import ADMIN, running_gridtwin  # noqa: E402

SHARED = Path(os.environ.get("GRIDTWIN_SHARED_DATA", REPO.parent / "shared" / "data"))
IEEE13 = SHARED / "opendss" / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"
FEEDER, SITE = "ieee13", "drill"
JOB_BODY = {"feeders": [FEEDER], "hours": 1}
OUT_OF_THE_WAY = "1000000"
RECOVERY_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
STALE_S = 3.0
RAMP_ARRIVALS = 20  # at least this many submissions per step of the job calibration's ramp
RAMP_FLAT = 1.5
TERMINAL = ("succeeded", "partial", "failed", "cancelled")


# -- raw HTTP/1.1 on keep-alive asyncio connections ---------------------------------------------------


@dataclass
class Answer:
    status: int  # 0: no answer (connection error or timeout)
    ms: float
    retry_after: bool = False
    code: str = ""  # an error's first detail code (a 429's: rate_limited | quota)
    sent_at: float = 0.0  # loop time the request was written


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used = False
        self.idle_since = time.monotonic()


class RawHttp:
    """A pool of keep-alive HTTP/1.1 connections to one gateway (one request per connection at a time)."""

    def __init__(self, url: str) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self._idle: list[_Conn] = []

    async def _open(self) -> _Conn:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Conn(reader, writer)

    async def warm(self, count: int) -> None:
        opened = await asyncio.gather(*(self._open() for _ in range(count - len(self._idle))))
        self._idle.extend(opened)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.writer.close()
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()

    async def _take(self, fresh: bool) -> _Conn:
        """An idle connection, or a new one. A used connection idle for ``STALE_S`` is dropped: the
        server closes it at its keep-alive timeout (uvicorn: 5 s), maybe while a request is on the way."""
        while self._idle and not fresh:
            conn = self._idle.pop()
            if not conn.used or time.monotonic() - conn.idle_since < STALE_S:
                return conn
            conn.writer.close()
        return await self._open()

    def encode(self, method: str, path: str, token: str, body: Any = None) -> bytes:
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: application/json\r\n"
            f"Authorization: Bearer {token}\r\n"
        )
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        return (head + "\r\n").encode() + payload

    async def send(self, request: bytes) -> Answer:
        loop = asyncio.get_running_loop()
        for attempt in (0, 1):
            sent_at = loop.time()
            start = time.perf_counter()  # a new connection's set-up counts
            try:
                conn = await self._take(fresh=attempt > 0)
            except OSError as exc:
                return Answer(0, (time.perf_counter() - start) * 1000, code=type(exc).__name__)
            reused = conn.used
            try:
                conn.writer.write(request)
                status, headers, body = await asyncio.wait_for(_read_answer(conn.reader), REQUEST_TIMEOUT_S)
            except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
                conn.writer.close()
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: send again on a new one
                return Answer(0, (time.perf_counter() - start) * 1000, code=type(exc).__name__)
            except TimeoutError:
                conn.writer.close()
                return Answer(0, (time.perf_counter() - start) * 1000, code="timeout")
            ms = (time.perf_counter() - start) * 1000
            conn.used = True
            if headers.get("connection", "").lower() == "close":
                conn.writer.close()
            else:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            answer = Answer(status, ms, "retry-after" in headers, sent_at=sent_at)
            if status >= 400:
                answer.code = _first_code(body)
            return answer
        raise AssertionError("unreachable")


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
        return status, headers, bytes(body)
    return status, headers, await reader.readexactly(int(headers.get("content-length", "0")))


def _first_code(body: bytes) -> str:
    try:
        details = json.loads(body)["error"]["details"]
        return str(details[0]["code"]) if details else ""
    except (ValueError, KeyError, IndexError, TypeError):
        return body[:80].decode("latin-1")


# -- load shapes ------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one phase sent and got back."""

    target_rate: float
    answers: list[Answer] = field(default_factory=list)
    shed: int = 0  # arrivals the generator dropped: every allowed connection was busy
    send_span_s: float = 0.0  # first to last send
    lags_ms: list[float] = field(default_factory=list)  # send time behind schedule

    @property
    def offered_rate(self) -> float:
        sent = len(self.answers)
        return sent / self.send_span_s if self.send_span_s > 0 else float(sent)

    def ok(self) -> list[Answer]:
        return [a for a in self.answers if 200 <= a.status < 300]

    def count(self, test: Callable[[Answer], bool]) -> int:
        return sum(1 for a in self.answers if test(a))


async def open_loop(
    http: RawHttp, request: Callable[[int], bytes], rate: float, duration_s: float, max_inflight: int
) -> Run:
    """Arrivals on a fixed schedule (``rate`` per second for ``duration_s``), whatever the answers do;
    at most ``max_inflight`` in flight (an arrival beyond that is shed, not queued)."""
    loop = asyncio.get_running_loop()
    run = Run(rate)
    total = max(1, round(rate * duration_s))
    inflight: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        run.answers.append(await http.send(request(i)))

    t0 = loop.time() + 0.05
    first = last = 0.0
    i = 0
    while i < total:
        now = loop.time()
        due = t0 + i / rate
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while i < total and t0 + i / rate <= now:
            if len(inflight) >= max_inflight:
                run.shed += 1
            else:
                task = asyncio.create_task(one(i))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                run.lags_ms.append((now - (t0 + i / rate)) * 1000)
                first = first or now
                last = now
            i += 1
        await asyncio.sleep(0)
    run.send_span_s = max(last - first, 1 / rate) if first else 0.0
    if inflight:
        await asyncio.wait(inflight)
    return run


async def paced(http: RawHttp, request: Callable[[int], bytes], rate: float, count: int) -> Run:
    """``count`` requests one after the other, at most ``rate`` per second (each waits for the last)."""
    loop = asyncio.get_running_loop()
    run = Run(rate)
    t0 = loop.time()
    for i in range(count):
        await asyncio.sleep(max(0.0, t0 + i / rate - loop.time()))
        run.answers.append(await http.send(request(i)))
    run.send_span_s = loop.time() - t0
    return run


async def closed_loop(
    http: RawHttp, request: Callable[[int], bytes], concurrency: int, duration_s: float
) -> Run:
    """``concurrency`` workers sending back to back for ``duration_s``: the route's throughput."""
    loop = asyncio.get_running_loop()
    run = Run(0.0)
    end = loop.time() + duration_s

    async def worker() -> None:
        while loop.time() < end:
            run.answers.append(await http.send(request(0)))

    start = loop.time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.send_span_s = loop.time() - start
    return run


class CpuMeter:
    """The CPU time (user + system) one process spends on a phase, less what it spends idle (its
    threads' own timers and polls), from Linux's ``/proc``; NaN elsewhere. Its Dask workers are other
    processes: not counted."""

    def __init__(self, pid: int) -> None:
        self.stat = Path(f"/proc/{pid}/stat")
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.idle_per_s = 0.0

    def used(self) -> float:
        try:
            fields = self.stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / self.tick

    async def measure_idle(self, seconds: float = 5.0) -> None:
        mark = self.mark()
        await asyncio.sleep(seconds)
        self.idle_per_s = self.spent(mark) / seconds

    def mark(self) -> tuple[float, float]:
        return self.used(), time.monotonic()

    def spent(self, mark: tuple[float, float]) -> float:
        used, at = mark
        return self.used() - used - self.idle_per_s * (time.monotonic() - at)


# -- the session --------------------------------------------------------------------------------------


class Login:
    """The admin's REST session: an access token from ``POST /auth/token``, refreshed before a phase
    that could outlive it (a refresh refused by the limits waits its Retry-After)."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        body = self._post(
            "/auth/token", data={"grant_type": "password", "username": username, "password": password}
        )
        self._keep(body)

    def _post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        for _ in range(30):
            reply = httpx.post(f"{self.url}/api/v1{path}", timeout=60, **kwargs)
            if reply.status_code == 429:
                time.sleep(float(reply.headers.get("retry-after", "1")))
                continue
            if reply.status_code != 200:
                raise SystemExit(f"{path} failed: {reply.status_code} {reply.text[:500]}")
            body: dict[str, Any] = reply.json()
            return body
        raise SystemExit(f"{path}: still refused (429) after 30 tries")

    def _keep(self, body: dict[str, Any]) -> None:
        self._body = body
        self._expires_at = time.time() + float(body["expires_in"])

    def token(self, needed_s: float = 180.0) -> str:
        if time.time() > self._expires_at - needed_s:
            self._keep(self._post("/auth/refresh", json={"refresh_token": self._body["refresh_token"]}))
        return str(self._body["access_token"])

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for _ in range(30):
            reply = httpx.request(
                method,
                f"{self.url}/api/v1{path}",
                headers={"Authorization": f"Bearer {self.token()}"},
                timeout=120,
                **kwargs,
            )
            if reply.status_code != 429:
                return reply
            time.sleep(float(reply.headers.get("retry-after", "1")))
        return reply


def import_feeder(login: Login) -> str:
    """IEEE 13 into site ``drill`` (once per data folder); the id of one of its load twins."""
    known = login.api("GET", "/twins", params={"feeder": FEEDER, "page_size": 1})
    if known.status_code != 200 or not known.json()["twins"]:
        reply = login.api(
            "POST", "/feeders/import-path", json={"feeder": FEEDER, "site": SITE, "path": str(IEEE13)}
        )
        if reply.status_code != 200:
            raise SystemExit(f"import failed: {reply.status_code} {reply.text[:1000]}")
    page = login.api(
        "GET", "/twins", params={"feeder": FEEDER, "model": "dtmi:gridtwin:Load;1", "page_size": 1}
    ).json()
    return str(page["twins"][0]["$dtId"])


def active_jobs(login: Login) -> list[str]:
    ids: list[str] = []
    for status in ("queued", "running"):
        reply = login.api("GET", "/jobs", params={"status": status, "limit": 1000})
        reply.raise_for_status()
        ids += [j["id"] for j in reply.json()["jobs"]]
    return ids


def settle_jobs(login: Login, cancel: bool, timeout_s: float = 120.0) -> None:
    """Wait until the site has no job queued or running (cancelling them first when asked)."""
    deadline = time.monotonic() + timeout_s
    while ids := active_jobs(login):
        if cancel:
            for job_id in ids:
                login.api("POST", f"/jobs/{job_id}/cancel")
        if time.monotonic() > deadline:
            raise SystemExit(f"jobs still active after {timeout_s:.0f} s: {ids}")
        time.sleep(0.5)


def job_finished(login: Login, job_id: str) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = login.api("GET", f"/jobs/{job_id}").json()
        if job["status"] in TERMINAL:
            return job
        time.sleep(0.05)


# -- figures ------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


@dataclass
class Row:
    route: str
    phase: str
    run: Run
    note: str = ""
    cpu_s: float = math.nan  # CPU time of the gridtwin up process (not its Dask workers) meanwhile

    def cells(self) -> list[str]:
        run = self.run
        ok = [a.ms for a in run.ok()]
        rate_429 = run.count(lambda a: a.status == 429 and a.code != "quota")
        quota_429 = run.count(lambda a: a.status == 429 and a.code == "quota")
        bare_429 = run.count(lambda a: a.status == 429 and not a.retry_after)
        five = run.count(lambda a: a.status >= 500)
        other = run.count(lambda a: not (200 <= a.status < 300 or a.status == 429 or a.status >= 500))
        target = f"{run.target_rate:g}" if run.target_rate else "-"
        return [
            self.route,
            self.phase,
            target,
            f"{run.offered_rate:.1f}",
            str(len(run.answers)),
            str(run.shed),
            str(len(ok)),
            str(rate_429),
            str(quota_429),
            str(bare_429),
            str(five),
            str(other),
            f"{percentile(ok, 50):.1f}",
            f"{percentile(ok, 95):.1f}",
            f"{self.cpu_s * 1000 / max(1, len(run.answers)):.2f}",
            self.note,
        ]


HEADER = [
    "route",
    "phase",
    "target/s",
    "offered/s",
    "sent",
    "shed",
    "2xx",
    "429 rate",
    "429 quota",
    "429 no R-A",
    "5xx",
    "other",
    "p50 ms",
    "p95 ms",
    "cpu ms/req",
    "note",
]


def print_table(rows: Sequence[Row]) -> None:
    table = [HEADER, *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    for n, line in enumerate(table):
        print(
            "  ".join(
                cell.rjust(w) if 2 <= i <= 14 else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


# -- the drill ------------------------------------------------------------------------------------------


@dataclass
class Recovery:
    first_ok_s: float  # from the load's last answer to the first 2xx (inf: none)
    tries: int
    after: Run


async def recover(
    http: RawHttp, request: Callable[[int], bytes], rate: float, count: int, pause_s: float
) -> Recovery:
    """Right after the load: send until the first 2xx (``pause_s`` apart), then ``count`` paced."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tries = 0
    first_ok = math.inf
    while loop.time() - start < RECOVERY_TIMEOUT_S:
        tries += 1
        answer = await http.send(request(tries))
        if 200 <= answer.status < 300:
            first_ok = loop.time() - start
            break
        if answer.status != 429:
            break  # anything else is a failure: no waiting it out
        await asyncio.sleep(pause_s)
    if not math.isfinite(first_ok):
        return Recovery(first_ok, tries, Run(rate))
    await asyncio.sleep(1 / rate)  # that 2xx took the token the bucket had refilled
    return Recovery(first_ok, tries, await paced(http, request, rate, count))


@dataclass
class Capacity:
    get_rate: float  # GETs per second, closed loop
    get_p95: float
    job_rate: float  # the sustainable job submissions per second (measured, or given)
    job_max: float = math.nan  # jobs finished per second with the site's quota always full
    job_s: float = math.nan  # median time from submission to the end of a job meanwhile
    ramp: list[tuple[float, float, int, int]] = field(default_factory=list)  # rate, p95, quota 429s, sent


async def calibrate(url: str, login: Login, twin: str, args: argparse.Namespace) -> Capacity:
    http = RawHttp(url)
    get = http.encode("GET", f"/api/v1/twins/{twin}", login.token())
    await http.warm(args.concurrency)
    await closed_loop(http, lambda _: get, args.concurrency, 2.0)  # warm-up
    run = await closed_loop(http, lambda _: get, args.concurrency, args.calibration_s)
    bad = [a for a in run.answers if a.status != 200]
    if bad:
        raise SystemExit(f"calibration GET failed: {bad[0].status} {bad[0].code}")
    cap = Capacity(len(run.answers) / run.send_span_s, percentile([a.ms for a in run.answers], 95), 0.0)
    if args.job_rate or "jobs" not in args.routes:
        cap.job_rate = args.job_rate
        await http.close()
        return cap

    # Jobs: the quota's worth of workers, each submitting a job and waiting for it to finish.
    warm = login.api("POST", "/jobs", json=JOB_BODY)  # the first job starts the Dask cluster
    if warm.status_code != 202:
        raise SystemExit(f"job submission failed: {warm.status_code} {warm.text[:500]}")
    job_finished(login, warm.json()["id"])
    durations: list[float] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + args.calibration_s

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=120) as client:
            while loop.time() < end:
                headers = {"Authorization": f"Bearer {login.token()}"}
                t = loop.time()
                reply = await client.post("/jobs", json=JOB_BODY, headers=headers)
                if reply.status_code != 202:
                    raise SystemExit(f"job submission failed: {reply.status_code} {reply.text[:500]}")
                job_id = reply.json()["id"]
                while (await client.get(f"/jobs/{job_id}", headers=headers)).json()["status"] not in TERMINAL:
                    await asyncio.sleep(0.02)
                durations.append(loop.time() - t)

    start = loop.time()
    await asyncio.gather(*(worker() for _ in range(args.site_quota)))
    cap.job_max = len(durations) / (loop.time() - start)
    cap.job_s = statistics.median(durations)

    # The ramp: open-loop submissions at a quarter, half and all of that; the sustainable rate is the
    # highest step the quota refused nothing of with a p95 within RAMP_FLAT of the first step's.
    post = http.encode("POST", "/api/v1/jobs", login.token(), JOB_BODY)
    for fraction in (0.25, 0.5, 1.0):
        rate = cap.job_max * fraction
        await asyncio.to_thread(settle_jobs, login, False)
        step = await open_loop(http, lambda _: post, rate, max(8.0, RAMP_ARRIVALS / rate), 64)
        p95 = percentile([a.ms for a in step.ok()], 95)
        quota = step.count(lambda a: a.status == 429)
        bad = [a for a in step.answers if a.status not in (202, 429)]
        if bad:
            raise SystemExit(f"calibration job submission failed: {bad[0].status} {bad[0].code}")
        cap.ramp.append((rate, p95, quota, len(step.answers)))
    await http.close()
    await asyncio.to_thread(settle_jobs, login, False)
    flat = [r for r in cap.ramp if r[2] == 0 and r[1] <= RAMP_FLAT * cap.ramp[0][1]]
    cap.job_rate = max(r[0] for r in flat) if flat else cap.ramp[0][0]
    return cap


@dataclass
class Checks:
    failures: list[str] = field(default_factory=list)

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures.append(what)


async def drill_route(
    route: str,
    http: RawHttp,
    request: Callable[[int], bytes],
    rate: float,
    args: argparse.Namespace,
    checks: Checks,
    rows: list[Row],
    between: Callable[[], Awaitable[None]],
    recovery_pause_s: float,
    cpu: CpuMeter,
) -> None:
    unloaded_rate = rate / 4
    count = max(20, min(args.unloaded_requests, round(unloaded_rate * 30)))
    await paced(http, request, unloaded_rate, min(10, count))  # warm-up
    await between()
    mark = cpu.mark()
    unloaded = await paced(http, request, unloaded_rate, count)
    rows.append(Row(route, "unloaded", unloaded, cpu_s=cpu.spent(mark)))
    base_p95 = percentile([a.ms for a in unloaded.ok()], 95)
    checks.expect(len(unloaded.ok()) == len(unloaded.answers), f"{route}: unloaded requests failed")
    await between()

    await http.warm(min(args.max_inflight, 64))
    mark = cpu.mark()
    steady = await open_loop(http, request, rate, args.duration / 2, args.max_inflight)
    steady_cpu = cpu.spent(mark)
    ratio_1x = percentile([a.ms for a in steady.ok()], 95) / base_p95
    rows.append(
        Row(route, "1x (ref.)", steady, f"admitted p95 = {ratio_1x:.2f}x unloaded (not checked)", steady_cpu)
    )
    await between()

    mark = cpu.mark()
    load = await open_loop(http, request, rate * args.factor, args.duration, args.max_inflight)
    load_cpu = cpu.spent(mark)
    p95 = percentile([a.ms for a in load.ok()], 95)
    ratio = p95 / base_p95
    rows.append(Row(route, "overload", load, f"admitted p95 = {ratio:.2f}x unloaded", load_cpu))
    mark = cpu.mark()
    recovery = await recover(http, request, unloaded_rate, args.recovery_requests, recovery_pause_s)
    rows.append(
        Row(
            route,
            "recovery",
            recovery.after,
            f"first 2xx {recovery.first_ok_s * 1000:.0f} ms after the load, try {recovery.tries}",
            cpu.spent(mark),
        )
    )

    lag = percentile(load.lags_ms, 95)
    print(
        f"{route}: offered {load.offered_rate:.1f}/s of {rate * args.factor:g}/s target, generator lag "
        f"p95 {lag:.1f} ms, {load.shed} shed; admitted {len(load.ok())} "
        f"({len(load.ok()) / args.duration:.1f}/s)",
        flush=True,
    )
    refused = load.count(lambda a: a.status == 429)
    if refused and steady.answers and route.startswith("GET"):
        # The 1x phase is all admitted requests: what is left of the overload's CPU is the refusals'.
        per_ok = steady_cpu / len(steady.answers)
        per_429 = (load_cpu - len(load.ok()) * per_ok) / refused
        print(
            f"{route}: the gridtwin up process spent ~{per_ok * 1000:.2f} ms of CPU per admitted request "
            f"and ~{per_429 * 1000:.2f} ms per refused one",
            flush=True,
        )
    five = load.count(lambda a: a.status >= 500) + recovery.after.count(lambda a: a.status >= 500)
    checks.expect(five == 0, f"{route}: {five} answers 5xx")
    odd = load.count(lambda a: not (200 <= a.status < 300 or a.status == 429 or a.status >= 500))
    checks.expect(odd == 0, f"{route}: {odd} answers neither 2xx nor 429 (e.g. {_example(load)})")
    bare = load.count(lambda a: a.status == 429 and not a.retry_after)
    checks.expect(bare == 0, f"{route}: {bare} 429 without Retry-After")
    checks.expect(bool(load.ok()), f"{route}: nothing admitted under load")
    checks.expect(ratio <= 2.0, f"{route}: admitted p95 {p95:.1f} ms > 2x unloaded {base_p95:.1f} ms")
    checks.expect(load.shed == 0, f"{route}: the generator shed {load.shed} arrivals (raise --max-inflight)")
    checks.expect(math.isfinite(recovery.first_ok_s), f"{route}: no 2xx within {RECOVERY_TIMEOUT_S:.0f} s")
    after_ok = len(recovery.after.ok()) == len(recovery.after.answers)
    checks.expect(after_ok, f"{route}: requests after the recovery failed")


def _example(run: Run) -> str:
    for a in run.answers:
        if not (200 <= a.status < 300 or a.status == 429):
            return f"{a.status} {a.code}"
    return "-"


async def drill(
    url: str, login: Login, twin: str, cap: Capacity, args: argparse.Namespace, cpu: CpuMeter
) -> Checks:
    checks = Checks()
    rows: list[Row] = []
    http = RawHttp(url)
    await cpu.measure_idle()
    print(f"idle, the gridtwin up process uses {cpu.idle_per_s * 1000:.0f} ms of CPU per second", flush=True)

    async def nothing() -> None:
        await asyncio.sleep(1.0)  # the user's bucket fills again between phases

    if "get" in args.routes:
        get = http.encode("GET", f"/api/v1/twins/{twin}", login.token(600))
        await drill_route(
            "GET /twins/{id}",
            http,
            lambda _: get,
            args.get_rate,
            args,
            checks,
            rows,
            nothing,
            1 / args.get_rate,
            cpu,
        )
        await http.close()
    if "jobs" not in args.routes:
        print()
        print_table(rows)
        return checks

    async def no_jobs() -> None:
        await asyncio.to_thread(settle_jobs, login, False)
        await asyncio.sleep(1.0)

    post = http.encode("POST", "/api/v1/jobs", login.token(600), JOB_BODY)
    try:
        await drill_route(
            "POST /jobs", http, lambda _: post, cap.job_rate, args, checks, rows, no_jobs, 0.05, cpu
        )
    finally:
        await http.close()
        await asyncio.to_thread(settle_jobs, login, True)
    print()
    print_table(rows)
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--get-rate", type=float, default=20.0, help="per-user limit = sustainable GET rate")
    parser.add_argument("--factor", type=float, default=10.0, help="overload = factor x sustainable")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of overload per route")
    parser.add_argument("--max-inflight", type=int, default=256, help="generator's concurrency bound")
    parser.add_argument("--unloaded-requests", type=int, default=200)
    parser.add_argument("--recovery-requests", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8, help="calibration GET connections")
    parser.add_argument("--calibration-s", type=float, default=10.0)
    parser.add_argument("--site-quota", type=int, default=1, help="GRIDTWIN_SITE_MAX_RUNNING_JOBS")
    parser.add_argument("--job-rate", type=float, default=0.0, help="sustainable jobs/s (0: measure)")
    parser.add_argument("--routes", default="get,jobs", help="which routes to drill: get, jobs or both")
    args = parser.parse_args()
    args.routes = set(args.routes.split(","))
    if not IEEE13.is_file():
        raise SystemExit(f"IEEE 13 not found at {IEEE13} (set GRIDTWIN_SHARED_DATA)")

    base_env = {"GRIDTWIN_LOG_LEVEL": "WARNING", "GRIDTWIN_SITE_MAX_RUNNING_JOBS": str(args.site_quota)}
    free = {f"GRIDTWIN_RATE_LIMIT_{k}": OUT_OF_THE_WAY for k in ("PER_S", "BURST", "IP_PER_S", "IP_BURST")}
    limits = {
        "GRIDTWIN_RATE_LIMIT_PER_S": f"{args.get_rate:g}",
        "GRIDTWIN_RATE_LIMIT_BURST": str(max(1, math.ceil(args.get_rate))),
        "GRIDTWIN_RATE_LIMIT_IP_PER_S": f"{2 * args.get_rate:g}",
        "GRIDTWIN_RATE_LIMIT_IP_BURST": str(max(1, math.ceil(2 * args.get_rate))),
    }
    password = f"drill-{os.urandom(12).hex()}"
    with tempfile.TemporaryDirectory(prefix="gridtwin-overload-") as tmp:
        data = Path(tmp) / "data"
        env = {**base_env, **free, "GRIDTWIN_ADMIN_PASSWORD": password}
        print("calibration: gridtwin up with the rate limits out of the way", flush=True)
        with running_gridtwin(data, env=env) as live:
            login = Login(live.url, ADMIN, password)
            twin = import_feeder(login)
            cap = asyncio.run(calibrate(live.url, login, twin, args))
        print(
            f"  GET capacity {cap.get_rate:.0f} req/s (closed loop, {args.concurrency} connections, "
            f"p95 {cap.get_p95:.1f} ms)",
            flush=True,
        )
        if cap.ramp:
            steps = ", ".join(f"{r:.2f}/s: p95 {p:.1f} ms, {q}/{n} quota 429" for r, p, q, n in cap.ramp)
            print(
                f"  jobs: {cap.job_max:.2f} finished/s with the site quota ({args.site_quota}) always full "
                f"(median {cap.job_s:.2f} s from submission to end); open-loop ramp: {steps}",
                flush=True,
            )
        if args.get_rate > cap.get_rate:
            raise SystemExit(f"--get-rate {args.get_rate:g} is over the measured capacity {cap.get_rate:.0f}")
        print(
            f"drill: gridtwin up with {' '.join(f'{k}={v}' for k, v in limits.items())}; sustainable: GET "
            f"{args.get_rate:g}/s (the per-user limit), jobs {cap.job_rate:.2f}/s "
            f"({'the ramp' if cap.ramp else 'given'}); "
            f"overload {args.factor:g}x for {args.duration:g} s each",
            flush=True,
        )
        with running_gridtwin(data, env={**base_env, **limits, "GRIDTWIN_ADMIN_PASSWORD": password}) as live:
            login = Login(live.url, ADMIN, password)
            checks = asyncio.run(drill(live.url, login, twin, cap, args, CpuMeter(live.proc.pid)))
            gateway_errors = [line for line in live.lines if '"level": "ERROR"' in line]
    if gateway_errors:
        print(f"\n{len(gateway_errors)} ERROR lines from gridtwin up, e.g.: {gateway_errors[0][:400]}")
    if checks.failures:
        print("\nFAILED:\n  " + "\n  ".join(checks.failures))
        raise SystemExit(1)
    print("\nall checks passed")


if __name__ == "__main__":
    main()
