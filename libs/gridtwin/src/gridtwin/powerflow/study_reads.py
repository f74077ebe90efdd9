"""Reading a compiled (and solved) OpenDSS circuit for studies: buses, customers, the series network,
regulators, the admittance matrix and element terminal rows, the settled control state.

3-wire delta sections (``delta_buses``): OpenDSS reports node-to-ground voltages everywhere, but a
section that no ground reference reaches (fed through delta windings, with no grounded-wye winding
or source on it, as IEEE 37 behind its delta-delta substation transformer) has node-to-ground
voltages that float: any grounded element placed there (a wye test PV) moves them by percents, while
the line-to-line voltages customers see barely change. Those buses are judged line to line and their
devices connect line to line (``BusTarget.delta``).

Functions of an ``opendssdirect`` context; they run on the OpenDSS thread (``DerStudyCircuit`` binds
them to an engine). Results are ``study_types`` values in study words.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gridtwin._dsslib import opendssdirect
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.powerflow.study_types import (
    BusTarget,
    CircuitInfo,
    ComplexArray,
    ControlState,
    Customers,
    FloatArray,
    NetworkMatrix,
    TerminalRows,
)

__all__ = [
    "bus_target",
    "bus_targets",
    "control_state",
    "customers",
    "delta_buses",
    "flows_kw",
    "network_matrix",
    "node_voltages",
    "read_circuit_info",
    "series_edges",
    "source_bus",
    "tap_positions",
    "terminal_rows",
]

# Elements whose "loading" is not a thermal limit.
_NOT_THERMAL = ("capacitor", "reactor", "fault", "vsource")
_SOURCE = "vsource.source"
_PHASE_NODES = frozenset({"1", "2", "3"})  # OpenDSS phase conductors; 0 is ground, 4.. neutrals
# OpenDSS LineUnits codes -> metres (0 "none": the length is taken as metres).
_UNIT_M = {0: 1.0, 1: 1609.344, 2: 304.8, 3: 1000.0, 4: 1.0, 5: 0.3048, 6: 0.0254, 7: 0.01, 8: 0.001}


def _complex(values: Any) -> ComplexArray:
    """A complex array from the engine's interleaved (re, im) floats (or complex numbers)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "c":
        return arr.astype(np.complex128, copy=False)
    return np.ascontiguousarray(arr, dtype=np.float64).view(np.complex128)


def _bus_name(bus: str) -> str:
    return bus.split(".", 1)[0].lower()


def source_bus(dss: Any) -> str:
    """The bus of the circuit's source (the substation's high side)."""
    dss.Circuit.SetActiveElement(_SOURCE)
    return _bus_name(str(dss.CktElement.BusNames()[0]))


def delta_buses(dss: Any) -> frozenset[str]:
    """Buses of 3-wire delta sections: sections (buses joined by lines, switches and other
    non-transformer series elements) that hold no ground reference: no source and no wye transformer
    winding whose neutral is grounded (node 0) or brought out (node 4 and above, e.g. grounded through
    a reactor). Delta windings, and single-phase windings connected line to line, ground nothing.
    Loads, capacitors and DER do not count as a ground reference (a 3-wire system's customers and
    banks are connected line to line or ungrounded)."""
    names = [str(b).lower() for b in dss.Circuit.AllBusNames()]
    index = {n: i for i, n in enumerate(names)}
    parent = list(range(len(names)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    grounded: set[int] = set()
    element = dss.CktElement
    pd_elements = dss.PDElements
    ok = pd_elements.First()
    while ok:
        name = str(element.Name()).lower()
        if element.Enabled() and not name.startswith("transformer."):
            ends = [index.get(_bus_name(str(b)), -1) for b in element.BusNames()]
            for other in ends[1:]:
                if ends[0] >= 0 and other >= 0:
                    parent[find(other)] = find(ends[0])
        ok = pd_elements.Next()
    transformers = dss.Transformers
    ok = transformers.First()
    while ok:
        if element.Enabled():
            n_phases, n_cond = int(element.NumPhases()), int(element.NumConductors())
            windings = [_bus_name(str(b)) for b in element.BusNames()]
            order = [int(n) for n in element.NodeOrder()]
            for w, winding_bus in enumerate(windings):
                transformers.Wdg(w + 1)
                neutral = order[w * n_cond + n_phases] if len(order) > w * n_cond + n_phases else 0
                if not transformers.IsDelta() and str(neutral) not in _PHASE_NODES and winding_bus in index:
                    grounded.add(index[winding_bus])
        ok = transformers.Next()
    ok = dss.Vsources.First()
    while ok:
        source = _bus_name(str(element.BusNames()[0]))
        if source in index:
            grounded.add(index[source])
        ok = dss.Vsources.Next()
    roots = {find(i) for i in grounded}
    return frozenset(n for i, n in enumerate(names) if find(i) not in roots)


def bus_target(dss: Any, bus: str, delta: Collection[str] | None = None) -> BusTarget:
    """The phases and base of ``bus`` (``name`` or ``name.n``); ``InputError`` if it does not exist, or
    names a single conductor of a 3-wire delta section (a device there connects line to line).
    ``delta``: the circuit's ``delta_buses`` when known (found otherwise)."""
    name, _, node_text = bus.strip().lower().partition(".")
    if dss.Circuit.SetActiveBus(name) < 0 or str(dss.Bus.Name()).lower() != name:
        raise InputError("unknown bus", [ErrorDetail(where=f"bus {bus}", message="not in the circuit")])
    nodes = tuple(int(n) for n in dss.Bus.Nodes() if 1 <= int(n) <= 3)
    if node_text:
        wanted = tuple(int(n) for n in node_text.split(".") if n)
        missing = [n for n in wanted if n not in nodes]
        if missing:
            raise InputError(
                "unknown bus node", [ErrorDetail(where=f"bus {bus}", message=f"no node {missing} on {name}")]
            )
        nodes = wanted
    if not nodes:
        raise InputError("bus has no phase nodes", [ErrorDetail(where=f"bus {bus}", message="no nodes 1..3")])
    on_delta = name in (delta_buses(dss) if delta is None else delta)
    if on_delta and len(nodes) < 2:
        raise InputError(
            "a single conductor of a 3-wire delta section",
            [
                ErrorDetail(
                    where=f"bus {bus}",
                    message="no ground reference here: a device connects line to line (give two or three nodes)",
                )
            ],
        )
    dss.Circuit.SetActiveBus(name)  # finding the delta buses moved the active bus
    x = float(dss.Bus.X()) if dss.Bus.Coorddefined() else float("nan")
    y = float(dss.Bus.Y()) if dss.Bus.Coorddefined() else float("nan")
    return BusTarget(
        bus=name, nodes=nodes, kv_base_ll=float(dss.Bus.kVBase()) * math.sqrt(3.0), x=x, y=y, delta=on_delta
    )


def bus_targets(
    dss: Any, exclude: Collection[str] = (), delta: Collection[str] | None = None
) -> list[BusTarget]:
    """Every bus with phase nodes and a voltage base, in circuit order, except ``exclude`` (and the
    single-conductor buses of 3-wire delta sections: nothing connects there)."""
    delta = delta_buses(dss) if delta is None else delta
    out: list[BusTarget] = []
    for name in [str(b).lower() for b in dss.Circuit.AllBusNames()]:
        if name in exclude:
            continue
        dss.Circuit.SetActiveBus(name)
        phase_nodes = sum(1 for n in dss.Bus.Nodes() if 1 <= int(n) <= 3)
        if float(dss.Bus.kVBase()) > 0 and phase_nodes >= (2 if name in delta else 1):
            out.append(bus_target(dss, name, delta))
    return out


def _property(dss: Any, element: str, prop: str) -> str:
    """One property of an element as OpenDSS prints it (lower case)."""
    dss.Text.Command(f"? {element}.{prop}")
    return str(dss.Text.Result()).strip().lower()


def _regulator_watch(dss: Any, name: str) -> tuple[str, str, float, float]:
    """What the RegControl ``name`` watches: (node, reference node or "" for ground, PT ratio, band).

    Without a regulated bus, the controlled winding's voltage of phase ``PTphase`` (MAX and MIN are
    taken as phase 1): node to neutral on a wye winding (to ground when the neutral is node 0), node to
    the next phase's node on a delta winding (a single-phase winding: its two conductors), as OpenDSS's
    RegControl samples it. With a regulated bus (``bus=``): that bus's first node given (default 1), to
    ground, or to its second node given when the winding is delta, on the remote PT ratio.
    Line drop compensation is ignored.
    """
    regs = dss.RegControls
    regs.Name(name)
    xf, winding = str(regs.Transformer()).lower(), int(regs.Winding())
    pt, band = float(regs.PTRatio()), float(regs.ForwardBand())
    monitored = str(regs.MonitoredBus()).strip().lower()
    ptphase = _property(dss, f"regcontrol.{name}", "ptphase")
    remote_pt = _property(dss, f"regcontrol.{name}", "remoteptratio") if monitored else ""
    dss.Transformers.Name(xf)  # the active circuit element too
    dss.Transformers.Wdg(winding)
    delta = bool(dss.Transformers.IsDelta())
    element = dss.CktElement
    if monitored:
        bus, _, node_text = monitored.partition(".")
        nodes = [n for n in node_text.split(".") if n] or ["1"]
        ref = f"{bus}.{nodes[1]}" if delta and len(nodes) > 1 and nodes[1] != "0" else ""
        with contextlib.suppress(ValueError):
            pt = float(remote_pt) or pt
        return f"{bus}.{nodes[0]}", ref, pt, band
    n_phases, n_cond = int(element.NumPhases()), int(element.NumConductors())
    phase = int(ptphase) if ptphase.isdigit() and 1 <= int(ptphase) <= n_phases else 1
    bus = _bus_name(str(element.BusNames()[winding - 1]))
    order = [int(n) for n in element.NodeOrder()]
    first = (winding - 1) * n_cond
    node = order[first + phase - 1] or 1  # the winding's conductor of that phase (node 1 if grounded)
    if delta:
        other = phase + 1
        if n_phases > 2 and other > n_phases:
            other = 1
    else:
        other = n_phases + 1  # the neutral conductor
    ref_node = order[first + other - 1] if other <= n_cond else 0
    ref = f"{bus}.{ref_node}" if ref_node and ref_node != node else ""
    return f"{bus}.{node}", ref, pt, band


def _line_pairs(
    node_names: Sequence[str], delta: Collection[str], bases: Mapping[str, float]
) -> tuple[list[str], list[tuple[int, int]], list[float]]:
    """The line-to-line voltages of the delta buses' phase nodes: (names, node index pairs, kV bases)."""
    by_bus: dict[str, list[tuple[int, int]]] = {}
    for i, full in enumerate(node_names):
        bus, _, node = full.rpartition(".")
        if bus in delta and node in _PHASE_NODES and bases.get(bus, 0.0) > 0:
            by_bus.setdefault(bus, []).append((int(node), i))
    names: list[str] = []
    pairs: list[tuple[int, int]] = []
    kv: list[float] = []
    for bus, found in by_bus.items():
        found.sort()
        if len(found) == 2:
            ring = [(found[0], found[1])]
        elif len(found) == 3:
            ring = [(found[0], found[1]), (found[1], found[2]), (found[2], found[0])]
        else:
            continue  # a single conductor: no line-to-line voltage
        for (na, ia), (nb, ib) in ring:
            names.append(f"{bus}.{na}-{nb}")
            pairs.append((ia, ib))
            kv.append(bases[bus] * math.sqrt(3.0))
    return names, pairs, kv


def read_circuit_info(dss: Any, delta: Collection[str] | None = None) -> CircuitInfo:
    """Bases, regulators and flow elements of the compiled circuit (loops once per circuit);
    ``delta``: its ``delta_buses`` when known (found otherwise)."""
    delta = delta_buses(dss) if delta is None else frozenset(delta)
    node_names = [str(n).lower() for n in dss.Circuit.AllNodeNames()]
    bases: dict[str, float] = {}
    for i in range(int(dss.Circuit.NumBuses())):
        dss.Circuit.SetActiveBusi(i)
        bases[str(dss.Bus.Name()).lower()] = float(dss.Bus.kVBase())
    # Neutral and ground conductors (node 0, numbers above 3: a wye neutral brought out to node 4,
    # grounded through a reactor, sits near 0 V) have no phase voltage to judge: base 0. Nor do the
    # phase nodes of 3-wire delta sections: their voltage to ground floats (judged line to line).
    node_base = np.array(
        [
            bases.get(bus, 0.0) if node in _PHASE_NODES and bus not in delta else 0.0
            for bus, _, node in (n.rpartition(".") for n in node_names)
        ],
        dtype=np.float64,
    )
    pair_names, pairs, pair_kv = _line_pairs(node_names, delta, bases)
    pd_names = [str(n).lower() for n in dss.PDElements.AllNames()]
    thermal_mask = np.array([n.partition(".")[0] not in _NOT_THERMAL for n in pd_names], dtype=bool)
    index = {n: i for i, n in enumerate(node_names)}

    reg_names: list[str] = []
    reg_nodes: list[int] = []
    reg_refs: list[int] = []
    reg_pt: list[float] = []
    reg_band: list[float] = []
    reg_xfs: list[str] = []
    controls: list[str] = []
    idx = dss.RegControls.First()
    while idx:
        controls.append(str(dss.RegControls.Name()).lower())
        reg_xfs.append(f"transformer.{str(dss.RegControls.Transformer()).lower()}")
        idx = dss.RegControls.Next()
    for name in controls:
        node, ref, pt, band = _regulator_watch(dss, name)
        if node in index and (not ref or ref in index) and pt > 0:
            reg_names.append(name)
            reg_nodes.append(index[node])
            reg_refs.append(index[ref] if ref else -1)
            reg_pt.append(pt)
            reg_band.append(band)

    source = source_bus(dss)
    flow: list[str] = []
    idx = dss.Transformers.First()
    while idx:
        name = f"transformer.{str(dss.Transformers.Name()).lower()}"
        buses = [_bus_name(str(b)) for b in dss.CktElement.BusNames()]
        if source in buses or name in reg_xfs:
            flow.append(name)
        idx = dss.Transformers.Next()
    conductors: list[int] = []
    for name in flow:
        dss.Circuit.SetActiveElement(name)
        conductors.append(int(dss.CktElement.NumConductors()))
    if not flow:  # no substation transformer: judge the source itself
        flow, conductors = [_SOURCE], [0]
    return CircuitInfo(
        node_names=node_names,
        node_base_kv_ln=node_base,
        pd_names=pd_names,
        thermal_mask=thermal_mask,
        reg_names=reg_names,
        reg_node_index=np.array(reg_nodes, dtype=np.int64),
        reg_pt_ratio=np.array(reg_pt, dtype=np.float64),
        reg_band_v=np.array(reg_band, dtype=np.float64),
        flow_elements=flow,
        flow_conductors=conductors,
        flow_at_source=tuple(name == _SOURCE for name in flow),
        source_bus=source,
        delta_buses=delta,
        pair_names=pair_names,
        pair_nodes=np.array(pairs, dtype=np.int64).reshape(-1, 2),
        pair_base_kv_ll=np.array(pair_kv, dtype=np.float64),
        reg_ref_index=np.array(reg_refs, dtype=np.int64),
    )


def flows_kw(dss: Any, info: CircuitInfo) -> FloatArray:
    """kW into terminal 1 of each flow element (for the source: the power it delivers)."""
    out = np.zeros(len(info.flow_elements), dtype=np.float64)
    for i, (name, n_cond) in enumerate(zip(info.flow_elements, info.flow_conductors, strict=True)):
        if name == _SOURCE:
            out[i] = -float(np.asarray(dss.Circuit.TotalPower(), dtype=np.float64).ravel()[0])
            continue
        dss.Circuit.SetActiveElement(name)
        powers = np.asarray(dss.CktElement.Powers(), dtype=np.float64).ravel()
        out[i] = float(powers[0 : 2 * n_cond : 2].sum())
    return out


def node_voltages(dss: Any) -> ComplexArray:
    """Every node's voltage (volts, complex), in ``Circuit.AllNodeNames`` order."""
    return _complex(dss.Circuit.AllBusVolts())


def tap_positions(dss: Any) -> dict[str, int]:
    """Each regulator's tap position (steps from neutral)."""
    taps: dict[str, int] = {}
    idx = dss.RegControls.First()
    while idx:
        taps[str(dss.RegControls.Name())] = int(dss.RegControls.TapNumber())
        idx = dss.RegControls.Next()
    return taps


def control_state(dss: Any) -> ControlState:
    """Regulated windings' taps and capacitor steps, as solved (enabled regulators only: read it
    before locking them)."""
    regs = []
    ok = dss.RegControls.First()
    while ok:
        regs.append((str(dss.RegControls.Transformer()), int(dss.RegControls.TapWinding())))
        ok = dss.RegControls.Next()
    taps = []
    for xf, winding in regs:
        dss.Transformers.Name(xf)
        dss.Transformers.Wdg(winding)
        taps.append((xf, winding, float(dss.Transformers.Tap())))
    caps = []
    ok = dss.Capacitors.First()
    while ok:
        caps.append(tuple(int(x) for x in dss.Capacitors.States()))
        ok = dss.Capacitors.Next()
    return ControlState(tuple(taps), tuple(caps))


def network_matrix(dss: Any) -> NetworkMatrix:
    """The solved circuit's system admittance matrix, its node order and node voltages."""
    data, indices, indptr = dss.YMatrix.getYsparse()
    n = len(indptr) - 1
    y = sp.csc_matrix((_complex(data), np.asarray(indices), np.asarray(indptr)), shape=(n, n))
    names = [str(x).lower() for x in dss.Circuit.YNodeOrder()]
    return NetworkMatrix(y=y, node_names=names, voltages=_complex(dss.Circuit.YNodeVArray()))


def _element_rows(
    dss: Any, node_index: Mapping[str, int]
) -> tuple[list[int], list[int], list[complex], int, list[int]]:
    """COO triples of the active element's terminal-1 rows of its admittance matrix, their count and
    the node of each row."""
    n_cond = int(dss.CktElement.NumConductors())
    yp = _complex(dss.CktElement.YPrim())
    size = math.isqrt(len(yp))
    yp = yp.reshape(size, size)
    buses = [_bus_name(str(b)) for b in dss.CktElement.BusNames()]
    order = [int(n) for n in dss.CktElement.NodeOrder()]
    cols = np.array(
        [
            node_index.get(f"{buses[k // n_cond]}.{node}", -1) if node else -1
            for k, node in enumerate(order[:size])
        ],
        dtype=np.int64,
    )
    keep = np.flatnonzero(cols >= 0)
    rows_out: list[int] = []
    cols_out: list[int] = []
    vals: list[complex] = []
    for r in range(n_cond):
        rows_out.extend([r] * len(keep))
        cols_out.extend(cols[keep].tolist())
        vals.extend(yp[r, keep].tolist())
    return rows_out, cols_out, vals, n_cond, cols[:n_cond].tolist()


def terminal_rows(dss: Any, elements: Sequence[str], node_index: Mapping[str, int]) -> TerminalRows:
    """Terminal-1 rows of ``elements`` (``TerminalRows``), columns from ``node_index`` (node -> position)."""
    kept: list[int] = []
    first: list[int] = []
    counts: list[int] = []
    rows: list[int] = []
    cols: list[int] = []
    vals: list[complex] = []
    row_node: list[int] = []
    current: list[complex] = []
    amps: list[float] = []
    for k, name in enumerate(elements):
        if dss.Circuit.SetActiveElement(name) < 0 or not dss.CktElement.Enabled():
            continue  # unknown (the previous element would stay active) or out of service
        try:
            r, c, v, n_cond, nodes = _element_rows(dss, node_index)
        except opendssdirect.DSSException:
            continue  # an element the solution left out (isolated): it carries no current
        start = len(row_node)
        rows.extend(x + start for x in r)
        cols.extend(c)
        vals.extend(v)
        row_node.extend(nodes)
        current.extend(_complex(dss.CktElement.Currents())[:n_cond].tolist())
        kept.append(k)
        first.append(start)
        counts.append(n_cond)
        amps.append(float(dss.CktElement.NormalAmps()))  # 0 for elements without a rating
    return TerminalRows(
        element=kept,
        first_row=first,
        conductors=counts,
        rows=rows,
        cols=cols,
        values=vals,
        row_node=np.array(row_node, dtype=np.int64),
        current=np.array(current, dtype=np.complex128),
        normal_amps=np.array(amps, dtype=np.float64),
    )


def customers(dss: Any) -> Customers:
    """The enabled loads, in circuit order."""
    names, buses, conns = [], [], []
    phases, kv, codes, kw = [], [], [], []
    loads = dss.Loads
    ok = loads.First()
    while ok:
        if dss.CktElement.Enabled():
            buses.append(str(dss.CktElement.BusNames()[0]).lower())
            names.append(str(loads.Name()).lower())
            phases.append(int(loads.Phases()))
            kv.append(float(loads.kV()))
            conns.append("delta" if loads.IsDelta() else "wye")
            codes.append(int(loads.Class()))
            kw.append(float(loads.kW()))
        ok = loads.Next()
    return Customers(
        names=tuple(names),
        buses=tuple(buses),
        phases=np.asarray(phases, dtype=np.int64),
        kv=np.asarray(kv, dtype=np.float64),
        conns=tuple(conns),
        class_codes=np.asarray(codes, dtype=np.int64),
        kw=np.asarray(kw, dtype=np.float64),
    )


def series_edges(dss: Any) -> pd.DataFrame:
    """Every enabled series element as bus pairs ``bus1``, ``bus2``, ``length_m`` (lines with their
    length in metres, transformers and switches-without-length 0 m)."""
    out: list[tuple[str, str, float]] = []
    pd_elements = dss.PDElements
    element = dss.CktElement
    lines = dss.Lines
    ok = pd_elements.First()
    while ok:
        if element.Enabled() and not pd_elements.IsShunt():
            name = str(element.Name()).lower()
            buses = [_bus_name(str(b)) for b in element.BusNames()]
            length = 0.0
            if name.startswith("line."):
                lines.Name(name.split(".", 1)[1])
                length = float(lines.Length()) * _UNIT_M.get(int(lines.Units()), 1.0)
                # Lines.Name changed the active element; the PDElements cursor is unaffected.
            out.extend((buses[0], other, length) for other in buses[1:])
        ok = pd_elements.Next()
    return pd.DataFrame(out, columns=["bus1", "bus2", "length_m"])
