"""``jobs results --csv`` writes every row of the level (all pages); ``hosting results --csv`` writes
the gateway's CSV, which lists the buses in the REST order."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import pytest
from cli_support import fake_gateway, invoke

ROWS = [
    {"feeder": f"synth-s42-f{i // 100:04d}", "element": f"line.l{i:05d}", "max_loading_pct": 250.0 - i / 100,
     "hours_over_normal": i % 7, "equivalent_aging_factor": None}
    for i in range(23_456)
]  # fmt: skip


def _pages(request: httpx.Request) -> httpx.Response:
    q = request.url.params
    assert request.url.path == "/api/v1/jobs/job-1/results"
    assert q["level"] == "elements" and q["kind"] == "line" and q["order_by"] == "max_loading_pct"
    limit, offset = int(q["limit"]), int(q["offset"])
    assert limit == 10_000  # the gateway's largest page, whatever --limit says
    page = ROWS[offset : offset + limit]
    return httpx.Response(200, json={"job_id": "job-1", "level": "elements", "total": len(ROWS),
                                     "limit": limit, "offset": offset, "rows": page})  # fmt: skip


def test_jobs_results_csv_has_every_row(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = fake_gateway(monkeypatch, _pages)
    target = tmp_path / "elements.csv"
    result = invoke("jobs", "results", "job-1", "--level", "elements", "--kind", "line",
                    "--order-by", "max_loading_pct", "--limit", "5", "--csv", str(target))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote {target} (23456 elements rows)" in result.output
    assert [int(r.url.params["offset"]) for r in seen] == [0, 10_000, 20_000]
    with target.open(newline="") as fh:
        got = list(csv.DictReader(fh))
    assert len(got) == len(ROWS)
    assert list(got[0]) == list(ROWS[0])
    assert [r["element"] for r in got] == [r["element"] for r in ROWS]  # the gateway's order
    assert got[1]["max_loading_pct"] == "249.99" and got[0]["equivalent_aging_factor"] == ""
    assert not list(tmp_path.glob(".*.part"))


def test_jobs_results_csv_leaves_no_half_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = []

    def failing(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) > 1:
            return httpx.Response(
                503, json={"error": {"code": "UNAVAILABLE", "message": "down", "details": []}}
            )
        return _pages(request)

    fake_gateway(monkeypatch, failing)
    target = tmp_path / "elements.csv"
    result = invoke("jobs", "results", "job-1", "--level", "elements", "--kind", "line",
                    "--order-by", "max_loading_pct", "--csv", str(target))  # fmt: skip
    assert result.exit_code == 1 and "down" in result.output
    assert not target.exists() and not list(tmp_path.iterdir())


def test_hosting_results_csv_is_the_gateway_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    body = b"bus,capacity_kw\nb9,10.0\nb1,20.0\nb5,30.0\n"  # most constrained first, as the gateway sends

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/feeders/synth-s42-f0000/hosting-capacity"
        assert dict(request.url.params) == {"der": "pv", "inverter": "none", "format": "csv"}  # no page limit
        return httpx.Response(200, content=body, headers={"content-type": "text/csv"})

    fake_gateway(monkeypatch, handler)
    target = tmp_path / "hc.csv"
    result = invoke("hosting", "results", "--feeder", "synth-s42-f0000", "--csv", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == body and "(3 buses)" in result.output


def test_hosting_results_csv_error_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    error = {"error": {"code": "NOT_FOUND", "message": "no hosting-capacity results",
                       "details": [{"where": "f1/pv/none", "message": "run the per-bus study first"}]}}  # fmt: skip
    fake_gateway(monkeypatch, lambda request: httpx.Response(404, json=error))
    result = invoke("hosting", "results", "--feeder", "f1", "--csv", str(tmp_path / "hc.csv"))
    assert result.exit_code == 1
    assert "no hosting-capacity results" in result.output and "run the per-bus study first" in result.output
    assert not (tmp_path / "hc.csv").exists()
