"""CYME nodes, sections and devices -> feeder-model rows.

A CYME *section* joins two nodes and carries devices: at most one conductor (overhead balanced,
unbalanced or by phase, or a cable), switchgear, a transformer or regulator, shunt capacitors, loads.
A section with no series device is a zero-impedance joint: its to-node is folded into its from-node
(spot loads and capacitor nodes in the IEEE exports). A conductor with switchgear becomes one line with
``switches`` rows; switchgear alone becomes a switch line; a transformer plus a conductor gets an
intermediate node ``{section}_x``.

A conductor of length 0 (jumpers and switch stubs, common in utility exports) becomes a zero-impedance
connection: a switch line (``is_switch``, the near-ideal 1e-4 ohm the switches use, the conductor's
ampacity), with a ``zero_length`` warning naming file and line. OpenDSS solves such a line as it
solves its own ``switch=yes`` lines; an exact 0 ohm would make its admittance matrix singular, and
folding the two nodes into one would lose the device.

Shunt devices (capacitors, reactors, photovoltaics, generators) are mapped after the walk that gives
every bus its nominal voltage, so a device that gives no rated voltage takes its bus's.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from gridtwin.errors import ErrorDetail, InputError, Report
from gridtwin.ingest.cyme.der import GENERATOR_SETTINGS, generator_row, pv_row
from gridtwin.ingest.cyme.devices import (
    phase_letters,
    regulator_rows,
    three_winding_rows,
    transformer_rows,
    uses_yg_naming,
)
from gridtwin.ingest.cyme.equipment import (
    Catalog,
    LineCodeSpec,
    geometry_spec,
    safe_name,
    sequence_spec,
    unbalanced_spec,
)
from gridtwin.ingest.cyme.sections import SectionRecord, Sections
from gridtwin.ingest.cyme.shunts import bank_rows, cap_control, read_bank
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
SERIES_SETTINGS = (
    "TRANSFORMER SETTING",
    "TRANSFORMER BYPHASE SETTING",
    "THREE WINDING TRANSFORMER SETTING",
    "REGULATOR SETTING",
)
SHUNT_SETTINGS = (
    "SHUNT CAPACITOR SETTING",
    "SHUNT REACTOR SETTING",
    "PHOTOVOLTAIC SETTINGS",
    *GENERATOR_SETTINGS,
)
DEVICE_SECTIONS = (*LINE_SETTINGS, *SWITCH_SETTINGS, *SERIES_SETTINGS, *SHUNT_SETTINGS)
# Per-device records (by DeviceNumber) the devices above draw values from.
DEVICE_DATA_SECTIONS = ("AUTO TAP CHANGING EXTENSION", "DGGENERATIONMODEL", "CONVERTER", "CAPACITOR EXTLTD")
SWITCH_CODE = {1: "cyme_switch_1ph", 2: "cyme_switch_2ph", 3: "cyme_switch_3ph"}
MIN_LENGTH_M = 1e-3  # a conductor shorter than 1 mm is a jumper (zero length), not a line


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
    controlled: bool = True  # regulators regulate (else taps fixed at the export's)
    yg_naming: bool = False  # the export names grounded wyes "Yg" (a bare "Y" is ungrounded)
    # per-device records: section name -> DeviceNumber -> record
    by_device: dict[str, dict[str, SectionRecord]] = field(default_factory=dict)
    # shunt devices mapped once buses have voltages: (setting section, record, section id, bus, phases)
    shunts: list[tuple[str, SectionRecord, str, str, str]] = field(default_factory=list)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)


def _err(rec: SectionRecord, message: str, code: str = "invalid") -> InputError:
    return InputError("invalid CYME network", [ErrorDetail(rec.where, message, code=code)])


def _phases(rec: SectionRecord, text: str) -> str:
    letters = "".join(ch for ch in text.upper() if ch in "ABC")
    if not letters or len(set(letters)) != len(letters) or any(ch not in "ABCN" for ch in text.upper()):
        raise _err(rec, f"phase {text!r} is not a combination of A, B, C")
    return "".join(p for p in "ABC" if p in letters)


def build_network(
    sections: Sections, catalog: Catalog, report: Report, frequency_hz: float, *, controlled: bool = True
) -> Network:
    """The network's rows; ``controlled``: regulators regulate (RegControls enabled), else their taps
    stay at the export's."""
    net = Network(controlled=controlled)
    net.yg_naming = uses_yg_naming(
        [
            r.get("Conn")
            for k in ("TRANSFORMER SETTING", "TRANSFORMER BYPHASE SETTING")
            for r in sections.records(k)
        ]
        + [r.get("Conn") for r in catalog.entries.get("TRANSFORMER", {}).values()]
    )
    for name in DEVICE_DATA_SECTIONS:
        table = net.by_device.setdefault(name, {})
        for rec in sections.records(name):
            dev = rec.get("DeviceNumber")
            # a generation model per load model: the DEFAULT one (or the first) is the snapshot's
            if dev and (dev not in table or rec.get("LoadModelName").upper() == "DEFAULT"):
                table[dev] = rec
    _nodes(sections, net)
    secs = _sections(sections, net, report)
    _tertiary_nodes(sections, net, report)
    devices = _devices_by_section(sections, secs)
    _fold_joints(secs, devices, net)
    unique = net.unique
    edges: list[tuple[str, str, float]] = []
    for sid, rec in secs.items():
        _section(sid, rec, devices.get(sid, {}), catalog, net, report, unique, edges)
    sources = _sources(sections, catalog, net, report)
    _voltages(sources, edges, net, report)
    _shunt_devices(catalog, net, report)
    return net


def _tertiary_nodes(sections: Sections, net: Network, report: Report) -> None:
    """Three-winding transformers' tertiary nodes join the network (created when [NODE] lacks them)."""
    for rec in sections.records("THREE WINDING TRANSFORMER SETTING"):
        nid = rec.get("TertiaryNodeID")
        if not nid:
            raise _err(rec, "three-winding transformer without TertiaryNodeID", "missing_node")
        if nid not in net.alias:
            report.warnings.append(
                ErrorDetail(
                    f"{rec.where} TertiaryNodeID", f"node {nid!r} not in [NODE]; created without coordinates"
                )
            )
            net.alias[nid] = safe_name(nid)


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
        length = length_m(lrec, num(lrec, "Length"))
        if length < 0:
            raise _err(lrec, f"section {sid!r} has a negative length ({length})", "invalid_value")
        enabled = num(lrec, "ConnectionStatus", 0.0) == 0.0 if "ConnectionStatus" in lrec.fields else True
        line_name = unique("lines", safe_name(lrec.get("DeviceNumber") or sid))
        if length < MIN_LENGTH_M:
            # A jumper or switch stub: a zero-impedance connection (see the module docstring), rated as
            # its conductor; a distributed load on it is lumped at its end. A length of a few nm (1e-200
            # m) would make a singular admittance matrix that OpenDSS refuses without naming the section.
            said = "0" if length == 0 else f"{length:g} m (under {MIN_LENGTH_M * 1000:g} mm)"
            report.warnings.append(
                ErrorDetail(
                    f"{lrec.where} Length",
                    f"section {sid!r} has length {said}: modelled as a zero-impedance connection (switch line)",
                    "zero_length",
                )
            )
            jumper = net.linecodes[_switch_code(net, len(phases))]
            row = _line(line_name, f"{a}{nodes}", f"{b}{nodes}", jumper, 1.0, True, enabled)
            row["norm_amps_a"] = row["emerg_amps_a"] = spec.norm_amps_a
            net.add("lines", row)
        else:
            net.linecodes.setdefault(spec.name, spec)
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
    for kind in SHUNT_SETTINGS:
        for drec in devs.get(kind, []):
            net.shunts.append((kind, drec, sid, b, phases))


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
        timing = net.by_device.get("AUTO TAP CHANGING EXTENSION", {}).get(rec.get("DeviceNumber") or sid)
        xfmrs, controls, through, warns = regulator_rows(
            name, rec, eq, a, b, phases, controlled=net.controlled, timing=timing
        )
        for row in xfmrs:
            net.add("transformers", row)
        for row in controls:
            net.add("regcontrols", row)
        if through:  # phases without a unit pass straight through
            code = net.linecodes[_switch_code(net, len(through))]
            nodes = "".join(f".{NODE[p]}" for p in through)
            jumper = unique("lines", f"{name}_through")
            net.add("lines", _line(jumper, f"{a}{nodes}", f"{b}{nodes}", code, 1.0, True, True))
        report.warnings.extend(warns)
        edges.append((a, b, 1.0))
        return
    if kind == "THREE WINDING TRANSFORMER SETTING":
        eq = catalog.require("THREE WINDING TRANSFORMER", rec.get("EqID"), rec, "EqID")
        tertiary = net.alias[rec.get("TertiaryNodeID")]
        row, (ratio2, ratio3), warns = three_winding_rows(name, rec, eq, (a, b, tertiary), phases)
        net.add("transformers", row)
        report.warnings.extend(warns)
        edges.extend([(a, b, ratio2), (a, tertiary, ratio3)])
        return
    if kind == "TRANSFORMER BYPHASE SETTING":
        units = [p for p in phases if rec.get(f"PhaseTransformerID{NODE[p]}")]
        for p in units:
            ident = rec.get(f"PhaseTransformerID{NODE[p]}")
            eq = catalog.require("TRANSFORMER", ident, rec, f"PhaseTransformerID{NODE[p]}")
            rows, ratio, warns = transformer_rows(
                f"{name}_{p.lower()}", rec, eq, a, b, p, rec.get("Conn") or eq.get("Conn"),
                yg_naming=net.yg_naming, bank_phases=len(units),
            )  # fmt: skip
            report.warnings.extend(warns)
            for row in rows:
                net.add("transformers", row)
                if row["windings"] == 3:
                    net.centertap.add(b)
            edges.append((a, b, ratio))
        return
    eq = catalog.require("TRANSFORMER", rec.get("EqID"), rec, "EqID")
    rows, ratio, warns = transformer_rows(
        name, rec, eq, a, b, phases, rec.get("Conn") or eq.get("Conn"), yg_naming=net.yg_naming
    )
    report.warnings.extend(warns)
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


def _shunt_devices(catalog: Catalog, net: Network, report: Report) -> None:
    """Capacitors, reactors, photovoltaics and generators, once every bus has its nominal voltage."""
    for kind, rec, sid, bus, phases in net.shunts:
        kv_ll = net.node_kv_ll.get(bus, 0.0)
        dev = rec.get("DeviceNumber") or sid
        if kind in ("SHUNT CAPACITOR SETTING", "SHUNT REACTOR SETTING"):
            _bank(kind, rec, dev, bus, phases, kv_ll, catalog, net, report)
        elif kind == "PHOTOVOLTAIC SETTINGS":
            module = catalog.get("PHOTOVOLTAIC", rec.get("EquipmentID") or rec.get("EqID"))
            row, warns = pv_row(
                net.unique("pvsystems", safe_name(dev)), rec, module,
                net.by_device["CONVERTER"].get(dev), net.by_device["DGGENERATIONMODEL"].get(dev),
                bus, phases, _need_kv(rec, kv_ll, bus),
            )  # fmt: skip
            _der(net, "pvsystems", row, warns, report)
        else:
            eq = catalog.get(GENERATOR_SETTINGS[kind], rec.get("EqID") or rec.get("EquipmentID"))
            row, warns = generator_row(
                net.unique("generators", safe_name(dev)), rec, eq,
                net.by_device["DGGENERATIONMODEL"].get(dev), bus, phases, _need_kv(rec, kv_ll, bus),
            )  # fmt: skip
            _der(net, "generators", row, warns, report)


def _need_kv(rec: SectionRecord, kv_ll: float, bus: str) -> float:
    if kv_ll <= 0:
        raise _err(rec, f"bus {bus!r} has no nominal voltage (not connected to a source)", "island")
    return kv_ll


def _der(
    net: Network, table: str, row: dict[str, Any] | None, warns: list[ErrorDetail], report: Report
) -> None:
    for w in warns:
        (report.unmapped if w.code == "unmapped" else report.warnings).append(w)
    if row is not None:
        net.add(table, row)


def _bank(
    kind: str,
    rec: SectionRecord,
    dev: str,
    bus: str,
    phases: str,
    kv_ll: float,
    catalog: Catalog,
    net: Network,
    report: Report,
) -> None:
    """A capacitor bank (fixed and switched parts, the switched one's control) or a shunt reactor."""
    capacitor = kind == "SHUNT CAPACITOR SETTING"
    what = "capacitor" if capacitor else "reactor"
    eq = (
        catalog.get("SHUNT CAPACITOR", rec.get("ShuntCapacitorID") or rec.get("EqID"))
        if capacitor
        else catalog.get("SHUNT REACTOR", rec.get("ShuntReactorID") or rec.get("EqID"))
    )
    bank = read_bank(rec, eq, phases, what)
    report.warnings.extend(bank.warnings)
    if not bank.phases:
        report.unmapped.append(
            ErrorDetail(rec.where, f"{what} without any kvar value: not mapped", "unmapped")
        )
        return
    kv_ln = bank.kv_ln or _need_kv(rec, kv_ll, bus) / math.sqrt(3.0)
    base = safe_name(dev)
    if not capacitor:
        merged = {p: bank.fixed.get(p, 0.0) + bank.switched.get(p, 0.0) for p in bank.phases}
        for part in bank_rows(base, bus, bank, merged, kv_ln, phases, "ABC"):
            per_phase_kv = (
                part["kv"] if part["conn"] == "delta" or part["phases"] == 1 else part["kv"] / math.sqrt(3.0)
            )
            net.add(
                "reactors",
                {
                    "name": net.unique("reactors", part["name"]),
                    "bus1": part["bus1"],
                    "bus2": "",
                    "phases": part["phases"],
                    "r_ohm": 0.0,
                    "x_ohm": per_phase_kv**2 * 1000.0 / (part["kvar"] / part["phases"]),
                    "kv": part["kv"],
                    "kvar": part["kvar"],
                    "conn": part["conn"],
                    "dss_extra_json": "" if bank.enabled else '{"enabled": false}',
                },
            )
        return
    parts = [(base, bank.fixed, "ABC")]
    if bank.switched:
        parts.append((f"{base}_sw" if bank.fixed else base, bank.switched, bank.switched_closed))
    for name, values, closed in parts:
        for part in bank_rows(name, bus, bank, values, kv_ln, phases, closed):
            cap = net.unique("capacitors", part["name"])
            net.add(
                "capacitors",
                {
                    "name": cap,
                    "bus1": part["bus1"],
                    "bus2": "",
                    "phases": part["phases"],
                    "conn": part["conn"],
                    "kv": part["kv"],
                    "kvars_kvar": [part["kvar"]],
                    "states": [1 if part["closed"] else 0],
                    "enabled": bank.enabled,
                    "dss_extra_json": "",
                },
            )
            if values is bank.switched:
                _cap_control(rec, dev, cap, part["bus1"], kv_ln, net, report)


def _cap_control(
    rec: SectionRecord, dev: str, cap: str, cap_bus: str, kv_ln: float, net: Network, report: Report
) -> None:
    """The switched element's CapControl: voltage at the capacitor, kvar/current/pf through the line
    that feeds its bus."""
    cap_nodes = [int(n) for n in cap_bus.split(".")[1:] if n != "0"]
    controlling = phase_letters(rec.get("ControllingPhase") or rec.get("ControlledPhase") or "")
    phase = next((p for p in controlling if NODE[p] in cap_nodes), "ABC"[cap_nodes[0] - 1])
    spec, warns = cap_control(rec, kv_ln, phase, net.by_device["CAPACITOR EXTLTD"].get(dev))
    report.warnings.extend(warns)
    if spec is None:
        return
    bus = cap_bus.split(".")[0]
    element, nodes = f"capacitor.{cap}", cap_nodes
    if spec.type != "voltage":
        feeding = [r for r in net.rows.get("lines", []) if str(r["bus2"]).split(".")[0] == bus]
        feeding = feeding or [r for r in net.rows.get("lines", []) if str(r["bus1"]).split(".")[0] == bus]
        if not feeding:
            report.warnings.append(
                ErrorDetail(
                    f"{rec.where} Control",
                    f"{spec.type} control: no line feeds bus {bus!r} to monitor; the switched part stays in "
                    "its initial state",
                    "unmapped_control",
                )
            )
            return
        element = f"line.{feeding[0]['name']}"
        nodes = [int(n) for n in str(feeding[0]["bus1"]).split(".")[1:] if n != "0"] or [1, 2, 3]
    pt_phase = nodes.index(NODE[phase]) + 1 if NODE[phase] in nodes else 1
    net.add(
        "capcontrols",
        {
            "name": net.unique("capcontrols", cap),
            "capacitor": cap,
            "element": element,
            "terminal": 1,
            "type": spec.type,
            "on_setting": spec.on,
            "off_setting": spec.off,
            "pt_ratio": spec.pt_ratio,
            "ct_ratio": spec.ct_ratio,
            "delay_s": spec.delay_s,
            "delay_off_s": spec.delay_off_s,
            "vmin_v": spec.vmin_v,
            "vmax_v": spec.vmax_v,
            "volt_override": spec.volt_override,
            "pt_phase": pt_phase,
            "ct_phase": pt_phase,
            "dead_time_s": 300.0,
            "enabled": True,
            "dss_extra_json": "",
        },
    )
