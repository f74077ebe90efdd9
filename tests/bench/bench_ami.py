"""AMI at scale: synthetic reads for N meters -> meter mapping -> import (staging + quality + commit) ->
aggregation to transformer and feeder. Prints reads, seconds and reads/s/core per stage, peak memory
(RSS and the Python/numpy heap per stage), and the extrapolation to 1M meters. Prints, never asserts.

The import runs in a child process (spawned): its peak RSS and CPU seconds are its own, not the
generator's or the mapping's; reads/s per CPU-second is printed too (pyarrow may use a second thread).

    uv run python tests/bench/bench_ami.py [--meters 10000] [--months 12] [--workers 2] [--skip-import]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridtwin.grid.synth import synth_feeder
from gridtwin.grid.synth.ami import write_synthetic_ami
from gridtwin.ingest.ami.aggregate import aggregate_feeder, aggregate_many
from gridtwin.ingest.ami.mapping import map_meters, read_meter_list
from gridtwin.store.ami import AmiStore

READS_PER_METER_YEAR = 365 * 96
TARGET_METERS = 1_000_000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _stage(name: str, fn: Callable[[], Any], rows: list[dict[str, Any]], reads: int | None = None,
           cores: int = 1) -> Any:  # fmt: skip
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    heap = tracemalloc.get_traced_memory()[1] / 1e6
    n = reads if reads is not None else (out.truth["reads"] if hasattr(out, "truth") else 0)
    rows.append({"stage": name, "reads": n, "s": dt, "cores": cores, "heap_mb": heap, "rss_mb": _rss_mb()})
    rate = n / dt / cores if n and dt else 0.0
    print(f"  {name:<26} {n:>13,} reads {dt:9.2f} s {rate / 1e6:8.2f} M reads/s/core  "
          f"heap peak {heap:8.1f} MB  max RSS {_rss_mb():8.1f} MB", flush=True)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-import", action="store_true", help="bench aggregation on clean reads alone")
    args = parser.parse_args()
    months = list(range(1, args.months + 1))
    rows: list[dict[str, Any]] = []
    tracemalloc.start()
    with tempfile.TemporaryDirectory(prefix="gridtwin-bench-ami-") as tmp:
        data = Path(tmp)
        print(f"AMI bench: {args.meters:,} meters, {args.months} months, 15-min reads, seed {args.seed}")
        feeders = range(args.meters // 300 + 2)  # ~750 meters a feeder: generation stops at --meters
        synth = _stage(
            "synthesise (parquet)",
            lambda: write_synthetic_ami(
                data / "src", feeders, args.seed, months=months, max_meters=args.meters
            ),
            rows,
        )
        reads = int(synth.truth["reads"])
        fids = synth.truth["feeders"]
        print(f"    {len(fids)} feeders, {synth.truth['meters']:,} meters (+{len(fids)} feeder heads), "
              f"{sum(p.stat().st_size for p in synth.files) / 1e6:,.0f} MB on disk (model builds included)")  # fmt: skip
        models = [synth_feeder(int(f.rsplit("f", 1)[1]), args.seed).model for f in fids]

        def mapping() -> Any:
            meters, _ = read_meter_list(synth.meters_csv)
            meters["load"] = ""  # make the KD-tree do the work, as with a CIS list of coordinates only
            return map_meters(meters, models)

        res = _stage("map meters (KD-tree)", mapping, rows, reads=0)
        print(f"    confidence {res.directory['confidence'].value_counts().to_dict()}")
        store = AmiStore(data / "ami")
        directory = res.directory
        if args.skip_import:
            print("  import skipped (--skip-import): aggregation on reads written straight to the store")
            _direct_store(synth, store.root)
        else:
            out = _import_in_child(synth.files, directory, store.root)
            # Timed inside the child: the spawn and the directory's pickling are not the importer's.
            rows.append({"stage": "import (stage+quality)", "reads": reads, "s": out["wall_s"], "cores": 1,
                         "heap_mb": 0.0, "rss_mb": out["rss_mb"]})  # fmt: skip
            print(f"  {'import (stage+quality)':<26} {reads:>13,} reads {out['wall_s']:9.2f} s "
                  f"{reads / out['wall_s'] / 1e6:8.2f} M reads/s/core  (child process)", flush=True)  # fmt: skip
            staged = out["stage_s"]
            print(f"    child process: peak RSS {out['rss_mb']:.0f} MB, CPU {out['cpu_s']:.1f} s "
                  f"({reads / out['cpu_s'] / 1e6:.2f} M reads per CPU-second), wall {out['wall_s']:.1f} s; "
                  f"streaming read + stage {staged:.1f} s ({reads / staged / 1e6:.2f} M/s), "
                  f"quality + commit {out['wall_s'] - staged:.1f} s "
                  f"({reads / max(out['wall_s'] - staged, 1e-9) / 1e6:.2f} M/s), "
                  f"RSS at the end of staging {out['rss_stage_mb']:.0f} MB")  # fmt: skip
            print(f"    report counts {dict(list(out['counts'].items())[:12])}")
        year = 2025
        per: list[Any] = []

        def one_core() -> None:
            per.extend(aggregate_feeder(store, f, directory, year=year) for f in fids)

        _stage("aggregate (1 thread)", one_core, rows, reads=reads)
        read_s = sum(a.timings_s["read"] for a in per)
        bin_s = sum(a.timings_s["bin"] for a in per)
        n_agg = sum(a.reads for a in per)
        print(f"    parquet read {read_s:.2f} s, binning {bin_s:.2f} s; {n_agg:,} reads binned "
              f"({n_agg / (read_s + bin_s) / 1e6:.1f} M reads/s/core)")  # fmt: skip
        _stage(f"aggregate (dask, {args.workers} threads)",
               lambda: aggregate_many(store, fids, directory, year=year), rows, reads=reads,
               cores=args.workers)  # fmt: skip
        s = per[0].summary
        print(f"    {fids[0]}: peak {s['peak_kw']:.0f} kW, LF {s['load_factor']:.2f}, CF "
              f"{s['coincidence_factor']:.2f}, head ratio {s['head_ratio']}")  # fmt: skip
    print("\nExtrapolation to 1M meters (a year of 15-min reads = 35.0 G reads), per core:")
    target = TARGET_METERS * READS_PER_METER_YEAR
    for r in rows:
        if r["reads"] and r["s"]:
            rate = r["reads"] / r["s"] / r["cores"]
            print(
                f"  {r['stage']:<26} {target / rate / 3600:8.1f} core-hours ({rate / 1e6:.2f} M reads/s/core)"
            )
    print(f"peak RSS of the whole run {_rss_mb():.0f} MB")


def _import_child(files: list[Path], directory: Any, root: Path, queue: Any) -> None:
    from gridtwin.ingest.ami import AmiOptions, import_ami

    marks: dict[str, float] = {}
    rss: dict[str, float] = {}

    def progress(event: dict[str, Any]) -> None:
        stage = str(event.get("stage"))
        if stage not in marks:
            marks[stage] = time.perf_counter()
            rss[stage] = _rss_mb()

    t0, c0 = time.perf_counter(), time.process_time()
    report = import_ami(files, directory, AmiStore(root), import_id="bench", options=AmiOptions(),
                        progress=progress)  # fmt: skip
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # The first "finalize" event comes after the first partition: the staging time is up to it.
    queue.put({"counts": report.counts, "wall_s": wall, "cpu_s": cpu, "rss_mb": _rss_mb(),
               "stage_s": marks.get("finalize", t0 + wall) - t0, "rss_stage_mb": rss.get("finalize", 0.0)})  # fmt: skip


def _import_in_child(files: list[Path], directory: Any, root: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_import_child, args=(files, directory, root, queue))
    proc.start()
    out: dict[str, Any] = queue.get()
    proc.join()
    return out


def _direct_store(synth: Any, root: Path) -> None:
    """Clean reads into the store layout without the importer (interval end -> start)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from gridtwin.store.ami import AMI_READ_SCHEMA

    meters = pd.read_csv(synth.meters_csv, dtype={"meter_id": str})
    feeder_of = dict(zip(meters["meter_id"], meters["feeder"], strict=True))
    for path in synth.files:
        t = pq.read_table(path)
        mid = t.column("meter_id").combine_chunks().dictionary_decode()
        start_s = t.column("timestamp").cast(pa.timestamp("s", tz="UTC")).cast(pa.int64()).to_numpy() - 900
        ts = pa.array(start_s.astype("datetime64[s]")).cast(pa.timestamp("s", tz="UTC"))
        feeders = pa.array([feeder_of[m] for m in mid.unique().to_pylist()])
        feeder_col = pc.take(feeders, pc.index_in(mid, mid.unique()))
        for feeder in feeders.unique().to_pylist():
            keep = pc.equal(feeder_col, feeder)
            n = int(pc.sum(keep).as_py())
            out = pa.table(
                [mid.filter(keep), ts.filter(keep), pa.array(np.full(n, 15, np.int16)), t.column("kwh").filter(keep),
                 pa.nulls(n, pa.float64()), pa.nulls(n, pa.float64()), pa.array(np.zeros(n, np.uint16)),
                 pa.nulls(n, pa.float64())],
                schema=AMI_READ_SCHEMA,
            )  # fmt: skip
            d = root / f"feeder={feeder}" / f"month={path.stem[-7:]}"  # reads-YYYY-MM
            d.mkdir(parents=True, exist_ok=True)
            pq.write_table(out, d / "reads.parquet")


if __name__ == "__main__":
    main()
