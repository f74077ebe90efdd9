"""A year of QSTS through ``gridtwin.powerflow.qsts`` versus hand-written opendssdirect loops.

Usage: ``uv run python tests/bench/bench_qsts.py [--naive-hours-ckt5 500] [--quick]``. Prints, for
IEEE 123 (LoadShape1 on every load) and EPRI ckt5 (its own yearly shapes), full year, hourly:

- ours: ``run_qsts_loaded`` (layout, time loop, extraction, aging, result tables), best of 3 / 2;
- hand: the fastest plain loop I could write producing the same per-hour quantities (OpenDSS yearly
  mode, ``Hour``/``Seconds``/``SolveSnap``, the same bulk getters, running per-bus/per-element
  figures in numpy), best of 3 / 2, including its own set-up reads; target ours / hand <= 1.10;
- naive: Python sets every load's kW from the shape each hour and solves in snapshot mode, reading
  the same quantities (ckt5 over ``--naive-hours-ckt5`` hours, extrapolated to the year).
Data come from GRIDTWIN_SHARED_DATA (default ``../shared/data`` beside the repo).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from gridtwin._dsslib import OpenDSSDirect, opendssdirect
from gridtwin.powerflow import Engine
from gridtwin.powerflow.qsts import run_qsts_loaded
from gridtwin.powerflow.qsts_results import QstsSpec


def data_dir() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


DSS = data_dir() / "opendss"
CASES: dict[str, tuple[Path, list[str]]] = {
    "ieee123": (
        DSS / "IEEETestCases/123Bus/IEEE123Master.dss",
        [f'redirect "{DSS / "Examples/Loadshapes/LoadShape1.DSS"}"', "batchedit load..* yearly=loadshape1"],
    ),
    "ckt5": (DSS / "EPRITestCircuits/ckt5/Master_ckt5.dss", []),
}
A_LO, A_HI, B_LO, B_HI = 0.95, 1.05, 0.9167, 1.0583


def plain_context(case: str) -> Any:
    dss = OpenDSSDirect(opendssdirect.dss.NewContext()._api_util, prefer_lists=False)
    dss.Basic.AllowChangeDir(False)
    path, commands = CASES[case]
    dss.Text.Command(f'compile "{path.resolve()}"')
    for cmd in commands:
        dss.Text.Command(cmd)
    return dss


def hand_setup(dss: Any) -> dict[str, Any]:
    """What a careful user precomputes once: kept nodes by bus, ratings, transformer conductors."""
    bases = {}
    for i in range(dss.Circuit.NumBuses()):
        dss.Circuit.SetActiveBusi(i)
        bases[dss.Bus.Name().lower()] = dss.Bus.kVBase()
    node_bus = [n.lower().rpartition(".")[0] for n in dss.Circuit.AllNodeNames()]
    keep = [i for i, b in enumerate(node_bus) if bases[b] > 0]
    keep.sort(key=lambda i: node_bus[i])
    kept_bus = [node_bus[i] for i in keep]
    bus_starts = [j for j in range(len(keep)) if j == 0 or kept_bus[j] != kept_bus[j - 1]]
    names = [n.lower() for n in dss.PDElements.AllNames()]
    kinds = np.array([n.partition(".")[0] for n in names])
    rows = np.flatnonzero(np.isin(kinds, ["line", "transformer", "reactor"]))
    inv_norm, inv_emerg = np.zeros(len(rows)), np.zeros(len(rows))
    for j, r in enumerate(rows):
        dss.Circuit.SetActiveElement(names[r])
        inv_norm[j] = 100.0 / dss.CktElement.NormalAmps() if dss.CktElement.NormalAmps() > 0 else 0.0
        inv_emerg[j] = 100.0 / dss.CktElement.EmergAmps() if dss.CktElement.EmergAmps() > 0 else 0.0
    n_term, n_cond = dss.PDElements.AllNumTerminals(), dss.PDElements.AllNumConductors()
    block = n_term * n_cond
    starts = np.cumsum(block) - block
    xf_pos = np.flatnonzero(kinds[rows] == "transformer")
    idx, xf_starts, kva, ekva = [], [], [], []
    for r in rows[xf_pos]:
        xf_starts.append(len(idx))
        idx.extend(range(starts[r], starts[r] + n_cond[r]))
        dss.Transformers.Name(names[r].partition(".")[2])
        dss.Transformers.Wdg(1)
        kva.append(dss.Transformers.kVA())
        dss.Text.Command(f"? {names[r]}.emerghkva")
        ekva.append(float(dss.Text.Result()))
    return {
        "keep": np.array(keep),
        "bus_starts": np.array(bus_starts),
        "rows": rows,
        "inv_norm": inv_norm,
        "inv_emerg": inv_emerg,
        "starts": starts,
        "line_w": (kinds == "line").astype(float),
        "xf_pos": xf_pos,
        "xf_idx": np.array(idx, dtype=np.int64),
        "xf_starts": np.array(xf_starts, dtype=np.int64),
        "xf_inv_kva": 100.0 / np.array(kva),
        "xf_inv_ekva": 100.0 / np.array(ekva),
    }


def hand_step(dss: Any, s: dict[str, Any], acc: dict[str, Any], k: int) -> None:
    """The same per-hour quantities as ours, from the same bulk getters."""
    v = dss.Circuit.AllBusMagPu()[s["keep"]]
    acc["vmin"][k], acc["vmax"][k] = v.min(), v.max()
    bmin, bmax = np.minimum.reduceat(v, s["bus_starts"]), np.maximum.reduceat(v, s["bus_starts"])
    out_a, out_b = (bmin < A_LO) | (bmax > A_HI), (bmin < B_LO) | (bmax > B_HI)
    acc["bus_a"] += out_a
    acc["bus_b"] += out_b
    acc["n_a"][k], acc["n_b"][k] = out_a.sum(), out_b.sum()
    acc["bus_min"] = np.minimum(acc["bus_min"], bmin)
    acc["bus_max"] = np.maximum(acc["bus_max"], bmax)
    acc["src"][k] = -dss.Circuit.TotalPower()[0]
    p = dss.PDElements.AllPowers().view(complex)
    acc["loss"][k] = p.real.sum()
    acc["line"][k] = np.add.reduceat(p.real, s["starts"]) @ s["line_w"]
    cur = dss.PDElements.AllMaxCurrents(False)[s["rows"]]
    pct, epct = cur * s["inv_norm"], cur * s["inv_emerg"]
    kva = np.abs(np.add.reduceat(p[s["xf_idx"]], s["xf_starts"]))
    pct[s["xf_pos"]], epct[s["xf_pos"]] = kva * s["xf_inv_kva"], kva * s["xf_inv_ekva"]
    acc["xf"][k] = pct[s["xf_pos"]]
    lbt = dss.Transformers.AllLossesByType().reshape(-1, 6)
    acc["xl"][k], acc["xn"][k] = lbt[:, 2].sum(), lbt[:, 4].sum()
    acc["over_n"] += pct > 100.0
    acc["over_e"] += epct > 100.0
    acc["max_pct"] = np.maximum(acc["max_pct"], pct)


def new_acc(steps: int, s: dict[str, Any]) -> dict[str, Any]:
    n_bus, n_el = len(s["bus_starts"]), len(s["rows"])
    acc: dict[str, Any] = {k: np.zeros(steps) for k in ("vmin", "vmax", "src", "loss", "line", "xl", "xn")}
    acc.update(
        {"n_a": np.zeros(steps, int), "n_b": np.zeros(steps, int), "xf": np.zeros((steps, len(s["xf_pos"])))}
    )
    acc.update({"bus_a": np.zeros(n_bus, int), "bus_b": np.zeros(n_bus, int)})
    acc.update({"bus_min": np.full(n_bus, np.inf), "bus_max": np.full(n_bus, -np.inf)})
    acc.update(
        {"over_n": np.zeros(n_el, int), "over_e": np.zeros(n_el, int), "max_pct": np.full(n_el, -np.inf)}
    )
    return acc


def hand_loop(case: str, hours: int) -> float:
    dss = plain_context(case)
    start = time.perf_counter()
    s = hand_setup(dss)
    dss.Text.Command("set mode=yearly number=1 stepsize=1h controlmode=time")
    acc = new_acc(hours, s)
    for k in range(hours):
        dss.Solution.Hour(k + 1)
        dss.Solution.Seconds(0.0)
        dss.Solution.SolveSnap()
        if dss.Solution.Converged():
            hand_step(dss, s, acc, k)
    return time.perf_counter() - start


def naive_loop(case: str, hours: int) -> float:
    """Every load's kW set from its yearly shape each hour in Python, snapshot solves."""
    dss = plain_context(case)
    start = time.perf_counter()
    s = hand_setup(dss)
    shapes: dict[str, np.ndarray] = {}
    loads: list[tuple[str, float, str]] = []
    i = dss.Loads.First()
    while i:
        shape = dss.Loads.Yearly().lower()
        if shape and shape not in shapes:
            dss.LoadShape.Name(shape)
            shapes[shape] = np.asarray(dss.LoadShape.PMult())
        loads.append((dss.Loads.Name(), dss.Loads.kW(), shape))
        i = dss.Loads.Next()
    acc = new_acc(hours, s)
    for k in range(hours):
        for name, kw, shape in loads:
            dss.Loads.Name(name)
            dss.Loads.kW(kw * (shapes[shape][k] if shape else 1.0))
        dss.Solution.Solve()
        if dss.Solution.Converged():
            hand_step(dss, s, acc, k)
    return time.perf_counter() - start


def ours(engine: Engine, case: str, hours: int) -> tuple[float, float]:
    path, commands = CASES[case]
    engine.compile_file(path)
    for cmd in commands:
        engine.run_command(cmd)
    start = time.perf_counter()
    result = run_qsts_loaded(engine, QstsSpec(hours=hours), feeder=case)
    return time.perf_counter() - start, result.timings_s["solve"]


def best(fn: Callable[[], float], runs: int) -> float:
    return min(fn() for _ in range(runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--naive-hours-ckt5", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="one run each, ckt5 naive over 100 h")
    args = parser.parse_args()
    engine = Engine()
    hours = 8760
    print(
        f"{'feeder':8} {'ours s':>8} {'(loop s)':>9} {'hand s':>8} {'ours/hand':>10} {'ms/step':>8} "
        f"{'naive s/yr':>11} {'speedup':>8}"
    )
    for case, runs in (("ieee123", 3), ("ckt5", 2)):
        runs = 1 if args.quick else runs
        loop_s: list[float] = []

        def run_ours(case: str = case, loop_s: list[float] = loop_s) -> float:
            total, solve = ours(engine, case, hours)
            loop_s.append(solve)
            return total

        ours_s = best(run_ours, runs)
        hand_s = best(lambda case=case: hand_loop(case, hours), runs)  # type: ignore[misc]
        naive_hours = hours if case == "ieee123" else (100 if args.quick else args.naive_hours_ckt5)
        naive_s = naive_loop(case, naive_hours) * hours / naive_hours
        note = "" if naive_hours == hours else f"  (naive: {naive_hours} h extrapolated)"
        print(
            f"{case:8} {ours_s:>8.2f} {min(loop_s):>9.2f} {hand_s:>8.2f} {ours_s / hand_s:>10.3f} "
            f"{1000 * ours_s / hours:>8.3f} {naive_s:>11.1f} {naive_s / ours_s:>8.1f}{note}"
        )
    engine.close()
    try:
        load = f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    except OSError:
        load = ""
    print(f"full year hourly; best of 3 (ieee123) / 2 (ckt5); {load}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
