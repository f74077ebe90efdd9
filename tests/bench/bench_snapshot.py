"""Warm snapshot through ``gridtwin.powerflow.Engine`` versus plain opendssdirect, same quantities.

Usage: ``uv run python tests/bench/bench_snapshot.py [--runs N]``. Prints the median milliseconds of
(a) our engine: solve + full result extraction (tables, violations) + ``to_dict()``, and (b) a
hand-written opendssdirect solve that reads the same quantities in bulk, in numpy mode (and, for
reference, in opendssdirect's default list mode); the overhead is (a) - (b numpy). Target: <= 50 ms
on EPRI ckt5. Data come from GRIDTWIN_SHARED_DATA (default ``../shared/data`` beside the repo).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridtwin._dsslib import OpenDSSDirect, opendssdirect
from gridtwin.powerflow import Engine

CASES = {
    "ckt5": "EPRITestCircuits/ckt5/Master_ckt5.dss",
    "ieee123": "IEEETestCases/123Bus/IEEE123Master.dss",
}


def data_dir() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def plain_context(numpy: bool) -> Any:
    base = opendssdirect.dss.NewContext()
    dss = OpenDSSDirect(base._api_util, prefer_lists=not numpy)
    dss.Basic.AllowChangeDir(False)
    return dss


def plain_snapshot(dss: Any) -> tuple[Any, ...]:
    """What a careful user writes by hand: solve, then the bulk getters for the same results."""
    dss.Solution.Solve()
    return (
        dss.Solution.Converged(),
        dss.Solution.Iterations(),
        dss.Circuit.AllNodeNames(),
        dss.Circuit.AllBusMagPu(),
        dss.Circuit.AllBusVMag(),
        dss.Circuit.AllBusVolts(),
        dss.PDElements.AllNames(),
        dss.PDElements.AllMaxCurrents(),
        dss.PDElements.AllPctNorm(),
        dss.PDElements.AllPctEmerg(),
        dss.PDElements.AllPowers(),
        dss.Circuit.Losses(),
        dss.Circuit.LineLosses(),
        dss.Circuit.TotalPower(),
    )


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(1000.0 * (time.perf_counter() - start))
    return statistics.median(times)


def load_note() -> str:
    # Timings on a shared 2-core box swing with other work: print the load next to them.
    try:
        return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    except OSError:
        return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    engine = Engine()
    print(
        f"{'feeder':10} {'nodes':>6} {'elements':>8} {'engine ms':>10} {'plain np ms':>12} "
        f"{'plain list ms':>14} {'overhead ms':>12}"
    )
    for name, rel in CASES.items():
        path = data_dir() / "opendss" / rel
        engine.compile_file(path)
        first = engine.snapshot()
        plain_np, plain_list = plain_context(numpy=True), plain_context(numpy=False)
        for dss in (plain_np, plain_list):
            dss.Text.Command(f"compile [{path.resolve()}]")
        ours = median_ms(lambda: engine.snapshot().to_dict(), args.runs)
        raw_np = median_ms(lambda: plain_snapshot(plain_np), args.runs)  # noqa: B023
        raw_list = median_ms(lambda: plain_snapshot(plain_list), args.runs)  # noqa: B023
        print(
            f"{name:10} {len(first.voltages):>6} {len(first.elements):>8} {ours:>10.2f} {raw_np:>12.2f} "
            f"{raw_list:>14.2f} {ours - raw_np:>12.2f}"
        )
    engine.close()
    print(f"medians of {args.runs} warm runs; {load_note()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
