"""Transformer, regulator and capacitor rows from CYME settings + catalog entries."""

from __future__ import annotations

import math
from typing import Any

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.ingest.cyme.sections import SectionRecord
from gridtwin.ingest.cyme.units import num, opt_num

__all__ = ["capacitor_row", "regulator_rows", "transformer_rows", "xfmr_connection"]

SQRT3 = math.sqrt(3.0)
NODE = {"A": 1, "B": 2, "C": 3}
NEXT = {"A": "B", "B": "C", "C": "A"}

# CYME transformer connection codes (and names) -> (primary, secondary, arrangement).
_XFMR_CONN: dict[str, tuple[str, str, str]] = {}
for _codes, _value in (
    (("0", "Y_Y", "3", "YNG_YNG", "9", "Y_YNG", "10", "YNG_Y", "YG_YG"), ("wye", "wye", "bank")),
    (("1", "D_Y", "7", "D_YNG", "D_YG"), ("delta", "wye", "bank")),
    (("2", "Y_D", "8", "YNG_D", "YG_D"), ("wye", "delta", "bank")),
    (("4", "D_D"), ("delta", "delta", "bank")),
    (("5", "DO_DO"), ("delta", "delta", "open")),
    (("6", "YO_DO"), ("wye", "delta", "open")),
):
    for _c in _codes:
        _XFMR_CONN[_c] = _value


def xfmr_connection(rec: SectionRecord, text: str) -> tuple[str, str, str]:
    """(primary conn, secondary conn, arrangement: bank | open | centertap). Ungrounded and grounded
    wye both map to a grounded wye (as the IEEE test feeders expect; CYME's 'Y' there is grounded)."""
    key = text.strip().upper()
    if key in _XFMR_CONN:
        return _XFMR_CONN[key]
    if key.endswith("CT") or key in ("15", "16"):
        return ("delta" if key.startswith("D") or key == "16" else "wye", "wye", "centertap")
    raise InputError(
        "unsupported CYME transformer connection",
        [ErrorDetail(f"{rec.where} Conn", f"connection {text!r} is not mapped (zig-zag?)", code="unmapped")],
    )


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


def transformer_rows(
    name: str, setting: SectionRecord, eq: SectionRecord, bus1: str, bus2: str, phases: str, conn_text: str
) -> tuple[list[dict[str, Any]], float]:
    """Rows for one transformer device and the secondary/primary LL voltage ratio."""
    kva = num(eq, "KVA")
    kv1, kv2 = num(eq, "KVLLprim"), num(eq, "KVLLsec")
    if kva <= 0 or kv1 <= 0 or kv2 <= 0:
        raise InputError(
            "invalid CYME transformer", [ErrorDetail(eq.where, "KVA, KVLLprim and KVLLsec must be > 0")]
        )
    r, x = _impedance(eq)
    prim, sec, arrangement = xfmr_connection(setting, conn_text)
    taps = [num(setting, "PrimTap", 100.0) / 100.0, num(setting, "SecondaryTap", 100.0) / 100.0]
    noload = num(eq, "NoLoadLosses", 0.0) if "NoLoadLosses" in eq.fields else 0.0
    imag = num(eq, "MagnetizingCurrent", 0.0) if "MagnetizingCurrent" in eq.fields else 0.0
    enabled = num(setting, "ConnectionStatus", 0.0) == 0.0 if "ConnectionStatus" in setting.fields else True
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

    if arrangement == "centertap" or len(phases) == 1:
        p = phases[0]
        k = NODE[p]
        hv = f"{bus1}.{k}.{NODE[NEXT[p]]}" if prim == "delta" else f"{bus1}.{k}.0"
        kvp = kv1 if prim == "delta" else kv1 / SQRT3
        if arrangement == "centertap":
            # Split-phase secondary: two half windings (X1-N, N-X2), %R doubled on the halves and
            # Xlt two thirds of Xhl (the usual OpenDSS/IEEE centre-tap convention).
            add(
                "",
                1,
                [hv, f"{bus2}.1.0", f"{bus2}.0.2"],
                ["wye"] * 3 if prim == "wye" else ["delta", "wye", "wye"],
                [kvp, kv2 / 2, kv2 / 2],
                kva,
                [r / 2, r, r],
                (x, x, 2 * x / 3),
                [taps[0], taps[1], taps[1]],
            )
        else:
            lv = f"{bus2}.{k}.{NODE[NEXT[p]]}" if sec == "delta" else f"{bus2}.{k}.0"
            kvs = kv2 if sec == "delta" else kv2 / SQRT3
            add("", 1, [hv, lv], [prim, sec], [kvp, kvs], kva, [r / 2, r / 2], (x, 0.0, 0.0), taps)
    elif arrangement == "open":
        # Open wye / open delta (or open delta / open delta): two single-phase units of a third of
        # the bank's kVA on the first two phases.
        for p in phases[:2]:
            k, k2 = NODE[p], NODE[NEXT[p]]
            hv = f"{bus1}.{k}.0" if prim == "wye" else f"{bus1}.{k}.{k2}"
            kvp = kv1 / SQRT3 if prim == "wye" else kv1
            add(
                f"_{p.lower()}",
                1,
                [hv, f"{bus2}.{k}.{k2}"],
                [prim, "delta"],
                [kvp, kv2],
                kva / 3.0,
                [r / 2, r / 2],
                (x, 0.0, 0.0),
                taps,
            )
    else:
        nodes = "".join(f".{NODE[p]}" for p in phases)
        add(
            "",
            len(phases),
            [f"{bus1}{nodes}", f"{bus2}{nodes}"],
            [prim, sec],
            [kv1, kv2],
            kva,
            [r / 2, r / 2],
            (x, 0.0, 0.0),
            taps,
        )
    if arrangement == "centertap":
        # The secondary's legs are on a kv2/2 line-to-neutral base (120 V of a 120/240 V service), so
        # the walk gives its buses the line-to-line kV whose /sqrt(3) is that leg voltage.
        return rows, (kv2 / 2) * SQRT3 / kv1
    return rows, kv2 / kv1


def regulator_rows(
    name: str, setting: SectionRecord, eq: SectionRecord, bus1: str, bus2: str, phases: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[ErrorDetail]]:
    """One single-phase transformer + RegControl per regulated phase (wye-connected regulators)."""
    warnings: list[ErrorDetail] = [
        ErrorDetail(
            setting.where, "regulator taps fixed at the export's TapA/B/C; its RegControl is disabled"
        )
    ]
    conn = setting.get("Conn", "0")
    if conn not in ("", "0"):
        warnings.append(
            ErrorDetail(f"{setting.where} Conn", f"regulator connection {conn!r} modelled as wye")
        )
    kva = num(eq, "KVA")
    kvln = num(eq, "KVLN")
    buck, boost = (
        num(setting, "MaxBuck", num(eq, "MaxBuck", 10.0)),
        num(setting, "MaxBoost", num(eq, "MaxBoost", 10.0)),
    )
    steps = int(num(eq, "Taps", 32.0))
    if steps <= 0 or kva <= 0 or kvln <= 0:
        raise InputError("invalid CYME regulator", [ErrorDetail(eq.where, "KVA, KVLN and Taps must be > 0")])
    step_pu = (boost / 100.0) / (steps / 2)
    band = num(setting, "BandWidth", num(eq, "Bandwidth", 2.0))
    pt, ct = num(setting, "PT", num(eq, "PT", 60.0)), num(setting, "CT", num(eq, "CT", 100.0))
    on = setting.get("PhaseON") or phases
    xfmrs: list[dict[str, Any]] = []
    controls: list[dict[str, Any]] = []
    for p in (ph for ph in phases if ph in on):
        k = NODE[p]
        tap = 1.0 + num(setting, f"Tap{p}", 0.0) * step_pu
        row = _base(f"{name}_{p.lower()}", 2, kva)
        # CYME gives no regulator impedance: a near-ideal unit (0.001 % X, 0.001 % R on its kVA).
        row.update(
            {
                "phases": 1,
                "buses": [f"{bus1}.{k}", f"{bus2}.{k}"],
                "conns": ["wye", "wye"],
                "kvs_kv": [kvln, kvln],
                "kvas_kva": [kva, kva],
                "pct_rs": [0.0005, 0.0005],
                "taps_pu": [1.0, tap],
                "xhl_pct": 0.001,
                "min_taps_pu": [0.9, 1.0 - buck / 100.0],
                "max_taps_pu": [1.1, 1.0 + boost / 100.0],
                "num_taps": [32, steps],
            }
        )
        xfmrs.append(row)
        vset = opt_num(setting, f"Vset{p}") or 120.0
        controls.append(
            {
                "name": f"{name}_{p.lower()}",
                "transformer": row["name"],
                "winding": 2,
                "vreg_v": vset,
                "band_v": band,
                "pt_ratio": pt,
                "ct_prim_a": ct,
                "r_v": num(setting, f"Rset{p}", 0.0),
                "x_v": num(setting, f"Xset{p}", 0.0),
                "delay_s": 15.0,
                "tap_delay_s": 2.0,
                "max_tap_change": 16,
                "pt_phase": 1,
                "reversible": num(setting, "Reversible", 0.0) != 0.0
                if "Reversible" in setting.fields
                else False,
                # The export's TapA/B/C are the positions CYME solved with: keep them fixed (control
                # written disabled) so a snapshot reproduces the export; enable it to regulate.
                "enabled": False,
                "dss_extra_json": "",
            }
        )
    return xfmrs, controls, warnings


def capacitor_row(
    name: str, setting: SectionRecord, eq: SectionRecord | None, bus: str, phases: str
) -> dict[str, Any]:
    """A fixed shunt bank: KVAR per phase, KV line-to-neutral for wye banks, line-to-line for delta."""
    conn_text = setting.get("Connection", "Y").upper()
    delta = conn_text in ("D", "DELTA", "2")
    kvar = num(setting, "KVAR", 0.0)
    if kvar == 0.0:
        three = num(setting, "ThreePhaseKVAR", 0.0) if "ThreePhaseKVAR" in setting.fields else 0.0
        kvar = three / max(len(phases), 1) if three else (num(eq, "KVAR", 0.0) if eq is not None else 0.0)
    kv = num(setting, "KV", 0.0)
    if kv == 0.0 and eq is not None:
        kv = num(eq, "KV", 0.0)
    if kvar <= 0 or kv <= 0:
        raise InputError(
            "invalid CYME shunt capacitor", [ErrorDetail(setting.where, "KVAR and KV must be > 0")]
        )
    n = len(phases)
    kv_rated = kv if delta or n == 1 else kv * SQRT3
    nodes = "".join(f".{NODE[p]}" for p in phases)
    if delta and n == 1:
        nodes = f".{NODE[phases]}.{NODE[NEXT[phases]]}"
    enabled = num(setting, "ConnectionStatus", 0.0) == 0.0 if "ConnectionStatus" in setting.fields else True
    return {
        "name": name,
        "bus1": f"{bus}{nodes}",
        "bus2": "",
        "phases": n,
        "conn": "delta" if delta else "wye",
        "kv": kv_rated,
        "kvars_kvar": [kvar * n],
        "states": [1],
        "enabled": enabled,
        "dss_extra_json": "",
    }
