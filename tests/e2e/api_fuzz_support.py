"""Schemathesis over the gateway's OpenAPI document, logged in as real users of a live all-in-one: the
shared part of ``test_api_fuzz.py`` (bounded, in the suite) and ``tests/drills/fuzz_api.py`` (the long run).

What runs: ``gridtwin up`` in a child process (``live_support.running_gridtwin``: every service, the real
gateway, real OpenDSS), with the IEEE 13 bus feeder imported, a scenario, a finished QSTS job, a weather
import, an API key and a spare user made through the API, so that path parameters (and a few body and
query fields) can name real things. The document is loaded with ``schemathesis.openapi.from_url``; for
every operation hypothesis draws positive and negative cases (``APIOperation.as_strategy``) and, when
asked, the first of schemathesis' coverage cases (boundary values, missing and wrongly typed parameters,
unexpected methods); each is sent as a logged-in user (``Authorization: Bearer`` from
``POST /api/v1/auth/token``) and its answer checked with ``case.validate_response``:

- ``not_a_server_error``: no 5xx, whatever was sent;
- ``status_code_conformance``: the status is one the operation documents;
- ``content_type_conformance``, ``response_headers_conformance``, ``response_schema_conformance``: the
  answer is what the document says it is (media type, headers, body schema).

A case that gets no answer within ``timeout_s`` is a finding too (a hang, or a cost this harness forgot to
bound). Nothing is excluded; instead:

- the accounts the fuzzer logs in with are never the target of the user-management routes (a case naming
  one is sent to the spare user instead): the fuzzer may disable, demote, delete or re-password whom it
  likes but itself, or the rest of the run would only measure 401s. Its password and refresh token are
  never given to the generator, so ``/auth/password``, ``/auth/logout`` and ``/auth/session`` are fuzzed as
  they are (they answer 400/401/403 to what it can guess);
- a few sizes that buy work, not coverage, are capped (``COST_CAPS``): a 5,000-feeder synthetic utility or
  an 8,760-hour QSTS job on every feeder is a legal request that takes a long time by design; and the
  synthetic-utility route, whose every good call generates and imports a feeder, gets a quarter of the
  examples (``SLOW_SHARE``);
- the destructive operations (DELETE) run last, the feeder's own deletion at the very end, so the real
  things stay there for the rest of the run (the drill's stateful sequences run before them too).

Rate limits are raised for the child (``FUZZ_ENV``): the fuzzer sends far more than a person, and the 429
answers (documented on every operation) would otherwise be all it measured.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import requests
from e2e_support import IEEE13_DIR
from fake_open_meteo import FakeOpenMeteo
from live_support import Client, Live, running_gridtwin

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import schemathesis
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
    from schemathesis import Case, GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import Failure, FailureGroup
    from schemathesis.schemas import APIOperation, BaseSchema
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

__all__ = [
    "CHECKS",
    "FUZZ_ENV",
    "Budget",
    "Finding",
    "FuzzWorld",
    "OperationRun",
    "fuzz_schema",
    "fuzz_world",
    "ordered_operations",
    "run_operation",
    "run_stateful",
    "summary_table",
]

REPO = Path(__file__).resolve().parents[2]
SCENARIO_YAML = REPO / "examples" / "scenarios" / "stacked-2030.yaml"
FEEDER, SITE = "ieee13", "north"
ADMIN_USER, ANALYST_USER, SPARE_USER = "fuzz-admin", "fuzz-analyst", "fuzz-spare"

CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

# The child's settings for a fuzz run (on top of `running_gridtwin`'s): request budgets a fuzzer does not
# spend (see the module docstring), one Dask worker, and the weather API served by a local fake.
FUZZ_ENV = {
    "GRIDTWIN_RATE_LIMIT_PER_S": "100000",
    "GRIDTWIN_RATE_LIMIT_BURST": "100000",
    "GRIDTWIN_RATE_LIMIT_IP_PER_S": "100000",
    "GRIDTWIN_RATE_LIMIT_IP_BURST": "100000",
    "GRIDTWIN_DASK_WORKERS": "1",
    "GRIDTWIN_WEATHER_MIN_INTERVAL_S": "0",
    "GRIDTWIN_WEATHER_RETRIES": "1",
}

# Sizes that only buy time, capped in what is sent (operation -> body field -> the largest value sent). A
# negative case keeps its wrong type; only a number over the cap is lowered.
COST_CAPS: dict[str, dict[str, int]] = {
    "POST /api/v1/feeders/synthetic": {"feeders": 1},
    "POST /api/v1/jobs": {"hours": 24},
    "POST /api/v1/scenarios/{scenario_id}/run": {"hours": 24},
    "POST /api/v1/scenarios/{scenario_id}/sweep": {"hours": 24},
    "POST /api/v1/hosting/stochastic": {"samples": 2},
}

# Operations whose every successful call does seconds of real work (a synthetic utility generated,
# imported and checked): they get this share of the budget, or they would take most of the run's time.
SLOW_SHARE: dict[str, float] = {"POST /api/v1/feeders/synthetic": 0.25}


# -- the world the fuzzer acts in ------------------------------------------------------------------


@dataclass
class FuzzWorld:
    """The live all-in-one, the accounts the fuzzer logs in as, and real values for parameters."""

    live: Live
    admin: Client
    analyst: Client
    # parameter or body field name -> real values to send now and then instead of generated ones
    known: dict[str, list[Any]]
    protected: frozenset[str]  # accounts the user-management routes must not touch (the fuzzer's own)

    @property
    def url(self) -> str:
        return self.live.url


def _ok(reply: httpx.Response, *statuses: int) -> Any:
    assert reply.status_code in (statuses or (200,)), f"{reply.request.url}: {reply.status_code} {reply.text}"
    return reply.json() if reply.content else None


def _wait_job(admin: Client, path: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = _ok(admin.api("GET", path))
        if job.get("status") in ("succeeded", "partial", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, f"{path} did not finish: {job}"
        time.sleep(0.5)


def _seed_world(live: Live) -> FuzzWorld:
    done = live.cli("import", "opendss", str(IEEE13_DIR), "--feeder", FEEDER, "--site", SITE)
    assert done.returncode == 0, done.stdout + done.stderr
    admin = live.as_user(ADMIN_USER, "admin", ["*"])
    analyst = live.as_user(ANALYST_USER, "analyst", [SITE])
    _ok(
        admin.api("POST", "/users", json={"username": SPARE_USER, "role": "viewer", "sites": [SITE]}),
        201,
    )
    key = _ok(admin.api("POST", "/keys", json={"name": "fuzz-key"}), 201)
    scenario = _ok(
        admin.api(
            "POST",
            "/scenarios",
            params={"id": "fuzz-scenario"},
            content=SCENARIO_YAML.read_text(),
            headers={"content-type": "application/yaml"},
        ),
        201,
    )
    job = _ok(admin.api("POST", "/jobs", json={"feeders": [FEEDER], "hours": 24}), 202)
    job = _wait_job(admin, f"/jobs/{job['id']}")
    weather = _ok(
        admin.api("POST", "/imports/weather", json={"site": SITE, "year": 2024, "lat": 41.9, "lon": -87.6})
    )
    twins = _ok(admin.api("GET", "/twins", params={"feeder": FEEDER, "page_size": 200}))
    twin_ids = [t["$dtId"] for t in twins["twins"]]
    picked = [
        FEEDER,
        *sorted(t for t in twin_ids if ".buses." in t)[:3],
        *sorted(t for t in twin_ids if ".loads." in t)[:4],
    ]
    buses = sorted({t.rsplit(".", 1)[1] for t in twin_ids if ".buses." in t})[:4]
    known: dict[str, list[Any]] = {
        "feeder": [FEEDER],
        "feeders": [[FEEDER]],
        "site": [SITE],
        "twin_id": picked,
        "job_id": [job["id"]],
        "base_job_id": [job["id"]],
        "base": [job["id"]],
        "jobs": [[job["id"]]],
        "scenario_id": [scenario["id"]],
        "import_id": [weather["import_id"]],
        "username": [SPARE_USER],
        "key_id": [key["id"]],
        "bus": buses,
        "buses": [buses[:2]],
    }
    protected = frozenset({ADMIN_USER, ANALYST_USER, "admin"})
    return FuzzWorld(live, admin, analyst, known, protected)


@contextlib.contextmanager
def fuzz_world(data_dir: Path) -> Iterator[FuzzWorld]:
    """A live all-in-one set up for fuzzing (see the module docstring); stopped after."""
    weather = FakeOpenMeteo()
    env = {
        **FUZZ_ENV,
        "GRIDTWIN_OPEN_METEO_ARCHIVE_URL": weather.archive_url,
        "GRIDTWIN_OPEN_METEO_FORECAST_URL": f"{weather.url}/v1/forecast",
    }
    try:
        with running_gridtwin(data_dir, env=env) as live:
            yield _seed_world(live)
    finally:
        weather.close()


def fuzz_schema(world: FuzzWorld) -> BaseSchema:
    """The gateway's OpenAPI document as the live gateway serves it."""
    return schemathesis.openapi.from_url(f"{world.url}/openapi.json", timeout=60)


def ordered_operations(schema: BaseSchema) -> list[APIOperation]:
    """Every operation, the destructive ones last (the feeder's own deletion at the very end)."""
    operations = [result.ok() for result in schema.get_all_operations()]

    def rank(op: APIOperation) -> tuple[int, str]:
        if op.method.upper() != "DELETE":
            return (0, op.label)
        return (2 if op.path.endswith("/feeders/{feeder}") else 1, op.label)

    return sorted(operations, key=rank)


# -- one operation ---------------------------------------------------------------------------------


@dataclass
class Finding:
    operation: str
    kind: str  # the check's title ("Server error", "Undocumented status code", ...) or "No answer"
    status: int | None
    message: str
    repro: str  # a curl command (credentials filtered)
    count: int = 1

    @property
    def key(self) -> tuple[str, str, int | None]:
        return (self.operation, self.kind, self.status)

    def describe(self) -> str:
        return (
            f"{self.operation}: {self.kind} (status {self.status}, {self.count}x)\n"
            f"    {self.message.strip()[:600]}\n    {self.repro[:600]}"
        )


@dataclass
class OperationRun:
    operation: str
    account: str
    calls: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    findings: dict[tuple[str, str, int | None], Finding] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, finding: Finding) -> None:
        seen = self.findings.get(finding.key)
        if seen is None:
            self.findings[finding.key] = finding
        else:
            seen.count += 1


@dataclass(frozen=True)
class Budget:
    positive: int  # hypothesis examples per operation, positive data
    negative: int  # ... and negative data
    coverage: int  # schemathesis coverage cases per operation (the first N, in its own order)
    timeout_s: float = 120.0  # per request
    seed: int = 15


def _steer(case: Case, draw: Callable[[st.SearchStrategy[Any]], Any], world: FuzzWorld) -> None:
    """Now and then name a real thing: a path parameter, query parameter or body field whose name has
    known values gets one of them (half the time, drawn by hypothesis, so the run stays reproducible)."""
    containers: list[dict[str, Any]] = [case.path_parameters or {}, case.query or {}]
    if isinstance(case.body, dict):
        containers.append(case.body)
    for container in containers:
        for name in sorted(container):
            values = world.known.get(name)
            if values and draw(st.booleans()):
                container[name] = draw(st.sampled_from(values))


def _protect(case: Case, world: FuzzWorld) -> None:
    """Keep the fuzzer's own accounts out of the user-management routes' reach (module docstring)."""
    params = case.path_parameters or {}
    if "username" in params and str(params["username"]) in world.protected:
        params["username"] = world.known["username"][0]


def _cap(case: Case) -> None:
    caps = COST_CAPS.get(case.operation.label)
    if caps and isinstance(case.body, dict):
        for name, most in caps.items():
            value = case.body.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > most:
                case.body[name] = most


def _curl(case: Case, base_url: str) -> str:
    try:  # the credentials show as [Filtered]
        return case.as_curl_command(headers={"Authorization": "Bearer ..."}, base_url=base_url)
    except Exception as exc:  # a case that cannot be shown as curl (binary body) is still a case
        return f"{case.method} {case.formatted_path} ({type(exc).__name__})"


def _send(case: Case, world: FuzzWorld, account: Client, run: OperationRun, budget: Budget) -> Any | None:
    """Send one case as ``account`` and check the answer (findings into ``run``); the response, or None
    when there was none."""
    _protect(case, world)
    _cap(case)
    run.calls += 1
    try:
        response = case.call(
            base_url=world.url, headers=account.headers, timeout=budget.timeout_s, allow_redirects=False
        )
    except requests.Timeout:
        run.add(Finding(run.operation, "No answer", None, f"nothing within {budget.timeout_s:g} s",
                        _curl(case, world.url)))  # fmt: skip
        return None
    except requests.ConnectionError as exc:
        run.add(Finding(run.operation, "Connection failed", None, str(exc)[:300], _curl(case, world.url)))
        return None
    run.statuses[response.status_code] += 1
    try:
        case.validate_response(response, checks=list(CHECKS))
    except FailureGroup as group:
        for failure in group.exceptions:
            run.add(_finding(run.operation, failure, response, case, world.url))
    except Failure as failure:
        run.add(_finding(run.operation, failure, response, case, world.url))
    return response


def _finding(operation: str, failure: Failure, response: Any, case: Case, base_url: str) -> Finding:
    request_id = response.headers.get("x-request-id", "")
    if isinstance(request_id, list):
        request_id = request_id[0] if request_id else ""
    body = response.text[:300].replace("\n", " ")
    message = f"{failure.message}\n    answer: {body}" + (
        f"\n    request id: {request_id}" if request_id else ""
    )
    return Finding(operation, str(failure.title), response.status_code, message, _curl(case, base_url))


def run_operation(operation: APIOperation, world: FuzzWorld, account: Client, budget: Budget) -> OperationRun:
    """Fuzz one operation as ``account`` within ``budget``; every answer checked, findings collected (a
    finding never stops the run: the next case is sent)."""
    run = OperationRun(operation.label, account.username)
    started = time.perf_counter()
    schema = operation.schema
    share = SLOW_SHARE.get(operation.label, 1.0)
    budget = Budget(
        *(max(1, round(n * share)) if n else 0 for n in (budget.positive, budget.negative, budget.coverage)),
        timeout_s=budget.timeout_s,
        seed=budget.seed,
    )
    if budget.coverage:
        config = schema.config.generation_for(operation=operation, phase="coverage")
        cases = schema.iter_coverage_cases(
            operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=config,
        )
        for case in _first(cases, budget.coverage):
            _send(case, world, account, run, budget)
    for mode, examples in (
        (GenerationMode.POSITIVE, budget.positive),
        (GenerationMode.NEGATIVE, budget.negative),
    ):
        if examples <= 0:
            continue

        @seed(budget.seed)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
            report_multiple_bugs=False,
        )
        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        def fuzz(case: Case, data: st.DataObject) -> None:
            _steer(case, data.draw, world)
            _send(case, world, account, run, budget)

        try:
            fuzz()
        except Unsatisfiable:
            run.notes.append(f"no {mode.value} case can be generated")
        except Exception as exc:  # schemathesis' SkipTest and the like: say so, go on
            if type(exc).__name__ not in ("SkipTest", "Skipped"):
                raise
            run.notes.append(f"{mode.value}: {exc}")
    run.seconds = time.perf_counter() - started
    return run


def run_stateful(
    schema: BaseSchema,
    world: FuzzWorld,
    account: Client,
    scenarios: int,
    steps: int,
    timeout_s: float = 120.0,
) -> dict[str, OperationRun]:
    """Schemathesis' state machine over the links it infers (a list's ids fed to the reads, updates and
    deletes, a created job to its results, ...): ``scenarios`` sequences of up to ``steps`` calls, each
    answer checked as above. Deterministic (hypothesis ``derandomize``). Findings per operation."""
    runs: dict[str, OperationRun] = {}
    budget = Budget(0, 0, 0, timeout_s)

    def run_of(case: Case) -> OperationRun:
        label = case.operation.label
        if label not in runs:
            runs[label] = OperationRun(label, f"{account.username}*")
        return runs[label]

    base: Any = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def step(self, input: Any) -> Any:
            # One call through the same path as the stateless run (protect, cap, send, check, record);
            # the answer goes back to the machine so the links can read it.
            case = input.case
            _protect(case, world)
            _cap(case)
            run = run_of(case)
            started = time.perf_counter()
            response = _send(case, world, account, run, budget)
            run.seconds += time.perf_counter() - started
            if response is None:
                raise _NoAnswer(run.operation)
            return _step_output(response, case)

    try:
        Machine.run(
            settings=settings(
                max_examples=scenarios,
                stateful_step_count=steps,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
                verbosity=Verbosity.quiet,
            )
        )
    except _NoAnswer as exc:
        runs[str(exc)].notes.append("the stateful run stopped here: no answer")
    return runs


class _NoAnswer(Exception):
    pass


def _step_output(response: Any, case: Case) -> Any:
    from schemathesis.generation.stateful.state_machine import StepOutput

    return StepOutput(response, case)


def _first(cases: Iterable[Case], n: int) -> Iterator[Case]:
    for i, case in enumerate(cases):
        if i >= n:
            return
        yield case


# -- reporting -------------------------------------------------------------------------------------


def summary_table(runs: Sequence[OperationRun]) -> str:
    """One line per operation and account: calls, statuses seen, findings, seconds."""
    width = max((len(r.operation) for r in runs), default=10)
    lines = [f"{'operation':<{width}}  {'as':<12} {'calls':>5} {'found':>5} {'s':>6}  statuses"]
    for r in runs:
        statuses = " ".join(f"{code}x{n}" for code, n in sorted(r.statuses.items()))
        lines.append(
            f"{r.operation:<{width}}  {r.account:<12} {r.calls:>5} {len(r.findings):>5} {r.seconds:>6.1f}  "
            f"{statuses}{'  (' + '; '.join(r.notes) + ')' if r.notes else ''}"
        )
    return "\n".join(lines)


def all_findings(runs: Sequence[OperationRun]) -> list[Finding]:
    return [f for r in runs for f in r.findings.values()]


def report(runs: Sequence[OperationRun], out: Any = sys.stdout) -> None:
    print(summary_table(runs), file=out)
    findings = all_findings(runs)
    print(f"\n{sum(r.calls for r in runs)} calls, {len(findings)} findings", file=out)
    for f in findings:
        print(f.describe(), file=out)


def dump(runs: Sequence[OperationRun], path: Path) -> None:
    """The runs as JSON (per operation: calls, statuses, findings)."""
    doc = [
        {
            "operation": r.operation,
            "account": r.account,
            "calls": r.calls,
            "statuses": {str(k): v for k, v in sorted(r.statuses.items())},
            "seconds": round(r.seconds, 2),
            "notes": r.notes,
            "findings": [f.__dict__ for f in r.findings.values()],
        }
        for r in runs
    ]
    path.write_text(json.dumps(doc, indent=1, default=str))
