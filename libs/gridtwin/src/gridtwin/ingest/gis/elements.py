"""Where each electrical element of a feeder model sits, for matching GIS features against it.

One ``Candidates`` set per GIS asset type: the element names, their twin table, a geometry built from
bus coordinates (points at a bus; a straight segment bus1 -> bus2 for lines), the phase letters taken
from the bus node suffixes (nodes 1/2/3 = A/B/C, primary buses only: secondary node numbers are not
phases) and the rating used as extra evidence (transformer kVA, capacitor kvar).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from gridtwin.grid.model import FeederModel

__all__ = ["ASSET_TABLES", "Candidates", "build_candidates", "bus_name", "node_letters"]

# Twin tables a feature of each asset type may be matched (or overridden) to.
ASSET_TABLES: dict[str, tuple[str, ...]] = {
    "pole": ("buses",),
    "transformer": ("transformers",),
    "meter": ("loads",),
    "capacitor": ("capacitors",),
    "switch": ("switches", "lines"),
    "conductor": ("lines",),
}
_SECONDARY_KV_LN = 1.0  # buses below this line-to-neutral base carry no phase letters (split-phase nodes)


@dataclass
class Candidates:
    tables: list[str]
    names: list[str]
    geoms: np.ndarray[Any, Any]  # shapely geometries in the model's CRS, None where unknown
    letters: list[str]
    counts: list[int]
    rating: np.ndarray[Any, np.dtype[np.float64]]  # kVA / kvar, NaN when not applicable

    def index(self) -> dict[str, int]:
        """name (lower case) and "table.name" -> position; a name in two tables keeps the first."""
        out: dict[str, int] = {}
        for k, (table, name) in enumerate(zip(self.tables, self.names, strict=True)):
            out.setdefault(name.lower(), k)
            out[f"{table}.{name}".lower()] = k
        return out


def bus_name(terminal: str) -> str:
    return terminal.split(".", 1)[0].lower()


def node_letters(terminal: str) -> str:
    parts = terminal.split(".")[1:]
    return "".join(sorted({"ABC"[int(p) - 1] for p in parts if p in ("1", "2", "3")}))


class _Buses:
    def __init__(self, model: FeederModel) -> None:
        buses = model.table("buses")
        self.points: dict[str, shapely.Point] = {}
        self.primary: dict[str, bool] = {}
        self.nodes: dict[str, str] = {}
        row: dict[Any, Any]
        for row in buses.to_dict(orient="records"):
            name = str(row["name"]).lower()
            self.primary[name] = bool(float(row["base_kv"] or 0.0) >= _SECONDARY_KV_LN)
            nodes = [int(n) for n in row["nodes"]] if row["nodes"] is not None else []
            self.nodes[name] = "".join(sorted({"ABC"[n - 1] for n in nodes if 1 <= n <= 3}))
            x, y = float(row["x"]), float(row["y"])
            if bool(row["has_coords"]) and np.isfinite(x) and np.isfinite(y):
                self.points[name] = shapely.Point(x, y)

    def point(self, terminal: str) -> shapely.Point | None:
        return self.points.get(bus_name(terminal))

    def letters(self, terminal: str) -> str:
        return node_letters(terminal) if self.primary.get(bus_name(terminal), False) else ""


def build_candidates(model: FeederModel) -> dict[str, Candidates]:
    buses = _Buses(model)
    out: dict[str, Candidates] = {}

    b = model.table("buses")
    names = [str(n).lower() for n in b["name"]]
    out["pole"] = Candidates(
        ["buses"] * len(names),
        names,
        np.array([buses.points.get(n) for n in names], dtype=object),
        ["" for _ in names],  # poles carry no phase evidence
        [0 for _ in names],
        np.full(len(names), np.nan),
    )

    def at_bus(table: str, col: str, rating: list[float]) -> Candidates:
        df = model.table(table)
        terms = [str(t) for t in df[col]]
        return Candidates(
            [table] * len(df),
            [str(n) for n in df["name"]],
            np.array([buses.point(t) for t in terms], dtype=object),
            [buses.letters(t) for t in terms],
            [int(p) for p in df["phases"]],
            np.asarray(rating, dtype=float),
        )

    loads = model.table("loads")
    out["meter"] = at_bus("loads", "bus1", [np.nan] * len(loads))
    caps = model.table("capacitors")
    out["capacitor"] = at_bus("capacitors", "bus1", [float(np.sum(k)) for k in caps["kvars_kvar"]])
    tx = model.table("transformers")
    first = [str(bs[0]) if len(bs) else "" for bs in tx["buses"]]
    out["transformer"] = Candidates(
        ["transformers"] * len(tx),
        [str(n) for n in tx["name"]],
        np.array([buses.point(t) for t in first], dtype=object),
        [buses.letters(t) for t in first],
        [int(p) for p in tx["phases"]],
        np.asarray([float(k[0]) if len(k) else np.nan for k in tx["kvas_kva"]], dtype=float),
    )

    lines = model.table("lines")
    line_geom: dict[str, Any] = {}
    line_letters: dict[str, str] = {}
    for name, bus1, bus2 in zip(
        lines["name"].astype(str), lines["bus1"].astype(str), lines["bus2"].astype(str), strict=True
    ):
        p1, p2 = buses.point(bus1), buses.point(bus2)
        if p1 is not None and p2 is not None:
            line_geom[name] = shapely.LineString([p1, p2])
        else:
            line_geom[name] = p1 or p2
        line_letters[name] = buses.letters(bus1)
    lnames = [str(n) for n in lines["name"]]
    out["conductor"] = Candidates(
        ["lines"] * len(lines),
        lnames,
        np.array([line_geom[n] for n in lnames], dtype=object),
        [line_letters[n] for n in lnames],
        [int(p) for p in lines["phases"]],
        np.full(len(lines), np.nan),
    )

    # Switches: rows of the switches table (placed at their line's midpoint), then switch lines that no
    # switches row describes.
    sw = model.table("switches")
    phases = dict(zip(lnames, out["conductor"].counts, strict=True))
    described = {str(x) for x in sw["line"]}
    s_tables: list[str] = []
    s_names: list[str] = []
    s_lines: list[str] = []
    for name, line in zip(sw["name"], sw["line"], strict=True):
        s_tables.append("switches")
        s_names.append(str(name))
        s_lines.append(str(line))
    for name, is_switch in zip(lines["name"], lines["is_switch"], strict=True):
        if bool(is_switch) and str(name) not in described:
            s_tables.append("lines")
            s_names.append(str(name))
            s_lines.append(str(name))
    out["switch"] = Candidates(
        s_tables,
        s_names,
        np.array([_midpoint(line_geom.get(line)) for line in s_lines], dtype=object),
        [line_letters.get(line, "") for line in s_lines],
        [phases.get(line, 0) for line in s_lines],
        np.full(len(s_names), np.nan),
    )
    return out


def _midpoint(geom: Any) -> Any:
    if geom is None or geom.geom_type == "Point":
        return geom
    return geom.interpolate(0.5, normalized=True)
