"""Print the per bus-phase voltage comparison of the CYME imports against their OpenDSS counterparts.

Run: GRIDTWIN_SHARED_DATA=/work/shared/data uv run python tests/bench/cyme_fidelity_table.py
For each case: the table with all the input-data edits of ``gridtwin.ingest.cyme.fidelity`` (basis LN
= line-to-neutral, LL = phase-to-phase on ungrounded buses), then the max |dV| % raw (no edits) and
after each edit group in turn.
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
        table = compare_with_opendss(
            model, case.master, bus_map=case.bus_map_with(), edits=case.edits, line_to_line=case.line_to_line
        )
        print(f"== {case.name}: {case.cyme_dir.name} vs {case.master.name} ({len(table)} bus-phases)")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.5f}"))
        for n in range(len(case.edit_groups) + 1):
            edits = [c for g in case.edit_groups[:n] for c in g.commands]
            step = compare_with_opendss(
                model, case.master, bus_map=case.bus_map_with(n), edits=edits, line_to_line=case.line_to_line
            )
            label = "raw (no edits)" if n == 0 else f"+ {case.edit_groups[n - 1].why}"
            print(f"max |dV| % {step['dv_pct'].abs().max():.3f} ({len(step)} bus-phases)  {label}")
        print(f"unmapped: {len(report.unmapped)}  counts: {report.counts}\n")


if __name__ == "__main__":
    main()
