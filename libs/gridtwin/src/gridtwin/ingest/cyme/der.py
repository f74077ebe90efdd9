"""Distributed generation: photovoltaics and generators (synchronous, induction, converter-interfaced).

- ``[PHOTOVOLTAIC SETTINGS]`` -> ``pvsystems``: the array's rating is its modules' (``NS`` x ``NP`` x
  ``MPPCurrent`` x ``MPPVoltage`` of the ``[PHOTOVOLTAIC]`` entry), else its inverter's active power
  rating (``[CONVERTER]``, by device); the inverter's kVA is ``ConverterRating``. Its output is the
  device's ``[DGGENERATIONMODEL]`` ``ActiveGeneration`` (irradiance = output / rating); without one
  the array produces its rating (a warning says so).
- ``[SYNCHRONOUS GENERATOR SETTING]``, ``[INDUCTION GENERATOR SETTING]`` and ``[ELECTRONIC CONVERTER
  GENERATOR SETTING]`` -> ``generators`` (constant P and Q, OpenDSS model 1): active power and power
  factor from the device's ``[DGGENERATIONMODEL]``, else the setting's, else the equipment's
  ``ActiveGeneration`` and ``PF`` (times ``NumberOfGenerators``). A positive power factor produces
  vars, a negative one absorbs them.
"""

from __future__ import annotations

import math
from typing import Any

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.ingest.cyme.devices import phase_letters, winding_code
from gridtwin.ingest.cyme.sections import SectionRecord
from gridtwin.ingest.cyme.units import opt_num

__all__ = ["GENERATOR_SETTINGS", "generator_row", "pv_row"]

SQRT3 = math.sqrt(3.0)
NODE = {"A": 1, "B": 2, "C": 3}
# setting section -> its equipment catalog section
GENERATOR_SETTINGS = {
    "SYNCHRONOUS GENERATOR SETTING": "SYNCHRONOUS GENERATOR",
    "INDUCTION GENERATOR SETTING": "INDUCTION GENERATOR",
    "ELECTRONIC CONVERTER GENERATOR SETTING": "ELECTRONIC CONVERTER GENERATOR",
}


def _v(rec: SectionRecord | None, *names: str) -> float | None:
    """The first of ``names`` the record gives a non-zero number for."""
    if rec is None:
        return None
    for name in names:
        if rec.get(name):
            value = opt_num(rec, name)
            if value:
                return value
    return None


def _given(rec: SectionRecord | None, *names: str) -> float | None:
    """The first of ``names`` the record gives a number for, zero included (an output of 0 kW is an
    output)."""
    if rec is None:
        return None
    for name in names:
        if rec.get(name):
            value = opt_num(rec, name)
            if value is not None:
                return value
    return None


def _pf(value: float | None) -> float:
    if value is None:
        return 1.0
    pf = value / 100.0 if abs(value) > 1.0 else value
    return pf if 0.0 < abs(pf) <= 1.0 else 1.0


def _placement(
    setting: SectionRecord, section_phases: str, bus: str, kv_ll: float
) -> tuple[str, int, float, str]:
    """(bus1 with nodes, phases, rated kV as OpenDSS takes it, conn) of a DER on the section."""
    given = phase_letters(setting.get("EqPhase") or setting.get("Phase") or "")
    phases = "".join(p for p in section_phases if not given or p in given) or section_phases
    conn_text = setting.get("ConnectionConfiguration") or setting.get("Connection") or "0"
    try:
        conn = winding_code(setting, "ConnectionConfiguration", conn_text).conn
    except InputError:  # an unknown code: a wye DER, as most are
        conn = "wye"
    n = len(phases)
    nodes = "".join(f".{NODE[p]}" for p in phases)
    kv = kv_ll if n > 1 or conn == "delta" else kv_ll / SQRT3
    return f"{bus}{nodes}", n, kv, conn


def _enabled(setting: SectionRecord) -> bool:
    return (opt_num(setting, "ConnectionStatus") or 0.0) == 0.0 if setting.get("ConnectionStatus") else True


def pv_row(
    name: str,
    setting: SectionRecord,
    module: SectionRecord | None,
    converter: SectionRecord | None,
    generation: SectionRecord | None,
    bus: str,
    section_phases: str,
    kv_ll: float,
) -> tuple[dict[str, Any] | None, list[ErrorDetail]]:
    """One PVSystem row (None when the export gives no rating) and the warnings."""
    warnings: list[ErrorDetail] = []
    ns, np_ = _v(setting, "NS", "NumberOfSeriesModules"), _v(setting, "NP", "NumberOfParallelModules")
    impp, vmpp = _v(module, "MPPCurrent"), _v(module, "MPPVoltage")
    pmpp = ns * np_ * impp * vmpp / 1000.0 if ns and np_ and impp and vmpp else None
    if pmpp is None:
        pmpp = _v(converter, "ActivePowerRating") or _v(setting, "RatedPower", "KW", "ActivePowerRating")
    output = _given(generation, "ActiveGeneration")
    output = output if output is not None else _given(setting, "ActiveGeneration")
    if pmpp is None:
        pmpp = output
    if pmpp is None or pmpp <= 0:
        return None, [
            ErrorDetail(
                setting.where,
                "photovoltaic without a rating (modules NS x NP, converter or generation model): not mapped",
                "unmapped",
            )
        ]
    kva = _v(converter, "ConverterRating") or _v(setting, "KVA", "ConverterRating") or pmpp
    if output is None:
        irradiance = 1.0
        warnings.append(
            ErrorDetail(
                setting.where,
                f"no generation model for photovoltaic {name!r}: it produces its rating ({pmpp:.6g} kW)",
                "default_used",
            )
        )
    else:
        irradiance = max(output, 0.0) / pmpp
    pf = _pf(_v(generation, "PowerFactor") or _v(setting, "PF", "PowerFactor"))
    bus1, phases, kv, conn = _placement(setting, section_phases, bus, kv_ll)
    extra = "" if _enabled(setting) else '{"enabled": false}'
    row = {
        "name": name,
        "bus1": bus1,
        "phases": phases,
        "kv": kv,
        "pmpp_kw": pmpp,
        "kva": max(kva, pmpp * irradiance),
        "irradiance_kw_per_m2": irradiance,
        "pf": pf,
        "conn": conn,
        "yearly": "",
        "daily": "",
        "dss_extra_json": extra,
    }
    return row, warnings


def generator_row(
    name: str,
    setting: SectionRecord,
    eq: SectionRecord | None,
    generation: SectionRecord | None,
    bus: str,
    section_phases: str,
    kv_ll: float,
) -> tuple[dict[str, Any] | None, list[ErrorDetail]]:
    """One Generator row (None when the export gives no active power) and the warnings."""
    count = _v(setting, "NumberOfGenerators") or 1.0
    kw = _given(generation, "ActiveGeneration")
    kw = kw if kw is not None else _given(setting, "ActiveGeneration")
    if kw is None and _given(eq, "ActiveGeneration") is not None:
        kw = (_given(eq, "ActiveGeneration") or 0.0) * count
    if kw is None:
        return None, [
            ErrorDetail(setting.where, "generator without active power (generation model, setting or equipment): "
                        "not mapped", "unmapped")
        ]  # fmt: skip
    pf = _pf(_v(generation, "PowerFactor") or _v(setting, "PF", "PowerFactor") or _v(eq, "PF"))
    kvar = abs(kw) * math.sqrt(max(1.0 - pf * pf, 0.0)) / abs(pf)
    bus1, phases, kv, conn = _placement(setting, section_phases, bus, kv_ll)
    row = {
        "name": name,
        "bus1": bus1,
        "phases": phases,
        "kv": kv,
        "p_kw": kw,
        "q_kvar": kvar if pf > 0 else -kvar,
        "model": 1,
        "conn": conn,
        "enabled": _enabled(setting),
        "dss_extra_json": "",
    }
    return row, []
