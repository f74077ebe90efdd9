"""Transformer (two and three winding) and regulator rows from CYME settings + catalog entries.

Transformer connections. CYME writes a two-winding connection as a code or a name (``Conn`` of
``[TRANSFORMER SETTING]`` / ``[TRANSFORMER]``): numeric codes 0-10 as the CYME 5 exports number them
(0 Y_Y, 1 D_Y, 2 Y_D, 3 YNG_YNG, 4 D_D, 5 DO_DO, 6 YO_DO, 7 D_YNG, 8 YNG_D, 9 Y_YNG, 10 YNG_Y; the
IEEE 4 node export's 6 is its open-wye / open-delta bank), 11-31 as the later list continues them
(Yg_Zg, D_Zg, Zg_Yg, Zg_D, Yg_CT, D_CT, Yg_DCT, D_DCT, Y_DCT, DO_DOCT, YO_DOCT, DO_YO, then the Dn
ones). Later CYME versions number 2, 4, 5 and 6 differently (D_D, DO_DO, YO_D, Yg_D): a bare number is
read in the CYME 5 numbering; a name is never ambiguous. Names are split at ``_`` into the two windings:

- ``Y`` is a grounded wye as older exports mean it (their ungrounded wye is ``YNG``, "not grounded");
  an export that names grounded wyes ``Yg`` uses the later naming, where a bare ``Y`` is ungrounded;
- ``YNG`` (and ``Y`` in the later naming) is an ungrounded wye: its star point is a floating node 4;
- ``D``, ``Dn`` and ``Dg`` are deltas; ``YO``/``DO`` open wye / open delta (a bank of two units);
- ``CT`` is a split-phase (120/240 V) secondary; ``DCT``/``DOCT`` a centre-tapped (4-wire) delta,
  modelled as the delta without its tap (a warning says so);
- ``Zg``/``Z`` (zig-zag) is modelled as a grounded wye: same positive sequence, its phase shift is not
  kept (a warning says so).

Regulators: one single-phase unit (a near-ideal two-winding transformer) and one RegControl per
regulated phase. A single-phase regulator type regulates the phases ``PhaseON`` names and passes the
section's other phases straight through; a three-phase type regulates every phase of its section
whatever ``PhaseON`` says, each phase with its own settings (tap, Vset, R, X). An open-delta bank is two
units between phases (A-B and C-B, as OpenDSS's IEEE 37 model has them); a closed-delta bank is
modelled as three wye units (three near-ideal units across A-B, B-C and C-A would close a loop whose
circulating current keeps the controls from settling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.ingest.cyme.sections import SectionRecord
from gridtwin.ingest.cyme.units import num, opt_num

__all__ = [
    "REGULATOR_MODES",
    "Winding",
    "check_regulators",
    "phase_letters",
    "regulator_rows",
    "three_winding_rows",
    "transformer_rows",
    "uses_yg_naming",
    "winding_code",
    "xfmr_connection",
]

SQRT3 = math.sqrt(3.0)
NODE = {"A": 1, "B": 2, "C": 3}
NEXT = {"A": "B", "B": "C", "C": "A"}
FLOATING_NEUTRAL = 4  # node of an ungrounded wye's star point
REGULATOR_MODES = ("controlled", "fixed")
PHASE_CODES = {"1": "A", "2": "B", "3": "C", "4": "AB", "5": "AC", "6": "BC", "7": "ABC"}


def phase_letters(text: str) -> str:
    """Phases as letters from ``ABC`` text or CYME's phase codes (1 A, 2 B, 3 C, 4 AB, 5 AC, 6 BC, 7 ABC)."""
    key = text.strip().upper()
    key = PHASE_CODES.get(key, key)
    return "".join(p for p in "ABC" if p in key)


def check_regulators(value: str | None, where: str = "regulators") -> str:
    """``controlled`` (RegControls regulate, the default) or ``fixed`` (taps pinned at the export's);
    an empty value is the default. Anything else is an ``InputError`` naming ``where``."""
    text = (value or "").strip().lower() or REGULATOR_MODES[0]
    if text not in REGULATOR_MODES:
        raise InputError(
            "invalid regulators option",
            [ErrorDetail(where, f"{value!r} is not one of {', '.join(REGULATOR_MODES)}", "invalid_value")],
        )
    return text


@dataclass(frozen=True)
class Winding:
    """One winding as OpenDSS builds it: ``conn`` wye | delta, ``grounded`` (wye), ``open`` (open wye
    or open delta: a bank of two units), ``centertap`` (split-phase secondary), ``note`` what the
    model leaves out ("" when nothing)."""

    conn: str
    grounded: bool = True
    open: bool = False
    centertap: bool = False
    note: str = ""


# Numeric connection codes as winding tokens (see the module docstring for the naming).
_CODES: dict[str, tuple[str, str]] = {
    str(i): pair
    for i, pair in enumerate(
        (
            ("YG", "YG"), ("D", "YG"), ("YG", "D"), ("YU", "YU"), ("D", "D"), ("DO", "DO"),
            ("YO", "DO"), ("D", "YU"), ("YU", "D"), ("YG", "YU"), ("YU", "YG"), ("YG", "ZG"),
            ("D", "ZG"), ("ZG", "YG"), ("ZG", "D"), ("YG", "CT"), ("D", "CT"), ("YG", "DCT"),
            ("D", "DCT"), ("YU", "DCT"), ("DO", "DOCT"), ("YO", "DOCT"), ("DO", "YO"), ("YG", "DN"),
            ("YU", "DN"), ("D", "DN"), ("ZG", "DN"), ("DN", "YG"), ("DN", "YU"), ("DN", "D"),
            ("DN", "DN"), ("DN", "ZG"),
        )
    )
}  # fmt: skip

# Winding names as written, after upper-casing (``Y`` depends on the export's naming, see below).
_TOKENS: dict[str, Winding] = {
    "YG": Winding("wye"),
    "YN": Winding("wye"),
    "YU": Winding("wye", grounded=False),
    "YNG": Winding("wye", grounded=False),
    "D": Winding("delta"),
    "DELTA": Winding("delta"),
    "CD": Winding("delta"),
    "DN": Winding("delta"),
    "DG": Winding("delta", note="grounded delta modelled as a delta"),
    "YO": Winding("wye", open=True),
    "OY": Winding("wye", open=True),
    "DO": Winding("delta", open=True),
    "OD": Winding("delta", open=True),
    "CT": Winding("wye", centertap=True),
    "DCT": Winding("delta", note="centre tap of the delta secondary not modelled (3-wire delta)"),
    "DOCT": Winding("delta", open=True, note="centre tap of the open delta not modelled"),
    "Z": Winding("wye", note="zig-zag winding modelled as a grounded wye (its phase shift is not kept)"),
    "ZG": Winding("wye", note="zig-zag winding modelled as a grounded wye (its phase shift is not kept)"),
}

# ConnectionConfiguration codes of single windings (three-winding transformers, generators):
# 0 Yg, 1 Y, 2 Delta, 3 Open delta, 4 Closed delta, 5 Zg, 6 CT, 7 Dg.
_CONFIG_CODES = {"0": "YG", "1": "YU", "2": "D", "3": "DO", "4": "D", "5": "ZG", "6": "CT", "7": "DG"}


def uses_yg_naming(texts: list[str]) -> bool:
    """Whether the export names grounded wyes ``Yg`` (the later naming, where a bare ``Y`` is an
    ungrounded wye); older exports write ``Y`` for grounded and ``YNG`` for ungrounded."""
    return any("YG" in _split(t) for t in texts)


def _split(text: str) -> list[str]:
    return [t for t in text.strip().upper().replace("-", "_").replace("/", "_").split("_") if t]


def _token(token: str, yg_naming: bool) -> Winding | None:
    if token == "Y":  # nosec B105  # a winding code (wye), not a password
        return Winding("wye", grounded=not yg_naming)
    return _TOKENS.get(token)


def winding_code(rec: SectionRecord, field_name: str, text: str, yg_naming: bool = False) -> Winding:
    """One winding from a ConnectionConfiguration code (0 Yg, 1 Y, 2 D, 3 open D, 4 closed D, 5 Zg,
    6 CT, 7 Dg) or a name."""
    key = text.strip().upper()
    found = _token(_CONFIG_CODES.get(key, key), yg_naming)
    if found is None:
        raise InputError(
            "unsupported CYME winding connection",
            [ErrorDetail(f"{rec.where} {field_name}", f"connection {text!r} is not known", code="unmapped")],
        )
    return found


def xfmr_connection(rec: SectionRecord, text: str, yg_naming: bool = False) -> tuple[Winding, Winding]:
    """(primary, secondary) windings of a two-winding connection code or name."""
    key = text.strip().upper()
    pair: tuple[str, ...] | None = _CODES.get(key)
    if pair is None:
        tokens = _split(key)
        pair = tuple(tokens) if len(tokens) == 2 else None
    windings = [_token(t, yg_naming) for t in pair] if pair else []
    if len(windings) != 2 or windings[0] is None or windings[1] is None:
        raise InputError(
            "unsupported CYME transformer connection",
            [
                ErrorDetail(
                    f"{rec.where} Conn", f"connection {text!r} is not a known CYME code", code="unmapped"
                )
            ],
        )
    return windings[0], windings[1]


def _impedance(eq: SectionRecord) -> tuple[float, float]:
    """(%R total, %X) from Z1 % and X/R."""
    z = num(eq, "Z1")
    xr = num(eq, "XR", 0.0) if "XR" in eq.fields else 0.0
    r = z / math.sqrt(1.0 + xr * xr)
    return r, r * xr


def _base(name: str, windings: int, kva: float) -> dict[str, Any]:
    return {
        "name": name,
        "windings": windings,
        "xht_pct": 0.0,
        "xlt_pct": 0.0,
        "pct_noload_loss": 0.0,
        "pct_imag": 0.0,
        "norm_hkva_kva": 1.1 * kva,
        "emerg_hkva_kva": 1.5 * kva,
        "min_taps_pu": [0.9] * windings,
        "max_taps_pu": [1.1] * windings,
        "num_taps": [32] * windings,
        "rneuts_ohm": [-1.0] * windings,
        "xneuts_ohm": [0.0] * windings,
        "ppm_antifloat": 1.0,
        "dss_extra_json": "",
    }


def _enabled(setting: SectionRecord) -> bool:
    return num(setting, "ConnectionStatus", 0.0) == 0.0 if "ConnectionStatus" in setting.fields else True


def _wye_end(bus: str, nodes: str, grounded: bool) -> str:
    """A wye winding's bus: its phase nodes, then its star point (ground, or the floating node 4)."""
    return f"{bus}{nodes}.{0 if grounded else FLOATING_NEUTRAL}"


def transformer_rows(
    name: str,
    setting: SectionRecord,
    eq: SectionRecord,
    bus1: str,
    bus2: str,
    phases: str,
    conn_text: str,
    *,
    yg_naming: bool = False,
    bank_phases: int = 0,
) -> tuple[list[dict[str, Any]], float, list[ErrorDetail]]:
    """Rows for one transformer device, the secondary/primary LL voltage ratio and the warnings.
    ``bank_phases``: how many single-phase units make the bank this unit belongs to (by-phase
    settings); an ungrounded star point needs at least two units to carry current."""
    kva = num(eq, "KVA")
    kv1, kv2 = num(eq, "KVLLprim"), num(eq, "KVLLsec")
    if kva <= 0 or kv1 <= 0 or kv2 <= 0:
        raise InputError(
            "invalid CYME transformer", [ErrorDetail(eq.where, "KVA, KVLLprim and KVLLsec must be > 0")]
        )
    r, x = _impedance(eq)
    prim, sec = xfmr_connection(setting, conn_text, yg_naming)
    warnings = [
        ErrorDetail(f"{setting.where} Conn", f"connection {conn_text!r}: {w.note}", "approximated")
        for w in (prim, sec)
        if w.note
    ]
    if yg_naming and "Y" in _split(conn_text):
        warnings.append(
            ErrorDetail(
                f"{setting.where} Conn",
                f"connection {conn_text!r}: 'Y' read as an ungrounded wye (this export names grounded wyes 'Yg')",
                "wye_naming",
            )
        )
    units = bank_phases or len(phases)
    if units < 2 and ((prim.conn == "wye" and not prim.grounded) or (sec.conn == "wye" and not sec.grounded)):
        warnings.append(
            ErrorDetail(
                f"{setting.where} Conn",
                f"ungrounded wye on a single-phase unit ({conn_text!r}) modelled grounded: one unit alone "
                "has no return path",
                "approximated",
            )
        )
        prim = Winding(prim.conn, True, prim.open, prim.centertap)
        sec = Winding(sec.conn, True, sec.open, sec.centertap)
    taps = [num(setting, "PrimTap", 100.0) / 100.0, num(setting, "SecondaryTap", 100.0) / 100.0]
    noload = num(eq, "NoLoadLosses", 0.0) if "NoLoadLosses" in eq.fields else 0.0
    imag = num(eq, "MagnetizingCurrent", 0.0) if "MagnetizingCurrent" in eq.fields else 0.0
    enabled = _enabled(setting)
    rows: list[dict[str, Any]] = []

    def add(
        suffix: str,
        nph: int,
        buses: list[str],
        conns: list[str],
        kvs: list[float],
        unit_kva: float,
        pct_rs: list[float],
        xs: tuple[float, float, float],
        tap: list[float],
    ) -> None:
        row = _base(f"{name}{suffix}", len(buses), unit_kva)
        row.update(
            {
                "phases": nph,
                "buses": buses,
                "conns": conns,
                "kvs_kv": kvs,
                "kvas_kva": [unit_kva] * len(buses),
                "pct_rs": pct_rs,
                "taps_pu": tap,
                "xhl_pct": xs[0],
                "xht_pct": xs[1],
                "xlt_pct": xs[2],
                "pct_noload_loss": 100.0 * noload / kva,
                "pct_imag": imag,
            }
        )
        if not enabled:
            row["dss_extra_json"] = '{"enabled": false}'
        rows.append(row)

    def end(bus: str, p: str, w: Winding) -> str:
        k = NODE[p]
        if w.conn == "delta":
            return f"{bus}.{k}.{NODE[NEXT[p]]}"
        return _wye_end(bus, f".{k}", w.grounded)

    if sec.centertap or len(phases) == 1:
        p = phases[0]
        hv = end(bus1, p, prim)
        kvp = kv1 if prim.conn == "delta" else kv1 / SQRT3
        if sec.centertap:
            # Split-phase secondary: two half windings (X1-N, N-X2), %R doubled on the halves and
            # Xlt two thirds of Xhl (the usual OpenDSS/IEEE centre-tap convention).
            add(
                "",
                1,
                [hv, f"{bus2}.1.0", f"{bus2}.0.2"],
                ["wye"] * 3 if prim.conn == "wye" else ["delta", "wye", "wye"],
                [kvp, kv2 / 2, kv2 / 2],
                kva,
                [r / 2, r, r],
                (x, x, 2 * x / 3),
                [taps[0], taps[1], taps[1]],
            )
        else:
            lv = end(bus2, p, sec)
            kvs = kv2 if sec.conn == "delta" else kv2 / SQRT3
            add("", 1, [hv, lv], [prim.conn, sec.conn], [kvp, kvs], kva, [r / 2, r / 2], (x, 0.0, 0.0), taps)
    elif prim.open or sec.open:
        # Open wye / open delta (or open delta on both sides): two single-phase units of a third of
        # the bank's kVA on the first two phases.
        for p in phases[:2]:
            hv, lv = end(bus1, p, prim), end(bus2, p, sec)
            add(
                f"_{p.lower()}",
                1,
                [hv, lv],
                [prim.conn, sec.conn],
                [kv1 if prim.conn == "delta" else kv1 / SQRT3, kv2 if sec.conn == "delta" else kv2 / SQRT3],
                kva / 3.0,
                [r / 2, r / 2],
                (x, 0.0, 0.0),
                taps,
            )
    else:
        nodes = "".join(f".{NODE[p]}" for p in phases)

        def three(bus: str, w: Winding) -> str:
            return f"{bus}{nodes}" if w.conn == "delta" or w.grounded else _wye_end(bus, nodes, False)

        add(
            "",
            len(phases),
            [three(bus1, prim), three(bus2, sec)],
            [prim.conn, sec.conn],
            [kv1, kv2],
            kva,
            [r / 2, r / 2],
            (x, 0.0, 0.0),
            taps,
        )
    if sec.centertap:
        # The secondary's legs are on a kv2/2 line-to-neutral base (120 V of a 120/240 V service), so
        # the walk gives its buses the line-to-line kV whose /sqrt(3) is that leg voltage.
        return rows, (kv2 / 2) * SQRT3 / kv1, warnings
    return rows, kv2 / kv1, warnings


def _fixed_tap(setting: SectionRecord, field_name: str, warnings: list[ErrorDetail]) -> float:
    """A fixed tap given in percent (100 = nominal) or per unit; 1.0 when absent or not readable
    as either (a warning says so)."""
    value = opt_num(setting, field_name) if field_name in setting.fields else None
    if value is None or value == 0:
        return 1.0
    if 50.0 <= value <= 150.0:
        return value / 100.0
    if 0.5 <= value <= 1.5:
        return value
    warnings.append(
        ErrorDetail(
            f"{setting.where} {field_name}", f"tap {value!r} is neither percent nor per unit: 1.0 used"
        )
    )
    return 1.0


def three_winding_rows(
    name: str,
    setting: SectionRecord,
    eq: SectionRecord,
    buses: tuple[str, str, str],
    phases: str,
) -> tuple[dict[str, Any], tuple[float, float], list[ErrorDetail]]:
    """One three-winding transformer (primary, secondary, tertiary), its secondary/primary and
    tertiary/primary LL voltage ratios and the warnings. Pair impedances (Z1 %, X/R) are taken on the
    primary's rated kVA, as OpenDSS takes XHL/XHT/XLT; each winding's %R (from the three pair
    resistances) is given on its own kVA, as OpenDSS reads %Rs."""
    names = ("Primary", "Secondary", "Tertiary")
    kvas = [num(eq, f"{w}RatedCapacity") for w in names]
    kvs = [num(eq, f"{w}Voltage") for w in names]
    if min(kvas) <= 0 or min(kvs) <= 0:
        raise InputError(
            "invalid CYME three-winding transformer",
            [ErrorDetail(eq.where, "rated capacities and voltages must be > 0", "invalid_value")],
        )
    windings = [
        winding_code(eq, f"{w}Connection", eq.get(f"{w}Connection") or "0", yg_naming=True) for w in names
    ]
    warnings = [
        ErrorDetail(f"{eq.where} {w}Connection", f"{wd.note or 'open or centre-tapped winding modelled closed'}",
                    "approximated")
        for w, wd in zip(names, windings, strict=True)
        if wd.note or wd.open or wd.centertap
    ]  # fmt: skip

    def pair(key: str) -> tuple[float, float]:
        z = num(eq, f"{key}Z1", 0.0)
        xr = num(eq, f"{key}XR1", 0.0) if f"{key}XR1" in eq.fields else 0.0
        r = z / math.sqrt(1.0 + xr * xr)
        return r, r * xr

    (r12, x12), (r13, x13), (r23, x23) = (
        pair("PrimaryToSecondary"),
        pair("PrimaryToTertiary"),
        pair("SecondaryToTertiary"),
    )
    on_primary = [(r12 + r13 - r23) / 2, (r12 + r23 - r13) / 2, (r13 + r23 - r12) / 2]
    pct_rs = [max(rv, 1e-4) * kvas[i] / kvas[0] for i, rv in enumerate(on_primary)]
    nodes = "".join(f".{NODE[p]}" for p in phases)
    ends = [
        f"{bus}{nodes}" if w.conn == "delta" or w.grounded else _wye_end(bus, nodes, False)
        for bus, w in zip(buses, windings, strict=True)
    ]
    taps = [_fixed_tap(setting, f"{w}FixedTapSetting", warnings) for w in names]
    noload = num(eq, "NoLoadLosses", 0.0) if "NoLoadLosses" in eq.fields else 0.0
    row = _base(name, 3, kvas[0])
    row.update(
        {
            "phases": len(phases),
            "buses": ends,
            "conns": [w.conn for w in windings],
            "kvs_kv": kvs,
            "kvas_kva": kvas,
            "pct_rs": pct_rs,
            "taps_pu": taps,
            "xhl_pct": max(x12, 1e-4),
            "xht_pct": max(x13, 1e-4),
            "xlt_pct": max(x23, 1e-4),
            "pct_noload_loss": 100.0 * noload / kvas[0],
        }
    )
    if not _enabled(setting):
        row["dss_extra_json"] = '{"enabled": false}'
    return row, (kvs[1] / kvs[0], kvs[2] / kvs[0]), warnings


# -- regulators --------------------------------------------------------------------------------------


def _is_three_phase_type(eq: SectionRecord) -> bool:
    """CYME's regulator ``Type``: 0 single-phase, 1 three-phase (or the words)."""
    text = eq.get("Type").upper().replace("-", "").replace("_", "").replace(" ", "")
    return text in ("1", "3", "3PH", "THREEPHASE", "THREEPHASES", "3PHASE")


def _regulator_conn(setting: SectionRecord, phases: str) -> tuple[str, list[ErrorDetail]]:
    """wye | closed | open (delta banks), from the setting's ``Conn``: 0 Yg, 1 Y, 2 delta, 3 open
    delta, 4 closed delta (or the names)."""
    text = setting.get("Conn", "0").upper().replace(" ", "").replace("_", "")
    kind = {
        "": "wye", "0": "wye", "1": "wye", "Y": "wye", "YG": "wye", "YNG": "wye", "WYE": "wye",
        "2": "closed", "4": "closed", "D": "closed", "DELTA": "closed", "CD": "closed", "CLOSEDDELTA": "closed",
        "3": "open", "OD": "open", "DO": "open", "OPENDELTA": "open",
    }.get(text)  # fmt: skip
    if kind is None:
        return "wye", [
            ErrorDetail(
                f"{setting.where} Conn", f"regulator connection {setting.get('Conn')!r} modelled as wye"
            )
        ]
    if kind != "wye" and len(phases) != 3:
        return "wye", [
            ErrorDetail(
                f"{setting.where} Conn",
                f"delta regulator on a {len(phases)}-phase section modelled as wye units",
                "approximated",
            )
        ]
    return kind, []


def regulator_rows(
    name: str,
    setting: SectionRecord,
    eq: SectionRecord,
    bus1: str,
    bus2: str,
    phases: str,
    *,
    controlled: bool = True,
    timing: SectionRecord | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, list[ErrorDetail]]:
    """Regulating units and their RegControls, the section phases passed straight through
    (unregulated), and the warnings. ``timing``: the device's ``[AUTO TAP CHANGING EXTENSION]`` record
    (first-tap and inter-tap delays). ``controlled``: the RegControls regulate (from the export's taps);
    otherwise they are written disabled and the taps stay at the export's TapA/B/C."""
    warnings: list[ErrorDetail] = []
    if not controlled:
        warnings.append(
            ErrorDetail(
                setting.where,
                "regulator taps fixed at the export's TapA/B/C (regulators=fixed): its RegControls are disabled",
                "fixed_taps",
            )
        )
    kva = num(eq, "KVA")
    kvln = num(eq, "KVLN")
    buck = num(setting, "MaxBuck", num(eq, "MaxBuck", 10.0))
    boost = num(setting, "MaxBoost", num(eq, "MaxBoost", 10.0))
    steps = int(num(eq, "Taps", 32.0))
    if steps <= 0 or kva <= 0 or kvln <= 0:
        raise InputError("invalid CYME regulator", [ErrorDetail(eq.where, "KVA, KVLN and Taps must be > 0")])
    step_pu = (boost / 100.0) / (steps / 2)
    three_phase = _is_three_phase_type(eq)
    on = "".join(p for p in phases if p in (phase_letters(setting.get("PhaseON")) or phases))
    if three_phase:
        if on != phases:
            warnings.append(
                ErrorDetail(
                    f"{setting.where} PhaseON",
                    f"three-phase regulator with PhaseON={setting.get('PhaseON')!r}: every phase of the "
                    f"section ({phases}) is regulated, each on its own settings",
                    "three_phase_regulator",
                )
            )
        on = phases
    conn, conn_warnings = _regulator_conn(setting, phases)
    warnings.extend(conn_warnings)
    pt = num(setting, "PT", num(eq, "PT", 60.0))
    if conn == "closed":
        # Three units across A-B, B-C, C-A close a loop of near-ideal windings: any tap difference
        # drives a circulating current and the controls never settle. Wye units with the PT ratio
        # taken line to neutral regulate the same voltages, balanced, without the loop.
        warnings.append(
            ErrorDetail(
                f"{setting.where} Conn",
                "closed-delta regulator bank modelled as three wye units (PT ratio taken line to neutral)",
                "approximated",
            )
        )
        conn, on, pt = "wye", "ABC", pt / SQRT3
    # (unit phase letter for its settings, its nodes) of every unit
    if conn == "open":
        units = [("A", ".1.2"), ("C", ".3.2")]
        on, unit_kv = "ABC", kvln * SQRT3
    else:
        units = [(p, f".{NODE[p]}") for p in phases if p in on]
        unit_kv = kvln
    if not units:
        raise InputError(
            "invalid CYME regulator",
            [ErrorDetail(f"{setting.where} PhaseON", f"no phase of the section ({phases}) is regulated")],
        )
    if not _enabled(setting):
        # A regulator out of service is bypassed (its bypass switch closed), not an open circuit.
        warnings.append(
            ErrorDetail(
                f"{setting.where} ConnectionStatus",
                "regulator out of service: its section's phases are passed straight through (bypassed)",
                "bypassed",
            )
        )
        return [], [], phases, warnings
    through = "".join(p for p in phases if p not in on)
    if through:
        warnings.append(
            ErrorDetail(
                f"{setting.where} PhaseON",
                f"phase(s) {through} of the section have no regulator unit: passed straight through",
                "unregulated_phase",
            )
        )
    unit_kva = kva / 3.0 if three_phase else kva
    band = num(setting, "BandWidth", num(eq, "Bandwidth", num(eq, "ForwardBandwidth", 2.0)))
    ct = num(setting, "CT", num(eq, "CT", 100.0))
    reversible_text = setting.get("Reversible") or eq.get("Reversible")
    reversible = bool(reversible_text) and _safe_float(reversible_text) != 0.0
    delay, tap_delay = 15.0, 2.0
    if timing is not None:
        first = opt_num(timing, "ActivationDelayFirstTap")
        sub = opt_num(timing, "ActivationDelaySubTap")
        mech = opt_num(timing, "MechanismDelay") or 0.0
        delay = first if first is not None and first > 0 else delay
        tap_delay = (sub or 0.0) + mech if (sub or 0.0) + mech > 0 else tap_delay
    xfmrs: list[dict[str, Any]] = []
    controls: list[dict[str, Any]] = []
    for p, nodes in units:
        suffix = f"_{p.lower()}" if conn == "wye" else f"_{p.lower()}b"  # open delta: A-B and C-B
        tap = 1.0 + num(setting, f"Tap{p}", 0.0) * step_pu
        row = _base(f"{name}{suffix}", 2, unit_kva)
        # CYME gives no regulator impedance: a near-ideal unit (0.001 % X, 0.001 % R on its kVA).
        row.update(
            {
                "phases": 1,
                "buses": [f"{bus1}{nodes}", f"{bus2}{nodes}"],
                "conns": ["wye", "wye"] if conn == "wye" else ["delta", "delta"],
                "kvs_kv": [unit_kv, unit_kv],
                "kvas_kva": [unit_kva, unit_kva],
                "pct_rs": [0.0005, 0.0005],
                "taps_pu": [1.0, tap],
                "xhl_pct": 0.001,
                "min_taps_pu": [0.9, 1.0 - buck / 100.0],
                "max_taps_pu": [1.1, 1.0 + boost / 100.0],
                "num_taps": [32, steps],
            }
        )
        xfmrs.append(row)
        vset = opt_num(setting, f"Vset{p}")
        if not vset:
            vset = 120.0
            warnings.append(
                ErrorDetail(f"{setting.where} Vset{p}", "no band centre given: 120 V assumed", "default_used")
            )
        extra: dict[str, float] = {}
        if reversible:
            for key, dss in (("RevVset", "revvreg"), ("RevRset", "revR"), ("RevXset", "revX")):
                value = opt_num(setting, f"{key}{p}") if f"{key}{p}" in setting.fields else None
                if value is not None and (value > 0 or dss != "revvreg"):
                    extra[dss] = value
        controls.append(
            {
                "name": row["name"],
                "transformer": row["name"],
                "winding": 2,
                "vreg_v": vset,
                "band_v": num(setting, f"BandWidth{p}", band) if f"BandWidth{p}" in setting.fields else band,
                "pt_ratio": pt,
                "ct_prim_a": ct,
                "r_v": num(setting, f"Rset{p}", 0.0),
                "x_v": num(setting, f"Xset{p}", 0.0),
                "delay_s": delay,
                "tap_delay_s": tap_delay,
                "max_tap_change": 16,
                "pt_phase": 1,
                "reversible": reversible,
                # Controlled: the RegControl regulates from the export's tap positions. Fixed: written
                # disabled, so a snapshot keeps the positions CYME solved with.
                "enabled": controlled,
                "dss_extra_json": _json(extra),
            }
        )
    return xfmrs, controls, through, warnings


def _json(values: dict[str, float]) -> str:
    if not values:
        return ""
    return "{" + ", ".join(f'"{k}": {v!r}' for k, v in values.items()) + "}"


def _safe_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 1.0 if text.strip().upper() in ("Y", "YES", "TRUE", "T") else 0.0
