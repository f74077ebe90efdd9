"""Read an OpenDSS model into the columnar feeder model.

The script is compiled by the real engine, in a throwaway circuit of the engine adapter
(``gridtwin.powerflow.scratch``), and every element is read back *resolved*: line impedances come from
the engine as full phase matrices whatever way the source gave them (LineCode, Z1/Z0,
LineGeometry/WireData/CNData/TSData), loads carry their resolved kW and kvar, transformers their
per-winding %R and current taps. Whole classes are read in one call through the engine's JSON export,
so a 3,000-bus feeder reads in about a second. This module knows OpenDSS property names (it reads the
OpenDSS format) but never drives the engine itself.

Properties the source set that no typed column carries are kept per element in ``dss_extra_json`` and
named in the report's warnings; elements of classes the model does not hold (meters, monitors, ...)
go to ``Report.unmapped``. Nothing is dropped silently.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from gridtwin.errors import DssInputError, ErrorDetail, Report
from gridtwin.grid.model import TABLES, FeederModel
from gridtwin.ingest.opendss.properties import COVERED, DROP
from gridtwin.powerflow.scratch import ScratchCircuit, default_objects

__all__ = ["UNITS_TO_M", "read_opendss"]

# Metres per OpenDSS length unit (LineUnits enumeration names as the engine prints them).
UNITS_TO_M: dict[str, float] = {
    "none": 1.0,
    "m": 1.0,
    "km": 1000.0,
    "kft": 304.8,
    "ft": 0.3048,
    "in": 0.0254,
    "cm": 0.01,
    "mm": 0.001,
    "mi": 1609.344,
}

# Classes whose content is fully folded into the tables (wire data resolves into line matrices).
_FOLDED = {"linecode", "wiredata", "cndata", "tsdata", "linespacing", "linegeometry", "xfmrcode"}
_MAPPED = {
    "vsource",
    "line",
    "transformer",
    "load",
    "capacitor",
    "capcontrol",
    "regcontrol",
    "reactor",
    "pvsystem",
    "storage",
    "generator",
    "loadshape",
    "fuse",
    "recloser",
    "relay",
    "swtcontrol",
}


def read_opendss(master: Path, feeder_id: str, site: str = "") -> tuple[FeederModel, Report]:
    """Compile ``master`` in a scratch circuit and read every element into a ``FeederModel``.

    Engine errors, while compiling or reading, raise ``DssInputError`` naming file:line."""
    path = Path(master)
    if not path.is_file():
        raise DssInputError(
            "OpenDSS file not found",
            [ErrorDetail(where=str(path), message="file does not exist", code="not_found")],
        )
    try:
        with ScratchCircuit() as scratch:
            scratch.compile_file(path)
            if not scratch.has_circuit():
                raise DssInputError(
                    "OpenDSS script defines no circuit", [ErrorDetail(where=str(path), message="no circuit")]
                )
            report = Report(source=str(path))
            model = _Reader(scratch, report).read(feeder_id, site)
    except UnicodeDecodeError as exc:  # the engine's message or a name quoted bytes that are not UTF-8
        raise _not_utf8(path, exc) from None
    report.counts = model.counts()
    return model, report


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> DssInputError:
    """Name the master's first line that is not UTF-8 (else the master: a redirected file holds it)."""
    where = str(path)
    try:
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                where = f"{path}:{number}"
                break
    except OSError:
        pass
    return DssInputError(
        "OpenDSS script is not UTF-8",
        [
            ErrorDetail(
                where=where,
                message=f"byte 0x{exc.object[exc.start]:02x} is not UTF-8: save the script (and the files it "
                "redirects to) as UTF-8",
                code="encoding",
            )
        ],
    )


class _Reader:
    def __init__(self, scratch: ScratchCircuit, report: Report) -> None:
        self.scratch = scratch
        self.report = report
        self.extra_counts: Counter[tuple[str, str]] = Counter()

    # -- engine access -------------------------------------------------------------------------------
    def _class(self, cls: str, full: bool) -> list[dict[str, Any]]:
        raw = self.scratch.export_class(cls, full=full)
        data = [{_key(k): v for k, v in row.items()} for row in raw]
        for row in data:
            row["name"] = str(row["name"]).lower()
        return data

    def _property_names(self, cls: str) -> dict[str, str]:
        """JSON key -> the property name the OpenDSS parser accepts (``pctr`` -> ``%R``)."""
        return {_key(n): n for n in self.scratch.property_names(cls)}

    def _elements(self, cls: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(resolved properties, extras the source set beyond the typed columns) per element.

        Extras come only from what the source set (the non-full export): the full export can carry
        garbage (a Capacitor's never-set matrix comes from uninitialised memory, non-finite at times)
        that typed columns never read."""
        full = self._class(cls, True)
        if not full:
            return []
        given = {row["name"]: row for row in self._class(cls, False)}
        dss_names = self._property_names(cls)
        key = cls.lower()
        _check_finite(self.scratch, self.report.source, key, given, dss_names)
        covered = COVERED.get(key, set()) | DROP.get(key, set()) | {"name"}
        out = []
        for row in full:
            extra = {
                dss_names.get(k, k): v
                for k, v in given.get(row["name"], {}).items()
                if k not in covered and v is not None
            }
            # ratings=[normamps] (or [0] from a geometry) is a side effect of normamps/linecode/geometry.
            if "Ratings" in extra and extra["Ratings"] in ([row.get("normamps")], [0.0]):
                del extra["Ratings"]
            for prop in extra:
                self.extra_counts[(key, prop.lower())] += 1
            out.append((row, extra))
        return out

    def _get(self, option: str) -> str:
        return self.scratch.option(option)

    # -- whole model -----------------------------------------------------------------------------------
    def read(self, feeder_id: str, site: str) -> FeederModel:
        tables: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        self._sources(tables["sources"])
        self._lines(tables["lines"], tables["linecodes"], tables["switches"])
        self._transformers(tables["transformers"])
        self._regcontrols(tables["regcontrols"])
        self._loads(tables["loads"])
        self._capacitors(tables["capacitors"])
        self._capcontrols(tables["capcontrols"])
        self._reactors(tables["reactors"])
        self._ders(tables)
        self._loadshapes(tables["loadshapes"])
        self._protection(tables["switches"])
        self._buses(tables["buses"])
        self._unmapped()
        for (cls, prop), n in sorted(self.extra_counts.items()):
            self.report.warnings.append(
                ErrorDetail(
                    where=f"{cls}.{prop}",
                    message=f"no typed column; kept verbatim in dss_extra_json on {n} element(s)",
                    code="extra_property",
                )
            )
        frames = {name: _frame(name, rows) for name, rows in tables.items() if rows}
        return FeederModel(feeder_id=feeder_id, site=site, circuit=self._circuit(), tables=frames)

    def _circuit(self) -> dict[str, Any]:
        return {
            "name": self.scratch.circuit_name().lower(),
            "default_base_frequency_hz": float(self._get("defaultbasefrequency")),
            "base_frequency_hz": float(self._get("frequency")),
            "voltage_bases_kv": self.scratch.voltage_bases(),
            "max_iterations": self.scratch.max_iterations(),
            "min_iterations": int(self._get("miniterations")),
            "max_control_iterations": self.scratch.max_control_iterations(),
            "tolerance": float(self._get("tolerance")),
            "control_mode": self._get("controlmode").lower(),
            "algorithm": self._get("algorithm").lower(),
            "load_model": self._get("loadmodel").lower(),
            "load_mult": float(self._get("loadmult")),
            "gen_mult": float(self._get("genmult")),
            "earth_model": self._get("earthmodel").lower(),
            "circuit_model": self._get("cktmodel").lower(),
            "trapezoidal": self._get("trapezoidal").lower().startswith("y"),
        }

    # -- element classes -------------------------------------------------------------------------------
    def _sources(self, rows: list[dict[str, Any]]) -> None:
        for e, extra in self._elements("Vsource"):
            z1, z0 = e["z1"], e["z0"]
            rows.append(
                {
                    "name": e["name"],
                    "bus1": _low(e["bus1"]),
                    "bus2": _low(e["bus2"]),
                    "phases": int(e["phases"]),
                    "base_kv": e["basekv"],
                    "v_pu": e["pu"],
                    "angle_deg": e["angle"],
                    "frequency_hz": e["frequency"],
                    "r1_ohm": z1[0],
                    "x1_ohm": z1[1],
                    "r0_ohm": z0[0],
                    "x0_ohm": z0[1],
                    "dss_extra_json": _dump(extra),
                }
            )

    def _lines(
        self, rows: list[dict[str, Any]], codes: list[dict[str, Any]], switches: list[dict[str, Any]]
    ) -> None:
        by_key: dict[tuple[Any, ...], str] = {}
        names: set[str] = set()
        opened = self.scratch.open_line_conductors()
        for e, extra in self._elements("Line"):
            units = str(e["units"]).lower()
            per_m = UNITS_TO_M.get(units)
            if per_m is None:
                raise DssInputError(
                    "unknown line length unit",
                    [ErrorDetail(where=f"line.{e['name']}", message=f"units={units}")],
                )
            r = tuple(_flat(e["rmatrix"], 1.0 / per_m))
            x = tuple(_flat(e["xmatrix"], 1.0 / per_m))
            c = tuple(_flat(e["cmatrix"], 1.0 / per_m))
            phases = int(e["phases"])
            if e.get("linecode"):
                hint, kind = _low(e["linecode"]), "linecode"
            elif e.get("geometry"):
                hint, kind = "geom_" + _low(e["geometry"]), "geometry"
            else:
                hint, kind = f"z_{phases}ph", "line"
            key = (phases, r, x, c)
            code = by_key.get((hint, *key))
            if code is None:
                code = hint if hint not in names else _fresh(hint, names)
                names.add(code)
                by_key[(hint, *key)] = code
                codes.append(
                    {
                        "name": code,
                        "phases": phases,
                        "r_matrix_ohm_per_m": list(r),
                        "x_matrix_ohm_per_m": list(x),
                        "c_matrix_nf_per_m": list(c),
                        "norm_amps_a": e["normamps"],
                        "emerg_amps_a": e["emergamps"],
                        "source_kind": kind,
                        "dss_extra_json": "",
                    }
                )
            rows.append(
                {
                    "name": e["name"],
                    "bus1": _low(e["bus1"]),
                    "bus2": _low(e["bus2"]),
                    "phases": phases,
                    "linecode": code,
                    "length_m": e["length"] * per_m,
                    "norm_amps_a": e["normamps"],
                    "emerg_amps_a": e["emergamps"],
                    "is_switch": bool(e["switch"]),
                    "enabled": bool(e["enabled"]),
                    "open_conductors": opened.get(e["name"], []),
                    "dss_extra_json": _dump(extra),
                }
            )
            if e["switch"]:
                switches.append(
                    {
                        "name": e["name"],
                        "line": e["name"],
                        "kind": "switch",
                        "normal_open": not bool(e["enabled"]) or bool(opened.get(e["name"])),
                        "rated_a": e["normamps"],
                        "dss_extra_json": "",
                    }
                )

    def _transformers(self, rows: list[dict[str, Any]]) -> None:
        for e, extra in self._elements("Transformer"):
            n = int(e["windings"]) if "windings" in e else len(e["bus"])
            if n > 3:  # beyond XHL/XHT/XLT: the full short-circuit reactance array carries the impedance
                extra["XscArray"] = list(e["xscarray"])
            rows.append(
                {
                    "name": e["name"],
                    "phases": int(e["phases"]),
                    "windings": n,
                    "buses": [_low(b) for b in e["bus"]],
                    "conns": [str(c).lower() for c in e["conn"]],
                    "kvs_kv": list(e["kv"]),
                    "kvas_kva": list(e["kva"]),
                    "pct_rs": list(e["pctr"]),
                    "taps_pu": list(e["tap"]),
                    "xhl_pct": e["xhl"] if "xhl" in e else e["x12"],
                    "xht_pct": e["xht"] if "xht" in e else e["x13"],
                    "xlt_pct": e["xlt"] if "xlt" in e else e["x23"],
                    "pct_noload_loss": e["pctnoloadloss"],
                    "pct_imag": e["pctimag"],
                    "norm_hkva_kva": e["normhkva"],
                    "emerg_hkva_kva": e["emerghkva"],
                    "min_taps_pu": list(e["mintap"]),
                    "max_taps_pu": list(e["maxtap"]),
                    "num_taps": [int(v) for v in e["numtaps"]],
                    "rneuts_ohm": list(e["rneut"]),
                    "xneuts_ohm": list(e["xneut"]),
                    "ppm_antifloat": e["ppm_antifloat"],
                    "dss_extra_json": _dump(extra),
                }
            )

    def _regcontrols(self, rows: list[dict[str, Any]]) -> None:
        for e, extra in self._elements("RegControl"):
            rows.append(
                {
                    "name": e["name"],
                    "transformer": _low(e["transformer"]),
                    "winding": int(e["winding"]),
                    "vreg_v": e["vreg"],
                    "band_v": e["band"],
                    "pt_ratio": e["ptratio"],
                    "ct_prim_a": e["ctprim"],
                    "r_v": e["r"],
                    "x_v": e["x"],
                    "delay_s": e["delay"],
                    "tap_delay_s": e["tapdelay"],
                    "max_tap_change": int(e["maxtapchange"]),
                    "pt_phase": _phase(e["ptphase"]),
                    "reversible": bool(e["reversible"]),
                    "enabled": bool(e["enabled"]),
                    "dss_extra_json": _dump(extra),
                }
            )

    def _loads(self, rows: list[dict[str, Any]]) -> None:
        for e, extra in self._elements("Load"):
            model = int(e["model"])
            rows.append(
                {
                    "name": e["name"],
                    "bus1": _low(e["bus1"]),
                    "phases": int(e["phases"]),
                    "conn": _conn(e["conn"]),
                    "model": model,
                    "kv": e["kv"],
                    "p_kw": e["kw"],
                    "q_kvar": e["kvar"],
                    "vmin_pu": e["vminpu"],
                    "vmax_pu": e["vmaxpu"],
                    "zipv": list(e["zipv"]) if model == 8 else [],
                    "yearly": _low(e.get("yearly")),
                    "daily": _low(e.get("daily")),
                    "duty": _low(e.get("duty")),
                    "customer_class": int(e["class"]),
                    "num_customers": int(e["numcust"]),
                    "status": str(e["status"]).lower(),
                    "cvr_watts": e["cvrwatts"],
                    "cvr_vars": e["cvrvars"],
                    "enabled": bool(e["enabled"]),
                    "dss_extra_json": _dump(extra),
                }
            )

    def _capacitors(self, rows: list[dict[str, Any]]) -> None:
        for e, extra in self._elements("Capacitor"):
            rows.append(
                {
                    "name": e["name"],
                    "bus1": _low(e["bus1"]),
                    "bus2": _low(e["bus2"]),
                    "phases": int(e["phases"]),
                    "conn": _conn(e["conn"]),
                    "kv": e["kv"],
                    "kvars_kvar": list(e["kvar"]),
                    "states": [int(s) for s in e["states"]],
                    "enabled": bool(e["enabled"]),
                    "dss_extra_json": _dump(extra),
                }
            )

    def _capcontrols(self, rows: list[dict[str, Any]]) -> None:
        for e, extra in self._elements("CapControl"):
            rows.append(
                {
                    "name": e["name"],
                    "capacitor": _low(e["capacitor"]),
                    "element": _low(e["element"]),
                    "terminal": int(e["terminal"]),
                    "type": str(e["type"]).lower(),
                    "on_setting": e["onsetting"],
                    "off_setting": e["offsetting"],
                    "pt_ratio": e["ptratio"],
                    "ct_ratio": e["ctratio"],
                    "delay_s": e["delay"],
                    "delay_off_s": e["delayoff"],
                    "vmin_v": e["vmin"],
                    "vmax_v": e["vmax"],
                    "volt_override": bool(e["voltoverride"]),
                    "pt_phase": _phase(e["ptphase"]),
                    "ct_phase": _phase(e["ctphase"]),
                    "dead_time_s": e["deadtime"],
                    "enabled": bool(e["enabled"]),
                    "dss_extra_json": _dump(extra),
                }
            )

    def _reactors(self, rows: list[dict[str, Any]]) -> None:
        for e, extra in self._elements("Reactor"):
            rows.append(
                {
                    "name": e["name"],
                    "bus1": _low(e["bus1"]),
                    "bus2": _low(e["bus2"]),
                    "phases": int(e["phases"]),
                    "r_ohm": e["r"],
                    "x_ohm": e["x"],
                    "kv": e["kv"],
                    "kvar": e["kvar"],
                    "conn": _conn(e["conn"]),
                    "dss_extra_json": _dump(extra),
                }
            )

    def _ders(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        for e, extra in self._elements("PVSystem"):
            tables["pvsystems"].append(
                {
                    "name": e["name"],
                    "bus1": _low(e["bus1"]),
                    "phases": int(e["phases"]),
                    "kv": e["kv"],
                    "pmpp_kw": e["pmpp"],
                    "kva": e["kva"],
                    "irradiance_kw_per_m2": e["irradiance"],
                    "pf": e["pf"],
                    "conn": _conn(e["conn"]),
                    "yearly": _low(e.get("yearly")),
                    "daily": _low(e.get("daily")),
                    "dss_extra_json": _dump(extra),
                }
            )
        for e, extra in self._elements("Storage"):
            tables["storage"].append(
                {
                    "name": e["name"],
                    "bus1": _low(e["bus1"]),
                    "phases": int(e["phases"]),
                    "kv": e["kv"],
                    "kw_rated": e["kwrated"],
                    "kwh_rated": e["kwhrated"],
                    "kva": e["kva"],
                    "pct_stored": e["pctstored"],
                    "state": str(e["state"]).lower(),
                    "dss_extra_json": _dump(extra),
                }
            )
        for e, extra in self._elements("Generator"):
            tables["generators"].append(
                {
                    "name": e["name"],
                    "bus1": _low(e["bus1"]),
                    "phases": int(e["phases"]),
                    "kv": e["kv"],
                    "p_kw": e["kw"],
                    "q_kvar": e["kvar"],
                    "model": int(e["model"]),
                    "conn": _conn(e["conn"]),
                    "enabled": bool(e["enabled"]),
                    "dss_extra_json": _dump(extra),
                }
            )

    def _loadshapes(self, rows: list[dict[str, Any]]) -> None:
        defaults = default_objects()
        for e, extra in self._elements("LoadShape"):
            if ("loadshape", e["name"]) in defaults:
                continue
            interval = float(e["interval"])
            rows.append(
                {
                    "name": e["name"],
                    "npts": int(e["npts"]) if "npts" in e else len(e.get("pmult") or e.get("mult") or []),
                    "interval_h": interval,
                    "mult": list(e.get("pmult") or e.get("mult") or []),
                    "qmult": list(e.get("qmult") or []),
                    "hours": list(e.get("hour") or []) if interval == 0 else [],
                    "use_actual": bool(e["useactual"]),
                    "profile": "",
                    "dss_extra_json": _dump(extra),
                }
            )

    def _protection(self, rows: list[dict[str, Any]]) -> None:
        for cls in ("Fuse", "Recloser", "Relay", "SwtControl"):
            obj = "switchedobj" if cls == "SwtControl" else "monitoredobj"
            for e, extra in self._elements(cls):
                target = _low(e.get(obj))
                normal = str(e.get("normal", e.get("state", "closed"))).lower()
                rows.append(
                    {
                        "name": e["name"],
                        "line": target.split(".", 1)[1] if target.startswith("line.") else target,
                        "kind": cls.lower(),
                        "normal_open": normal.startswith("open"),
                        "rated_a": float(e.get("ratedcurrent") or 0.0),
                        "dss_extra_json": _dump(extra),
                    }
                )

    def _buses(self, rows: list[dict[str, Any]]) -> None:
        for bus in self.scratch.buses():
            rows.append(
                {
                    "name": bus.name.lower(),
                    "base_kv": bus.kv_base,
                    "nodes": bus.nodes,
                    "x": bus.xy[0] if bus.xy else math.nan,
                    "y": bus.xy[1] if bus.xy else math.nan,
                    "has_coords": bus.xy is not None,
                }
            )

    def _unmapped(self) -> None:
        defaults = default_objects()
        for cls in self.scratch.classes():
            key = cls.lower()
            if key in _MAPPED or key in _FOLDED:
                continue
            for name in self.scratch.element_names(cls):
                if (key, name.lower()) in defaults:
                    continue
                self.report.unmapped.append(
                    ErrorDetail(
                        where=f"{key}.{name.lower()}",
                        message=f"{cls} is not part of the feeder model",
                        code="unmapped",
                    )
                )


def _check_finite(
    scratch: ScratchCircuit,
    source: str,
    cls: str,
    given: dict[str, dict[str, Any]],
    dss_names: dict[str, str],
) -> None:
    """A value the script set that the engine holds as no number (``length=1e309`` overflows to null)
    is refused here, named, before any column arithmetic trips on it. A ``null`` that the engine prints
    as an empty array (a relay's ``RecloseIntervals`` with one shot) is no such value."""
    for name, row in given.items():
        for prop, value in row.items():
            if not _not_finite(value):
                continue
            dss_prop = dss_names.get(prop, prop)
            if value is None and _empty_array(scratch.property_text(cls, name, dss_prop)):
                continue
            raise DssInputError(
                "OpenDSS script sets a value that is not a finite number",
                [
                    ErrorDetail(
                        where=f"{source}: {cls}.{name}.{dss_prop}",
                        message=f"the engine holds {value!r} (out of range?)",
                        code="not_finite",
                    )
                ],
            )


def _empty_array(text: str) -> bool:
    return text.strip("[]() ,").upper() in ("", "NONE")  # the engine prints an empty one as "[NONE]"


def _not_finite(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_not_finite(v) for v in value)
    return False


@functools.cache
def _key(name: str) -> str:
    return name.lower().replace("%", "pct")


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    schema = TABLES[name].schema()
    cols = {f.name: [row.get(f.name) for row in rows] for f in schema}
    return pa.Table.from_pydict(cols, schema=schema).to_pandas()


def _flat(matrix: Any, scale: float) -> list[float]:
    return [float(v) * scale for row in matrix for v in row]


def _fresh(hint: str, taken: set[str]) -> str:
    i = 2
    while f"{hint}_{i}" in taken:
        i += 1
    return f"{hint}_{i}"


def _low(value: Any) -> str:
    return "" if value is None else str(value).lower()


def _conn(value: Any) -> str:
    return "delta" if str(value).lower() in ("delta", "d", "ll") else "wye"


def _phase(value: Any) -> int:
    text = str(value).lower()
    return {"avg": -1, "max": -2, "min": -3}.get(text, int(text) if text.lstrip("-").isdigit() else -1)


def _dump(extra: dict[str, Any]) -> str:
    return json.dumps(extra) if extra else ""
