"""Synthetic utility at scale: N synthetic feeders x 8760 hourly QSTS on every core (Dask LocalCluster).

Prints feeder-years per core-hour, seconds per feeder-year per core, peak memory per worker and the
estimate for 1,000 feeders on 16 cores (the issue's target: <= 5 s per feeder-year per core, 1,000
feeders in <= 6 minutes on 16 cores). The whole path runs as in production: twins in a SQLite
registry, each feeder exported from it, profiles from the Parquet store, results checkpointed in SQL
and Parquet.

    uv run python tests/bench/bench_qsts_utility.py [--feeders 50] [--workers CORES] [--hours 8760]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from gridtwin.compute import JobEvents, JobRunner, close_client, make_client
from gridtwin.compute.qsts_jobs import FeederSelection, QstsJobs
from gridtwin.config import Settings
from gridtwin.grid.ontology import build_interfaces
from gridtwin.grid.source import RegistryFeeders
from gridtwin.grid.synth import write_synthetic_utility
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.store.db import make_engine, migrate
from gridtwin.store.jobs import JobStore
from gridtwin.store.profiles import ProfileStore
from gridtwin.store.redis import make_redis
from gridtwin.store.results import QstsResultStore
from gridtwin.twin.registry import TwinRegistry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeders", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--hours", type=int, default=8760)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gridtwin-bench-") as tmp:
        data = Path(tmp)
        engine = make_engine(f"sqlite:///{data / 'bench.db'}")
        migrate(engine)
        registry = TwinRegistry(engine)
        registry.upload_models(list(build_interfaces().values()))
        store = ProfileStore(data / "profiles")
        t0 = time.perf_counter()
        feeders = write_synthetic_utility(registry, store, args.feeders, args.seed)
        synth_s = time.perf_counter() - t0

        settings = Settings(data_dir=data, dask_workers=args.workers)
        t1 = time.perf_counter()
        client = make_client(settings)
        cluster_s = time.perf_counter() - t1
        runner = JobRunner(
            JobStore(engine), JobEvents(make_redis(None)), lambda: client, RegistryFeeders(registry)
        )
        qsts = QstsJobs(runner, QstsResultStore(engine, data / "results"), data / "profiles")
        try:
            t2 = time.perf_counter()
            job = qsts.run(FeederSelection(feeders), QstsSpec(hours=args.hours))
            final = runner.wait(job.id)
            wall_s = time.perf_counter() - t2
        finally:
            runner.close()
            close_client(client)
        results = QstsResultStore(engine, data / "results")
        rows, _ = results.feeders(final.id, limit=10000)
        manifest = results.read_manifest(final.id)
        engine.dispose()

    years = len(rows) * args.hours / 8760.0
    per_core_s = wall_s * args.workers / max(years, 1e-9)
    solve = rows["solve_s"].astype(float)
    total = rows["total_s"].astype(float)
    peaks = [
        float(f.get("peak_rss_mb") or 0.0)
        for f in manifest.get("feeders", {}).values()
        if isinstance(f, dict) and f.get("peak_rss_mb")
    ]
    print(f"synthetic utility: {len(feeders)} feeders written in {synth_s:.1f} s (registry + profiles)")
    print(f"Dask LocalCluster with {args.workers} workers started in {cluster_s:.1f} s")
    print(f"job {final.id}: {final.status}, {final.done_tasks} done, {final.failed_tasks} failed")
    print(f"wall time {wall_s:.1f} s for {years:.1f} feeder-years on {args.workers} cores")
    print(f"feeder-years per core-hour: {years / (wall_s * args.workers / 3600.0):.0f}")
    print(f"seconds per feeder-year per core (wall x cores / feeder-years): {per_core_s:.2f}  (target <= 5)")
    print(
        f"per task: QSTS loop median {statistics.median(solve):.2f} s (max {solve.max():.2f}), "
        f"task total median {statistics.median(total):.2f} s"
    )
    if peaks:
        print(f"peak RSS per worker: median {statistics.median(peaks):.0f} MB, max {max(peaks):.0f} MB")
    estimate_s = 1000 * per_core_s / 16.0
    print(f"estimate, 1,000 feeders on 16 cores: {estimate_s / 60:.1f} min  (target <= 6 min)")
    print(
        json.dumps({"wall_s": wall_s, "per_core_s": per_core_s, "estimate_1000_on_16_min": estimate_s / 60})
    )


if __name__ == "__main__":
    main()
