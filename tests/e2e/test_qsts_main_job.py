"""The main job end to end, as a user runs it: ``gridtwin up --demo-feeders N`` makes a synthetic
utility, runs an 8760-hour QSTS over it on a Dask LocalCluster, prints the worst feeders and assets and
keeps serving. Then the REST job API (results, worst, paging, compare, cancel, bad input), the
WebSocket events and the CLI run against that live process, and SIGTERM stops it cleanly.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_support import Live, running_gridtwin
from websockets.sync.client import connect

pytestmark = pytest.mark.slow

FEEDERS = 2
SEED = 7


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    args = ["--demo-feeders", str(FEEDERS), "--seed", str(SEED)]
    with running_gridtwin(
        tmp_path_factory.mktemp("main-job"), args=args, env={"GRIDTWIN_DASK_WORKERS": "2"}, ready="Look at:"
    ) as live:
        yield live


def _demo_job(live: Live) -> dict[str, Any]:
    jobs = live.api("GET", "/jobs", params={"limit": 1000}).json()["jobs"]
    assert jobs
    return dict(jobs[-1])  # newest first: the demo's job is the oldest


def test_demo_prints_the_worst_feeders_and_assets(live: Live) -> None:
    out = live.output
    assert "synthetic utility" in out and "worst feeders" in out and "most loaded elements" in out, out
    job = _demo_job(live)
    assert job["status"] == "succeeded", job
    assert job["done_tasks"] == FEEDERS and job["failed_tasks"] == 0


def test_results_worst_and_paging(live: Live) -> None:
    job = _demo_job(live)
    feeders = live.api("GET", f"/jobs/{job['id']}/results", params={"level": "feeders"}).json()
    assert feeders["total"] == FEEDERS
    row = feeders["rows"][0]
    assert row["steps"] == 8760 and row["delivered_kwh"] > 0 and row["losses_kwh"] > 0
    page1 = live.api("GET", f"/jobs/{job['id']}/results", params={"level": "elements", "limit": 5}).json()
    page2 = live.api(
        "GET", f"/jobs/{job['id']}/results", params={"level": "elements", "limit": 5, "offset": 5}
    ).json()
    assert page1["total"] > 10 and len(page1["rows"]) == 5 and len(page2["rows"]) == 5
    loads = [r["max_loading_pct"] for r in page1["rows"] + page2["rows"]]
    assert loads == sorted(loads, reverse=True)  # worst first, stable across pages
    worst = live.api("GET", f"/jobs/{job['id']}/worst", params={"n": 3}).json()
    assert len(worst["feeders"]) == FEEDERS and len(worst["elements"]) == 3
    assert all(r["equivalent_aging_factor"] is not None for r in worst["aging"])
    hourly = live.api(
        "GET", f"/jobs/{job['id']}/results", params={"level": "hourly", "feeder": row["feeder"], "limit": 24}
    ).json()
    assert hourly["total"] == 8760 and len(hourly["rows"]) == 24
    buses = live.api("GET", f"/jobs/{job['id']}/results", params={"level": "buses", "feeder": row["feeder"]})
    assert buses.status_code == 200 and buses.json()["total"] > 10


def test_second_job_events_over_websocket_and_compare(live: Live) -> None:
    feeders = [f["id"] for f in live.api("GET", "/feeders").json()["feeders"]]
    body = {"feeders": feeders, "hours": 168, "start_hour": 4000}
    reply = live.api("POST", "/jobs", json=body)
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["id"]
    ws_url = live.url.replace("http://", "ws://") + f"/api/v1/jobs/{job_id}/events"
    seen: list[dict[str, Any]] = []
    with connect(ws_url, open_timeout=30, additional_headers=live.admin.headers) as ws:
        while True:
            event = json.loads(ws.recv(timeout=300))
            seen.append(event)
            if event.get("type") in ("finished", "cancelled") or (
                event.get("type") == "status" and event["job"]["status"] in ("succeeded", "partial", "failed")
            ):
                break
    kinds = [e.get("type") for e in seen]
    assert kinds[0] == "status" and kinds[-1] in ("finished", "status"), kinds
    final = live.api("GET", f"/jobs/{job_id}").json()
    assert final["status"] == "succeeded" and final["done_tasks"] == FEEDERS
    demo = _demo_job(live)
    # A week against the demo's year: every sum would differ by the period alone, so it is refused.
    refused = live.api("GET", f"/jobs/{job_id}/compare/{demo['id']}")
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert f"{job_id} ran 168 h from hour 4000 in 60-min steps" in error["message"], error
    assert f"{demo['id']} ran 8760 h from hour 0 in 60-min steps" in error["message"], error
    assert [d["where"] for d in error["details"]] == [f"{job_id}.spec.hours", f"{job_id}.spec.start_hour"]
    same = live.api("GET", f"/jobs/{job_id}/compare/{job_id}").json()  # same period: compared
    assert same["total"] == FEEDERS and all(r["delivered_kwh_delta"] == 0 for r in same["rows"])


def test_bad_requests_are_located(live: Live) -> None:
    bad_period = live.api("POST", "/jobs", json={"feeders": ["x"], "step_minutes": 5})
    assert bad_period.status_code == 422
    nothing = live.api("POST", "/jobs", json={})
    assert nothing.status_code == 400 and nothing.json()["error"]["details"][0]["where"] == "feeders"
    glob = live.api("POST", "/jobs", json={"feeder_glob": "no-such-*"})
    assert glob.status_code == 400 and glob.json()["error"]["details"][0]["where"] == "feeder_glob"
    missing = live.api("GET", "/jobs/nojob")
    assert missing.status_code == 404
    order = live.api("GET", f"/jobs/{_demo_job(live)['id']}/results", params={"order_by": "nope"})
    assert order.status_code == 400 and order.json()["error"]["details"][0]["where"] == "order_by"


def test_unknown_feeder_fails_alone_and_cancel(live: Live) -> None:
    known = live.api("GET", "/feeders").json()["feeders"][0]["id"]
    reply = live.api("POST", "/jobs", json={"feeders": [known, "no-such-feeder"], "hours": 24})
    job_id = reply.json()["id"]
    deadline = time.monotonic() + 300
    job = reply.json()
    while job["status"] not in ("succeeded", "partial", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
        job = live.api("GET", f"/jobs/{job_id}").json()
    assert job["status"] == "partial" and job["done_tasks"] == 1 and job["failed_tasks"] == 1
    failed = job["tasks"][0]
    assert failed["feeder"] == "no-such-feeder" and failed["error"], failed
    # A long job cancelled at once ends cancelled, not running.
    long = live.api("POST", "/jobs", json={"feeders": [known], "hours": 8760}).json()
    cancelled = live.api("POST", f"/jobs/{long['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"


def test_cli_against_the_live_gateway(live: Live, tmp_path: Path) -> None:
    cli = live.cli

    run = cli("qsts", "run", "--glob", f"synth-s{SEED}-*", "--hours", "48", "--wait")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "succeeded" in run.stdout and "worst feeders" in run.stdout
    listed = cli("jobs", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["total"] >= 2
    demo = _demo_job(live)
    shown = cli("jobs", "worst", demo["id"], "-n", "3")
    assert shown.returncode == 0 and "most loaded elements" in shown.stdout
    missing = cli("jobs", "show", "nojob")
    assert missing.returncode == 1 and "not found" in missing.stderr.lower()


def test_cli_imports_a_cyme_export_and_solves_it(live: Live) -> None:
    """CYME through the whole path: files zipped by the CLI, uploaded, read, stored as twins, solved."""
    from e2e_support import SHARED_DATA

    cli = live.cli

    done = cli("import", "cyme", str(SHARED_DATA / "cyme" / "ieee_13node"), "--feeder", "cyme13", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["twins"] > 20 and report["report"]["counts"].get("loads", 0) > 0
    solved = cli("powerflow", "snapshot", "--feeder", "cyme13", "--json")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert json.loads(solved.stdout)["converged"]
    again = cli("import", "cyme", str(SHARED_DATA / "cyme" / "ieee_13node"), "--feeder", "cyme13")
    assert again.returncode == 1 and "exists" in again.stderr  # no silent overwrite


def test_cli_gis_dry_run_and_validate_against(live: Live, tmp_path: Path) -> None:
    feeder = f"synth-s{SEED}-f0000"
    xfmrs = live.api(
        "GET",
        "/twins",
        params={"feeder": feeder, "model": "dtmi:gridtwin:PowerTransformer;1", "page_size": 5},
    ).json()["twins"]
    xf = next(t for t in xfmrs if not t["name"].startswith("sub"))
    bus = live.api("GET", f"/twins/{feeder}.buses.{xf['buses'][0].split('.')[0]}").json()
    layer = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": [
            {
                "type": "Feature",
                "properties": {"ASSETID": xf["name"].upper(), "KVA": xf["kvas_kva"][0], "FEEDERID": feeder},
                "geometry": {"type": "Point", "coordinates": [bus["x"], bus["y"]]},
            }
        ],
    }
    (tmp_path / "xfmrs.geojson").write_text(json.dumps(layer))
    (tmp_path / "map.yaml").write_text("layers:\n  xfmrs:\n    asset: transformer\n")

    cli = live.cli

    gis = cli(
        "import", "gis", str(tmp_path / "xfmrs.geojson"), "--feeder", feeder,
        "--mapping", str(tmp_path / "map.yaml"), "--dry-run", "--json",
    )  # fmt: skip
    assert gis.returncode == 0, gis.stdout + gis.stderr
    result = json.loads(gis.stdout)
    assert result["matched"] == 1 and not result["applied"] and result["twins"] == 0
    # Without --feeder the layer's FEEDERID column picks the feeders (guessed from the field name).
    every = cli(
        "import", "gis", str(tmp_path / "xfmrs.geojson"), "--mapping", str(tmp_path / "map.yaml"), "--json"
    )
    assert every.returncode == 0, every.stdout + every.stderr
    applied = json.loads(every.stdout)
    assert applied["feeders"] == [feeder] and applied["applied"] and applied["matched"] == 1

    snap = live.api("POST", f"/feeders/{feeder}/snapshot").json()
    rows = ["bus,phase,v_pu"] + [
        f"{v['bus']},{'ABC'[v['node'] - 1]},{v['pu'] * 1.002:.6f}"
        for v in snap["voltages"]
        if 1 <= v["node"] <= 3
    ]
    (tmp_path / "theirs.csv").write_text("\n".join(rows) + "\n")
    checked = cli("validate-against", str(tmp_path / "theirs.csv"), "--feeder", feeder, "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["voltage_rows"] == len(rows) - 1 and 0.001 < report["voltage_max_dev_pu"] < 0.003
    bad = cli("validate-against", str(tmp_path / "map.yaml"), "--feeder", feeder)
    assert bad.returncode == 1 and "map.yaml" in bad.stderr


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "stacked-2030.yaml"
WEEK = ("--hours", "168", "--start-hour", "4800")  # a July week (the example's heat wave is mid-July)


def _json_after_progress(stdout: str) -> Any:
    """The JSON a ``--wait --json`` command prints after its progress lines."""
    start = 0 if stdout.startswith("{") else stdout.index("\n{") + 1
    return json.loads(stdout[start:])


def test_cli_runs_the_shipped_scenario_and_diffs_it_against_the_base(live: Live) -> None:
    cli = live.cli
    checked = cli("scenario", "validate", str(EXAMPLE))
    assert checked.returncode == 0 and "ev_l2" in checked.stdout and "5 points" in checked.stdout
    glob = f"synth-s{SEED}-*"
    base = cli("qsts", "run", "--glob", glob, *WEEK, "--wait", "--json")
    assert base.returncode == 0, base.stderr
    base_id = _json_after_progress(base.stdout)["id"]
    run = cli("scenario", "run", str(EXAMPLE), "--glob", glob, *WEEK, "--wait", "--json")
    assert run.returncode == 0, run.stderr
    job = _json_after_progress(run.stdout)
    assert job["status"] == "succeeded" and job["params"]["scenario"]["name"].startswith("stacked-2030")
    diff = cli("scenario", "diff", base_id, job["id"], "--json")
    assert diff.returncode == 0, diff.stderr
    totals = json.loads(diff.stdout)["totals"][0]
    assert totals["feeders"] == FEEDERS and totals["delta_peak_kw"] > 0  # EVs and the heat wave add load
    elements = live.api(
        "GET", "/diff", params={"base": base_id, "jobs": [job["id"]], "level": "elements", "new_only": True}
    ).json()
    assert elements["total"] == totals["new_element_violations"]
    assert all(r["hours_over_normal_base"] == 0 and r["hours_over_normal"] > 0 for r in elements["rows"])


def test_scenario_rest_crud_sweep_and_bad_input(live: Live) -> None:
    text = EXAMPLE.read_text()
    created = live.api("POST", "/scenarios", params={"id": "e2e-stacked"}, content=text,
                       headers={"content-type": "application/yaml"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert [x["id"] for x in created.json()["summary"]["layers"]] == [
        "heatwave",
        "ev_l2",
        "rooftop_pv",
        "tou_4_9",
    ]
    again = live.api("POST", "/scenarios", params={"id": "e2e-stacked"}, content=text)
    assert again.status_code == 409
    stale = live.api("PUT", "/scenarios/e2e-stacked", params={"expected_revision": 7}, content=text)
    assert stale.status_code == 409
    listed = live.api("GET", "/scenarios").json()
    assert "e2e-stacked" in [s["id"] for s in listed["scenarios"]]

    bad = live.api("POST", "/scenarios/validate", content=text.replace("pct: 30", "pct: 130"))
    assert bad.status_code == 400
    assert any("layers[1] (ev_l2).adoption.pct" in d["where"] for d in bad.json()["error"]["details"]), (
        bad.json()
    )
    unknown = live.api("POST", "/scenarios/validate", content=text.replace("type: tou", "type: tariff"))
    assert unknown.status_code == 400 and "tou" in json.dumps(unknown.json()["error"]["details"])
    binary = live.api("POST", "/scenarios/validate", content=b"name: \xff\xfe")
    assert binary.status_code == 400 and "UTF-8" in binary.json()["error"]["message"]
    files = live.api(
        "POST",
        "/scenarios/validate",
        content="name: f\nbase_weather: {source: file, year: {file: /etc/passwd}}\n",
    )
    assert files.status_code == 400 and "resolved before sending" in files.json()["error"]["message"]
    assert live.api("GET", "/scenarios/nope").status_code == 404

    sweep = {"method": "grid", "parameters": [{"path": "layers.ev_l2.adoption.pct", "values": [0, 60]}]}
    started = live.api(
        "POST", "/scenarios/e2e-stacked/sweep",
        json={"feeder_glob": f"synth-s{SEED}-*", "hours": 48, "start_hour": 4800, "sweep": sweep},
    )  # fmt: skip
    assert started.status_code == 202, started.text
    info = started.json()
    deadline = time.monotonic() + 600
    while any(s["status"] not in ("succeeded", "partial", "failed", "cancelled") for s in info["samples"]):
        assert time.monotonic() < deadline, info
        time.sleep(1.0)
        info = live.api("GET", f"/sweeps/{info['id']}").json()
    table = info["table"]
    assert [r["layers.ev_l2.adoption.pct"] for r in table] == [0.0, 60.0]
    assert table[1]["peak_kw"] > table[0]["peak_kw"]
    assert live.api("DELETE", "/scenarios/e2e-stacked").status_code == 200


def test_hosting_capacity_per_bus_connection_check_and_stochastic(live: Live, tmp_path: Path) -> None:
    feeder = f"synth-s{SEED}-f0000"
    run = live.cli("hosting", "perbus", "--feeder", feeder, "--json")
    assert run.returncode == 0, run.stderr
    study = json.loads(run.stdout)
    summary = study["summary"]
    assert summary["buses"] == len(study["rows"]) > 100 and summary["method"] == "fast"
    assert sum(summary["limiting"].values()) == summary["buses"]  # every bus names its binding limit
    assert all(r["limiting_criterion"] and r["limiting_element"] for r in study["rows"] if r["base_ok"])

    one = str(study["rows"][0]["bus"])
    vv = live.api(
        "POST", f"/feeders/{feeder}/hosting-capacity", json={"inverter": "volt_var", "buses": [one]}
    )
    assert vv.status_code == 200, vv.text
    gain = vv.json()["summary"]["gain"]
    assert gain["buses"] == 1 and "gain_kw" in vv.json()["rows"][0]  # volt-var against the plain study

    page = live.api("GET", f"/feeders/{feeder}/hosting-capacity", params={"limit": 5}).json()
    assert page["total"] == summary["buses"] and len(page["rows"]) == 5
    caps = [r["capacity_kw"] for r in page["rows"]]
    assert caps == sorted(caps)  # most constrained first
    assert all(r["x"] is not None and r["y"] is not None for r in page["rows"])  # for the map
    csv_file = tmp_path / "hc.csv"
    wrote = live.cli("hosting", "results", "--feeder", feeder, "--csv", str(csv_file))
    assert wrote.returncode == 0, wrote.stderr
    assert csv_file.read_text().count("\n") == summary["buses"] + 1

    weakest = next(r for r in study["rows"] if r["base_ok"] and r["capacity_kw"] > 1.0)
    ok = live.api("POST", f"/feeders/{feeder}/hosting-capacity/check",
                  json={"bus": weakest["bus"], "kw": weakest["capacity_kw"] * 0.5}).json()  # fmt: skip
    assert ok["ok"] and ok["margin_kw"] > 0 and not ok["recomputed"]
    too_big = live.cli("hosting", "check", "--feeder", feeder, "--bus", weakest["bus"],
                       "--kw", str(weakest["capacity_kw"] * 2 + 1))  # fmt: skip
    assert too_big.returncode == 3 and "no" in too_big.stdout
    # A meter's name stands for its bus; a change to the feeder makes the stored results stale.
    twin = live.api("GET", f"/twins/{feeder}.loads.m000001")
    assert twin.status_code == 200, twin.text
    ops = [{"op": "replace", "path": "/p_kw", "value": float(twin.json()["p_kw"]) + 0.5}]
    patched = live.api(
        "PATCH", f"/twins/{feeder}.loads.m000001", json=ops, headers={"If-Match": twin.headers["etag"]}
    )
    assert patched.status_code == 200, patched.text
    by_meter = live.api(
        "POST", f"/feeders/{feeder}/hosting-capacity/check", json={"bus": "m000001", "kw": 1.0}
    )
    assert by_meter.status_code == 200, by_meter.text
    assert by_meter.json()["recomputed"] and by_meter.json()["bus"] == str(twin.json()["bus1"]).split(".")[0]

    unknown = live.api(
        "POST", f"/feeders/{feeder}/hosting-capacity/check", json={"bus": "no-such-bus", "kw": 5}
    )
    assert unknown.status_code == 404 and "no-such-bus" in json.dumps(unknown.json())
    negative = live.api("POST", f"/feeders/{feeder}/hosting-capacity/check", json={"bus": "x", "kw": -5})
    assert negative.status_code == 422 and "kw" in json.dumps(negative.json())  # the gateway checks the body
    all_off = {
        k: False
        for k in ("overvoltage", "voltage_deviation", "regulator_deviation", "thermal", "reverse_power")
    }
    off = live.api("POST", f"/feeders/{feeder}/hosting-capacity", json={"criteria": all_off})
    assert off.status_code == 400, off.text
    bad_bus = live.api("POST", f"/feeders/{feeder}/hosting-capacity", json={"buses": ["nowhere"]})
    assert bad_bus.status_code in (400, 404) and "nowhere" in json.dumps(bad_bus.json())
    missing = live.api("POST", "/feeders/no-such-feeder/hosting-capacity", json={})
    assert missing.status_code == 404

    job = live.api("POST", "/hosting/stochastic", json={
        "feeders": [feeder], "samples": 4, "steps_pct": [10, 20, 30, 40, 60, 80, 100], "seed": 3,
    }).json()  # fmt: skip
    deadline = time.monotonic() + 600
    while job["status"] not in ("succeeded", "partial", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(1.0)
        job = live.api("GET", f"/jobs/{job['id']}").json()
    assert job["status"] == "succeeded", job
    result = live.api("GET", f"/hosting/stochastic/{job['id']}").json()["feeders"][0]
    assert result["feeder"] == feeder and result["samples_ok"] == 4
    assert result["capacity_kw_p5"] <= result["capacity_kw_mean"] <= result["capacity_kw_p95"]
    assert len(result["violation"]) == 7 and result["limiting"]


def test_sigterm_stops_cleanly(live: Live) -> None:
    live.proc.send_signal(signal.SIGTERM)
    live.proc.wait(timeout=90)
    time.sleep(0.5)
    assert live.proc.returncode == 0, live.output[-3000:]
    assert "GridTwin stopped (SIGTERM)" in live.output
