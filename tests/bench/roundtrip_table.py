"""Print the OpenDSS round-trip table: every shared model solved as given and after
import -> twins -> registry (SQLite, validated bulk upsert) -> export -> write -> solve.

Usage: ``uv run python tests/bench/roundtrip_table.py [feeder ...] [--dump DIR]``. Data come from
GRIDTWIN_SHARED_DATA (default: ``../shared/data`` beside the repository).

The ``*-solver`` cases are a feeder whose script also sets its own solver settings, as IEEE 8500's run
script does (``set maxiterations=100 maxcontroliter=40 tolerance=0.00005``): a second table shows them
kept at every step (read, after the registry, the written script, what the engine applies with
installation defaults of 15, OpenDSS's own).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from gridtwin.grid.dss_writer import write_dss
from gridtwin.ingest.opendss import read_opendss
from gridtwin.ingest.opendss.roundtrip import roundtrip, through_registry
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.solver import SolverSettings
from gridtwin.store.db import make_engine, migrate

CASES: dict[str, str] = {
    "4bus-dy-bal": "IEEETestCases/4Bus-DY-Bal/4Bus-DY-Bal.DSS",
    "4bus-grdyd-bal": "IEEETestCases/4Bus-GrdYD-Bal/4Bus-GrdYD-Bal.DSS",
    "4bus-oyod-bal": "IEEETestCases/4Bus-OYOD-Bal/4Bus-OYOD-Bal.DSS",
    "4bus-oyod-unbal": "IEEETestCases/4Bus-OYOD-UnBal/4bus-OYOD-UnBal.dss",
    "4bus-yd-bal": "IEEETestCases/4Bus-YD-Bal/4Bus-YD-Bal.DSS",
    "4bus-yy-bal": "IEEETestCases/4Bus-YY-Bal/4Bus-YY-Bal.DSS",
    "ieee13": "IEEETestCases/13Bus/IEEE13Nodeckt.dss",
    "ieee34mod1": "IEEETestCases/34Bus/ieee34Mod1.dss",
    "ieee34mod2": "IEEETestCases/34Bus/ieee34Mod2.dss",
    "ieee37": "IEEETestCases/37Bus/ieee37.dss",
    "ieee123": "IEEETestCases/123Bus/IEEE123Master.dss",
    "lvtest": "IEEETestCases/LVTestCaseNorthAmerican/Master.dss",
    "ckt5": "EPRITestCircuits/ckt5/Master_ckt5.dss",
    "j1-pv": "EPRITestCircuits/epri_dpv/J1/Master_withPV.dss",
    "j1-nopv": "EPRITestCircuits/epri_dpv/J1/Master_noPV.dss",
}


# Feeders whose script, as given, is followed by its own solver settings.
SOLVER_CASES: dict[str, str] = {"ieee13-solver": "ieee13", "ckt5-solver": "ckt5"}
SOLVER_LINE = "set maxiterations=100 maxcontroliter=40 tolerance=0.00005"
SOLVER_KEYS = ("max_iterations", "max_control_iterations", "tolerance")


def data_dir() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("feeders", nargs="*", help="subset of feeders (default: all)")
    parser.add_argument("--dump", type=Path, help="write each generated script into this folder")
    parser.add_argument("--direct", action="store_true", help="skip the registry (read -> write only)")
    args = parser.parse_args(argv)
    through = None
    if not args.direct:
        engine = make_engine(f"sqlite:///{tempfile.mkdtemp(prefix='gridtwin-rt-')}/twins.db")
        migrate(engine)
        through = through_registry(engine)
    print("path:", "read -> write" if args.direct else "read -> twins -> registry -> export -> write")
    base = data_dir() / "opendss"
    header = f"{'feeder':16} {'buses':>5} {'nodes':>5} {'max|dV| pu':>11} {'max|dang| deg':>13} {'loss rel':>9} {'taps':>5} {'read s':>6}  ok"
    print(header)
    print("-" * len(header))
    failed = 0
    chosen = args.feeders or [*CASES, *SOLVER_CASES]
    for name in chosen:
        try:
            r = roundtrip(_master(base, name), name, through=through)
        except Exception as exc:  # report and carry on: the table is a diagnostic
            print(f"{name:16} ERROR {type(exc).__name__}: {exc}")
            failed += 1
            continue
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
            (args.dump / f"{name}.dss").write_text(r.script)
        failed += not r.ok()
        print(
            f"{name:16} {r.buses:5d} {r.nodes:5d} {r.max_dv_pu:11.2e} {r.max_dangle_deg:13.2e} {r.loss_rel:9.2e}"
            f" {r.taps_equal!s:>5} {r.read_s:6.2f}  {'yes' if r.ok() else 'NO'}"
        )
    failed += solver_table([n for n in chosen if n in SOLVER_CASES], base, through)
    return 1 if failed else 0


def _master(base: Path, name: str) -> Path:
    """The case's master; a ``*-solver`` case is its feeder plus ``SOLVER_LINE`` (a file in a temp folder)."""
    if name not in SOLVER_CASES:
        return base / CASES[name]
    master = Path(tempfile.mkdtemp(prefix="gridtwin-rt-")) / f"{name}.dss"
    master.write_text(f'redirect "{(base / CASES[SOLVER_CASES[name]]).resolve()}"\n{SOLVER_LINE}\n')
    return master


def solver_table(names: list[str], base: Path, through: object) -> int:
    """The solver settings of each ``*-solver`` case at every step of the round trip."""
    if not names:
        return 0
    print()
    print(f"solver settings ({SOLVER_LINE!r}) through the round trip; engine defaults 15 (OpenDSS's own)")
    header = f"{'feeder':16} {'read':>16} {'after registry':>16} {'written':>16} {'engine applies':>16}  ok"
    print(header)
    print("-" * len(header))
    floor = SolverSettings(default_max_iterations=15, default_max_control_iterations=15)
    failed = 0
    for name in names:
        model, _ = read_opendss(_master(base, name), name, site="roundtrip")
        read = tuple(model.circuit[k] for k in SOLVER_KEYS)
        if callable(through):
            model = through(model)
        stored = tuple(model.circuit[k] for k in SOLVER_KEYS)
        script = write_dss(model)
        written = all(
            part in script for part in ("maxiterations=100", "maxcontroliter=40", "tolerance=5e-05")
        )
        engine = Engine()
        try:
            engine.load_model(model)
            applied = engine.snapshot(solver=floor).solver
        finally:
            engine.close()
        got = (applied.max_iterations, applied.max_control_iterations, applied.tolerance) if applied else None
        ok = read == stored == got == (100, 40, 5e-05) and written
        failed += not ok
        print(f"{name:16} {_fmt(read):>16} {_fmt(stored):>16} {'yes' if written else 'NO':>16} {_fmt(got):>16}  "
              f"{'yes' if ok else 'NO'}")  # fmt: skip
    return failed


def _fmt(values: tuple[object, ...] | None) -> str:
    return "-" if values is None else "/".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


if __name__ == "__main__":
    sys.exit(main())
