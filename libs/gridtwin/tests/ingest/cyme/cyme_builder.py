"""Small CYMDIST ASCII exports written by the tests (never copies of the shared data).

A feeder is a 12.47 kV source at ``src`` behind a little impedance, sections, the devices on them and
customer loads. Each ``block`` is a CYME section as CYMDIST writes it: the header, its ``FORMAT_`` line
naming the columns, then one comma-separated line per record. The helpers also solve a model in a real
engine and read voltages back, so the tests judge physics, not only tables.
"""

from __future__ import annotations

import cmath
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
from gridtwin.grid.model import FeederModel
from gridtwin.grid.twins import feeder_to_twins, twins_to_feeder
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.results import SnapshotResult

KV = 12.47
LINE_ID = "LINE_336"  # 336 ACSR-like sequence impedances, 400 A

SOURCE = (
    "[SOURCE EQUIVALENT]\n"
    "FORMAT_SOURCEEQUIVALENT=NodeID,Voltage,OperatingAngle1,OperatingAngle2,OperatingAngle3,"
    "PositiveSequenceResistance,PositiveSequenceReactance,ZeroSequenceResistance,ZeroSequenceReactance,"
    "Configuration,OperatingVoltage1,OperatingVoltage2,OperatingVoltage3,ImpedanceUnit\n"
    "src,{kv},0,-120,120,0.01,0.1,0.01,0.1,0,{vln},{vln},{vln},0\n"
)


def block(section: str, columns: str, rows: Iterable[str], key: str = "") -> str:
    """``[SECTION]`` + ``FORMAT_KEY=columns`` + the rows (``key`` defaults to the section's name
    without spaces, as CYMDIST writes it)."""
    fmt = key or section.replace(" ", "")
    return f"[{section}]\nFORMAT_{fmt}={columns}\n" + "".join(f"{r}\n" for r in rows) + "\n"


def nodes(*names: str) -> str:
    return block("NODE", "NodeID,CoordX,CoordY", (f"{n},{10 * i},0" for i, n in enumerate(names)))


def sections(*rows: str) -> str:
    """``rows``: ``SectionID,FromNodeID,ToNodeID,Phase``."""
    return (
        "[SECTION]\nFORMAT_SECTION=SectionID,FromNodeID,ToNodeID,Phase\n"
        "FORMAT_FEEDER=NetworkID,HeadNodeID,CoordSet\nFEEDER=f1,src,1\n"
        + "".join(f"{r}\n" for r in rows)
        + "\n"
    )


def lines(*rows: str) -> str:
    """``rows``: ``SectionID,DeviceNumber,LineCableID,Length`` (metres)."""
    return block(
        "OVERHEADLINE SETTING",
        "SectionID,DeviceNumber,LineCableID,Length,ConnectionStatus",
        (f"{r},0" for r in rows),
    )


def loads(rows: Sequence[tuple[str, str, float, float]], connection: str = "0") -> str:
    """Spot customer loads: (section, phase, kW, kvar); ``connection`` 0 wye, 2 delta."""
    devices = sorted({s for s, *_ in rows})
    return block(
        "LOADS",
        "SectionID,DeviceNumber,LoadType,Connection,Location",
        (f"{s},{s},Spot,{connection},M" for s in devices),
    ) + block(
        "CUSTOMER LOADS",
        "SectionID,DeviceNumber,LoadType,CustomerNumber,CustomerType,ConnectionStatus,ValueType,LoadPhase,"
        "Value1,Value2,NumberOfCustomer",
        (f"{s},{s},Spot,c_{s}_{p},Residential,0,0,{p},{kw!r},{kvar!r},1" for s, p, kw, kvar in rows),
    )


EQUIPMENT_LINE = block("LINE", "ID,R1,R0,X1,X0,B1,B0,Amps", [f"{LINE_ID},0.19,0.47,0.39,1.25,0,0,400"])


def write_export(
    folder: Path,
    network: str,
    equipment: str = "",
    load: str = "",
    *,
    kv: float = KV,
    units: str = "SI",
) -> Path:
    """network.txt, equipment.txt and load.txt of one export under ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    head = f"[GENERAL]\nDATE=December 1, 2026\nCYME_VERSION=9.0\n[{units}]\n\n"
    source = SOURCE.format(kv=kv, vln=round(kv / math.sqrt(3.0), 6))
    (folder / "network.txt").write_text(head + source + network)
    (folder / "equipment.txt").write_text(head + EQUIPMENT_LINE + equipment)
    (folder / "load.txt").write_text(head + load)
    return folder


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of ``path`` starting with ``text``."""
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith(text):
            return i
    raise AssertionError(f"{text!r} not in {path}")


def solve(model: FeederModel) -> SnapshotResult:
    """A snapshot of the model in a real engine of its own (the process engine is not disturbed)."""
    engine = Engine()
    try:
        engine.load_model(model)
        return engine.snapshot()
    finally:
        engine.close()


def phasors(result: SnapshotResult) -> dict[tuple[str, int], complex]:
    """(bus, node) -> voltage phasor in kV."""
    v: pd.DataFrame = result.voltages
    return {
        (str(b), int(n)): kv * cmath.exp(1j * math.radians(a))
        for b, n, kv, a in zip(v["bus"], v["node"], v["kv"], v["angle_deg"], strict=True)
    }


def ln_pu(result: SnapshotResult, bus: str) -> dict[int, float]:
    """Line-to-neutral per-unit voltage of each phase node of ``bus``."""
    v = result.voltages
    rows = v[(v["bus"] == bus) & (v["node"] <= 3)]
    return {int(n): float(p) for n, p in zip(rows["node"], rows["pu"], strict=True)}


def ll_pu(result: SnapshotResult, bus: str, kv_ll: float) -> dict[str, float]:
    """Phase-to-phase voltages of ``bus`` in per unit of ``kv_ll`` (for floating or delta buses)."""
    ph = phasors(result)
    out = {}
    for a, b, name in ((1, 2, "AB"), (2, 3, "BC"), (3, 1, "CA")):
        if (bus, a) in ph and (bus, b) in ph:
            out[name] = abs(ph[(bus, a)] - ph[(bus, b)]) / kv_ll
    return out


def through_twins(model: FeederModel) -> FeederModel:
    """The model rebuilt from its twins and relationships in the registry's export shape."""
    twins, rels = feeder_to_twins(model)
    tw = pa.table(
        {
            "id": [t["$dtId"] for t in twins],
            "model": [t["$metadata"]["$model"] for t in twins],
            "site": [t["site"] for t in twins],
            "feeder": [t.get("feeder") for t in twins],
            "etag": ['W/"1"'] * len(twins),
            "properties_json": [json.dumps(t, allow_nan=False) for t in twins],
        }
    )
    rl = pa.table(
        {
            "id": [r["$relationshipId"] for r in rels],
            "source_id": [r["$sourceId"] for r in rels],
            "name": [r["$relationshipName"] for r in rels],
            "target_id": [r["$targetId"] for r in rels],
            "properties_json": [json.dumps(r, allow_nan=False) for r in rels],
        }
    )
    return twins_to_feeder(model.feeder_id, tw, rl)
