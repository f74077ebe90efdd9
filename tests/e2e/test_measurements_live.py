"""Utility measurements as a user runs them: ``gridtwin up`` (all-in-one, embedded defaults), then the
CLI: a synthetic utility with a year of AMI reads, the meter list mapped to transformers, the reads
imported (streamed upload, quality, aggregation) and allocated onto the loads, QSTS on measured load
against the base year, OMS records into IEEE 1366 indices, and a weather year from a local Open-Meteo
attached to the feeder. Upload limits and bad files answer located errors; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fake_open_meteo import FakeOpenMeteo
from live_support import Live, running_gridtwin

pytestmark = pytest.mark.slow

SEED = 5
SITE = "synth"
FEEDER = f"synth-s{SEED}-f0000"
UPLOAD_LIMIT = 96 * 1024 * 1024
WEEK = {"hours": 168, "start_hour": 4800}  # a July week


def run_job(live: Live, body: dict[str, Any]) -> dict[str, Any]:
    """A QSTS job to its end; its feeder row."""
    job = live.api("POST", "/jobs", json=body).json()
    deadline = time.monotonic() + 600
    while job["status"] not in ("succeeded", "partial", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
        job = live.api("GET", f"/jobs/{job['id']}").json()
    assert job["status"] == "succeeded", job
    rows = live.api("GET", f"/jobs/{job['id']}/results", params={"level": "feeders"}).json()["rows"]
    return dict(rows[0])


def cli_json(live: Live, *args: str) -> Any:
    done = live.cli(*args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def weather() -> Iterator[FakeOpenMeteo]:
    fake = FakeOpenMeteo()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, weather: FakeOpenMeteo) -> Iterator[Live]:
    env = {
        "GRIDTWIN_DASK_WORKERS": "1",
        "GRIDTWIN_OPEN_METEO_ARCHIVE_URL": weather.archive_url,
        "GRIDTWIN_WEATHER_MIN_INTERVAL_S": "0",
        "GRIDTWIN_WEATHER_RETRIES": "1",
        "GRIDTWIN_MAX_AMI_UPLOAD_BYTES": str(UPLOAD_LIMIT),
    }
    with running_gridtwin(tmp_path_factory.mktemp("measurements-live"), env=env) as live:
        yield live


@pytest.fixture(scope="module")
def ami_dir(live: Live, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ami")
    done = live.cli(
        "synth", "--feeders", "1", "--seed", str(SEED), "--ami-out", str(out), "--ami-interval-min", "60"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "meters.csv").is_file() and "wrote AMI reads" in done.stdout
    return out


def test_meters_ami_allocation_and_qsts_on_measured_load(live: Live, ami_dir: Path) -> None:
    base = run_job(live, {"feeders": [FEEDER], **WEEK})
    meters = cli_json(live, "import", "meters", str(ami_dir / "meters.csv"), "--site", SITE)
    rep = meters["report"]
    assert meters["status"] == "committed" and rep["feeders"] == [FEEDER]
    assert set(rep["confidence"]) == {"high"}, rep  # the synthetic meters name their loads
    imported = cli_json(live, "import", "ami", str(ami_dir / "reads"), "--site", SITE, "--allocate")
    rep = imported["report"]
    assert imported["status"] == "committed", rep
    assert rep["counts"]["rows_read"] > 500 * 8760 and rep["counts"]["rows_unknown_meter"] == 0
    assert rep["quality_summary"]["tz_suspect_meters"] == 1  # the planted +3 h meter, and no other
    summary = rep["aggregation"]["feeders"][FEEDER]
    assert summary["coverage"] > 0.99 and 0 < summary["coincidence_factor"] < 1
    assert summary["head_ratio"] == pytest.approx(1.03, rel=0.01), summary  # the head meter reads losses too
    assert rep["allocation"][FEEDER]["loads_allocated"] > 100
    # QSTS now runs on measured load: the same week within a few percent of the profiles it was made from.
    measured = run_job(live, {"feeders": [FEEDER], **WEEK})
    assert measured["version"] != base["version"]
    assert measured["delivered_kwh"] == pytest.approx(base["delivered_kwh"], rel=0.03)
    shown = live.cli("ami", "summary", "--feeder", FEEDER, "--transformers")
    assert shown.returncode == 0 and "service transformers" in shown.stdout, shown.stderr
    listed = cli_json(live, "imports", "list", "--kind", "ami")
    assert listed[0]["import_id"] == imported["import_id"] and listed[0]["status"] == "committed"
    rest = live.api("GET", f"/feeders/{FEEDER}/load-summary", params={"transformers": "true"}).json()
    assert rest["years"][0]["peak_kw"] == pytest.approx(summary["peak_kw"]) and len(rest["transformers"]) > 10


def test_upload_limits_and_bad_files(live: Live, tmp_path: Path) -> None:
    # A declared length over the limit is refused before any byte of the body is read.
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = (f"POST /api/v1/uploads?filename=big.csv HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {live.admin.token}\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {UPLOAD_LIMIT + 1}\r\n\r\n")  # fmt: skip
        sock.sendall(head.encode() + b"x" * 10)
        status_line = sock.recv(65536).split(b"\r\n", 1)[0]
    assert b" 413 " in status_line, status_line

    def endless() -> Iterator[bytes]:
        block = b"m,2025-01-01T00:00:00Z,1.0\n" * 40_000
        for _ in range(UPLOAD_LIMIT // len(block) + 2):
            yield block

    streamed = live.api("POST", "/uploads", params={"filename": "big.csv"}, content=endless())
    assert streamed.status_code == 413 and streamed.json()["error"]["details"][0]["code"] == "too_large"
    uploads = live.data_dir / "uploads"
    deadline = time.monotonic() + 30  # the cancelled stream's partial file is removed by the service
    while uploads.is_dir() and any(p.name == ".part" for p in uploads.rglob("*")):
        assert time.monotonic() < deadline, sorted(uploads.rglob("*"))
        time.sleep(0.2)
    bad = tmp_path / "reads_latin1.csv"
    bad.write_bytes(b"meter_id,timestamp,kwh\nx,2025-01-01T01:00:00Z,1.0\nx,2025-01-01T02:00:00Z,caf\xe9\n")
    done = live.cli("import", "ami", str(bad), "--site", SITE)
    assert done.returncode == 1 and "reads_latin1.csv:3" in done.stderr, done.stdout + done.stderr
    wrong = live.api("POST", "/imports/ami", json={"site": SITE, "options": {"timestamp_at": "middle"}})
    assert wrong.status_code in (400, 422)
    nothing = live.api("POST", "/imports/oms", json={"site": SITE})
    assert nothing.status_code == 422
    missing = live.api("GET", "/imports/0123456789abcdef0123456789abcdef")
    assert missing.status_code == 404


def test_oms_records_and_reliability(live: Live, tmp_path: Path, ami_dir: Path) -> None:
    xfmrs = live.api("GET", "/twins", params={"feeder": FEEDER, "model": "dtmi:gridtwin:PowerTransformer;1",
                                               "page_size": 5}).json()["twins"]  # fmt: skip
    device = next(t["name"] for t in xfmrs if not str(t["name"]).startswith("sub"))
    rows = pd.DataFrame(
        {
            "OUTAGE_ID": ["a", "b", "c"],
            "START_TIME": ["2025-06-01 10:00", "2025-06-02 08:00", "2025-08-10 23:30"],
            "RESTORE_TIME": ["2025-06-01 12:00", "2025-06-02 08:02", "2025-08-11 00:30"],
            "CAUSE_CODE": ["TREE", "ANIMAL", "EQUIP"],
            "DEVICE_ID": [device, device, ""],
            "FEEDER_ID": [FEEDER, FEEDER, FEEDER],
            "CUST_INT": [8, 8, 120],
        }
    )
    path = tmp_path / "outages.csv"
    rows.to_csv(path, index=False)
    imported = cli_json(live, "import", "oms", str(path), "--site", SITE, "--timezone", "America/Chicago")
    assert imported["status"] == "committed" and imported["report"]["outages"] == 3
    assert imported["report"]["linked_devices"] == 2
    doc = cli_json(live, "reliability", "--site", SITE, "--year", "2025")
    served = doc["customers_served"][FEEDER]
    meters = pd.read_csv(ami_dir / "meters.csv")
    assert served == int((meters.get("role", pd.Series(["customer"] * len(meters))) != "feeder_head").sum())
    system = doc["system"][0]["all"]
    assert system["saifi"] == pytest.approx((8 + 120) / served)
    assert system["saidi_min"] == pytest.approx((8 * 120 + 120 * 60) / served)
    assert system["maifi"] == pytest.approx(8 / served)
    table = live.cli("reliability", "--site", SITE, "--year", "2025")
    assert table.returncode == 0 and "IEEE 1366" in table.stdout
    bad = tmp_path / "outages_bad.csv"
    rows.assign(RESTORE_TIME=["2025-06-01 09:00", "2025-06-02 08:02", "2025-08-11 00:30"]).to_csv(
        bad, index=False
    )
    done = live.cli("import", "oms", str(bad), "--site", SITE)
    assert done.returncode == 1 and "outages_bad.csv:2" in done.stderr, done.stderr
    again = cli_json(live, "reliability", "--site", SITE, "--year", "2025")
    assert again["system"][0]["all"]["saifi"] == system["saifi"]  # the refused file left nothing


def test_weather_year_attached_to_the_feeders(live: Live, weather: FakeOpenMeteo) -> None:
    got = cli_json(live, "import", "weather", "--site", SITE, "--year", "2024")
    rep = got["report"]
    assert got["status"] == "committed" and rep["hours"] >= 8760 and FEEDER in rep["attached_feeders"]
    asked = [r for r in weather.requests if r["path"] == "/v1/archive"]
    assert asked and 36 < float(asked[-1]["latitude"]) < 39  # the synthetic utility's centroid
    twin = live.api("GET", f"/twins/{FEEDER}").json()
    circuit = json.loads(twin["circuit_json"])
    assert circuit["ambient_profile"] == rep["profiles"][0]
    offline = cli_json(
        live, "import", "weather", "--site", SITE, "--year", "2024", "--offline", "--no-attach"
    )
    assert offline["status"] == "committed" and offline["report"]["source"] == "cache"
    weather.failing = True
    try:
        down = live.cli("import", "weather", "--site", SITE, "--year", "2023")
    finally:
        weather.failing = False
    assert down.returncode == 1 and "503" in down.stderr, down.stderr


def test_sigterm_stops_cleanly(live: Live) -> None:
    live.proc.send_signal(signal.SIGTERM)
    assert live.proc.wait(timeout=60) == 0
