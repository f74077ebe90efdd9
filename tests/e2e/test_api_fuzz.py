"""Fuzzing the REST API (issue 15): schemathesis over the gateway's OpenAPI document against a live
all-in-one (``gridtwin up``: the real gateway, the real gRPC services, real OpenDSS) with the IEEE 13 bus
feeder imported, logged in through ``POST /api/v1/auth/token`` as an admin of every site and as an
analyst of one site. Every answer must be one the document promises: no 5xx, a documented status code,
the documented content type, headers and body schema (``api_fuzz_support`` says how and what is left to
the generator). Bounded and deterministic: a few examples per operation and account from a fixed seed,
and the first coverage cases (boundary values, missing and mistyped parameters, unexpected methods).

The long run, with stateful sequences, is ``tests/drills/fuzz_api.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_fuzz_support import (
    Budget,
    FuzzWorld,
    OperationRun,
    all_findings,
    fuzz_schema,
    fuzz_world,
    ordered_operations,
    run_operation,
    summary_table,
)

ADMIN_BUDGET = Budget(positive=4, negative=4, coverage=12, timeout_s=120.0, seed=15)
ANALYST_BUDGET = Budget(positive=2, negative=2, coverage=4, timeout_s=120.0, seed=15)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzWorld]:
    with fuzz_world(tmp_path_factory.mktemp("api-fuzz")) as world:
        yield world


@pytest.fixture(scope="module")
def runs(world: FuzzWorld) -> list[OperationRun]:
    """Every operation fuzzed as the admin, then as the analyst (one operation after the other, the
    destructive ones last, so both accounts meet the real things)."""
    out: list[OperationRun] = []
    for operation in ordered_operations(fuzz_schema(world)):
        out.append(run_operation(operation, world, world.admin, ADMIN_BUDGET))
        out.append(run_operation(operation, world, world.analyst, ANALYST_BUDGET))
    print("\n" + summary_table(out))
    return out


def _assert_clean(runs: list[OperationRun], account: str) -> None:
    mine = [r for r in runs if r.account == account]
    assert mine and all(r.calls for r in mine), summary_table(mine)
    findings = all_findings(mine)
    assert not findings, f"{len(findings)} findings as {account}:\n" + "\n".join(
        f.describe() for f in findings
    )


def test_every_operation_answers_an_admin_as_documented(runs: list[OperationRun], world: FuzzWorld) -> None:
    _assert_clean(runs, world.admin.username)
    reached = sum(r.statuses[200] + r.statuses[201] + r.statuses[202] + r.statuses[204] for r in runs)
    assert reached > 0  # the fuzzer got past login and validation, not only refusals


def test_every_operation_answers_an_analyst_of_one_site_as_documented(
    runs: list[OperationRun], world: FuzzWorld
) -> None:
    _assert_clean(runs, world.analyst.username)
    refused = [r for r in runs if r.account == world.analyst.username and r.statuses[403]]
    assert refused  # the analyst's role is enforced: some routes are not hers


def test_the_fuzzers_own_logins_outlive_the_run(runs: list[OperationRun], world: FuzzWorld) -> None:
    for account in (world.admin, world.analyst):
        me = account.api("GET", "/auth/me")
        assert me.status_code == 200 and me.json()["username"] == account.username, me.text
