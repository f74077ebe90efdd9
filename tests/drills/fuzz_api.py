"""Fuzz the REST API for longer than the suite does (issue 15): schemathesis over the gateway's OpenAPI
document against a live all-in-one, logged in as an admin of every site and as an analyst of one site,
with more examples per operation, every coverage case, and stateful sequences over the links schemathesis
infers between operations (a list's ids into the reads, updates and deletes; a job into its results).
Prints per operation and account the calls, the statuses seen, the findings and the seconds, then every
finding (check, status, a curl command to replay it, the gateway's request id) and the errors the
all-in-one logged. Exit code 1 when there was a finding.

    GRIDTWIN_SHARED_DATA=/work/shared/data uv run --frozen python tests/drills/fuzz_api.py
    GRIDTWIN_SHARED_DATA=/work/shared/data uv run --frozen python tests/drills/fuzz_api.py \\
        --examples 100 --coverage 100000 --scenarios 200 --steps 20 --seed 7 --json fuzz-api.json
    ... fuzz_api.py --only '/jobs' --examples 300      # operations whose label contains /jobs

The same harness as ``tests/e2e/test_api_fuzz.py`` (``tests/e2e/api_fuzz_support.py``: what is checked,
what is capped and why nothing is excluded); deterministic for a given ``--seed`` (the stateful part with
hypothesis' derandomize).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from api_fuzz_support import (  # noqa: E402
    Budget,
    OperationRun,
    all_findings,
    dump,
    fuzz_schema,
    fuzz_world,
    ordered_operations,
    run_operation,
    run_stateful,
    summary_table,
)


def _logged_errors(output: str) -> list[str]:
    """The ERROR records of the all-in-one's JSON log (first line of each message)."""
    found = []
    for line in output.splitlines():
        if '"level": "ERROR"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            found.append(line[:300])
            continue
        exc = str(record.get("exc_info", "")).strip().splitlines()
        found.append(f"{record.get('logger')}: {record.get('message', '').strip()[:200]}"
                     + (f" | {exc[-1][:200]}" if exc else ""))  # fmt: skip
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=60, help="hypothesis examples per operation and mode")
    ap.add_argument("--coverage", type=int, default=100_000, help="coverage cases per operation (all)")
    ap.add_argument("--analyst-share", type=float, default=0.25, help="the analyst's share of the budget")
    ap.add_argument("--scenarios", type=int, default=60, help="stateful sequences (0: none)")
    ap.add_argument("--steps", type=int, default=12, help="calls per stateful sequence, at most")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds a request may take")
    ap.add_argument("--only", default="", help="only operations whose label contains this")
    ap.add_argument("--json", type=Path, help="write the runs (and findings) here")
    args = ap.parse_args()

    admin_budget = Budget(args.examples, args.examples, args.coverage, args.timeout, args.seed)
    share = max(1, round(args.examples * args.analyst_share))
    analyst_budget = Budget(share, share, max(1, round(args.coverage * args.analyst_share)), args.timeout,
                            args.seed)  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-api-") as tmp, fuzz_world(Path(tmp)) as world:
        print(f"all-in-one up and seeded in {time.perf_counter() - started:.0f} s: {world.url}", flush=True)
        schema = fuzz_schema(world)
        runs: list[OperationRun] = []
        operations = [op for op in ordered_operations(schema) if args.only in op.label]
        # The stateful sequences run before the DELETE operations, while the real things still exist.
        for when in ("keep", "delete"):
            if when == "delete" and args.scenarios and not args.only:
                t0 = time.perf_counter()
                stateful = run_stateful(schema, world, world.admin, args.scenarios, args.steps, args.timeout)
                runs.extend(stateful[label] for label in sorted(stateful))
                calls = sum(r.calls for r in stateful.values())
                print(f"stateful: {calls} calls over {len(stateful)} operations, "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
            for operation in operations:
                if (operation.method.upper() == "DELETE") != (when == "delete"):
                    continue
                for account, budget in ((world.admin, admin_budget), (world.analyst, analyst_budget)):
                    run = run_operation(operation, world, account, budget)
                    runs.append(run)
                    print(f"{run.operation} as {run.account}: {run.calls} calls, "
                          f"{len(run.findings)} findings, {run.seconds:.1f} s", flush=True)  # fmt: skip
        me = world.admin.api("GET", "/auth/me").status_code
        errors = _logged_errors(world.live.output)

    elapsed = time.perf_counter() - started
    findings = all_findings(runs)
    calls = sum(r.calls for r in runs)
    print("\n" + summary_table(runs))
    print(f"\n{calls} calls in {elapsed:.0f} s ({calls / max(elapsed, 1e-9):.1f}/s), "
          f"{len(runs)} operation runs, {len(findings)} findings")  # fmt: skip
    print(f"the fuzzer's own login after the run: GET /auth/me -> {me}")
    for finding in findings:
        print("\n" + finding.describe())
    if errors:
        print(f"\n{len(errors)} ERROR records in the all-in-one's log (first 20):")
        for line in errors[:20]:
            print("  " + line)
    if args.json:
        dump(runs, args.json)
        print(f"\nwrote {args.json}")
    return 1 if findings or me != 200 else 0


if __name__ == "__main__":
    sys.exit(main())
