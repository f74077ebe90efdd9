"""Stochastic hosting capacity on EPRI ckt5: 1,200 deployments at two snapshots on 2 processes.

A "deployment" is one (sample, penetration step) PV placement judged at both snapshots (minimum daytime
load with full PV, peak load with no PV): 30 random samples x 40 steps (5 %..200 % of peak load) =
1,200 deployments = 2,400 power flows, with ``full_curve=True`` so none is skipped by the early stop.
Two worker processes (``ProcessPoolExecutor``, spawn), one chunk of 15 samples each, so each worker
compiles ckt5 once. Prints the interpretation, wall time, ms per deployment and P5/mean/P95; asserts
nothing (target: wall <= 5 min on 2 cores). Runs twice: DRIVE default criteria, then without the
thermal criterion (ckt5's service transformers overload at the first step, which hides the rest).

    uv run --frozen python tests/bench/bench_hosting_stochastic.py
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import gridtwin._dsslib  # noqa: F401  (load OpenDSS safely before anything else)
from gridtwin.hosting.criteria import Criteria
from gridtwin.hosting.stochastic import ChunkResult, StochasticSpec, chunk_ranges, run_chunk, summarize
from gridtwin.powerflow.engine import get_engine

SHARED = Path(os.environ.get("GRIDTWIN_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
CKT5 = SHARED / "opendss" / "EPRITestCircuits" / "ckt5" / "Master_ckt5.dss"
SAMPLES = 30
WORKERS = 2


def chunk(spec: StochasticSpec, samples: range) -> ChunkResult:
    """The per-chunk task: the worker's one engine, ckt5 compiled from its master."""
    return run_chunk(get_engine(), CKT5, spec, samples)


def run(label: str, spec: StochasticSpec) -> None:
    chunks = chunk_ranges(spec.samples, spec.samples // WORKERS)
    start = time.perf_counter()
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(chunk, [spec] * len(chunks), chunks))
    wall = time.perf_counter() - start
    deployments = sum(len(r.steps) for r in results)
    s = summarize(results, spec.steps_pct)
    work = {k: sum(r.timings_s.get(k, 0.0) for r in results) for k in ("compile_s", "prepare_s", "samples_s")}
    print(
        f"\n{label}: {deployments} deployments ({spec.samples} samples x {len(spec.steps_pct)} steps)"
        f" x {len(spec.snapshots)} snapshots = {deployments * len(spec.snapshots)} power flows"
    )
    print(
        f"  wall {wall:6.1f} s on {WORKERS} processes (incl. start-up) -> {1000 * wall / deployments:5.1f} ms per"
        f" deployment; worker time compile {work['compile_s']:.1f} s, prepare {work['prepare_s']:.1f} s,"
        f" samples {work['samples_s']:.1f} s ({1000 * work['samples_s'] / deployments:.1f} ms/deployment/core)"
    )
    print(
        f"  capacity kW  P5 {s.capacity_kw_p5:8.0f}  mean {s.capacity_kw_mean:8.0f}  P95 {s.capacity_kw_p95:8.0f}"
        f"  (% of peak {s.peak_load_kw:.0f} kW: {s.capacity_pct_p5:.1f} / {s.capacity_pct_mean:.1f} /"
        f" {s.capacity_pct_p95:.1f}); censored {s.censored}, failed {s.samples_failed}"
    )
    curve = s.violation.set_index("penetration_pct")["p_violated"]
    print(
        "  P(violation) at 5/25/50/100/200 %: "
        + ", ".join(f"{curve.get(p, float('nan')):.2f}" for p in (5.0, 25.0, 50.0, 100.0, 200.0))
    )
    print(
        "  limiting: "
        + ", ".join(
            f"{crit}@{snap or '-'} {n}"
            for crit, snap, n in zip(
                s.limiting["criterion"], s.limiting["snapshot"], s.limiting["samples"], strict=True
            )
        )
    )


def main() -> None:
    print(
        "deployment = one (sample, penetration step) placement judged at both snapshots; "
        f"{SAMPLES} samples x 40 steps = 1,200 deployments"
    )
    run("DRIVE criteria", StochasticSpec(samples=SAMPLES, seed=1, full_curve=True))
    run(
        "no thermal",
        StochasticSpec(samples=SAMPLES, seed=1, full_curve=True, criteria=Criteria(thermal=False)),
    )


if __name__ == "__main__":
    main()
