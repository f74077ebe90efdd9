"""The shipped stacked scenario (examples/scenarios/stacked-2030.yaml: EV L2 30 % + PV 20 % + heat wave
+ TOU) over a synthetic utility, against its base year: run time, composition cost, the energy ledger,
which feeders break and where; then the scenario's EV-share sweep on a subset.

The whole path as in production (registry export, Dask LocalCluster, SQL + Parquet results); the
scenario is composed on the workers.

    uv run python tests/bench/bench_scenarios.py [--feeders 20] [--sweep-feeders 4] [--hours 8760]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
from gridtwin.compute import JobEvents, JobRunner, close_client, make_client
from gridtwin.compute.qsts_jobs import FeederSelection, QstsJobs
from gridtwin.config import Settings
from gridtwin.grid.ontology import build_interfaces
from gridtwin.grid.source import RegistryFeeders
from gridtwin.grid.synth import write_synthetic_utility
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.scenarios.diff import diff_jobs
from gridtwin.scenarios.loader import load_scenario
from gridtwin.scenarios.sweep import sweep_scenarios
from gridtwin.store.db import make_engine, migrate
from gridtwin.store.jobs import JobStore
from gridtwin.store.profiles import ProfileStore
from gridtwin.store.redis import make_redis
from gridtwin.store.results import QstsResultStore
from gridtwin.twin.registry import TwinRegistry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "stacked-2030.yaml"


def _all_elements(results: QstsResultStore, job_id: str) -> pd.DataFrame:
    frames, offset, total = [], 0, 1
    while offset < total:
        page, total = results.elements(job_id, limit=10000, offset=offset)
        frames.append(page)
        offset += 10000
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeders", type=int, default=20)
    parser.add_argument("--sweep-feeders", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--hours", type=int, default=8760)
    args = parser.parse_args()
    scenario, _ = load_scenario(EXAMPLE)
    spec = QstsSpec(hours=args.hours)

    with tempfile.TemporaryDirectory(prefix="gridtwin-bench-") as tmp:
        data = Path(tmp)
        engine = make_engine(f"sqlite:///{data / 'bench.db'}")
        migrate(engine)
        registry = TwinRegistry(engine)
        registry.upload_models(list(build_interfaces().values()))
        feeders = write_synthetic_utility(registry, ProfileStore(data / "profiles"), args.feeders, args.seed)

        client = make_client(Settings(data_dir=data, dask_workers=args.workers))
        results = QstsResultStore(engine, data / "results")
        runner = JobRunner(
            JobStore(engine), JobEvents(make_redis(None)), lambda: client, RegistryFeeders(registry)
        )
        qsts = QstsJobs(runner, results, data / "profiles")
        everyone = FeederSelection(feeders)
        try:
            t0 = time.perf_counter()
            base = runner.wait(qsts.run(everyone, spec).id)
            base_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            body = scenario.model_copy(update={"sweep": None}).model_dump(mode="json")
            scn = runner.wait(qsts.run(everyone, spec, scenario=body, scenario_id="stacked").id)
            scn_s = time.perf_counter() - t0
            manifest = results.read_manifest(scn.id)
            diff = diff_jobs(results, base.id, [scn.id])

            subset = feeders[: args.sweep_feeders]
            t0 = time.perf_counter()
            sweep_jobs = []
            for values, point in sweep_scenarios(scenario):
                job = qsts.run(FeederSelection(subset), spec, scenario=point.model_dump(mode="json"))
                sweep_jobs.append((values, job.id))
            sweep_rows = []
            for values, job_id in sweep_jobs:
                runner.wait(job_id)
                frame, _ = results.feeders(job_id, limit=1000)
                elems = _all_elements(results, job_id)
                sweep_rows.append({
                    **values, "bus_hours_outside_a": frame["bus_hours_outside_a"].sum(),
                    "element_hours_over_normal": pd.to_numeric(elems["hours_over_normal"]).sum(),
                    "elements_over_normal": frame["elements_over_normal"].sum(),
                    "peak_kw": frame["peak_kw"].sum(), "losses_mwh": frame["losses_kwh"].sum() / 1000.0,
                })  # fmt: skip
            sweep_s = time.perf_counter() - t0
        finally:
            runner.close()
            close_client(client)
        engine.dispose()

    info = manifest["feeders"]
    compose = [f["timings_s"].get("scenario", 0.0) for f in info.values() if f.get("timings_s")]
    ledger: dict[str, float] = defaultdict(float)
    counts: dict[str, float] = defaultdict(float)
    for f in info.values():
        for row in f.get("scenario", {}).get("ledger", []):
            ledger[f"{row['layer']}:{row['component']}"] += float(row["energy_kwh"])
        for k, v in f.get("scenario", {}).get("counts", {}).items():
            counts[k] += float(v)
    print(f"{len(feeders)} feeders x {args.hours} h on {args.workers} cores")
    print(f"base job {base.status}: {base_s:.1f} s; stacked scenario job {scn.status}: {scn_s:.1f} s "
          f"({scn_s / base_s:.2f}x); composition per feeder median {statistics.median(compose):.2f} s")  # fmt: skip
    print(f"added: {counts['ev_chargers']:.0f} EV chargers ({counts['ev_kw'] / 1000:.1f} MW), "
          f"{counts['pv_systems']:.0f} PV systems ({counts['pv_kw_dc'] / 1000:.1f} MW DC)")  # fmt: skip
    for key, kwh in ledger.items():
        print(f"  ledger {key}: {kwh / 1000:+,.0f} MWh")
    t = diff.totals[0]
    print(f"diff vs base: new element violations {t['new_element_violations']}, new bus violations "
          f"{t['new_bus_violations']}, element-hours over normal {t['delta_element_hours_over_normal']:+.0f}, "
          f"bus-hours outside A {t['delta_bus_hours_outside_a']:+.0f}, peak {t['delta_peak_kw']:+.0f} kW, "
          f"reverse-flow hours {t['delta_reverse_flow_hours']:+.0f}")  # fmt: skip
    per_feeder = diff.elements.groupby("feeder")["new_violation"].sum().sort_values(ascending=False)
    print("feeders with the most new element violations:", per_feeder.head(5).to_dict())
    worst = diff.elements.sort_values("hours_over_normal_delta", ascending=False).head(5)
    print(
        worst[
            ["feeder", "element", "hours_over_normal_base", "hours_over_normal", "max_loading_pct"]
        ].to_string(index=False)
    )
    print(f"sweep over EV share on {len(subset)} feeders ({len(sweep_jobs)} jobs, {sweep_s:.1f} s):")
    print(pd.DataFrame(sweep_rows).to_string(index=False))


if __name__ == "__main__":
    main()
