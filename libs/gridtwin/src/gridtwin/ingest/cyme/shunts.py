"""Shunt capacitors (fixed and switched, with their controls) and shunt reactors.

CYME writes a bank's size in several ways, all read here (the first one present wins):

- per phase, fixed and switched parts: ``FixedKVARA/B/C`` and ``SwitchedKVARA/B/C`` (CYME 7+);
- per phase: ``KVARA/B/C`` (with ``KVARABC`` for a balanced total);
- one value per phase of the bank: ``KVAR`` (with ``Phase`` naming the phases, CYME 5);
- the bank's total: ``ThreePhaseKVAR``;
- the equipment's ``KVAR`` (per phase), from ``[SHUNT CAPACITOR]`` / ``[SHUNT REACTOR]``.

The rated voltage is ``KVLN`` (line to neutral), else ``KV`` (the units' rating: line to neutral
for a wye bank, line to line for a delta one), else the equipment's ``KV``, else the bus's nominal
voltage. A bank whose phases carry the same kvar is one element; unequal phases become one
single-phase element per phase (delta: per branch A-B, B-C, C-A). The switched part is its own
element (``<name>_sw``) so its control never trips the fixed part; its control (``Control`` with
``OnValueA..``/``OffValueA..`` or ``ONSetting``/``OFFSetting``) becomes a CapControl: voltage (codes 7
or the word), kvar (2), current (3) or power factor. Other control types keep the switched part in
its initial state (a warning says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from gridtwin.errors import ErrorDetail
from gridtwin.ingest.cyme.devices import phase_letters
from gridtwin.ingest.cyme.sections import SectionRecord
from gridtwin.ingest.cyme.units import opt_num

__all__ = ["Bank", "CapControlSpec", "bank_rows", "cap_control", "phase_letters", "read_bank"]

SQRT3 = math.sqrt(3.0)
NODE = {"A": 1, "B": 2, "C": 3}
NEXT = {"A": "B", "B": "C", "C": "A"}
_CONTROL = {
    "2": "kvar", "KVAR": "kvar", "VAR": "kvar", "REACTIVEPOWER": "kvar",
    "3": "current", "CURRENT": "current", "AMP": "current", "AMPS": "current",
    "7": "voltage", "VOLTAGE": "voltage", "VOLT": "voltage", "V": "voltage",
    "PF": "pf", "POWERFACTOR": "pf",
}  # fmt: skip
_NO_CONTROL = {"", "0", "NONE", "MANUAL", "FIXED", "OFF"}


@dataclass
class Bank:
    """A shunt bank as read: kvar per phase (fixed and switched parts), connection and rated kV."""

    fixed: dict[str, float]
    switched: dict[str, float]
    delta: bool
    kv_ln: float | None  # None: the bus's nominal voltage
    switched_closed: str  # phases of the switched part closed at the start
    enabled: bool
    warnings: list[ErrorDetail] = field(default_factory=list)

    @property
    def phases(self) -> str:
        return "".join(p for p in "ABC" if p in self.fixed or p in self.switched)


def _f(rec: SectionRecord | None, name: str) -> float:
    if rec is None or name not in rec.fields:
        return 0.0
    return opt_num(rec, name) or 0.0


def _per_phase(rec: SectionRecord, prefix: str) -> dict[str, float]:
    return {p: _f(rec, f"{prefix}{p}") for p in "ABC" if _f(rec, f"{prefix}{p}") != 0.0}


def read_bank(setting: SectionRecord, eq: SectionRecord | None, section_phases: str, what: str) -> Bank:
    """The bank's values from whichever format the export used (see the module docstring)."""
    conn = (setting.get("Connection") or setting.get("ConnectionConfiguration") or "Y").upper()
    delta = conn in ("D", "DELTA", "2", "4", "CD")
    warnings: list[ErrorDetail] = []
    given = phase_letters(setting.get("Phase")) if setting.get("Phase") else ""
    phases = "".join(p for p in section_phases if not given or p in given) or section_phases
    fixed, switched = _per_phase(setting, "FixedKVAR"), _per_phase(setting, "SwitchedKVAR")
    if not fixed and not switched:
        fixed = _per_phase(setting, "KVAR")
        if not fixed and _f(setting, "KVARABC"):
            fixed = {p: _f(setting, "KVARABC") / len(phases) for p in phases}
    if not fixed and not switched:
        per = _f(setting, "KVAR")
        if not per and _f(setting, "ThreePhaseKVAR"):
            per = _f(setting, "ThreePhaseKVAR") / len(phases)
        if not per:
            per = _f(eq, "KVAR")
        if per:
            fixed = {p: per for p in phases}
    for part in (fixed, switched):
        for p in [p for p in part if p not in section_phases]:
            warnings.append(
                ErrorDetail(
                    setting.where,
                    f"{what} kvar on phase {p}, which the section ({section_phases}) does not carry: left out",
                    "phase_mismatch",
                )
            )
            del part[p]
    kv_ln: float | None = None
    if _f(setting, "KVLN") > 0:
        kv_ln = _f(setting, "KVLN")
    elif _f(setting, "KV") > 0 or _f(eq, "KV") > 0:
        unit = _f(setting, "KV") or _f(eq, "KV")
        kv_ln = unit / SQRT3 if delta else unit
    closed_text = setting.get("InitiallyClosedPhase") or setting.get("CurrentClosedPhase")
    if closed_text:
        closed = "" if closed_text.upper() in ("NONE", "0") else phase_letters(closed_text)
    else:
        status = setting.get("SwitchedCapacitorStatus")
        closed = "ABC" if status and status not in ("0", "") else ""
    enabled = _f(setting, "ConnectionStatus") == 0.0
    return Bank(fixed, switched, delta, kv_ln, closed, enabled, warnings)


def bank_rows(
    name: str, bus: str, bank: Bank, part: dict[str, float], kv_ln: float, section_phases: str, closed: str
) -> list[dict[str, Any]]:
    """Capacitor-like rows (bus1, phases, conn, kv, total kvar, closed) for one part of a bank: one
    element when its phases carry the same kvar, else one per phase (delta: per branch)."""
    phases = "".join(p for p in "ABC" if p in part)
    if not phases:
        return []
    values = [part[p] for p in phases]
    equal = max(values) - min(values) <= 1e-9 * max(abs(v) for v in values)
    rows: list[dict[str, Any]] = []
    if bank.delta and len(section_phases) < 3:
        a, b = section_phases[0], section_phases[-1]
        rows.append(
            _row(name, f"{bus}.{NODE[a]}.{NODE[b]}", 1, "delta", kv_ln * SQRT3, sum(values), closed != "")
        )
    elif bank.delta and equal and len(phases) == 3:
        rows.append(_row(name, f"{bus}.1.2.3", 3, "delta", kv_ln * SQRT3, sum(values), closed != ""))
    elif bank.delta:
        for p in phases:
            nodes = f".{NODE[p]}.{NODE[NEXT[p]]}"
            rows.append(
                _row(f"{name}_{p.lower()}", f"{bus}{nodes}", 1, "delta", kv_ln * SQRT3, part[p], p in closed)
            )
    elif equal:
        n = len(phases)
        nodes = "".join(f".{NODE[p]}" for p in phases)
        rows.append(
            _row(
                name, f"{bus}{nodes}", n, "wye", kv_ln if n == 1 else kv_ln * SQRT3, sum(values), closed != ""
            )
        )
    else:
        for p in phases:
            rows.append(
                _row(f"{name}_{p.lower()}", f"{bus}.{NODE[p]}", 1, "wye", kv_ln, part[p], p in closed)
            )
    return rows


def _row(
    name: str, bus1: str, phases: int, conn: str, kv: float, kvar: float, closed: bool
) -> dict[str, Any]:
    return {
        "name": name,
        "bus1": bus1,
        "phases": phases,
        "conn": conn,
        "kv": kv,
        "kvar": kvar,
        "closed": closed,
    }


@dataclass(frozen=True)
class CapControlSpec:
    """A switched bank's control: type, on/off values as CapControl takes them, PT ratio, monitored
    phase (1..3 of the monitored element), delays and voltage override."""

    type: str
    on: float
    off: float
    pt_ratio: float
    ct_ratio: float
    pt_phase: int
    delay_s: float
    delay_off_s: float
    volt_override: bool
    vmin_v: float
    vmax_v: float


def _to_secondary_volts(value: float, kv_ln: float, pt_ratio: float) -> float:
    """A voltage setting as CapControl takes it (volts on the PT secondary): per unit, 120 V base
    volts, kV, or primary volts, told apart by size."""
    if value <= 2.0:
        return value * 120.0
    if value <= 250.0 and value >= 50.0:
        return value
    if value < 50.0:
        return value * 1000.0 / pt_ratio
    return value / pt_ratio


def cap_control(
    setting: SectionRecord, kv_ln: float, phase: str, delays: SectionRecord | None
) -> tuple[CapControlSpec | None, list[ErrorDetail]]:
    """The switched part's control (None: no automatic control), and warnings for what is not
    mapped. ``phase``: the element's controlling phase letter; ``delays``: its
    ``[CAPACITOR EXTLTD]`` record (close and trip delays)."""
    text = (setting.get("Control") or setting.get("CapacitorControlType") or "").upper().replace(" ", "")
    if text in _NO_CONTROL:
        return None, []
    kind = _CONTROL.get(text)
    if kind is None:
        return None, [
            ErrorDetail(
                f"{setting.where} Control",
                f"capacitor control {setting.get('Control')!r} not mapped: the switched part stays in its "
                "initial state",
                "unmapped_control",
            )
        ]
    on_text, off_text = f"OnValue{phase}", f"OffValue{phase}"
    on = opt_num(setting, on_text) if setting.get(on_text) else opt_num(setting, "ONSetting")
    off = opt_num(setting, off_text) if setting.get(off_text) else opt_num(setting, "OFFSetting")
    if on is None or off is None:
        return None, [
            ErrorDetail(
                f"{setting.where} Control",
                f"{kind} control without on/off values: the switched part stays in its initial state",
                "unmapped_control",
            )
        ]
    pt_ratio = kv_ln * 1000.0 / 120.0
    if kind == "voltage":
        on, off = _to_secondary_volts(on, kv_ln, pt_ratio), _to_secondary_volts(off, kv_ln, pt_ratio)
    override = _f(setting, "VoltageOverride") != 0.0
    vmin = _f(setting, "VoltageOverrideOn") or 0.0
    vmax = _f(setting, "VoltageOverrideOff") or 0.0
    if override:
        vmin = _to_secondary_volts(vmin, kv_ln, pt_ratio) if vmin else 115.0
        vmax = _to_secondary_volts(vmax, kv_ln, pt_ratio) if vmax else 126.0
    delay, delay_off = 15.0, 15.0
    if delays is not None and _f(delays, "EnableDelays") != 0.0:
        delay = _f(delays, "CloseDelay") or delay
        delay_off = _f(delays, "TripDelay") or delay_off
    return (
        CapControlSpec(
            kind,
            on,
            off,
            pt_ratio if kind == "voltage" or override else 1.0,
            1.0,
            NODE.get(phase, 1),
            delay,
            delay_off,
            override,
            vmin or 115.0,
            vmax or 126.0,
        ),
        [],
    )
