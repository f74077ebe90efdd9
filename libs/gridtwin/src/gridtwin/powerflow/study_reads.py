"""Reading a compiled (and solved) OpenDSS circuit for studies: buses, customers, the series network,
regulators, the admittance matrix and element terminal rows, the settled control state.

Functions of an ``opendssdirect`` context; they run on the OpenDSS thread (``DerStudyCircuit`` binds
them to an engine). Results are ``study_types`` values in study words.
"""

from __future__ import annotations

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
    "flows_kw",
    "network_matrix",
    "read_circuit_info",
    "series_edges",
    "source_bus",
    "tap_positions",
    "terminal_rows",
]

# Elements whose "loading" is not a thermal limit.
_NOT_THERMAL = ("capacitor", "reactor", "fault", "vsource")
_SOURCE = "vsource.source"
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


def bus_target(dss: Any, bus: str) -> BusTarget:
    """The phases and base of ``bus`` (``name`` or ``name.n``); ``InputError`` if it does not exist."""
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
    x = float(dss.Bus.X()) if dss.Bus.Coorddefined() else float("nan")
    y = float(dss.Bus.Y()) if dss.Bus.Coorddefined() else float("nan")
    return BusTarget(bus=name, nodes=nodes, kv_base_ll=float(dss.Bus.kVBase()) * math.sqrt(3.0), x=x, y=y)


def bus_targets(dss: Any, exclude: Collection[str] = ()) -> list[BusTarget]:
    """Every bus with phase nodes and a voltage base, in circuit order, except ``exclude``."""
    out: list[BusTarget] = []
    for name in [str(b).lower() for b in dss.Circuit.AllBusNames()]:
        if name in exclude:
            continue
        dss.Circuit.SetActiveBus(name)
        if float(dss.Bus.kVBase()) > 0 and any(1 <= int(n) <= 3 for n in dss.Bus.Nodes()):
            out.append(bus_target(dss, name))
    return out


def read_circuit_info(dss: Any) -> CircuitInfo:
    """Bases, regulators and flow elements of the compiled circuit (loops once per circuit)."""
    node_names = [str(n).lower() for n in dss.Circuit.AllNodeNames()]
    bases: dict[str, float] = {}
    for i in range(int(dss.Circuit.NumBuses())):
        dss.Circuit.SetActiveBusi(i)
        bases[str(dss.Bus.Name()).lower()] = float(dss.Bus.kVBase())
    node_base = np.array([bases.get(n.rpartition(".")[0], 0.0) for n in node_names], dtype=np.float64)
    pd_names = [str(n).lower() for n in dss.PDElements.AllNames()]
    thermal_mask = np.array([n.partition(".")[0] not in _NOT_THERMAL for n in pd_names], dtype=bool)
    index = {n: i for i, n in enumerate(node_names)}

    reg_names: list[str] = []
    reg_nodes: list[int] = []
    reg_pt: list[float] = []
    reg_band: list[float] = []
    reg_xfs: list[str] = []
    idx = dss.RegControls.First()
    while idx:
        name = str(dss.RegControls.Name()).lower()
        xf = str(dss.RegControls.Transformer()).lower()
        winding = int(dss.RegControls.Winding())
        pt, band = float(dss.RegControls.PTRatio()), float(dss.RegControls.ForwardBand())
        dss.Circuit.SetActiveElement(f"transformer.{xf}")
        bus_names = [str(b).lower() for b in dss.CktElement.BusNames()]
        parts = bus_names[winding - 1].split(".")
        # The watched node: the winding's first conductor (node 1 when grounded or unspecified).
        node = f"{parts[0]}.{parts[1] if len(parts) > 1 and parts[1] != '0' else '1'}"
        if node in index and pt > 0:
            reg_names.append(name)
            reg_nodes.append(index[node])
            reg_pt.append(pt)
            reg_band.append(band)
        reg_xfs.append(f"transformer.{xf}")
        idx = dss.RegControls.Next()

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
