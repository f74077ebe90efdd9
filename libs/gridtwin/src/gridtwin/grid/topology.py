"""Feeder topology the measurement code needs: service transformers and the secondary network each
one feeds (which bus, load and coordinates belong to which transformer).

A service transformer is one whose last winding is low voltage (< 1 kV). Its secondary network is the
connected component of its low-voltage bus over lines; a bus belongs to the smallest such transformer
in its component.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import pandas as pd

from gridtwin.grid.model import FeederModel

__all__ = ["LV_MAX_KV", "ServiceIndex", "bus_name", "bus_nodes", "phase_string", "service_index"]

LV_MAX_KV = 1.0  # a transformer whose last winding is below this (LL kV) serves customers


def bus_name(name: object) -> str:
    return str(name).split(".", 1)[0].lower()


def bus_nodes(bus: object) -> frozenset[int]:
    """Phase nodes of a bus reference (no suffix = all three, as OpenDSS reads it)."""
    parts = str(bus).split(".")[1:]
    nodes = frozenset(int(p) for p in parts if p.isdigit() and 1 <= int(p) <= 3)
    return nodes or frozenset({1, 2, 3})


def phase_string(nodes: Iterable[int]) -> str:
    return "".join("ABC"[n - 1] for n in sorted(nodes) if 1 <= n <= 3)


@dataclass
class ServiceIndex:
    """One feeder's service transformers, their points and the bus -> transformer map."""

    feeder: str
    transformers: pd.DataFrame  # name, hv_bus, lv_bus, primary_nodes (frozenset), x, y, kva
    bus_owner: dict[str, str]  # bus -> service transformer ("" never stored)
    points: list[tuple[str, float, float]]  # (transformer, x, y) in source coordinates
    all_transformers: set[str]
    loads: pd.DataFrame  # name (index), bus, p_kw, customer_class, phases string, transformer
    bus_xy: dict[str, tuple[float, float]]
    lv_of: dict[str, str] = field(default_factory=dict)  # transformer -> low-voltage bus
    prim_of: dict[str, frozenset[int]] = field(default_factory=dict)  # transformer -> primary nodes
    load_of: dict[str, dict[str, Any]] = field(default_factory=dict)  # load name -> loads row


def service_index(model: FeederModel) -> ServiceIndex:
    """Service transformers of ``model`` and the secondary network each feeds (line graph components:
    a bus belongs to the smallest service transformer whose low-voltage bus lies in its component)."""
    buses = model.table("buses")
    bus_xy: dict[str, tuple[float, float]] = {}
    if len(buses):
        has = buses["has_coords"].fillna(False).astype(bool) if "has_coords" in buses else True
        sel = buses[has]
        for n, x, y in zip(sel["name"], sel["x"].astype(float), sel["y"].astype(float), strict=True):
            if math.isfinite(x) and math.isfinite(y):
                bus_xy[str(n).lower()] = (x, y)
    g = nx.Graph()
    g.add_nodes_from(str(b).lower() for b in buses["name"])
    lines = model.table("lines")
    for b1, b2 in zip(lines["bus1"], lines["bus2"], strict=True):
        g.add_edge(bus_name(b1), bus_name(b2))
    comp_of = {bus: i for i, comp in enumerate(nx.connected_components(g)) for bus in comp}
    xf = model.table("transformers")
    rows: list[dict[str, Any]] = []
    owner: dict[int, tuple[float, str]] = {}
    for name, wbuses, kvs, kvas in zip(xf["name"], xf["buses"], xf["kvs_kv"], xf["kvas_kva"], strict=True):
        wb = list(wbuses) if wbuses is not None else []
        kv = list(kvs) if kvs is not None else []
        if len(wb) < 2 or not kv or float(kv[-1]) >= LV_MAX_KV:
            continue
        kva = float(kvas[0]) if kvas is not None and len(kvas) else float("inf")
        hv, lv = bus_name(wb[0]), bus_name(wb[1])
        x, y = bus_xy.get(lv, bus_xy.get(hv, (math.nan, math.nan)))
        rows.append(
            {"name": str(name), "hv_bus": hv, "lv_bus": lv, "primary_nodes": bus_nodes(wb[0]), "x": x, "y": y,
             "kva": kva}
        )  # fmt: skip
        comp = comp_of.get(lv)
        if comp is not None and (comp not in owner or kva < owner[comp][0]):
            owner[comp] = (kva, str(name))
    bus_owner = {bus: owner[c][1] for bus, c in comp_of.items() if c in owner}
    table = pd.DataFrame(rows, columns=["name", "hv_bus", "lv_bus", "primary_nodes", "x", "y", "kva"])
    points: list[tuple[str, float, float]] = []
    for name, x, y in zip(table["name"], table["x"], table["y"], strict=True):
        if math.isfinite(x) and math.isfinite(y):
            points.append((name, x, y))
    lv_buses = set(table["lv_bus"])
    for bus, t in bus_owner.items():  # secondary buses (service points) as further points
        if bus not in lv_buses and bus in bus_xy:
            points.append((t, *bus_xy[bus]))
    prim = dict(zip(table["name"], table["primary_nodes"], strict=True))
    ld = model.table("loads")
    load_rows = []
    for name, bus1, p, cls in zip(ld["name"], ld["bus1"], ld["p_kw"], ld["customer_class"], strict=True):
        b = bus_name(bus1)
        t = bus_owner.get(b, "")
        load_rows.append(
            {"name": str(name), "bus": b, "p_kw": float(p), "customer_class": int(cls or 0),
             "phases": phase_string(prim[t] if t else bus_nodes(bus1)), "transformer": t}
        )  # fmt: skip
    loads = pd.DataFrame(
        load_rows, columns=["name", "bus", "p_kw", "customer_class", "phases", "transformer"]
    ).set_index("name", drop=False)
    return ServiceIndex(
        feeder=model.feeder_id,
        transformers=table,
        bus_owner=bus_owner,
        points=points,
        all_transformers={str(n) for n in xf["name"]},
        loads=loads,
        bus_xy=bus_xy,
        lv_of=dict(zip(table["name"], table["lv_bus"], strict=True)),
        prim_of=prim,
        load_of={str(r["name"]): r for r in load_rows},
    )
