"""Print the OpenDSS round-trip table: every shared model solved as given and after
import -> twins -> registry (SQLite, validated bulk upsert) -> export -> write -> solve.

Usage: ``uv run python tests/bench/roundtrip_table.py [feeder ...] [--dump DIR]``. Data come from
GRIDTWIN_SHARED_DATA (default: ``../shared/data`` beside the repository).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from gridtwin.ingest.opendss.roundtrip import roundtrip, through_registry
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
    for name in args.feeders or list(CASES):
        try:
            r = roundtrip(base / CASES[name], name, through=through)
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
