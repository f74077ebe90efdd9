"""CYME nodes, sections and devices -> feeder-model rows.

A CYME *section* joins two nodes and carries devices: at most one conductor (overhead balanced,
unbalanced or by phase, or a cable), switchgear, a transformer or regulator, shunt capacitors, loads.
A section with no series device is a zero-impedance joint: its to-node is folded into its from-node
(spot loads and capacitor nodes in the IEEE exports). A conductor with switchgear becomes one line with
``switches`` rows; switchgear alone becomes a switch line; a transformer plus a conductor gets an
intermediate node ``{section}_x``.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from gridtwin.errors import ErrorDetail, InputError, Report
from gridtwin.ingest.cyme.devices import capacitor_row, regulator_rows, transformer_rows
from gridtwin.ingest.cyme.equipment import (
    Catalog,
    LineCodeSpec,
    geometry_spec,
    safe_name,
    sequence_spec,
    unbalanced_spec,
)
from gridtwin.ingest.cyme.sections import SectionRecord, Sections
from gridtwin.ingest.cyme.units import length_m, num, opt_num

__all__ = ["DEVICE_SECTIONS", "Network", "build_network"]

NODE = {"A": 1, "B": 2, "C": 3}
LINE_SETTINGS = (
    "OVERHEADLINE SETTING",
    "OVERHEADLINEUNBALANCED SETTING",
    "OVERHEAD BYPHASE SETTING",
    "UNDERGROUNDLINE SETTING",
)
SWITCH_SETTINGS = {
    "SWITCH SETTING": ("SWITCH", "switch"),
    "BREAKER SETTING": ("BREAKER", "breaker"),
    "FUSE SETTING": ("FUSE", "fuse"),
    "RECLOSER SETTING": ("RECLOSER", "recloser"),
    "SECTIONALIZER SETTING": ("SECTIONALIZER", "sectionalizer"),
    "NETWORKPROTECTOR SETTING": ("NETWORKPROTECTOR", "breaker"),
    "LVCB SETTING": ("LVCB", "breaker"),
    "MISCELLANEOUS SETTING": ("MISCELLANEOUS", "switch"),
}
SERIES_SETTINGS = ("TRANSFORMER SETTING", "TRANSFORMER BYPHASE SETTING", "REGULATOR SETTING")
SHUNT_SETTINGS = ("SHUNT CAPACITOR SETTING",)
DEVICE_SECTIONS = (*LINE_SETTINGS, *SWITCH_SETTINGS, *SERIES_SETTINGS, *SHUNT_SETTINGS)
SWITCH_CODE = {1: "cyme_switch_1ph", 2: "cyme_switch_2ph", 3: "cyme_switch_3ph"}


class _Unique:
    def __init__(self) -> None:
        self.taken: dict[str, set[str]] = {}

    def __call__(self, table: str, hint: str) -> str:
        used = self.taken.setdefault(table, set())
        name, i = hint, 2
        while name in used:
            name, i = f"{hint}_{i}", i + 1
        used.add(name)
        return name


@dataclass
class Network:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    linecodes: dict[str, LineCodeSpec] = field(default_factory=dict)
    node_kv_ll: dict[str, float] = field(default_factory=dict)
    coords: dict[str, tuple[float, float]] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)  # CYME node id -> bus name
    section_bus: dict[str, tuple[str, str]] = field(default_factory=dict)  # section -> (load bus, phases)
    section_line: dict[str, str] = field(default_factory=dict)  # section -> its conductor's line name
    centertap: set[str] = field(default_factory=set)  # split-phase secondaries (legs .1, .2)
    unique: _Unique = field(default_factory=lambda: _Unique())

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)


def _err(rec: SectionRecord, message: str, code: str = "invalid") -> InputError:
    return InputError("invalid CYME network", [ErrorDetail(rec.where, message, code=code)])


def _phases(rec: SectionRecord, text: str) -> str:
    letters = "".join(ch for ch in text.upper() if ch in "ABC")
    if not letters or len(set(letters)) != len(letters) or any(ch not in "ABCN" for ch in text.upper()):
        raise _err(rec, f"phase {text!r} is not a combination of A, B, C")
    return "".join(p for p in "ABC" if p in letters)


def build_network(sections: Sections, catalog: Catalog, report: Report, frequency_hz: float) -> Network:
    net = Network()
    _nodes(sections, net)
    secs = _sections(sections, net, report)
    devices = _devices_by_section(sections, secs)
    _fold_joints(secs, devices, net)
    unique = net.unique
    edges: list[tuple[str, str, float]] = []
    for sid, rec in secs.items():
        _section(sid, rec, devices.get(sid, {}), catalog, net, report, unique, edges)
    sources = _sources(sections, catalog, net, report)
    _voltages(sources, edges, net, report)
    return net


def _nodes(sections: Sections, net: Network) -> None:
    seen: dict[str, SectionRecord] = {}
    for rec in sections.records("NODE"):
        nid = rec.get("NodeID")
        if not nid:
            raise _err(rec, "node without NodeID", "missing_id")
        if nid in seen:
            raise _err(rec, f"duplicated node {nid!r} (first at line {seen[nid].line})", "duplicate_id")
        seen[nid] = rec
        x, y = opt_num(rec, "CoordX"), opt_num(rec, "CoordY")
        if x is None or y is None:
            x1, y1, x2, y2 = (opt_num(rec, k) for k in ("CoordX1", "CoordY1", "CoordX2", "CoordY2"))
            if None not in (x1, y1, x2, y2):
                x, y = (x1 + x2) / 2, (y1 + y2) / 2  # type: ignore[operator]  # bus bar: its middle
        if x is not None and y is not None:
            net.coords[nid] = (x, y)
        net.alias[nid] = safe_name(nid)


def _sections(sections: Sections, net: Network, report: Report) -> dict[str, SectionRecord]:
    out: dict[str, SectionRecord] = {}
    for rec in sections.records("SECTION"):
        sid = rec.get("SectionID")
        if "SectionID" not in rec.fields or "FromNodeID" not in rec.fields or "ToNodeID" not in rec.fields:
            raise _err(rec, "FORMAT_SECTION lacks SectionID, FromNodeID or ToNodeID", "missing_column")
        if not sid:
            raise _err(rec, "section without SectionID", "missing_id")
        if sid in out:
            raise _err(rec, f"duplicated section {sid!r} (first at line {out[sid].line})", "duplicate_id")
        for key in ("FromNodeID", "ToNodeID"):
            nid = rec.get(key)
            if not nid:
                raise _err(rec, f"section {sid!r} has no {key}", "missing_node")
            if nid not in net.alias:
                report.warnings.append(
                    ErrorDetail(
                        f"{rec.where} {key}", f"node {nid!r} not in [NODE]; created without coordinates"
                    )
                )
                net.alias[nid] = safe_name(nid)
        if rec.get("FromNodeID") == rec.get("ToNodeID"):
            raise _err(rec, f"section {sid!r} starts and ends at the same node", "invalid")
        _phases(rec, rec.get("Phase") or "ABC")
        out[sid] = rec
    report.counts["cyme_feeders"] = len(sections.records("SECTION", "FEEDER"))
    return out


def _devices_by_section(
    sections: Sections, secs: dict[str, SectionRecord]
) -> dict[str, dict[str, list[SectionRecord]]]:
    out: dict[str, dict[str, list[SectionRecord]]] = {}
    seen: dict[tuple[str, str], SectionRecord] = {}
    for name in DEVICE_SECTIONS:
        for rec in sections.records(name):
            sid = rec.get("SectionID")
            if "SectionID" not in rec.fields:
                raise _err(rec, "FORMAT line lacks SectionID", "missing_column")
            if sid not in secs:
                raise _err(rec, f"device on section {sid!r}, which is not in [SECTION]", "missing_section")
            dev = rec.get("DeviceNumber") or sid
            if (name, dev) in seen:
                raise _err(
                    rec, f"duplicated device {dev!r} (first at line {seen[(name, dev)].line})", "duplicate_id"
                )
            seen[(name, dev)] = rec
            out.setdefault(sid, {}).setdefault(name, []).append(rec)
    return out


def _is_series(devs: dict[str, list[SectionRecord]]) -> bool:
    return any(k in devs for k in (*LINE_SETTINGS, *SWITCH_SETTINGS, *SERIES_SETTINGS))


def _fold_joints(
    secs: dict[str, SectionRecord], devices: dict[str, dict[str, list[SectionRecord]]], net: Network
) -> None:
    parent = {n: n for n in net.alias}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for sid, rec in secs.items():
        if not _is_series(devices.get(sid, {})):
            a, b = root(rec.get("FromNodeID")), root(rec.get("ToNodeID"))
            if a != b:
                parent[b] = a
    for n in list(net.alias):
        net.alias[n] = safe_name(root(n))


def _switch_code(net: Network, n: int) -> str:
    name = SWITCH_CODE[n]
    if name not in net.linecodes:
        # Switches as near-ideal conductors (1e-4 ohm/m, as the IEEE 13 OpenDSS model writes them).
        net.linecodes[name] = LineCodeSpec(name, "sequence", "ABC"[:n], 0.0, (1e-4, 0.0, 1e-4, 0.0, 0.0, 0.0))
    return name


def _positions(rec: SectionRecord, phases: str) -> str:
    """Phases in spacing-position order. CYME's ConductorPosition numbers the orderings of the section's
    phases: 0-2 one phase (A, B, C), 3-8 two (AB AC BA BC CA CB), 9-14 three (ABC ACB BAC BCA CAB CBA)."""
    code = int(num(rec, "ConductorPosition", -1.0)) if "ConductorPosition" in rec.fields else -1
    orders = ["".join(p) for n in (1, 2, 3) for p in itertools.permutations("ABC", n)]
    if 0 <= code < len(orders) and sorted(orders[code]) == sorted(phases):
        return orders[code]
    return phases


def _line_spec(rec: SectionRecord, name: str, phases: str, catalog: Catalog) -> LineCodeSpec:
    if name == "OVERHEAD BYPHASE SETTING":
        conds = [(p, rec.get(f"CondID_{p}")) for p in _positions(rec, phases)]
        missing = [p for p, c in conds if not c or c.upper() == "NONE"]
        if missing:
            raise _err(
                rec, f"no conductor for phase(s) {''.join(missing)} of the section", "missing_equipment"
            )
        neutrals = [rec.get(k) for k in ("CondID_N", "CondID_N1", "CondID_N2") if rec.get(k)]
        neutrals = [c for c in neutrals if c.upper() != "NONE"]
        return geometry_spec(catalog, rec, conds, neutrals, rec.get("SpacingID"))
    ident = rec.get("LineCableID") or rec.get("CableID") or rec.get("LineID")
    found = catalog.find_line(ident)
    if found is None:
        raise InputError(
            "CYME device references missing equipment",
            [
                ErrorDetail(
                    f"{rec.where} LineCableID",
                    f"no line or cable with ID {ident!r}",
                    code="missing_equipment",
                )
            ],
        )
    section, eq = found
    code = safe_name(ident) + ("" if phases == "ABC" else "_" + phases.lower())
    if section == "LINE UNBALANCED":
        return unbalanced_spec(code, eq, phases)
    return sequence_spec(code, eq, phases)


def _section(
    sid: str,
    rec: SectionRecord,
    devs: dict[str, list[SectionRecord]],
    catalog: Catalog,
    net: Network,
    report: Report,
    unique: _Unique,
    edges: list[tuple[str, str, float]],
) -> None:
    phases = _phases(rec, rec.get("Phase") or "ABC")
    a, b = net.alias[rec.get("FromNodeID")], net.alias[rec.get("ToNodeID")]
    nodes = "".join(f".{NODE[p]}" for p in phases)
    lines = [r for k in LINE_SETTINGS for r in devs.get(k, [])]
    series = [(k, r) for k in SERIES_SETTINGS for r in devs.get(k, [])]
    switches = [(k, r) for k in SWITCH_SETTINGS for r in devs.get(k, [])]
    if len(lines) > 1 or len(series) > 1:
        extra = (lines[1:] or [r for _, r in series[1:]])[0]
        raise _err(extra, f"section {sid!r} carries more than one conductor or transformer", "duplicate_id")
    net.section_bus[sid] = (b, phases)
    if series:
        kind, srec = series[0]
        mid = f"{safe_name(sid)}_x" if (lines or switches) else b  # transformer first, conductor after
        _series(sid, kind, srec, a, mid, phases, catalog, net, report, unique, edges)
        a = mid
    line_name = ""
    if lines:
        lrec = lines[0]
        spec = _line_spec(lrec, next(k for k in LINE_SETTINGS if lrec in devs.get(k, [])), phases, catalog)
        net.linecodes.setdefault(spec.name, spec)
        length = length_m(lrec, num(lrec, "Length"))
        if length <= 0:
            raise _err(lrec, f"section {sid!r} has length {length} <= 0", "invalid_value")
        enabled = num(lrec, "ConnectionStatus", 0.0) == 0.0 if "ConnectionStatus" in lrec.fields else True
        line_name = unique("lines", safe_name(lrec.get("DeviceNumber") or sid))
        net.add("lines", _line(line_name, f"{a}{nodes}", f"{b}{nodes}", spec, length, False, enabled))
        net.section_line[sid] = line_name
        edges.append((a, b, 1.0))
    elif switches:
        code = _switch_code(net, len(phases))
        spec = net.linecodes[code]
        line_name = unique("lines", safe_name(switches[0][1].get("DeviceNumber") or sid))
        net.add("lines", _line(line_name, f"{a}{nodes}", f"{b}{nodes}", spec, 1.0, True, True))
        edges.append((a, b, 1.0))
    for kind, srec in switches:
        _switch(kind, srec, line_name, phases, catalog, net, unique)
    for crec in devs.get("SHUNT CAPACITOR SETTING", []):
        cap_phases = _phases(crec, crec.get("Phase") or phases)
        eq = catalog.get("SHUNT CAPACITOR", crec.get("ShuntCapacitorID"))
        name = unique("capacitors", safe_name(crec.get("DeviceNumber") or sid))
        net.add("capacitors", capacitor_row(name, crec, eq, b, cap_phases))


def _line(
    name: str, bus1: str, bus2: str, spec: LineCodeSpec, length: float, switch: bool, enabled: bool
) -> dict[str, Any]:
    return {
        "name": name,
        "bus1": bus1,
        "bus2": bus2,
        "phases": len(spec.phases),
        "linecode": spec.name,
        "length_m": length,
        "norm_amps_a": spec.norm_amps_a,
        "emerg_amps_a": spec.norm_amps_a,
        "is_switch": switch,
        "enabled": enabled,
        "open_conductors": [],
        "dss_extra_json": "",
    }


def _switch(
    kind: str, rec: SectionRecord, line: str, phases: str, catalog: Catalog, net: Network, unique: _Unique
) -> None:
    cat_name, dss_kind = SWITCH_SETTINGS[kind]
    eq = catalog.get(cat_name, rec.get("EqID")) or catalog.get(cat_name, "DEFAULT")
    amps = num(eq, "Amps", 0.0) if eq is not None else 0.0
    closed_text = rec.get("ClosedPhase", "ABC").upper()
    closed = (
        ""
        if closed_text in ("NONE", "0")
        else "".join(p for p in phases if p in closed_text or not closed_text)
    )
    normal_open = closed == ""
    extra = ""
    if dss_kind == "fuse":
        extra = f'{{"ratedcurrent": {amps if amps > 0 else 100.0!r}}}'
    elif dss_kind == "recloser":
        trip = num(rec, "PhPickup", 0.0) if "PhPickup" in rec.fields else 0.0
        trip = trip if trip > 0 else max(amps, 1.0) * 2
        extra = f'{{"phasetrip": {trip!r}, "groundtrip": {trip!r}}}'
    net.add(
        "switches",
        {
            "name": unique("switches", safe_name(rec.get("DeviceNumber") or rec.get("SectionID"))),
            "line": line,
            "kind": dss_kind,
            "normal_open": normal_open,
            "rated_a": amps,
            "dss_extra_json": extra,
        },
    )
    lines = net.rows["lines"]
    row = next(r for r in lines if r["name"] == line)
    row["open_conductors"] = sorted(
        set(row["open_conductors"]) | {f"1.{i + 1}" for i, p in enumerate(phases) if p not in closed}
    )


def _series(
    sid: str,
    kind: str,
    rec: SectionRecord,
    a: str,
    b: str,
    phases: str,
    catalog: Catalog,
    net: Network,
    report: Report,
    unique: _Unique,
    edges: list[tuple[str, str, float]],
) -> None:
    name = unique("transformers", safe_name(rec.get("DeviceNumber") or sid))
    if kind == "REGULATOR SETTING":
        eq = catalog.require("REGULATOR", rec.get("EqID"), rec, "EqID")
        xfmrs, controls, warns = regulator_rows(name, rec, eq, a, b, phases)
        for row in xfmrs:
            net.add("transformers", row)
        for row in controls:
            net.add("regcontrols", row)
        report.warnings.extend(warns)
        edges.append((a, b, 1.0))
        return
    if kind == "TRANSFORMER BYPHASE SETTING":
        for p in phases:
            ident = rec.get(f"PhaseTransformerID{NODE[p]}")
            if not ident:
                continue
            eq = catalog.require("TRANSFORMER", ident, rec, f"PhaseTransformerID{NODE[p]}")
            rows, ratio = transformer_rows(
                f"{name}_{p.lower()}", rec, eq, a, b, p, rec.get("Conn") or eq.get("Conn")
            )
            for row in rows:
                net.add("transformers", row)
                if row["windings"] == 3:
                    net.centertap.add(b)
            edges.append((a, b, ratio))
        return
    eq = catalog.require("TRANSFORMER", rec.get("EqID"), rec, "EqID")
    rows, ratio = transformer_rows(name, rec, eq, a, b, phases, rec.get("Conn") or eq.get("Conn"))
    for row in rows:
        net.add("transformers", row)
        if row["windings"] == 3:
            net.centertap.add(b)
    edges.append((a, b, ratio))


def _sources(sections: Sections, catalog: Catalog, net: Network, report: Report) -> list[tuple[str, float]]:
    """Source rows (the first named ``source``, as the writer needs) and (bus, kV LL) per source."""
    equivalents = {r.get("NodeID"): r for r in sections.records("SOURCE EQUIVALENT")}
    recs: list[tuple[str, SectionRecord, bool]] = [(n, r, True) for n, r in equivalents.items()]
    for r in sections.records("SOURCE"):
        node = r.get("NodeID")
        if node not in equivalents:
            eq = catalog.get("SUBSTATION", r.get("EqID") or r.get("SourceID"))
            if eq is None:
                raise _err(
                    r,
                    f"source at {node!r} has no [SOURCE EQUIVALENT] nor [SUBSTATION] entry",
                    "missing_equipment",
                )
            recs.append((node, eq, False))
    if not recs:
        raise InputError(
            "CYME network has no source", [ErrorDetail("[SOURCE EQUIVALENT]", "no source found")]
        )
    out: list[tuple[str, float]] = []
    for i, (node, r, is_equiv) in enumerate(recs):
        if node not in net.alias:
            raise _err(r, f"source at node {node!r}, which is not in the network", "missing_node")
        bus = net.alias[node]
        kv = num(r, "Voltage") if is_equiv else num(r, "KVLLdesired", num(r, "KVLL"))
        if kv <= 0:
            raise _err(r, "source voltage must be > 0", "invalid_value")
        op = opt_num(r, "OperatingVoltage1") if is_equiv else None
        v_pu = op * math.sqrt(3.0) / kv if op else 1.0
        z = [
            num(r, k, 0.0)
            for k in (
                (
                    "PositiveSequenceResistance",
                    "PositiveSequenceReactance",
                    "ZeroSequenceResistance",
                    "ZeroSequenceReactance",
                )
                if is_equiv
                else ("R1", "X1", "R0", "X0")
            )
        ]
        if num(r, "ImpedanceUnit", 0.0) == 1.0:
            base_mva = num(r, "BaseMVA", 100.0)
            z = [v * kv * kv / base_mva for v in z]
        if not any(z):
            report.warnings.append(
                ErrorDetail(r.where, "source impedance is zero; a stiff 1e-6 ohm source is used")
            )
            z = [0.0, 1e-6, 0.0, 1e-6]
        net.add(
            "sources",
            {
                "name": "source" if i == 0 else f"source_{bus}",
                "bus1": bus,
                "phases": 3,
                "base_kv": kv,
                "v_pu": v_pu,
                "angle_deg": num(r, "OperatingAngle1", 0.0) if is_equiv else 0.0,
                "frequency_hz": 60.0,
                "r1_ohm": z[0],
                "x1_ohm": z[1],
                "r0_ohm": z[2],
                "x0_ohm": z[3],
                "bus2": "",
                "dss_extra_json": "",
            },
        )
        out.append((bus, kv))
    return out


def _voltages(
    sources: list[tuple[str, float]], edges: list[tuple[str, str, float]], net: Network, report: Report
) -> None:
    """Nominal line-to-line kV of every bus, walking out from the sources through the ratios."""
    adj: dict[str, list[tuple[str, float]]] = {}
    for a, b, ratio in edges:
        adj.setdefault(a, []).append((b, ratio))
        adj.setdefault(b, []).append((a, 1.0 / ratio))
    queue = deque(sources)
    for bus, kv in sources:
        net.node_kv_ll[bus] = kv
    while queue:
        bus, kv = queue.popleft()
        for nxt, ratio in adj.get(bus, []):
            if nxt not in net.node_kv_ll:
                net.node_kv_ll[nxt] = kv * ratio
                queue.append((nxt, kv * ratio))
    lost = sorted(({a for a, _, _ in edges} | {b for _, b, _ in edges}) - set(net.node_kv_ll))
    for bus in lost[:50]:
        report.warnings.append(ErrorDetail(f"bus {bus}", "not connected to any source", code="island"))
