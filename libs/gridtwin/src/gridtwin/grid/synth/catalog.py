"""Conductor, cable and spacing catalog; line codes computed by OpenDSS from wire data and geometry.

Wire and cable data are the usual North American values (Kersting, "Distribution System Modeling
and Analysis", appendix tables; OpenDSS's IEEE test feeders use the same). Each line code is one
OpenDSS ``LineGeometry`` (wires or concentric-neutral cables at x/h positions, neutrals Kron-reduced,
``geometry_script``) whose per-metre phase matrices OpenDSS computed. They are stored in
``data/linecode_matrices.json`` rather than computed at run time: this package sits below the engine
adapter and must not drive OpenDSS. A test recomputes them through the adapter and fails when the
stored values differ from what OpenDSS gives for this catalog (edit the catalog, then regenerate the
file with that test module, see its docstring).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = [
    "FREQUENCY_HZ",
    "LINECODES",
    "MATRICES_FILE",
    "SERVICE_KVA_1PH",
    "SERVICE_KVA_3PH",
    "LineCodeSpec",
    "geometry_script",
    "linecode_rows",
    "next_size",
]

FREQUENCY_HZ = 60.0  # the matrices are computed at this frequency
MATRICES_FILE = "data/linecode_matrices.json"  # inside this package


@dataclass(frozen=True)
class Wire:
    """Bare overhead conductor: GMR (ft), AC resistance (ohm/mile at 50 C), diameter (in), ampacity (A)."""

    gmr_ft: float
    r_ohm_per_mi: float
    diam_in: float
    amps_a: float


@dataclass(frozen=True)
class ConcentricCable:
    """Concentric-neutral cable: phase conductor, neutral strands and insulation sizes (in)."""

    gmr_ft: float
    r_ohm_per_mi: float
    diam_in: float
    cable_diam_in: float
    ins_diam_in: float
    ins_layer_in: float
    strands: int
    strand_gmr_ft: float
    strand_r_ohm_per_mi: float
    strand_diam_in: float
    amps_a: float


WIRES: dict[str, Wire] = {
    "aac556": Wire(0.0313, 0.1859, 0.927, 730.0),
    "acsr336": Wire(0.0244, 0.306, 0.721, 530.0),
    "acsr4_0": Wire(0.00814, 0.592, 0.563, 340.0),
    "acsr1_0": Wire(0.00446, 1.12, 0.398, 230.0),
    "acsr2": Wire(0.00418, 1.69, 0.316, 180.0),
    # triplex phase conductors (all-aluminium, insulated)
    "aa4_0": Wire(0.0158, 0.484, 0.522, 299.0),
    "aa1_0": Wire(0.0111, 0.969, 0.368, 202.0),
}

CABLES: dict[str, ConcentricCable] = {
    # 500 kcmil AA, 1/3 neutral (feeder getaway, three single-conductor cables in a duct bank)
    "cn500": ConcentricCable(0.0260, 0.206, 0.813, 1.70, 1.50, 0.345, 20, 0.00208, 14.87, 0.0641, 480.0),
    # 1/0 AA, full neutral (residential URD laterals)
    "cn1_0": ConcentricCable(0.0111, 0.97, 0.368, 1.06, 0.98, 0.22, 16, 0.00208, 14.87, 0.0641, 200.0),
}


@dataclass(frozen=True)
class LineCodeSpec:
    """One construction: conductor per position (phases first), x and height in feet."""

    phases: int
    conductors: tuple[str, ...]  # WIRES or CABLES keys, phases first, then neutrals
    x_ft: tuple[float, ...]
    h_ft: tuple[float, ...]
    description: str


# Spacings: IEEE "ID 500" crossarm for three-phase overhead, ID 510 for single-phase, a duct bank at
# 4 ft for cables, and triplex as three insulated conductors touching (centres ~0.7 in apart).
_OH3_X, _OH3_H = (-4.0, -1.5, 3.0, 0.0), (28.0, 28.0, 28.0, 24.0)
_OH1_X, _OH1_H = (0.5, 0.0), (29.0, 24.0)
_TPX_X, _TPX_H = (-0.03, 0.03, 0.0), (20.0, 20.0, 19.95)

LINECODES: dict[str, LineCodeSpec] = {
    "oh3_556aac": LineCodeSpec(
        3, ("aac556",) * 3 + ("acsr4_0",), _OH3_X, _OH3_H, "556 AAC, 4/0 ACSR neutral"
    ),
    "oh3_336acsr": LineCodeSpec(
        3, ("acsr336",) * 3 + ("acsr4_0",), _OH3_X, _OH3_H, "336 ACSR, 4/0 ACSR neutral"
    ),
    "oh3_4_0acsr": LineCodeSpec(
        3, ("acsr4_0",) * 3 + ("acsr1_0",), _OH3_X, _OH3_H, "4/0 ACSR, 1/0 ACSR neutral"
    ),
    "oh3_1_0acsr": LineCodeSpec(3, ("acsr1_0",) * 3 + ("acsr2",), _OH3_X, _OH3_H, "1/0 ACSR, #2 neutral"),
    "oh1_1_0acsr": LineCodeSpec(1, ("acsr1_0", "acsr2"), _OH1_X, _OH1_H, "1/0 ACSR, #2 ACSR neutral"),
    "oh1_2acsr": LineCodeSpec(1, ("acsr2", "acsr2"), _OH1_X, _OH1_H, "#2 ACSR, #2 ACSR neutral"),
    "ug3_500cn": LineCodeSpec(3, ("cn500",) * 3, (-0.5, 0.0, 0.5), (-4.0, -4.0, -4.0), "3 x 500 AA CN"),
    "ug1_1_0cn": LineCodeSpec(1, ("cn1_0",), (0.0,), (-4.0,), "1/0 AA full-neutral CN"),
    "tpx_4_0aa": LineCodeSpec(2, ("aa4_0",) * 3, _TPX_X, _TPX_H, "4/0 AA triplex secondary"),
    "tpx_1_0aa": LineCodeSpec(2, ("aa1_0",) * 3, _TPX_X, _TPX_H, "1/0 AA triplex service"),
}

# Standard transformer sizes (kVA): single-phase pole/pad (residential), three-phase pad (C&I).
SERVICE_KVA_1PH = (10.0, 15.0, 25.0, 37.5, 50.0, 75.0, 100.0, 167.0)
SERVICE_KVA_3PH = (45.0, 75.0, 112.5, 150.0, 225.0, 300.0, 500.0, 750.0, 1000.0)


def next_size(sizes: tuple[float, ...], kva: float) -> float:
    """The smallest standard size at least ``kva`` (the largest when none is)."""
    for s in sizes:
        if s >= kva:
            return s
    return sizes[-1]


def _amps(name: str) -> float:
    return WIRES[name].amps_a if name in WIRES else CABLES[name].amps_a


def geometry_script() -> list[str]:
    """OpenDSS commands defining every wire, cable and line geometry of the catalog (the stored
    matrices are what OpenDSS computes from them)."""
    out = ["clear", "new circuit.linecodes basekv=12.47"]
    for name, w in WIRES.items():
        out.append(
            f"new wiredata.{name} gmrac={w.gmr_ft!r} gmrunits=ft rac={w.r_ohm_per_mi!r} runits=mi"
            f" diam={w.diam_in!r} radunits=in normamps={w.amps_a!r} emergamps={1.5 * w.amps_a!r}"
        )
    for name, c in CABLES.items():
        out.append(
            f"new cndata.{name} rac={c.r_ohm_per_mi!r} runits=mi gmrac={c.gmr_ft!r} gmrunits=ft"
            f" diam={c.diam_in!r} diacable={c.cable_diam_in!r} diains={c.ins_diam_in!r}"
            f" inslayer={c.ins_layer_in!r} radunits=in k={c.strands} gmrstrand={c.strand_gmr_ft!r}"
            f" rstrand={c.strand_r_ohm_per_mi!r} diastrand={c.strand_diam_in!r}"
            f" normamps={c.amps_a!r} emergamps={1.25 * c.amps_a!r}"
        )
    for name, spec in LINECODES.items():
        conds = []
        for i, (cond, x, h) in enumerate(zip(spec.conductors, spec.x_ft, spec.h_ft, strict=True)):
            key = "wire" if cond in WIRES else "cncable"
            conds.append(f"cond={i + 1} {key}={cond} x={x!r} h={h!r} units=ft")
        out.append(
            f"new linegeometry.{name} nconds={len(spec.conductors)} nphases={spec.phases} reduce=yes "
            + " ".join(conds)
        )
    return out


@lru_cache(maxsize=1)
def _matrices() -> dict[str, tuple[list[float], list[float], list[float]]]:
    """Per-metre R (ohm), X (ohm), C (nF) matrices of every line code, flat, as stored."""
    text = resources.files("gridtwin.grid.synth").joinpath(MATRICES_FILE).read_text("utf-8")
    stored = json.loads(text)["linecodes"]
    return {name: (m["r_ohm_per_m"], m["x_ohm_per_m"], m["c_nf_per_m"]) for name, m in stored.items()}


def linecode_rows(names: list[str] | None = None) -> list[dict[str, Any]]:
    """The ``linecodes`` table rows for ``names`` (all codes when None), ``source_kind="geometry"``."""
    mats = _matrices()
    rows: list[dict[str, Any]] = []
    for name in names if names is not None else list(LINECODES):
        spec = LINECODES[name]
        amps = _amps(spec.conductors[0])
        r, x, c = mats[name]
        rows.append(
            {
                "name": name,
                "phases": spec.phases,
                "r_matrix_ohm_per_m": r,
                "x_matrix_ohm_per_m": x,
                "c_matrix_nf_per_m": c,
                "norm_amps_a": amps,
                "emerg_amps_a": 1.5 * amps if spec.conductors[0] in WIRES else 1.25 * amps,
                "source_kind": "geometry",
                "dss_extra_json": "",
            }
        )
    return rows
