"""Solver options on the CLI (issue 14): ``powerflow snapshot`` sends them as query fields and exits 4
on a power flow that did not converge (its JSON printed all the same); the job, scenario and hosting
commands send them (and the exact method's tolerance) in their bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cli_support import fake_gateway, invoke


def _snapshot(converged: bool) -> dict[str, Any]:
    return {
        "feeder": "f1", "version": "1", "converged": converged, "iterations": 2, "losses_kw": 1.0,
        "losses_kvar": 1.0, "line_losses_kw": 0.5, "transformer_losses_kw": 0.5, "source_kw": 100.0,
        "source_kvar": 10.0, "voltages": [{"bus": "b", "node": 1, "pu": 1.0, "angle_deg": 0.0}],
        "elements": [], "violations": [], "solve_ms": 1.0, "recompiled": False,
        "message": "" if converged else "power flow did not converge within max_iterations=2 (2 iterations in all)",
        "solver": {"max_iterations": 2, "max_control_iterations": 100, "tolerance": 0.0001},
    }  # fmt: skip


@pytest.mark.parametrize("as_json", [False, True])
def test_snapshot_not_converged_exits_4_and_still_prints(
    monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    seen = fake_gateway(monkeypatch, lambda r: httpx.Response(200, json=_snapshot(False)))
    args = ["powerflow", "snapshot", "--feeder", "f1", "--max-iterations", "2", "--tolerance", "0.001"]
    result = invoke(*args, *(["--json"] if as_json else []))
    assert result.exit_code == 4, result.output
    assert dict(seen[0].url.params) == {"max_iterations": "2", "tolerance": "0.001"}
    if as_json:
        printed = json.loads(result.stdout)
        assert printed["converged"] is False and printed["message"].startswith("power flow did not converge")
    else:
        assert "NOT converged" in result.output and "max_iterations=2" in result.output


def test_snapshot_converged_exits_0_and_sends_no_solver_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = fake_gateway(monkeypatch, lambda r: httpx.Response(200, json=_snapshot(True)))
    result = invoke("powerflow", "snapshot", "--feeder", "f1", "--json")
    assert result.exit_code == 0, result.output
    assert dict(seen[0].url.params) == {}
    assert "--max-iterations" in invoke("powerflow", "snapshot", "--help").output


def _job(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/hosting-capacity"):
        return httpx.Response(200, json={"feeder": "f1", "version": "1", "rows": [], "summary": {
            "method": "exact", "buses": 0, "seconds": 0.1, "min_kw": None, "median_kw": None, "max_kw": None,
            "limiting": {}}})  # fmt: skip
    return httpx.Response(202, json={"id": "j1", "kind": "qsts", "status": "queued", "done_tasks": 0,
                                     "total_tasks": 1, "failed_tasks": 0})  # fmt: skip


@pytest.mark.parametrize(
    ("args", "path", "expected"),
    [
        (("qsts", "run", "--feeders", "f1", "--max-iterations", "40"), "/api/v1/jobs", {"max_iterations": 40}),
        (("scenario", "run", "s1", "--max-control-iterations", "30"), "/api/v1/scenarios/s1/run",
         {"max_control_iterations": 30}),
        (("hosting", "stochastic", "--feeders", "f1", "--tolerance", "0.001"), "/api/v1/hosting/stochastic",
         {"tolerance": 0.001}),
        (("hosting", "perbus", "--feeder", "f1", "--method", "exact", "--tol-kw", "0.5", "--rel-tol-pct", "0.2",
          "--max-iterations", "60"), "/api/v1/feeders/f1/hosting-capacity",
         {"tol_kw": 0.5, "rel_tol_pct": 0.2, "max_iterations": 60}),
    ],
)  # fmt: skip
def test_bodies_carry_the_options(
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], path: str, expected: dict[str, Any]
) -> None:
    seen = fake_gateway(monkeypatch, _job)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    body = json.loads(seen[0].content)
    assert seen[0].url.path == path
    assert {k: body[k] for k in expected} == expected
    options = {"max_iterations", "max_control_iterations", "tolerance", "tol_kw", "rel_tol_pct"}
    assert options & set(body) == set(expected)  # options not given are left out
