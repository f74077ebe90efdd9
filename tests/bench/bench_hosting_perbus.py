"""Per-bus hosting capacity: fast (sensitivities + verification) against exact (bisection).

Prints a table, asserts nothing. For IEEE 123, EPRI ckt5 and EPRI J1 (no PV), default criteria and
snapshots, PV at unity power factor:
- fast on every bus (wall and CPU time; target ckt5 <= 30 s on one core), how many buses needed
  corrections after the first verifying power flow;
- exact on every bus of IEEE 123 and on an evenly spaced sample of ckt5 and J1 (every k-th bus in
  the circuit's bus order, ``GRIDTWIN_BENCH_HC_SAMPLE`` buses, default 300): exact on all buses
  takes minutes there; the full exact time is extrapolated from the sample's time per bus;
- on the compared buses: share of buses where fast is within 5 % of exact (target >= 95 %),
  median |error|, and the speedup (exact time per bus / fast time per bus);
- on IEEE 123: the median capacity gained with volt-var (IEEE 1547 Cat B) over unity power factor.

    uv run python tests/bench/bench_hosting_perbus.py
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gridtwin._dsslib  # noqa: F401  (load OpenDSS safely before anything else)
import numpy as np
import pandas as pd
from gridtwin.hosting.perbus import exact_hosting_capacity
from gridtwin.hosting.sensitivity import fast_hosting_capacity
from gridtwin.powerflow.engine import Engine

DATA = Path(os.environ.get("GRIDTWIN_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
FEEDERS = {
    "IEEE 123": DATA / "opendss" / "IEEETestCases" / "123Bus" / "IEEE123Master.dss",
    "EPRI ckt5": DATA / "opendss" / "EPRITestCircuits" / "ckt5" / "Master_ckt5.dss",
    "EPRI J1": DATA / "opendss" / "EPRITestCircuits" / "epri_dpv" / "J1" / "Master_noPV.dss",
}
SAMPLE = int(os.environ.get("GRIDTWIN_BENCH_HC_SAMPLE", "300"))


def _timed(fn: Callable[..., pd.DataFrame], *args: Any, **kwargs: Any) -> tuple[pd.DataFrame, float, float]:
    """(result, wall s, CPU s of the whole process: OpenDSS runs on its own thread)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    header = (
        f"{'feeder':10} {'buses':>6} {'fast s':>7} {'fast cpu':>8} {'corrected':>9} {'compared':>8}"
        f" {'within5%':>8} {'med|err|%':>9} {'exact s/bus':>11} {'exact all s':>11} {'speedup':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, path in FEEDERS.items():
        engine = Engine()
        engine.compile_file(path)
        fast, fast_s, fast_cpu = _timed(fast_hosting_capacity, engine)
        n = len(fast)
        buses = fast["bus"].tolist()
        sample = buses if n <= SAMPLE else buses[:: int(np.ceil(n / SAMPLE))]
        exact, exact_s, _ = _timed(exact_hosting_capacity, engine, sample, tol_kw=0.1, rel_tol_pct=0.5)
        merged = exact.merge(fast, on="bus", suffixes=("_exact", "_fast"))
        ref = merged["capacity_kw_exact"].to_numpy()
        got = merged["capacity_kw_fast"].to_numpy()
        both_zero = (ref == 0) & (got == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.where(both_zero, 0.0, 100.0 * np.abs(got - ref) / ref)
        per_bus_exact = exact_s / len(sample)
        exact_all = per_bus_exact * n
        print(
            f"{name:10} {n:6d} {fast_s:7.1f} {fast_cpu:8.1f} {int((fast['corrections'] > 0).sum()):9d}"
            f" {len(sample):8d} {100.0 * np.mean(err <= 5.0):7.1f}% {np.median(err):9.2f}"
            f" {per_bus_exact:11.4f} {exact_all:11.1f} {exact_all / fast_s:6.1f}x"
        )
        if name == "IEEE 123":
            smart, smart_s, _ = _timed(fast_hosting_capacity, engine, inverter="volt_var")
            gain = 100.0 * (
                smart["capacity_kw"].to_numpy() / np.maximum(fast["capacity_kw"].to_numpy(), 1e-9) - 1
            )
            print(
                f"{'':10} volt-var: median gain {np.median(gain):+.1f} % (buses gaining: "
                f"{int((gain > 1).sum())}/{n}, losing: {int((gain < -1).sum())}), fast volt-var {smart_s:.1f} s"
            )
        worst = merged.assign(err=err).sort_values("err", ascending=False).head(3)
        for _, row in worst.iterrows():
            print(
                f"{'':10} worst: {row['bus']} exact {row['capacity_kw_exact']:.1f} kW"
                f" ({row['limiting_criterion_exact']}) fast {row['capacity_kw_fast']:.1f} kW"
                f" ({row['limiting_criterion_fast']}) err {row['err']:.1f} %"
            )
        engine.close()


if __name__ == "__main__":
    main()
