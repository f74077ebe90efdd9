"""Print the per bus-phase voltage comparison of the CYME imports against their OpenDSS counterparts.

Run: GRIDTWIN_SHARED_DATA=/work/shared/data uv run python tests/bench/cyme_fidelity_table.py
For each case: the table with the input-data edits of ``gridtwin.ingest.cyme.fidelity`` and the max
|dV| % with and without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from gridtwin.ingest.cyme import compare_with_opendss, read_cyme
from gridtwin.ingest.cyme.fidelity import fidelity_cases


def main() -> None:
    shared = Path(os.environ.get("GRIDTWIN_SHARED_DATA", "/work/shared/data"))
    pd.set_option("display.width", 160)
    pd.set_option("display.max_rows", 500)
    for case in fidelity_cases(shared):
        model, report = read_cyme(case.cyme_dir, case.name)
        raw = compare_with_opendss(model, case.master, bus_map=case.bus_map)
        table = compare_with_opendss(model, case.master, bus_map=case.bus_map, edits=case.edits)
        print(f"== {case.name}: {case.cyme_dir.name} vs {case.master.name} ({len(table)} bus-phases)")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.5f}"))
        print(f"max |dV| % with data edits: {table['dv_pct'].abs().max():.3f}")
        print(f"max |dV| % raw (no edits):  {raw['dv_pct'].abs().max():.3f}")
        print(f"unmapped: {len(report.unmapped)}  counts: {report.counts}\n")


if __name__ == "__main__":
    main()
