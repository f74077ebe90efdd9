"""``read_cyme``: CYMDIST ASCII exports (network, equipment and load files) -> ``FeederModel``.

Which file holds which section and the order of sections do not matter: every file is tokenised into
``SectionRecord``s first, then catalogs, network and loads are mapped. The model is compiled once in a
throwaway OpenDSS engine before it is returned (bus kV bases and node lists come from there), so a
model that does not compile is never handed out: errors are raised whole, nothing is half imported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from gridtwin.errors import ErrorDetail, Report
from gridtwin.grid.dss_writer import write_dss
from gridtwin.grid.model import TABLES, FeederModel
from gridtwin.ingest.cyme.devices import REGULATOR_MODES, check_regulators
from gridtwin.ingest.cyme.equipment import CATALOG_SECTIONS, Catalog, resolve_linecodes, safe_name
from gridtwin.ingest.cyme.loads import build_loads
from gridtwin.ingest.cyme.network import DEVICE_DATA_SECTIONS, DEVICE_SECTIONS, Network, build_network
from gridtwin.ingest.cyme.sections import Sections, read_sections
from gridtwin.powerflow.scratch import ScratchCircuit

__all__ = ["NETWORK_SECTIONS", "REGULATOR_MODES", "read_cyme", "read_cyme_sections"]

FREQUENCY_HZ = 60.0
# Sections that belong to one feeder's network (never to a shared equipment catalog).
NETWORK_SECTIONS = frozenset(
    {
        "NODE",
        "SECTION",
        "HEADNODES",
        "SOURCE",
        "SOURCE EQUIVALENT",
        "LOADS",
        "CUSTOMER LOADS",
        *DEVICE_SECTIONS,
        *DEVICE_DATA_SECTIONS,
    }
)
MAPPED = {*NETWORK_SECTIONS, "CUSTOMER CLASS", *CATALOG_SECTIONS}
# Drawing, tagging and bookkeeping sections: nothing electrical to map.
METADATA = {
    "NODE CONNECTOR",
    "DEVICETAG",
    "SOURCETAG",
    "LOADTAG",
    "DEVICE STAGE",
    "LOAD MODEL INFORMATION",
    "DIVERSITY FACTOR",
    "INTERMEDIATE NODES",
    "NETWORKS",
    "SUBNETWORKS",
}


def read_cyme(
    paths: Sequence[Path] | Path, feeder_id: str, site: str = "", regulators: str = "controlled"
) -> tuple[FeederModel, Report]:
    """Read a CYME export (a folder, or the files) into a feeder model and its import report.

    ``regulators``: ``controlled`` (default) maps each regulator's settings to an enabled RegControl
    that regulates from the export's tap positions; ``fixed`` keeps the taps at the export's positions
    (RegControls written disabled), so a snapshot reproduces the export's solution."""
    mode = check_regulators(regulators)
    items = [paths] if isinstance(paths, Path) else list(paths)
    return read_cyme_sections(
        read_sections(items), feeder_id, site, source=", ".join(map(str, items)), regulators=mode
    )


def read_cyme_sections(
    sections: Sections, feeder_id: str, site: str = "", source: str = "cyme", regulators: str = "controlled"
) -> tuple[FeederModel, Report]:
    """Map already tokenised records (from the ASCII reader or any other source yielding
    ``SectionRecord``s) into a feeder model (``regulators`` as ``read_cyme`` takes it)."""
    mode = check_regulators(regulators)
    report = Report(source=source)
    report.warnings.extend(sections.warnings)
    catalog = Catalog.from_sections(sections)
    report.warnings.extend(catalog.warnings)
    net = build_network(sections, catalog, report, FREQUENCY_HZ, controlled=mode == "controlled")
    build_loads(sections, net, report)
    _classify(sections, report)
    net.rows["linecodes"] = resolve_linecodes(list(net.linecodes.values()), FREQUENCY_HZ)
    bases = sorted({round(kv, 6) for kv in net.node_kv_ll.values() if kv > 0}, reverse=True)
    circuit: dict[str, Any] = {
        "name": safe_name(feeder_id),
        "base_frequency_hz": FREQUENCY_HZ,
        "default_base_frequency_hz": FREQUENCY_HZ,
        "voltage_bases_kv": bases,
    }
    tables = {name: _frame(name, net.rows.get(name, [])) for name in TABLES if name != "buses"}
    tables = {k: v for k, v in tables.items() if len(v)}
    model = FeederModel(feeder_id=feeder_id, site=site, circuit=circuit, tables=tables)
    model.tables["buses"] = _frame("buses", _buses(model, net))
    for name, df in model.tables.items():
        report.counts[name] = len(df)
    if not report.counts.get("loads"):  # a load file lost (or cut at a line boundary) must not pass unseen
        report.warnings.append(
            ErrorDetail(source, "no loads were mapped: is the load file included?", "no_loads")
        )
    return model, report


def _classify(sections: Sections, report: Report) -> None:
    """Every record of a section we do not map is listed: device settings and unknown sections in
    ``unmapped`` (file:line [section]); unused catalog sections once each as a warning."""
    for name, records in sections.by_section.items():
        if name in MAPPED or name in METADATA or not records:
            continue
        first = records[0]
        if name == "LOAD EQUIVALENT":
            for rec in records:
                values = [rec.get(k) for k in rec.fields if k.startswith("Value")]
                if any(v and float(_safe_float(v)) != 0.0 for v in values):
                    report.unmapped.append(
                        ErrorDetail(rec.where, "load equivalent not mapped", code="unmapped")
                    )
            continue
        if "SectionID" in first.fields or "DeviceNumber" in first.fields or "NodeID" in first.fields:
            for rec in records:
                report.unmapped.append(
                    ErrorDetail(rec.where, f"[{name}] is not mapped to the feeder model", code="unmapped")
                )
        elif "ID" in first.fields:
            report.counts["cyme_unused_catalog_entries"] = report.counts.get(
                "cyme_unused_catalog_entries", 0
            ) + len(records)
        else:
            for rec in records:
                report.unmapped.append(
                    ErrorDetail(rec.where, f"unknown section [{name}]", code="unknown_section")
                )


def _safe_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    schema = TABLES[name].schema()
    cols = {f.name: [row.get(f.name) for row in rows] for f in schema}
    return pa.Table.from_pydict(cols, schema=schema).to_pandas()


def _buses(model: FeederModel, net: Network) -> list[dict[str, Any]]:
    """Compile the model in a throwaway circuit: bus kV bases and node lists as OpenDSS sets them."""
    with ScratchCircuit() as scratch:
        scratch.compile_text(
            write_dss(model, pin_kv_bases=False), what="CYME model", where="generated script"
        )
        buses = scratch.buses()
    coords: dict[str, tuple[float, float]] = {}
    for node, (x, y) in net.coords.items():
        if net.alias.get(node) == safe_name(node):
            coords[safe_name(node)] = (x, y)
    rows: list[dict[str, Any]] = []
    for bus in buses:
        key = bus.name.lower()
        xy = coords.get(key)
        rows.append(
            {
                "name": key,
                # the nominal level walked from the sources (calcvoltagebases guesses wrong on floating
                # delta secondaries); the engine's estimate only where the walk did not reach
                "base_kv": net.node_kv_ll[key] / math.sqrt(3.0) if net.node_kv_ll.get(key) else bus.kv_base,
                "nodes": bus.nodes,
                "x": xy[0] if xy else math.nan,
                "y": xy[1] if xy else math.nan,
                "has_coords": xy is not None,
            }
        )
    return rows
