"""Turn a ``FeederModel`` into one self-contained OpenDSS script.

The script holds everything inline (load shapes, line impedances), never changes directory and never
solves; it ends with the voltage bases, ``calcvoltagebases`` and the bus coordinates. Floats are written
with ``repr`` so the engine reads back the very same doubles. Lines reference their ``linecodes`` row
(phase matrices per metre, ``units=m``), so every line's impedance is the source's resolved one however
the source described it.

Property order matters to OpenDSS (a later property can reset an earlier one): typed columns are
written first in a fixed safe order, then ``dss_extra_json`` (properties the source set that no column
carries) in the order the source set them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from gridtwin.grid.model import FeederModel

__all__ = ["write_dss"]

_PHASE_WORDS = {-1: "avg", -2: "max", -3: "min"}


def write_dss(
    model: FeederModel,
    *,
    pin_kv_bases: bool = True,
    profiles: Mapping[str, np.ndarray] | None = None,
) -> str:
    """One OpenDSS script reproducing ``model`` (no external files, no ``solve``, no ``cd``).

    ``pin_kv_bases`` writes each bus's base kV after ``calcvoltagebases`` (exact per-unit voltages
    even where the estimate depends on tap positions); turn it off after editing voltage levels.

    Load shapes backed by the profile store (``profile`` set, ``mult`` empty) are written inline when
    ``profiles`` (reference -> values) holds them; otherwise as ``npts``/``interval`` only, and the
    caller loads the values through the engine API (QSTS does: no text to format or parse)."""
    out: list[str] = ["clear"]
    c = model.circuit
    out.append(f"set defaultbasefrequency={_num(c.get('default_base_frequency_hz', 60.0))}")
    out.extend(_sources(model.table("sources"), str(c.get("name") or model.feeder_id)))
    out.extend(_options(c))
    out.extend(_loadshapes(model.table("loadshapes"), profiles or {}))
    out.extend(_linecodes(model.table("linecodes")))
    out.extend(_lines(model.table("lines"), model.table("linecodes")))
    out.extend(_transformers(model.table("transformers")))
    out.extend(_regcontrols(model.table("regcontrols")))
    out.extend(_capacitors(model.table("capacitors")))
    out.extend(_capcontrols(model.table("capcontrols")))
    out.extend(_reactors(model.table("reactors")))
    out.extend(_loads(model.table("loads")))
    out.extend(_generators(model.table("generators")))
    out.extend(_pvsystems(model.table("pvsystems")))
    out.extend(_storage(model.table("storage")))
    out.extend(_invcontrols(model.table("invcontrols")))
    out.extend(_protection(model.table("switches")))
    out.extend(_opens(model.table("lines")))
    bases = c.get("voltage_bases_kv") or []
    if len(bases):
        out.append(f"set voltagebases={_arr(bases)}")
    out.append("calcvoltagebases")
    if pin_kv_bases:
        out.extend(_kv_bases(model.table("buses")))
    out.extend(_coords(model.table("buses")))
    return "\n".join(out) + "\n"


# -- value formatting ----------------------------------------------------------------------------------


def _num(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    f = float(value)
    if f.is_integer() and abs(f) < 1e15:
        return str(int(f))
    return repr(f)


def _arr(values: Iterable[Any]) -> str:
    return "[" + " ".join(_num(v) for v in values) + "]"


def _sym(flat: Iterable[float], n: int) -> str:
    """A symmetric n x n row-major matrix as OpenDSS reads it: lower triangle, rows split by '|'."""
    vals = list(flat)
    rows = [" ".join(_num(vals[i * n + j]) for j in range(i + 1)) for i in range(n)]
    return "[" + " | ".join(rows) + "]"


def _text(value: Any) -> str:
    s = str(value)
    return f'"{s}"' if (not s or any(ch in s for ch in " \t,=()[]{}|\"'")) else s


def _value(value: Any) -> str:
    """A JSON value from ``dss_extra_json`` as OpenDSS property text."""
    if isinstance(value, bool | int | float):
        return _num(value)
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):
            return (
                "[" + " | ".join(" ".join(_num(v) for v in row[: i + 1]) for i, row in enumerate(value)) + "]"
            )
        if all(isinstance(v, bool | int | float) for v in value):
            return _arr(value)
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return _text(value)


def _extra(row: Any) -> str:
    raw = row.get("dss_extra_json") if hasattr(row, "get") else None
    if not isinstance(raw, str) or not raw:
        return ""
    props: dict[str, Any] = json.loads(raw)
    return "".join(f" {k}={_value(v)}" for k, v in props.items())


def _rows(df: pd.DataFrame) -> Iterator[dict[str, Any]]:
    for rec in df.to_dict("records"):
        yield {
            str(k): (list(v) if hasattr(v, "tolist") and not isinstance(v, str) else v)
            for k, v in rec.items()
        }


def _str(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _bus2(bus1: str, bus2: str) -> bool:
    """Whether bus2 must be written: it is not the default (bus1 with every conductor grounded)."""
    if not bus2:
        return False
    b1, b2 = bus1.split(".")[0], bus2.split(".")
    return b2[0] != b1 or any(n != "0" for n in b2[1:]) or len(b2) == 1


def _enabled(row: dict[str, Any]) -> str:
    value = row.get("enabled")
    return " enabled=no" if value is not None and not bool(value) else ""


# -- sections ------------------------------------------------------------------------------------------


def _sources(df: pd.DataFrame, circuit_name: str) -> list[str]:
    out: list[str] = []
    rows = sorted(_rows(df), key=lambda r: r["name"] != "source")
    for i, r in enumerate(rows):
        head = f"new circuit.{circuit_name}" if i == 0 else f"new vsource.{r['name']}"
        if i == 0 and r["name"] != "source":
            raise ValueError(f"the first source must be named 'source', not {r['name']!r}")
        bus2 = f" bus2={r['bus2']}" if _bus2(str(r["bus1"]), _str(r.get("bus2"))) else ""
        out.append(
            f"{head} bus1={r['bus1']} phases={int(r['phases'])} basekv={_num(r['base_kv'])} pu={_num(r['v_pu'])}"
            f" angle={_num(r['angle_deg'])} frequency={_num(r['frequency_hz'])}"
            f" r1={_num(r['r1_ohm'])} x1={_num(r['x1_ohm'])} r0={_num(r['r0_ohm'])} x0={_num(r['x0_ohm'])}"
            f"{bus2}{_extra(r)}"
        )
    return out


def _options(c: dict[str, Any]) -> list[str]:
    names = {
        "max_iterations": "maxiterations",
        "min_iterations": "miniterations",
        "max_control_iterations": "maxcontroliter",
        "tolerance": "tolerance",
        "control_mode": "controlmode",
        "algorithm": "algorithm",
        "load_model": "loadmodel",
        "load_mult": "loadmult",
        "gen_mult": "genmult",
        "earth_model": "earthmodel",
        "circuit_model": "cktmodel",
        "trapezoidal": "trapezoidal",
    }
    parts = [
        f"{dss}={_num(c[k]) if not isinstance(c[k], str) else c[k]}" for k, dss in names.items() if k in c
    ]
    return [f"set {' '.join(parts)}"] if parts else []


def _loadshapes(df: pd.DataFrame, profiles: Mapping[str, np.ndarray]) -> list[str]:
    out = []
    for r in _rows(df):
        npts = int(r["npts"])
        timing = (
            f"interval={_num(r['interval_h'])}" if float(r["interval_h"]) > 0 else f"hour={_arr(r['hours'])}"
        )
        q = f" qmult={_arr(r['qmult'])}" if len(r["qmult"] or []) else ""
        mult = r["mult"]
        ref = str(r.get("profile") or "")
        if ref and not len(mult or []):
            if ref not in profiles:  # values come later through the engine API
                out.append(
                    f"new loadshape.{r['name']} npts={npts} {timing}"
                    f" useactual={_num(bool(r['use_actual']))}{_extra(r)}"
                )
                continue
            mult = np.asarray(profiles[ref], dtype=np.float64).tolist()
        out.append(
            f"new loadshape.{r['name']} npts={npts} {timing} mult={_arr(mult)}{q}"
            f" useactual={_num(bool(r['use_actual']))}{_extra(r)}"
        )
    return out


def _linecodes(df: pd.DataFrame) -> list[str]:
    out = []
    for r in _rows(df):
        n = int(r["phases"])
        out.append(
            f"new linecode.{r['name']} nphases={n} units=m rmatrix={_sym(r['r_matrix_ohm_per_m'], n)}"
            f" xmatrix={_sym(r['x_matrix_ohm_per_m'], n)} cmatrix={_sym(r['c_matrix_nf_per_m'], n)}"
            f" normamps={_num(r['norm_amps_a'])} emergamps={_num(r['emerg_amps_a'])}{_extra(r)}"
        )
    return out


def _lines(df: pd.DataFrame, codes: pd.DataFrame) -> list[str]:
    by_name = {r["name"]: r for r in _rows(codes)}
    out = []
    for r in _rows(df):
        code = by_name.get(r["linecode"])
        seq = _sequence(code) if r["is_switch"] and code is not None else None
        # A switch keeps switch=yes only with sequence impedances: the engine rebuilds a switch from
        # them and would drop phase matrices. An unbalanced switch is written as the plain line it is.
        z = f" switch=yes {seq}" if seq else f" linecode={r['linecode']}"
        out.append(
            f"new line.{r['name']} phases={int(r['phases'])} bus1={r['bus1']} bus2={r['bus2']}{z}"
            f" length={_num(r['length_m'])} units=m"
            f" normamps={_num(r['norm_amps_a'])} emergamps={_num(r['emerg_amps_a'])}{_extra(r)}{_enabled(r)}"
        )
    return out


def _sequence(code: dict[str, Any]) -> str | None:
    """r1/x1/r0/x0/c1/c0 (per metre) of a balanced phase matrix set, None when it is not balanced."""
    n = int(code["phases"])
    parts = []
    for key, one, zero in (
        ("r_matrix_ohm_per_m", "r1", "r0"),
        ("x_matrix_ohm_per_m", "x1", "x0"),
        ("c_matrix_nf_per_m", "c1", "c0"),
    ):
        m = [float(v) for v in code[key]]
        diag = [m[i * n + i] for i in range(n)]
        off = [m[i * n + j] for i in range(n) for j in range(n) if i != j]
        s, o = diag[0], (off[0] if off else 0.0)
        scale = max(abs(s), abs(o), 1e-300)
        if any(abs(v - s) > 1e-12 * scale for v in diag) or any(abs(v - o) > 1e-12 * scale for v in off):
            return None
        parts.append(f"{one}={_num(s - o)} {zero}={_num(s + 2 * o)}")
    return " ".join(parts)


def _transformers(df: pd.DataFrame) -> list[str]:
    out = []
    for r in _rows(df):
        n = int(r["windings"])
        conns = "[" + " ".join(r["conns"]) + "]"
        buses = "[" + " ".join(r["buses"]) + "]"
        line = (
            f"new transformer.{r['name']} phases={int(r['phases'])} windings={n} buses={buses} conns={conns}"
            f" kvs={_arr(r['kvs_kv'])} kvas={_arr(r['kvas_kva'])} %rs={_arr(r['pct_rs'])}"
        )
        for w in range(n):
            line += (
                f" wdg={w + 1} maxtap={_num(r['max_taps_pu'][w])} mintap={_num(r['min_taps_pu'][w])}"
                f" numtaps={int(r['num_taps'][w])} rneut={_num(r['rneuts_ohm'][w])} xneut={_num(r['xneuts_ohm'][w])}"
                f" tap={_num(r['taps_pu'][w])}"
            )
        line += f" xhl={_num(r['xhl_pct'])}"
        if n >= 3:
            line += f" xht={_num(r['xht_pct'])} xlt={_num(r['xlt_pct'])}"
        line += (
            f" %noloadloss={_num(r['pct_noload_loss'])} %imag={_num(r['pct_imag'])}"
            f" ppm_antifloat={_num(r['ppm_antifloat'])} normhkva={_num(r['norm_hkva_kva'])}"
            f" emerghkva={_num(r['emerg_hkva_kva'])}{_extra(r)}{_enabled(r)}"
        )
        out.append(line)
    return out


def _phase(value: Any) -> str:
    v = int(value)
    return _PHASE_WORDS.get(v, str(v))


def _regcontrols(df: pd.DataFrame) -> list[str]:
    return [
        f"new regcontrol.{r['name']} transformer={r['transformer']} winding={int(r['winding'])}"
        f" vreg={_num(r['vreg_v'])} band={_num(r['band_v'])} ptratio={_num(r['pt_ratio'])}"
        f" ctprim={_num(r['ct_prim_a'])} r={_num(r['r_v'])} x={_num(r['x_v'])} delay={_num(r['delay_s'])}"
        f" tapdelay={_num(r['tap_delay_s'])} maxtapchange={int(r['max_tap_change'])} ptphase={_phase(r['pt_phase'])}"
        f" reversible={_num(bool(r['reversible']))}{_extra(r)}{_enabled(r)}"
        for r in _rows(df)
    ]


def _capacitors(df: pd.DataFrame) -> list[str]:
    out = []
    for r in _rows(df):
        bus2 = f" bus2={r['bus2']}" if _bus2(str(r["bus1"]), _str(r.get("bus2"))) else ""
        out.append(
            f"new capacitor.{r['name']} phases={int(r['phases'])} bus1={r['bus1']}{bus2} conn={r['conn']}"
            f" kv={_num(r['kv'])} numsteps={len(r['kvars_kvar'])} kvar={_arr(r['kvars_kvar'])}"
            f" states={_arr(int(s) for s in r['states'])}{_extra(r)}{_enabled(r)}"
        )
    return out


def _capcontrols(df: pd.DataFrame) -> list[str]:
    return [
        f"new capcontrol.{r['name']} element={r['element']} terminal={int(r['terminal'])} capacitor={r['capacitor']}"
        f" type={r['type']} ptratio={_num(r['pt_ratio'])} ctratio={_num(r['ct_ratio'])}"
        f" onsetting={_num(r['on_setting'])} offsetting={_num(r['off_setting'])} delay={_num(r['delay_s'])}"
        f" delayoff={_num(r['delay_off_s'])} deadtime={_num(r['dead_time_s'])} vmin={_num(r['vmin_v'])}"
        f" vmax={_num(r['vmax_v'])} voltoverride={_num(bool(r['volt_override']))} ptphase={_phase(r['pt_phase'])}"
        f" ctphase={_phase(r['ct_phase'])}{_extra(r)}{_enabled(r)}"
        for r in _rows(df)
    ]


def _reactors(df: pd.DataFrame) -> list[str]:
    out = []
    for r in _rows(df):
        bus2 = f" bus2={r['bus2']}" if _bus2(str(r["bus1"]), _str(r.get("bus2"))) else ""
        out.append(
            f"new reactor.{r['name']} phases={int(r['phases'])} bus1={r['bus1']}{bus2} conn={r['conn']}"
            f" kv={_num(r['kv'])} kvar={_num(r['kvar'])}{_extra(r)}"
        )
    return out


def _shapes(r: dict[str, Any], keys: Iterable[str]) -> str:
    return "".join(f" {k}={r[k]}" for k in keys if _str(r.get(k)))


def _loads(df: pd.DataFrame) -> list[str]:
    out = []
    for r in _rows(df):
        zipv = f" zipv={_arr(r['zipv'])}" if len(r["zipv"] or []) else ""
        out.append(
            f"new load.{r['name']} phases={int(r['phases'])} bus1={r['bus1']} conn={r['conn']} model={int(r['model'])}"
            f" kv={_num(r['kv'])} kw={_num(r['p_kw'])} kvar={_num(r['q_kvar'])} vminpu={_num(r['vmin_pu'])}"
            f" vmaxpu={_num(r['vmax_pu'])}{zipv} status={r['status']} class={int(r['customer_class'])}"
            f" numcust={int(r['num_customers'])} cvrwatts={_num(r['cvr_watts'])} cvrvars={_num(r['cvr_vars'])}"
            f"{_shapes(r, ('yearly', 'daily', 'duty'))}{_extra(r)}{_enabled(r)}"
        )
    return out


def _generators(df: pd.DataFrame) -> list[str]:
    return [
        f"new generator.{r['name']} phases={int(r['phases'])} bus1={r['bus1']} conn={r['conn']} kv={_num(r['kv'])}"
        f" model={int(r['model'])} kw={_num(r['p_kw'])} kvar={_num(r['q_kvar'])}{_extra(r)}{_enabled(r)}"
        for r in _rows(df)
    ]


def _pvsystems(df: pd.DataFrame) -> list[str]:
    return [
        f"new pvsystem.{r['name']} phases={int(r['phases'])} bus1={r['bus1']} conn={r['conn']} kv={_num(r['kv'])}"
        f" kva={_num(r['kva'])} pmpp={_num(r['pmpp_kw'])} irradiance={_num(r['irradiance_kw_per_m2'])}"
        f" pf={_num(r['pf'])}{_shapes(r, ('yearly', 'daily'))}{_extra(r)}"
        for r in _rows(df)
    ]


def _storage(df: pd.DataFrame) -> list[str]:
    return [
        f"new storage.{r['name']} phases={int(r['phases'])} bus1={r['bus1']} kv={_num(r['kv'])}"
        f" kwrated={_num(r['kw_rated'])} kwhrated={_num(r['kwh_rated'])} kva={_num(r['kva'])}"
        f" %stored={_num(r['pct_stored'])} state={r['state']}{_extra(r)}"
        for r in _rows(df)
    ]


def _invcontrols(df: pd.DataFrame) -> list[str]:
    """Each InvControl with its own volt-var XYcurve (named ``<name>_vv``)."""
    out = []
    for r in _rows(df):
        v, q = list(r["curve_v_pu"] or []), list(r["curve_q_pu"] or [])
        curve = ""
        if len(v):
            out.append(f"new xycurve.{r['name']}_vv npts={len(v)} xarray={_arr(v)} yarray={_arr(q)}")
            curve = f" vvc_curve1={r['name']}_vv"
        ders = list(r["der_list"] or [])
        der = f" derlist=[{' '.join(ders)}]" if ders else ""
        ref = _str(r.get("voltage_curvex_ref")) or "rated"
        react = _str(r.get("ref_reactive_power")) or "varaval"
        out.append(
            f"new invcontrol.{r['name']} mode={r['mode']}{der}{curve} voltage_curvex_ref={ref}"
            f" refreactivepower={react}{_extra(r)}{_enabled(r)}"
        )
    return out


def _protection(df: pd.DataFrame) -> list[str]:
    out = []
    for r in _rows(df):
        kind = str(r["kind"])
        target = (
            str(r["line"]) if "." in str(r["line"]) else f"line.{r['line']}"
        )  # class.name when not a line
        if kind in ("fuse", "recloser", "relay"):
            out.append(f"new {kind}.{r['name']} monitoredobj={target}{_extra(r)}")
        elif kind == "swtcontrol":
            out.append(f"new swtcontrol.{r['name']} switchedobj={target}{_extra(r)}")
    return out


def _kv_bases(df: pd.DataFrame) -> list[str]:
    """Pin every bus's base to the source's: calcvoltagebases estimates bases with the taps of the moment,
    and the source estimated them before its regulators moved (J1's 0.416 vs 0.48 kV secondaries)."""
    return [
        f"setkvbase bus={r['name']} kvln={_num(r['base_kv'])}"
        for r in _rows(df)
        if r["base_kv"] is not None and float(r["base_kv"]) > 0
    ]


def _opens(df: pd.DataFrame) -> list[str]:
    out = []
    for r in _rows(df):
        for item in r.get("open_conductors") or []:
            term, cond = str(item).split(".")
            out.append(f"open line.{r['name']} {term} {cond}")
    return out


def _coords(df: pd.DataFrame) -> list[str]:
    return [
        f"setbusxy bus={r['name']} x={_num(r['x'])} y={_num(r['y'])}"
        for r in _rows(df)
        if bool(r["has_coords"])
    ]
