"""Solver settings over REST (issue 14): the snapshot's query fields, the job, scenario and hosting
bodies' fields reach the services as ``SolverOptions`` (unset fields left unset), out-of-range values are
422s naming the field, and the hosting exact method's tolerance travels too."""

from __future__ import annotations

import pytest
from gateway_fakes import ApiClient, FakeBackends


def _solver(request: object) -> dict[str, object]:
    msg = request.solver  # type: ignore[attr-defined]
    return {
        f: getattr(msg, f)
        for f in ("max_iterations", "max_control_iterations", "tolerance")
        if msg.HasField(f)
    }


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_snapshot_query_fields_reach_the_service(
    client: ApiClient, fake_backends: FakeBackends, method: str
) -> None:
    resp = client.request(
        method, "/api/v1/feeders/nothere/snapshot", params={"max_iterations": 2, "tolerance": 0.001}
    )
    assert resp.status_code == 404  # the fake knows no feeder; the request is what matters
    assert _solver(fake_backends.calls.last()) == {"max_iterations": 2, "tolerance": 0.001}
    client.request(method, "/api/v1/feeders/nothere/snapshot")
    assert _solver(fake_backends.calls.last()) == {}


@pytest.mark.parametrize(
    ("params", "where"),
    [({"max_iterations": 0}, "query.max_iterations"), ({"tolerance": 0.5}, "query.tolerance"),
     ({"max_control_iterations": 20000}, "query.max_control_iterations")],
)  # fmt: skip
def test_snapshot_bad_solver_fields_are_422(client: ApiClient, params: dict[str, float], where: str) -> None:
    resp = client.post("/api/v1/feeders/f1/snapshot", params=params)
    assert resp.status_code == 422
    assert [d["where"] for d in resp.json()["error"]["details"]] == [where]


def test_job_and_scenario_bodies_carry_the_solver(client: ApiClient, fake_backends: FakeBackends) -> None:
    resp = client.post("/api/v1/jobs", json={"feeders": ["f1"], "hours": 2, "max_iterations": 40})
    assert resp.status_code == 202, resp.text
    assert _solver(fake_backends.calls.last()) == {"max_iterations": 40}
    resp = client.post("/api/v1/scenarios/s1/run", json={"max_control_iterations": 25, "tolerance": 0.0002})
    assert resp.status_code == 202, resp.text
    assert _solver(fake_backends.calls.last()) == {"max_control_iterations": 25, "tolerance": 0.0002}
    bad = client.post("/api/v1/jobs", json={"feeders": ["f1"], "tolerance": 0})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["where"] == "body.tolerance"


def test_hosting_bodies_carry_the_solver_and_the_exact_tolerance(
    client: ApiClient, fake_backends: FakeBackends
) -> None:
    resp = client.post(
        "/api/v1/feeders/f1/hosting-capacity",
        json={"method": "exact", "tol_kw": 0.5, "rel_tol_pct": 0.2, "max_iterations": 60},
    )
    assert resp.status_code == 200, resp.text
    request = fake_backends.calls.last()
    assert (request.tol_kw, request.rel_tol_pct) == (0.5, 0.2) and _solver(request) == {"max_iterations": 60}
    client.post("/api/v1/feeders/f1/hosting-capacity", json={})
    request = fake_backends.calls.last()
    assert not request.HasField("tol_kw") and not request.HasField("rel_tol_pct") and _solver(request) == {}
    client.post("/api/v1/feeders/f1/hosting-capacity/check", json={"bus": "b1", "kw": 5, "tolerance": 0.001})
    assert _solver(fake_backends.calls.last()) == {"tolerance": 0.001}
    resp = client.post("/api/v1/hosting/stochastic", json={"feeders": ["f1"], "max_control_iterations": 50})
    assert resp.status_code == 202, resp.text
    assert _solver(fake_backends.calls.last()) == {"max_control_iterations": 50}
    bad = client.post("/api/v1/feeders/f1/hosting-capacity", json={"tol_kw": -1})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["where"] == "body.tol_kw"
