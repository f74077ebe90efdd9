"""Per bus-phase voltage comparison of an imported model against an OpenDSS original.

Both are solved in the process engine (``write_dss`` + ``Engine.load_script`` for the import,
``Engine.compile_file`` for the original) and compared on voltage magnitude in kV at every bus-phase
present in both. Bus names match case-insensitively; CYME node ids are bus names after
``safe_name`` (lower case, ``/`` and other signs -> ``_``), and ``bus_map`` renames further
(import bus -> original bus) where the two models name a bus differently.

Buses named in ``line_to_line`` (original names) are compared phase-to-phase (``basis`` "LL", phases
"AB", "BC", "CA"): on an ungrounded (e.g. delta) secondary the line-to-neutral voltages float and
only the phase-to-phase ones are physically defined. Every other bus is compared line-to-neutral
("LN", phases "A", "B", "C").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gridtwin.grid.dss_writer import write_dss
from gridtwin.grid.model import FeederModel
from gridtwin.powerflow.engine import Engine, get_engine

__all__ = ["COMPARE_COLUMNS", "compare_with_opendss"]

COMPARE_COLUMNS = [
    "bus",
    "phase",
    "basis",
    "node",
    "import_kv",
    "opendss_kv",
    "import_pu",
    "opendss_pu",
    "dv_pct",
]
_PHASE = {1: "A", 2: "B", 3: "C"}
_PAIRS = ((1, 2, "AB"), (2, 3, "BC"), (3, 1, "CA"))


def _on_basis(volts: pd.DataFrame, line_to_line: set[str]) -> pd.DataFrame:
    """bus, node, phase, basis, kv, pu: LN rows, and LL rows (node = first node of the pair)
    in place of the LN rows of the buses in ``line_to_line``."""
    v = volts[volts["node"] > 0]
    ln = v[~v["bus"].isin(line_to_line)]
    out = [
        pd.DataFrame(
            {
                "bus": ln["bus"],
                "node": ln["node"].astype("int64"),
                "phase": [_PHASE.get(int(n), str(n)) for n in ln["node"]],
                "basis": "LN",
                "kv": ln["kv"],
                "pu": ln["pu"],
            }
        )
    ]
    ll = v[v["bus"].isin(line_to_line)]
    phasor = ll["kv"].to_numpy() * np.exp(1j * np.radians(ll["angle_deg"].to_numpy()))
    by_node = {
        (b, int(n)): (p, base)
        for b, n, p, base in zip(ll["bus"], ll["node"], phasor, ll["base_kv"], strict=True)
    }
    rows = []
    for bus in sorted(set(ll["bus"])):
        for first, second, name in _PAIRS:
            if (bus, first) in by_node and (bus, second) in by_node:
                (va, base), (vb, _) = by_node[(bus, first)], by_node[(bus, second)]
                kv = float(abs(va - vb))
                pu = kv / (np.sqrt(3.0) * base) if base > 0 else 0.0
                rows.append({"bus": bus, "node": first, "phase": name, "basis": "LL", "kv": kv, "pu": pu})
    if rows:
        out.append(pd.DataFrame(rows))
    return pd.concat(out, ignore_index=True)


def compare_with_opendss(
    model: FeederModel,
    master: Path,
    *,
    bus_map: Mapping[str, str] | None = None,
    edits: Sequence[str] = (),
    line_to_line: Collection[str] = (),
    engine: Engine | None = None,
) -> pd.DataFrame:
    """One row per bus-phase in both models: voltages and ``dv_pct`` = 100 (import - original) / original.

    ``edits`` are OpenDSS commands run on the original after compiling it (e.g. to give the original the
    import's source impedance); the caller documents why. ``line_to_line`` names (original) buses
    compared phase-to-phase."""
    eng = engine or get_engine()
    with eng.hold():  # both circuits and the edits as one sequence on this engine
        eng.load_script(f"cyme-compare-{model.feeder_id}", model.version or "import", write_dss(model))
        ours = eng.snapshot().voltages
        eng.compile_file(master)
        for command in edits:
            eng.run_command(command)
        eng.mark_changed()
        theirs = eng.snapshot().voltages
    rename = {k.lower(): v.lower() for k, v in (bus_map or {}).items()}
    ll = {b.lower() for b in line_to_line}
    a = _on_basis(ours.assign(bus=ours["bus"].str.lower().map(lambda b: rename.get(b, b))), ll)
    b = _on_basis(theirs.assign(bus=theirs["bus"].str.lower()), ll)
    merged = a.merge(b, on=["bus", "node", "phase", "basis"], suffixes=("_i", "_o"))
    merged = merged[merged["kv_o"] > 0]
    out = pd.DataFrame(
        {
            "bus": merged["bus"],
            "phase": merged["phase"],
            "basis": merged["basis"],
            "node": merged["node"].astype("int64"),
            "import_kv": merged["kv_i"],
            "opendss_kv": merged["kv_o"],
            "import_pu": merged["pu_i"],
            "opendss_pu": merged["pu_o"],
            "dv_pct": 100.0 * (merged["kv_i"] - merged["kv_o"]) / merged["kv_o"],
        }
    )
    return out.sort_values(["bus", "basis", "node"]).reset_index(drop=True)[COMPARE_COLUMNS]
