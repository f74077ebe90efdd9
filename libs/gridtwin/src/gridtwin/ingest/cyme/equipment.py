"""CYME equipment catalogs -> line codes and device parameters.

Catalog sections (``[CONDUCTOR]``, ``[SPACING TABLE FOR LINE]``, ``[LINE]``, ``[LINE UNBALANCED]``,
``[CABLE]``, ``[TRANSFORMER]``, ``[REGULATOR]``, ``[SHUNT CAPACITOR]``, switchgear ...) are read into
``Catalog``; line impedances become ``linecodes`` rows named after the catalog entry, so one catalog
serves many feeders. Phase impedance matrices are computed by OpenDSS itself in a throwaway circuit of
the engine adapter (WireData + LineGeometry with Kron reduction for conductor/spacing lines; sequence
values through a LineCode), never re-derived by hand, so they equal what OpenDSS would compute from
the same data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.ingest.cyme.sections import SectionRecord, Sections
from gridtwin.ingest.cyme.units import (
    conductor_size_m,
    num,
    opt_num,
    per_length_to_per_m,
    spacing_m,
)
from gridtwin.powerflow.scratch import ScratchCircuit

__all__ = ["CATALOG_SECTIONS", "Catalog", "LineCodeSpec", "resolve_linecodes", "safe_name"]

# Catalog sections read by ID; the switchgear ones only give ratings.
CATALOG_SECTIONS = (
    "CONDUCTOR",
    "SPACING TABLE FOR LINE",
    "LINE",
    "LINE UNBALANCED",
    "CABLE",
    "CONCENTRIC NEUTRAL CABLE",
    "TRANSFORMER",
    "REGULATOR",
    "SHUNT CAPACITOR",
    "SHUNT REACTOR",
    "THREE WINDING TRANSFORMER",
    "PHOTOVOLTAIC",
    "SYNCHRONOUS GENERATOR",
    "INDUCTION GENERATOR",
    "ELECTRONIC CONVERTER GENERATOR",
    "SUBSTATION",
    "SWITCH",
    "BREAKER",
    "FUSE",
    "RECLOSER",
    "SECTIONALIZER",
    "NETWORKPROTECTOR",
    "LVCB",
    "MISCELLANEOUS",
)

# Catalogs only distributed generation reads: a duplicated ID there is a warning (the first entry
# wins), not a refusal of the whole export.
LENIENT_SECTIONS = frozenset(
    {"PHOTOVOLTAIC", "SYNCHRONOUS GENERATOR", "INDUCTION GENERATOR", "ELECTRONIC CONVERTER GENERATOR"}
)

PHASES = "ABC"
_SAFE = re.compile(r"[^a-z0-9_-]")


def safe_name(cyme_id: str) -> str:
    """A CYME id as an OpenDSS/twin name: lower case, no dots or spaces (``1/0`` -> ``1_0``)."""
    return _SAFE.sub("_", cyme_id.strip().lower()) or "_"


@dataclass
class Catalog:
    """Catalog records by section and ID (the first record wins for multi-row catalogs we ignore)."""

    entries: dict[str, dict[str, SectionRecord]] = field(default_factory=dict)
    warnings: list[ErrorDetail] = field(default_factory=list)

    @classmethod
    def from_sections(cls, sections: Sections) -> Catalog:
        out = cls()
        errors: list[ErrorDetail] = []
        for name in CATALOG_SECTIONS:
            table: dict[str, SectionRecord] = {}
            for rec in sections.records(name):
                ident = rec.get("ID")
                if not ident:
                    errors.append(ErrorDetail(rec.where, "catalog entry without ID", code="missing_id"))
                elif ident in table:
                    first = table[ident]
                    (out.warnings if name in LENIENT_SECTIONS else errors).append(
                        ErrorDetail(
                            rec.where,
                            f"duplicated ID {ident!r} (first at {first.file}:{first.line})",
                            code="duplicate_id",
                        )
                    )
                else:
                    table[ident] = rec
            out.entries[name] = table
        if errors:
            raise InputError("invalid CYME equipment catalog", errors)
        return out

    def get(self, section: str, ident: str) -> SectionRecord | None:
        return self.entries.get(section, {}).get(ident)

    def require(self, section: str, ident: str, user: SectionRecord, field_name: str) -> SectionRecord:
        rec = self.get(section, ident)
        if rec is None:
            raise InputError(
                "CYME device references missing equipment",
                [
                    ErrorDetail(
                        f"{user.where} {field_name}",
                        f"no [{section}] entry with ID {ident!r}",
                        code="missing_equipment",
                    )
                ],
            )
        return rec

    def find_line(self, ident: str) -> tuple[str, SectionRecord] | None:
        """A line/cable catalog entry by ID, whichever catalog section holds it."""
        for section in ("LINE", "LINE UNBALANCED", "CABLE", "CONCENTRIC NEUTRAL CABLE"):
            rec = self.get(section, ident)
            if rec is not None:
                return section, rec
        return None


@dataclass(frozen=True)
class LineCodeSpec:
    """How to compute one line code. ``kind``: ``sequence`` (r1..b0 per metre, 3 phases then reduced to
    ``phases``), ``matrix`` (full 3x3 per metre, reduced to ``phases``) or ``geometry`` (wires + x/h)."""

    name: str
    kind: str
    phases: str  # phase letters present, e.g. "AC"
    norm_amps_a: float
    values: tuple[Any, ...] = ()
    source_kind: str = "linecode"


def sequence_spec(name: str, rec: SectionRecord, phases: str) -> LineCodeSpec:
    """A balanced line or cable from its sequence values (ohm/km or ohm/mile, microsiemens/...)."""
    vals = tuple(per_length_to_per_m(rec, num(rec, key, 0.0)) for key in ("R1", "X1", "R0", "X0", "B1", "B0"))
    amps = num(rec, "Amps", 0.0) if "Amps" in rec.fields else 0.0
    return LineCodeSpec(name, "sequence", phases, amps, vals)


def unbalanced_spec(name: str, rec: SectionRecord, phases: str) -> LineCodeSpec:
    """A ``[LINE UNBALANCED]`` entry: self and mutual R, X, B per phase pair."""

    def v(key: str) -> float:
        return per_length_to_per_m(rec, num(rec, key, 0.0))

    r = [[0.0] * 3 for _ in range(3)]
    x = [[0.0] * 3 for _ in range(3)]
    b = [[0.0] * 3 for _ in range(3)]
    for i, p in enumerate(PHASES):
        r[i][i], x[i][i], b[i][i] = v(f"R{p.lower()}"), v(f"X{p.lower()}"), v(f"B{p.lower()}")
    for (i, j), pair in (((0, 1), "AB"), ((1, 2), "BC"), ((0, 2), "CA")):
        r[i][j] = r[j][i] = v(f"MutualResistance{pair}")
        x[i][j] = x[j][i] = v(f"MutualReactance{pair}")
        b[i][j] = b[j][i] = v(f"MutualShuntSusceptance{pair}")
    amps = [num(rec, f"Amps{p}", 0.0) for p in phases]
    return LineCodeSpec(name, "matrix", phases, max(amps, default=0.0), (r, x, b))


@dataclass(frozen=True)
class Wire:
    name: str
    r_ohm_per_m: float
    gmr_m: float
    diameter_m: float
    amps_a: float


def wire(catalog: Catalog, ident: str, user: SectionRecord, field_name: str) -> Wire:
    rec = catalog.require("CONDUCTOR", ident, user, field_name)
    r = opt_num(rec, "R50")
    r = r if r is not None and r > 0 else num(rec, "R25")
    gmr = conductor_size_m(rec, num(rec, "GMR"))
    diam = conductor_size_m(rec, num(rec, "Diameter"))
    if r <= 0 or gmr <= 0 or diam <= 0:
        raise InputError(
            "invalid CYME conductor",
            [
                ErrorDetail(
                    rec.where, f"conductor {ident!r} needs R, GMR and diameter > 0", code="invalid_value"
                )
            ],
        )
    if gmr > 5 * diam:  # GMR a little over the radius occurs in real catalogs (IEEE 4 "_NOB"); 5x is units
        raise InputError(
            "invalid CYME conductor",
            [
                ErrorDetail(
                    rec.where, f"conductor {ident!r} GMR far exceeds its size (unit mix-up?)", code="units"
                )
            ],
        )
    return Wire(safe_name(ident), per_length_to_per_m(rec, r), gmr, diam, num(rec, "Amps", 0.0))


def geometry_spec(
    catalog: Catalog,
    user: SectionRecord,
    phase_conductors: Sequence[tuple[str, str]],
    neutral_conductors: Sequence[str],
    spacing_id: str,
) -> LineCodeSpec:
    """Conductors by phase on a spacing. ``phase_conductors``: (phase letter, conductor id) in the order
    they take the spacing's positions 1, 2, 3; neutrals take the neutral positions."""
    spacing = catalog.require("SPACING TABLE FOR LINE", spacing_id, user, "SpacingID")
    wires: list[tuple[Wire, float, float]] = []
    for k, (_, cond) in enumerate(phase_conductors):
        x, h = opt_num(spacing, f"PosOfCond{k + 1}_X"), opt_num(spacing, f"PosOfCond{k + 1}_Y")
        if x is None or h is None:
            raise InputError(
                "CYME spacing lacks a conductor position",
                [ErrorDetail(f"{spacing.where}", f"no position {k + 1} for {len(phase_conductors)} phases")],
            )
        wires.append((wire(catalog, cond, user, "CondID"), spacing_m(spacing, x), spacing_m(spacing, h)))
    for k, cond in enumerate(neutral_conductors):
        suffix = "" if k == 0 else f"_N{k + 1}"
        x, h = (
            opt_num(spacing, f"PosOfNeutralCond{suffix}_X"),
            opt_num(spacing, f"PosOfNeutralCond{suffix}_Y"),
        )
        if x is None or h is None:
            continue  # the spacing has no place for this neutral: leave it out
        wires.append((wire(catalog, cond, user, "CondID_N"), spacing_m(spacing, x), spacing_m(spacing, h)))
    phases = "".join(p for p, _ in phase_conductors)  # in spacing-position order; sorted after OpenDSS
    name = safe_name(
        "geo_"
        + spacing_id
        + "_"
        + "_".join(f"{p}{c}" for p, c in phase_conductors)
        + "_n_"
        + "_".join(neutral_conductors)
    )
    amps = min((w.amps_a for w, _, _ in wires[: len(phase_conductors)]), default=0.0)
    return LineCodeSpec(name, "geometry", phases, amps, tuple(wires), "geometry")


def resolve_linecodes(specs: Sequence[LineCodeSpec], frequency_hz: float) -> list[dict[str, Any]]:
    """Phase matrices for every spec, computed by OpenDSS in one throwaway circuit."""
    with ScratchCircuit() as scratch:
        return _resolve(scratch, specs, frequency_hz)


def _resolve(
    scratch: ScratchCircuit, specs: Sequence[LineCodeSpec], frequency_hz: float
) -> list[dict[str, Any]]:
    scratch.run(f"set defaultbasefrequency={frequency_hz!r}", "cyme")
    scratch.run("new circuit.cymeprobe basekv=1", "cyme")
    scratch.run("set earthmodel=carson", "cyme")  # Kersting's modified Carson, as CYME/IEEE use
    rows: list[dict[str, Any]] = []
    omega = 2 * math.pi * frequency_hz
    defined_wires: set[str] = set()
    for i, spec in enumerate(specs):
        n3 = [PHASES.index(p) for p in spec.phases]
        if spec.kind == "matrix":
            r, x, b = spec.values
            c = [[b[a][bb] * 1e-6 / omega * 1e9 for bb in range(3)] for a in range(3)]  # uS -> nF
            rm, xm, cm = (_sub(m, n3) for m in (r, x, c))
        else:
            if spec.kind == "sequence":
                r1, x1, r0, x0, b1, b0 = spec.values
                c1, c0 = b1 * 1e-6 / omega * 1e9, b0 * 1e-6 / omega * 1e9
                scratch.run(
                    f"new linecode.lc{i} nphases=3 units=m r1={r1!r} x1={x1!r} r0={r0!r} x0={x0!r}"
                    f" c1={c1!r} c0={c0!r}",
                    spec.name,
                )
                scratch.run(
                    f"new line.l{i} bus1=a{i} bus2=b{i} phases=3 linecode=lc{i} length=1 units=m",
                    spec.name,
                )
            else:
                parts = []
                for k, (w, xm_, h) in enumerate(spec.values):
                    if w.name not in defined_wires:
                        scratch.run(
                            f"new wiredata.{w.name} rac={w.r_ohm_per_m!r} runits=m gmrac={w.gmr_m!r} gmrunits=m"
                            f" diam={w.diameter_m!r} radunits=m normamps={w.amps_a!r}",
                            spec.name,
                        )
                        defined_wires.add(w.name)
                    parts.append(f"cond={k + 1} wire={w.name} units=m x={xm_!r} h={h!r}")
                nph = len(spec.phases)
                scratch.run(
                    f"new linegeometry.g{i} nconds={len(spec.values)} nphases={nph} reduce=yes "
                    + " ".join(parts),
                    spec.name,
                )
            if spec.kind == "sequence":
                line = scratch.line_matrices(f"l{i}")  # per metre: the line is in metres
                rm, xm, cm = (_sub(_square(vals), n3) for vals in (line.r, line.x, line.c))
            else:
                # per metre, Kron-reduced to the phase conductors
                geo = scratch.geometry_matrices_per_m(f"g{i}", frequency_hz)
                order = sorted(range(len(spec.phases)), key=lambda k: spec.phases[k])
                rm, xm, cm = (_sub(_square(vals), order) for vals in (geo.r, geo.x, geo.c))
        rows.append(
            {
                "name": spec.name,
                "phases": len(spec.phases),
                "r_matrix_ohm_per_m": [v for row in rm for v in row],
                "x_matrix_ohm_per_m": [v for row in xm for v in row],
                "c_matrix_nf_per_m": [v for row in cm for v in row],
                "norm_amps_a": spec.norm_amps_a,
                "emerg_amps_a": spec.norm_amps_a,
                "source_kind": spec.source_kind,
                "dss_extra_json": "",
            }
        )
    return rows


def _square(flat: list[float]) -> list[list[float]]:
    n = round(math.sqrt(len(flat)))
    return [[float(flat[i * n + j]) for j in range(n)] for i in range(n)]


def _sub(m: list[list[float]], idx: list[int]) -> list[list[float]]:
    return [[m[a][b] for b in idx] for a in idx]
