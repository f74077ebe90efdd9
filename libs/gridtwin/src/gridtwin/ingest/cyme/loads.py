"""CYME load values -> kW/kvar, and customer classes -> OpenDSS load models.

``[CUSTOMER LOADS]`` give one line per customer and phase: ``ValueType`` + ``Value1``/``Value2``.
Value formats (code or name): 0 KW_KVAR, 1 KVA_PF, 2 KW_PF, 3 AMP_PF, and KVA_KW. Power factors are
in percent (a negative one is leading). AMP_PF needs the phase voltage, so the caller passes it.
"""

from __future__ import annotations

import itertools
import math

from gridtwin.errors import ErrorDetail, InputError, Report
from gridtwin.ingest.cyme.devices import NEXT, NODE
from gridtwin.ingest.cyme.equipment import safe_name
from gridtwin.ingest.cyme.network import Network
from gridtwin.ingest.cyme.sections import SectionRecord, Sections
from gridtwin.ingest.cyme.units import num, opt_num

__all__ = ["VALUE_FORMATS", "build_loads", "load_model", "value_to_kw_kvar"]

VALUE_FORMATS = {"0": "KW_KVAR", "1": "KVA_PF", "2": "KW_PF", "3": "AMP_PF", "4": "KVA_KW"}


def _pf(rec: SectionRecord, value: float) -> float:
    pf = value / 100.0 if abs(value) > 1.0 else value
    if pf == 0 or abs(pf) > 1.0:
        raise InputError(
            "invalid CYME power factor",
            [
                ErrorDetail(
                    rec.where, f"power factor {value} is not in (0, 100] percent", code="invalid_value"
                )
            ],
        )
    return pf


def _q_from_pf(p_kw: float, pf: float) -> float:
    q = abs(p_kw) * math.sqrt(1.0 - pf * pf) / abs(pf)
    return q if pf > 0 else -q


def value_to_kw_kvar(
    rec: SectionRecord, fmt: str, value1: float, value2: float, phase_kv: float
) -> tuple[float, float]:
    """(kW, kvar) of one load value. ``phase_kv``: the voltage across the load branch (AMP_PF only)."""
    kind = VALUE_FORMATS.get(fmt.strip(), fmt.strip().upper())
    if kind == "KW_KVAR":
        return value1, value2
    if kind == "KW_PF":
        return value1, _q_from_pf(value1, _pf(rec, value2))
    if kind == "KVA_PF":
        pf = _pf(rec, value2)
        return value1 * abs(pf), _q_from_pf(value1 * abs(pf), pf)
    if kind == "KVA_KW":
        if abs(value2) > abs(value1) + 1e-9:
            raise InputError(
                "invalid CYME load value",
                [ErrorDetail(rec.where, f"kW {value2} exceeds kVA {value1}", code="invalid_value")],
            )
        return value2, math.sqrt(max(value1 * value1 - value2 * value2, 0.0))
    if kind == "AMP_PF":
        if phase_kv <= 0:
            raise InputError(
                "CYME load in amperes on a bus of unknown voltage",
                [ErrorDetail(rec.where, "AMP_PF needs the bus voltage", code="invalid_value")],
            )
        kva = value1 * phase_kv
        pf = _pf(rec, value2)
        return kva * abs(pf), _q_from_pf(kva * abs(pf), pf)
    raise InputError(
        "unknown CYME load value format",
        [ErrorDetail(rec.where, f"value type {fmt!r} is not one of {sorted(set(VALUE_FORMATS.values()))}")],
    )


def load_model(customer_class: SectionRecord | None) -> tuple[int, list[float]]:
    """(OpenDSS load model, zipv) from a ``[CUSTOMER CLASS]`` entry: constant P (1), Z (2), I (5), or a
    ZIP mix (8). The ``ConstantImpedanceZP``/``ConstantCurrentIP``/``ConstantPowerPP`` percentages
    (and their Q twins) are the load-flow model; without them, the class's ConstantPower/Current/
    Impedance split. No class: constant power."""
    if customer_class is None:
        return 1, []

    def pct(*names: str) -> float:
        for n in names:
            v = opt_num(customer_class, n)
            if v is not None:
                return v
        return 0.0

    zp, ip, pp = pct("ConstantImpedanceZP"), pct("ConstantCurrentIP"), pct("ConstantPowerPP")
    zq, iq, pq = pct("ConstantImpedanceZQ"), pct("ConstantCurrentIQ"), pct("ConstantPowerPQ")
    if zp + ip + pp <= 0:
        zp, ip, pp = pct("ConstantImpedance"), pct("ConstantCurrent"), pct("ConstantPower")
        zq, iq, pq = zp, ip, pp
    if zp + ip + pp <= 0:
        return 1, []
    for code, mix in ((2, (zp, zq)), (5, (ip, iq)), (1, (pp, pq))):
        if all(abs(v - 100.0) < 1e-9 for v in mix) and zp + ip + pp <= 100.0 + 1e-9:
            return code, []
    tp, tq = zp + ip + pp, zq + iq + pq
    tq = tq if tq > 0 else tp
    return 8, [zp / tp, ip / tp, pp / tp, zq / tq, iq / tq, pq / tq, 0.0]


def num_customers(rec: SectionRecord) -> int:
    value = num(rec, "NumberOfCustomer", 0.0) if "NumberOfCustomer" in rec.fields else 0.0
    return max(int(value), 0)


def build_loads(sections: Sections, net: Network, report: Report) -> None:
    """One OpenDSS load per customer load and phase (wye: phase-neutral; delta: A->AB, B->BC, C->CA).
    Spot loads sit at the section's far node. A distributed load (spread uniformly along its
    section's conductor) becomes Kersting's exact lumped equivalent (Distribution System Modeling
    and Analysis, ch. 3, "the exact lumped load model"): 2/3 of it at a quarter of the conductor's
    length, 1/3 at its far end. Unlike one lump at the middle (right end voltage drop, 3/2 of the
    losses) or at a third of the length (right losses, 2/3 of the drop), it gives both the end
    voltage drop (z l I / 2) and the losses (r l I^2 / 3) of the uniform spread. The conductor is
    split at the quarter point."""
    devices: dict[str, SectionRecord] = {}
    for rec in sections.records("LOADS"):
        dev = rec.get("DeviceNumber") or rec.get("SectionID")
        if rec.get("SectionID") not in net.section_bus:
            raise InputError(
                "invalid CYME load",
                [
                    ErrorDetail(
                        rec.where,
                        f"load on section {rec.get('SectionID')!r}, which is not in [SECTION]",
                        code="missing_section",
                    )
                ],
            )
        if dev in devices:
            raise InputError(
                "invalid CYME load",
                [ErrorDetail(rec.where, f"duplicated load device {dev!r}", code="duplicate_id")],
            )
        devices[dev] = rec
    classes = {r.get("ID"): r for r in sections.records("CUSTOMER CLASS")}
    splits: dict[str, tuple[str, str]] = {}
    for rec in sections.records("CUSTOMER LOADS"):
        sid = rec.get("SectionID")
        dev = rec.get("DeviceNumber") or sid
        if sid not in net.section_bus:
            raise InputError(
                "invalid CYME load",
                [
                    ErrorDetail(
                        rec.where,
                        f"customer load on section {sid!r}, which is not in [SECTION]",
                        code="missing_section",
                    )
                ],
            )
        owner = devices.get(dev)
        if owner is None:
            report.warnings.append(
                ErrorDetail(
                    rec.where, f"customer load of device {dev!r} not in [LOADS]; wye spot load assumed"
                )
            )
        value1, value2 = num(rec, "Value1", 0.0), num(rec, "Value2", 0.0)
        if value1 == 0.0 and value2 == 0.0:
            continue
        bus, sec_phases = net.section_bus[sid]
        load_type = (rec.get("LoadType") or (owner.get("LoadType") if owner else "SPOT")).upper()
        places = [(bus, 1.0)]  # (bus, share of the load)
        if load_type.startswith("DISTRIB"):
            if sid in net.section_line:
                quarter, end = splits.get(sid) or _split(net, sid, splits)
                places = [(quarter, 2.0 / 3.0), (end, 1.0 / 3.0)]
            else:
                report.warnings.append(
                    ErrorDetail(
                        rec.where, "distributed load on a section without conductor; lumped at its end"
                    )
                )
        phase = (rec.get("LoadPhase") or "").upper()
        if phase not in ("A", "B", "C"):
            raise InputError(
                "invalid CYME load",
                [ErrorDetail(f"{rec.where} LoadPhase", f"phase {phase!r} is not A, B or C")],
            )
        conn_code = (owner.get("Connection") if owner else "0") or "0"
        delta = conn_code.upper() in ("2", "3", "4", "7", "D", "DELTA")
        if conn_code.upper() not in ("0", "1", "2", "3", "4", "7", "Y", "YG", "D", "DELTA"):
            report.warnings.append(
                ErrorDetail(
                    owner.where if owner else rec.where, f"load connection {conn_code!r} modelled as wye"
                )
            )
        kv_ll = net.node_kv_ll.get(bus.split(".")[0]) or net.node_kv_ll.get(net.section_bus[sid][0], 0.0)
        kv = kv_ll if delta else kv_ll / math.sqrt(3.0)
        k = NODE[phase]
        # (node suffix, rated kV, share, name suffix) of each part of the load
        parts = [(f".{k}.{NODE[NEXT[phase]]}" if delta else f".{k}", kv, 1.0, "")]
        if bus in net.centertap:
            leg_kv = kv_ll / math.sqrt(3.0)  # the walk put the legs' voltage on a wye base
            kv, parts = 2.0 * leg_kv, _split_phase_parts(rec, leg_kv)
        p_kw, q_kvar = value_to_kw_kvar(rec, rec.get("ValueType") or "0", value1, value2, kv)
        model, zipv = load_model(classes.get(rec.get("CustomerType")))
        vmin = (
            opt_num(classes[rec.get("CustomerType")], "LoadFlowVoltagePercentOfNominal")
            if rec.get("CustomerType") in classes
            else None
        )
        status = num(rec, "ConnectionStatus", 0.0) if "ConnectionStatus" in rec.fields else 0.0
        for i, ((place, share), (nodes, part_kv, part, suffix)) in enumerate(
            itertools.product(places, parts)
        ):
            base = f"{safe_name(dev)}_{phase.lower()}" + ("_end" if place != places[0][0] else "")
            _add_load(
                net,
                {
                    "name": net.unique("loads", base + suffix),
                    "bus1": f"{place}{nodes}",
                    "conn": "delta" if delta and not suffix else "wye",
                    "model": model,
                    "kv": part_kv,
                    "p_kw": p_kw * share * part,
                    "q_kvar": q_kvar * share * part,
                    "vmin_pu": vmin / 100.0 if vmin else 0.95,
                    "zipv": zipv,
                    # the customers are counted once, on the first lump
                    "num_customers": 0 if i else num_customers(rec),
                    "enabled": status == 0.0,
                },
            )
        if sec_phases and phase not in sec_phases:
            report.warnings.append(
                ErrorDetail(rec.where, f"load on phase {phase} of a section with phases {sec_phases}")
            )


def _split_phase_parts(rec: SectionRecord, leg_kv: float) -> list[tuple[str, float, float, str]]:
    """A load on a center-tap (120/240 V) secondary: ``CenterTapPercent`` of it between leg 1 and the
    neutral, ``CenterTapPercent2`` between leg 2 and the neutral, the rest across the legs (240 V),
    as OpenDSS split-phase examples connect them (``bus.1``, ``bus.2``, ``bus.1.2``). Without the
    columns the whole load is taken as a 240 V one."""
    pct1 = num(rec, "CenterTapPercent", 0.0) if rec.get("CenterTapPercent") else 0.0
    pct2 = num(rec, "CenterTapPercent2", 0.0) if rec.get("CenterTapPercent2") else 0.0
    if pct1 < 0 or pct2 < 0 or pct1 + pct2 > 100.0 + 1e-9:
        raise InputError(
            "invalid CYME load",
            [
                ErrorDetail(
                    f"{rec.where} CenterTapPercent",
                    f"center-tap shares {pct1} % + {pct2} % are not within 0..100 %",
                    code="invalid_value",
                )
            ],
        )
    shares = [(".1", leg_kv, pct1 / 100.0, "_1"), (".2", leg_kv, pct2 / 100.0, "_2")]
    shares.append((".1.2", 2.0 * leg_kv, max(0.0, 1.0 - (pct1 + pct2) / 100.0), "_12"))
    return [s for s in shares if s[2] > 0.0]


def _add_load(net: Network, values: dict[str, object]) -> None:
    net.add(
        "loads",
        {
            "phases": 1,
            "vmax_pu": 1.05,
            "yearly": "",
            "daily": "",
            "duty": "",
            "customer_class": 1,
            "status": "variable",
            "cvr_watts": 1.0,
            "cvr_vars": 2.0,
            "dss_extra_json": "",
            **values,
        },
    )


def _split(net: Network, sid: str, splits: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """Split a section's line at a quarter of its length; return (quarter bus, far end bus)."""
    name = net.section_line[sid]
    rows = net.rows["lines"]
    row = next(r for r in rows if r["name"] == name)
    bus2 = str(row["bus2"])
    head, _, suffix = bus2.partition(".")
    quarter = f"{safe_name(sid)}_q1"
    second = dict(row)
    second["name"] = net.unique("lines", f"{name}_b")
    second["bus1"] = f"{quarter}.{suffix}" if suffix else quarter
    second["length_m"] = row["length_m"] * 0.75
    second["open_conductors"] = []
    row["bus2"] = second["bus1"]
    row["length_m"] = row["length_m"] * 0.25
    rows.append(second)
    net.node_kv_ll[quarter] = net.node_kv_ll.get(head, 0.0)
    splits[sid] = (quarter, head)
    return quarter, head
