"""Overload, bounded: issue 15's drill in a few seconds (``tests/drills/overload.py`` runs it at length
and prints the figures). A live ``gridtwin up`` with a small per-user limit and a site quota of one job
takes an open-loop flood of twin GETs and of job submissions at several times what the limits admit.

Behaviour only, never timings: no answer is 5xx (or anything but 2xx and 429), every 429 carries
Retry-After, the limiter's 429s and the site quota's are told apart by their detail code, another user
is served at once while the flooder's budget is spent, and the flooder is served again once it waits the
Retry-After it was given."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import IEEE13
from live_support import Client, Live, running_gridtwin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drills"))
from overload import TERMINAL, RawHttp, Run, open_loop

PER_S = 5  # the per-user limit (burst as much); the address's is far above it
FLOOD_S = 3.0
FEEDER, SITE = "flood13", "flood"
JOB = {"feeders": [FEEDER], "hours": 1}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    env = {
        "GRIDTWIN_RATE_LIMIT_PER_S": str(PER_S),
        "GRIDTWIN_RATE_LIMIT_BURST": str(PER_S),
        "GRIDTWIN_RATE_LIMIT_IP_PER_S": "1000",
        "GRIDTWIN_RATE_LIMIT_IP_BURST": "1000",
        "GRIDTWIN_SITE_MAX_RUNNING_JOBS": "1",
        "GRIDTWIN_LOG_LEVEL": "WARNING",
    }
    with running_gridtwin(tmp_path_factory.mktemp("overload"), env=env) as live:
        done = live.api(
            "POST", "/feeders/import-path", json={"feeder": FEEDER, "site": SITE, "path": str(IEEE13)}
        )
        assert done.status_code == 200, done.text
        yield live


def flood(live: Live, method: str, path: str, rate: float, body: object = None) -> Run:
    async def go() -> Run:
        http = RawHttp(live.url)
        request = http.encode(method, f"/api/v1{path}", live.admin.token, body)
        try:
            return await open_loop(http, lambda _: request, rate, FLOOD_S, max_inflight=64)
        finally:
            await http.close()

    return asyncio.run(go())


def check_answers(run: Run, admitted: int) -> dict[str, int]:
    """Every answer 2xx or 429 with Retry-After; the 429s counted by detail code."""
    statuses = sorted({a.status for a in run.answers})
    assert set(statuses) <= {admitted, 429}, [(a.status, a.code) for a in run.answers if a.status != 429][:5]
    refused = [a for a in run.answers if a.status == 429]
    assert refused and all(a.retry_after for a in refused), "a 429 without Retry-After"
    codes: dict[str, int] = {}
    for a in refused:
        codes[a.code] = codes.get(a.code, 0) + 1
    assert set(codes) <= {"rate_limited", "quota"}, codes
    assert run.shed == 0 and len(run.answers) == round(FLOOD_S * run.target_rate)
    return codes


def patient(client: Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The answer once the caller has waited each Retry-After it is given (a few at most)."""
    for _ in range(5):
        reply = client.api(method, path, **kwargs)
        if reply.status_code != 429:
            return reply
        time.sleep(float(reply.headers["Retry-After"]))
    return reply


def test_a_flood_of_twin_gets_is_refused_with_429_and_served_again_after_retry_after(live: Live) -> None:
    twin = live.api("GET", "/twins", params={"feeder": FEEDER, "model": "dtmi:gridtwin:Load;1"}).json()
    twin_id = twin["twins"][0]["$dtId"]
    bystander = live.as_user("bystander", "viewer", [SITE])
    time.sleep(1.5)  # the admin's budget, spent on setting up, fills again

    run = flood(live, "GET", f"/twins/{twin_id}", 10 * PER_S)

    codes = check_answers(run, 200)
    assert codes == {"rate_limited": len(run.answers) - len(run.ok())}
    assert len(run.ok()) >= PER_S  # the limit's worth got through
    assert bystander.api("GET", f"/twins/{twin_id}").status_code == 200  # others are not held up
    assert patient(live.admin, "GET", f"/twins/{twin_id}").status_code == 200


def test_a_flood_of_job_submissions_meets_the_limit_and_the_site_quota(live: Live) -> None:
    time.sleep(1.5)
    run = flood(live, "POST", "/jobs", 6 * PER_S, JOB)

    codes = check_answers(run, 202)
    # The first job holds the site's one slot (it starts the Dask cluster): the next ones the limiter
    # lets through meet the quota.
    assert codes.get("rate_limited", 0) > 0 and codes.get("quota", 0) > 0, codes
    assert run.ok()
    for job in _active(live):
        assert patient(live.admin, "POST", f"/jobs/{job}/cancel").status_code == 200
    _wait_idle(live)
    reply = patient(live.admin, "POST", "/jobs", json=JOB)
    assert reply.status_code == 202, reply.text  # the quota's slot is free again
    assert patient(live.admin, "POST", f"/jobs/{reply.json()['id']}/cancel").status_code == 200
    _wait_idle(live)


def _active(live: Live) -> list[str]:
    ids: list[str] = []
    for status in ("queued", "running"):
        reply = patient(live.admin, "GET", "/jobs", params={"status": status})
        assert reply.status_code == 200, reply.text
        ids += [job["id"] for job in reply.json()["jobs"]]
    return ids


def _wait_idle(live: Live) -> None:
    deadline = time.monotonic() + 120
    while _active(live):
        assert time.monotonic() < deadline, "jobs still active"
        time.sleep(0.5)
    assert all(j["status"] in TERMINAL for j in patient(live.admin, "GET", "/jobs").json()["jobs"])
