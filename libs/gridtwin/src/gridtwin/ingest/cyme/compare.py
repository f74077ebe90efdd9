"""Per bus-phase voltage comparison of an imported model against an OpenDSS original.

Both are solved in the process engine (``write_dss`` + ``Engine.load_script`` for the import,
``Engine.compile_file`` for the original) and compared on voltage magnitude in kV at every bus-phase
present in both. Bus names match case-insensitively; CYME node ids are bus names after
``safe_name`` (lower case, ``/`` and other signs -> ``_``), and ``bus_map`` renames further
(import bus -> original bus) where the two models name a bus differently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from gridtwin.grid.dss_writer import write_dss
from gridtwin.grid.model import FeederModel
from gridtwin.powerflow.engine import Engine, get_engine

__all__ = ["COMPARE_COLUMNS", "compare_with_opendss"]

COMPARE_COLUMNS = ["bus", "node", "import_kv", "opendss_kv", "import_pu", "opendss_pu", "dv_pct"]


def compare_with_opendss(
    model: FeederModel,
    master: Path,
    *,
    bus_map: Mapping[str, str] | None = None,
    edits: Sequence[str] = (),
    engine: Engine | None = None,
) -> pd.DataFrame:
    """One row per bus-phase in both models: voltages and ``dv_pct`` = 100 (import - original) / original.

    ``edits`` are OpenDSS commands run on the original after compiling it (e.g. to give the original the
    import's source impedance); the caller documents why."""
    eng = engine or get_engine()
    eng.load_script(f"cyme-compare-{model.feeder_id}", model.version or "import", write_dss(model))
    ours = eng.snapshot().voltages
    eng.compile_file(master)
    for command in edits:
        eng.run_command(command)
    eng.mark_changed()
    theirs = eng.snapshot().voltages
    rename = {k.lower(): v.lower() for k, v in (bus_map or {}).items()}
    a = ours.assign(bus=ours["bus"].str.lower().map(lambda b: rename.get(b, b)))
    b = theirs.assign(bus=theirs["bus"].str.lower())
    merged = a.merge(b, on=["bus", "node"], suffixes=("_i", "_o"))
    merged = merged[(merged["node"] > 0) & (merged["kv_o"] > 0)]
    out = pd.DataFrame(
        {
            "bus": merged["bus"],
            "node": merged["node"].astype("int64"),
            "import_kv": merged["kv_i"],
            "opendss_kv": merged["kv_o"],
            "import_pu": merged["pu_i"],
            "opendss_pu": merged["pu_o"],
            "dv_pct": 100.0 * (merged["kv_i"] - merged["kv_o"]) / merged["kv_o"],
        }
    )
    return out.sort_values(["bus", "node"]).reset_index(drop=True)[COMPARE_COLUMNS]
