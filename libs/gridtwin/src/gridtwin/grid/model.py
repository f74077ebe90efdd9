"""The columnar feeder model: one table per element kind, one row per element.

This is the working representation every engine reads (ARCHITECTURE.md, "Data"). The twin graph is
the system of record; ``gridtwin.grid.twins`` maps between the two, and ``gridtwin.grid.dss_writer``
turns a model into an OpenDSS script.

Conventions (STYLE.md): every quantity carries its unit in its column name; lengths are metres,
impedances per metre; bus connections keep OpenDSS node suffixes (``"650.1.2.3"``) because node order
is physics (delta windings, open-wye banks). Names are lower case, as OpenDSS reports them.

Each table is described once in ``TABLES`` (column name, Arrow type, unit, description). The DTDL
ontology in ``dtdl/`` has one interface per table whose properties are these columns, so a twin and a
row carry the same fields; ``tests`` check the two never drift apart.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

__all__ = ["TABLES", "Column", "FeederModel", "TableSpec"]

F64 = pa.float64()
I64 = pa.int64()
STR = pa.string()
BOOL = pa.bool_()
LF64 = pa.list_(pa.float64())
LSTR = pa.list_(pa.string())
LI64 = pa.list_(pa.int64())


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    unit: str = ""  # DTDL-ish unit word ("kilovolt", "kilowatt", "ohmPerMetre", ...), "" for none
    description: str = ""


@dataclass(frozen=True)
class TableSpec:
    name: str  # table key in FeederModel.tables
    interface: str  # DTDL interface name (dtmi:gridtwin:<interface>;1)
    dss_class: str  # OpenDSS class written for this table ("" = not an OpenDSS element)
    columns: tuple[Column, ...]

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _spec(name: str, interface: str, dss_class: str, *cols: Column) -> TableSpec:
    extra = (_EXTRA,) if dss_class else ()
    described = tuple(
        c
        if c.description
        else Column(c.name, c.type, c.unit, _DESCRIPTIONS.get(c.name, c.name.replace("_", " ")))
        for c in cols
    )
    return TableSpec(
        name, interface, dss_class, (Column("name", STR, "", "element name, lower case"), *described, *extra)
    )


# Descriptions shared by columns of the same name in several tables (a column's own text wins).
_DESCRIPTIONS: dict[str, str] = {
    "angle_deg": "voltage angle of phase 1",
    "band_v": "bandwidth on the PT secondary base",
    "bus1": "bus of terminal 1 with node suffix",
    "bus2": "bus of terminal 2 with node suffix",
    "c_matrix_nf_per_m": "shunt capacitance, full nphases x nphases, row-major",
    "capacitor": "the controlled capacitor's name",
    "conn": "wye | delta",
    "ct_prim_a": "CT primary rating",
    "ct_ratio": "CT ratio",
    "customer_class": "OpenDSS load class number",
    "daily": "daily load shape id",
    "dead_time_s": "dead time after switching out",
    "delay_off_s": "delay before switching off",
    "delay_s": "time delay before acting",
    "emerg_amps_a": "emergency ampere rating",
    "emerg_hkva_kva": "emergency rating of the high-side winding",
    "enabled": "whether the element is in service",
    "frequency_hz": "source frequency",
    "interval_h": "time step between points (0 = explicit hours)",
    "irradiance_kw_per_m2": "irradiance in kW per square metre",
    "is_switch": "whether the source marked the line as a switch",
    "kv": "rated kV",
    "kva": "rated apparent power",
    "kvar": "rated reactive power",
    "kw_rated": "rated active power",
    "kwh_rated": "rated energy",
    "length_m": "length",
    "max_tap_change": "most tap steps in one control iteration",
    "model": "OpenDSS model number",
    "mult": "active power multipliers",
    "norm_amps_a": "normal ampere rating",
    "norm_hkva_kva": "normal rating of the high-side winding",
    "normal_open": "whether the device is open in the normal state",
    "npts": "number of points",
    "num_customers": "number of customers served",
    "off_setting": "value at which the control switches off (units per type)",
    "on_setting": "value at which the control switches on (units per type)",
    "p_kw": "active power (base, before multipliers)",
    "pct_imag": "magnetising current in percent of rated",
    "pct_noload_loss": "no-load loss in percent of rated kVA",
    "pct_stored": "stored energy in percent of rated",
    "pf": "power factor",
    "phases": "number of phases",
    "pmpp_kw": "array power at the maximum power point",
    "pt_ratio": "PT ratio",
    "q_kvar": "reactive power (base, before multipliers)",
    "qmult": "reactive power multipliers (empty = follow mult)",
    "r_matrix_ohm_per_m": "series resistance, full nphases x nphases, row-major",
    "r_ohm": "series resistance",
    "r_v": "line-drop compensator R on the PT secondary base",
    "rated_a": "rated current",
    "reversible": "whether the regulator handles reverse power",
    "state": "charging | discharging | idling",
    "tap_delay_s": "delay between successive tap changes",
    "terminal": "monitored terminal number",
    "transformer": "the controlled transformer's name",
    "use_actual": "multipliers are actual kW/kvar, not per unit",
    "vmax_pu": "above this voltage the model turns to constant impedance",
    "vmax_v": "upper voltage limit on the PT secondary base",
    "vmin_pu": "below this voltage the model turns to constant impedance",
    "vmin_v": "lower voltage limit on the PT secondary base",
    "volt_override": "whether voltage limits override the control type",
    "winding": "monitored winding number",
    "windings": "number of windings",
    "x_matrix_ohm_per_m": "series reactance, full nphases x nphases, row-major",
    "x_ohm": "series reactance",
    "x_v": "line-drop compensator X on the PT secondary base",
    "xhl_pct": "high-low winding reactance on the winding-1 kVA base",
    "xht_pct": "high-tertiary winding reactance on the winding-1 kVA base",
    "xlt_pct": "low-tertiary winding reactance on the winding-1 kVA base",
    "yearly": "yearly load shape id",
}


# Properties the source set that no typed column carries, kept so the written script solves exactly like
# the source (the reader lists each such property in its report's warnings).
_EXTRA = Column(
    "dss_extra_json",
    STR,
    "",
    "JSON object of further OpenDSS properties set on the element (property -> value), written back verbatim",
)


# The registry of element tables. The OpenDSS reader/writer owns the exact column set; columns may be
# added where exactness needs them (then add the property to the DTDL interface too).
TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "buses",
            "Bus",
            "",
            Column("base_kv", F64, "kilovolt", "line-to-neutral kV base set by calcvoltagebases"),
            Column("nodes", LI64, "", "OpenDSS node numbers present at the bus"),
            Column("x", F64, "", "coordinate as given by the source (x or longitude)"),
            Column("y", F64, "", "coordinate as given by the source (y or latitude)"),
            Column("has_coords", BOOL, "", "whether the source gave coordinates"),
        ),
        _spec(
            "sources",
            "EnergySource",
            "Vsource",
            Column("bus1", STR, "", "bus with node suffix"),
            Column("phases", I64),
            Column("base_kv", F64, "kilovolt", "line-to-line base voltage"),
            Column("v_pu", F64, "", "per-unit voltage setpoint"),
            Column("angle_deg", F64, "degreeOfArc"),
            Column("frequency_hz", F64, "hertz"),
            Column("r1_ohm", F64, "ohm", "positive-sequence source resistance"),
            Column("x1_ohm", F64, "ohm", "positive-sequence source reactance"),
            Column("r0_ohm", F64, "ohm", "zero-sequence source resistance"),
            Column("x0_ohm", F64, "ohm", "zero-sequence source reactance"),
            Column("bus2", STR, "", "neutral-side bus with node suffix (bus1.0.0.0 when grounded)"),
        ),
        _spec(
            "linecodes",
            "LineCode",
            "LineCode",
            Column("phases", I64),
            Column("r_matrix_ohm_per_m", LF64, "ohmPerMetre", "full nphases x nphases, row-major"),
            Column("x_matrix_ohm_per_m", LF64, "ohmPerMetre"),
            Column("c_matrix_nf_per_m", LF64, "nanofaradPerMetre"),
            Column("norm_amps_a", F64, "ampere"),
            Column("emerg_amps_a", F64, "ampere"),
            Column("source_kind", STR, "", "linecode | geometry | line (impedance given on the line)"),
        ),
        _spec(
            "lines",
            "LineSegment",
            "Line",
            Column("bus1", STR),
            Column("bus2", STR),
            Column("phases", I64),
            Column("linecode", STR, "", "name in the linecodes table"),
            Column("length_m", F64, "metre"),
            Column("norm_amps_a", F64, "ampere"),
            Column("emerg_amps_a", F64, "ampere"),
            Column("is_switch", BOOL),
            Column("enabled", BOOL),
            Column(
                "open_conductors",
                LSTR,
                "",
                "conductors opened by an OpenDSS 'open' command, as 'terminal.conductor' (empty = all closed)",
            ),
            Column(
                "geometry_wkt",
                STR,
                "",
                "route of the line as a WGS84 (lon lat) LINESTRING in WKT, from GIS; empty when unknown",
            ),
        ),
        _spec(
            "switches",
            "Switch",
            "",
            Column("line", STR, "", "the line element the device sits on (or monitors)"),
            Column(
                "kind", STR, "", "switch | breaker | fuse | recloser | sectionalizer | relay | swtcontrol"
            ),
            Column("normal_open", BOOL),
            Column("rated_a", F64, "ampere"),
            _EXTRA,  # protective devices (fuse, relay, ...) keep their settings here
        ),
        _spec(
            "transformers",
            "PowerTransformer",
            "Transformer",
            Column("phases", I64),
            Column("windings", I64),
            Column("buses", LSTR, "", "per winding, with node suffixes"),
            Column("conns", LSTR, "", "per winding: wye | delta"),
            Column("kvs_kv", LF64, "kilovolt", "per winding rated kV (LL for 3-phase)"),
            Column("kvas_kva", LF64, "kilovoltAmpere", "per winding rating"),
            Column("pct_rs", LF64, "percent", "per winding %R"),
            Column("taps_pu", LF64, "", "per winding tap"),
            Column("xhl_pct", F64, "percent"),
            Column("xht_pct", F64, "percent"),
            Column("xlt_pct", F64, "percent"),
            Column("pct_noload_loss", F64, "percent"),
            Column("pct_imag", F64, "percent"),
            Column("norm_hkva_kva", F64, "kilovoltAmpere"),
            Column("emerg_hkva_kva", F64, "kilovoltAmpere"),
            Column("min_taps_pu", LF64, "", "per winding lowest tap"),
            Column("max_taps_pu", LF64, "", "per winding highest tap"),
            Column("num_taps", LI64, "", "per winding number of tap steps"),
            Column(
                "rneuts_ohm",
                LF64,
                "ohm",
                "per winding neutral resistance (-1 = solidly grounded/open per OpenDSS)",
            ),
            Column("xneuts_ohm", LF64, "ohm", "per winding neutral reactance"),
            Column(
                "ppm_antifloat", F64, "", "parts per million of kVA added as shunt to ground on each winding"
            ),
        ),
        _spec(
            "regcontrols",
            "Regulator",
            "RegControl",
            Column("transformer", STR),
            Column("winding", I64),
            Column("vreg_v", F64, "volt", "band centre on the PT secondary base"),
            Column("band_v", F64, "volt"),
            Column("pt_ratio", F64),
            Column("ct_prim_a", F64, "ampere"),
            Column("r_v", F64, "volt"),
            Column("x_v", F64, "volt"),
            Column("delay_s", F64, "second"),
            Column("tap_delay_s", F64, "second"),
            Column("max_tap_change", I64),
            Column("pt_phase", I64, "", "monitored phase (-2 max, -3 min)"),
            Column("reversible", BOOL),
            Column("enabled", BOOL),
        ),
        _spec(
            "loads",
            "Load",
            "Load",
            Column("bus1", STR),
            Column("phases", I64),
            Column("conn", STR, "", "wye | delta"),
            Column("model", I64, "", "OpenDSS load model 1..8"),
            Column("kv", F64, "kilovolt", "rated kV (LL for 2/3-phase, LN for 1-phase wye)"),
            Column("p_kw", F64, "kilowatt"),
            Column("q_kvar", F64, "kilovoltAmpereReactive"),
            Column("vmin_pu", F64),
            Column("vmax_pu", F64),
            Column("zipv", LF64, "", "7 ZIP coefficients for model 8, empty otherwise"),
            Column("yearly", STR, "", "load shape id"),
            Column("daily", STR, "", "load shape id"),
            Column("duty", STR, "", "load shape id"),
            Column("customer_class", I64),
            Column("num_customers", I64),
            Column("status", STR, "", "variable | fixed | exempt (fixed/exempt ignore the load multiplier)"),
            Column("cvr_watts", F64, "", "CVR exponent of P for model 4"),
            Column("cvr_vars", F64, "", "CVR exponent of Q for model 4"),
            Column("enabled", BOOL),
        ),
        _spec(
            "capacitors",
            "Capacitor",
            "Capacitor",
            Column("bus1", STR),
            Column("bus2", STR, "", "empty for a shunt bank to ground"),
            Column("phases", I64),
            Column("conn", STR),
            Column("kv", F64, "kilovolt"),
            Column("kvars_kvar", LF64, "kilovoltAmpereReactive", "per step"),
            Column("states", LI64, "", "per step 1 = in, 0 = out"),
            Column("enabled", BOOL),
        ),
        _spec(
            "capcontrols",
            "CapacitorControl",
            "CapControl",
            Column("capacitor", STR),
            Column("element", STR, "", "monitored element Class.name"),
            Column("terminal", I64),
            Column("type", STR, "", "voltage | current | kvar | pf | time"),
            Column("on_setting", F64),
            Column("off_setting", F64),
            Column("pt_ratio", F64),
            Column("ct_ratio", F64),
            Column("delay_s", F64, "second"),
            Column("delay_off_s", F64, "second"),
            Column("vmin_v", F64, "volt"),
            Column("vmax_v", F64, "volt"),
            Column("volt_override", BOOL),
            Column("pt_phase", I64, "", "monitored phase for voltage control (-1 avg, -2 max, -3 min)"),
            Column("ct_phase", I64, "", "monitored phase for current control (-1 avg, -2 max, -3 min)"),
            Column("dead_time_s", F64, "second"),
            Column("enabled", BOOL),
        ),
        _spec(
            "reactors",
            "Reactor",
            "Reactor",
            Column("bus1", STR),
            Column("bus2", STR),
            Column("phases", I64),
            Column("r_ohm", F64, "ohm"),
            Column("x_ohm", F64, "ohm"),
            Column("kv", F64, "kilovolt"),
            Column("kvar", F64, "kilovoltAmpereReactive"),
            Column("conn", STR),
        ),
        _spec(
            "pvsystems",
            "PVSystem",
            "PVSystem",
            Column("bus1", STR),
            Column("phases", I64),
            Column("kv", F64, "kilovolt"),
            Column("pmpp_kw", F64, "kilowatt"),
            Column("kva", F64, "kilovoltAmpere"),
            Column("irradiance_kw_per_m2", F64),
            Column("pf", F64),
            Column("conn", STR),
            Column("yearly", STR),
            Column("daily", STR),
        ),
        _spec(
            "invcontrols",
            "InverterControl",
            "InvControl",
            Column("der_list", LSTR, "", "controlled DER as Class.name (empty = every PVSystem and Storage)"),
            Column("mode", STR, "", "voltvar | voltwatt | vv_vw | wattpf | wattvar"),
            Column("curve_v_pu", LF64, "", "volt-var curve voltages (per unit of rated)"),
            Column("curve_q_pu", LF64, "", "volt-var curve reactive power (per unit of available kvar)"),
            Column("voltage_curvex_ref", STR, "", "rated | avg | ravg"),
            Column("ref_reactive_power", STR, "", "varaval | varmax"),
            Column("enabled", BOOL),
        ),
        _spec(
            "storage",
            "Storage",
            "Storage",
            Column("bus1", STR),
            Column("phases", I64),
            Column("kv", F64, "kilovolt"),
            Column("kw_rated", F64, "kilowatt"),
            Column("kwh_rated", F64, "kilowattHour"),
            Column("kva", F64, "kilovoltAmpere"),
            Column("pct_stored", F64, "percent"),
            Column("state", STR),
        ),
        _spec(
            "generators",
            "Generator",
            "Generator",
            Column("bus1", STR),
            Column("phases", I64),
            Column("kv", F64, "kilovolt"),
            Column("p_kw", F64, "kilowatt"),
            Column("q_kvar", F64, "kilovoltAmpereReactive"),
            Column("model", I64),
            Column("conn", STR),
            Column("enabled", BOOL),
        ),
        _spec(
            "loadshapes",
            "LoadShape",
            "LoadShape",
            Column("npts", I64),
            Column("interval_h", F64, "hour"),
            Column("mult", LF64),
            Column("qmult", LF64),
            Column("hours", LF64, "", "explicit hours when the interval is 0"),
            Column("use_actual", BOOL),
            Column(
                "profile",
                STR,
                "",
                "profile store reference kind/partition/name; when set, mult is empty and the values are"
                " loaded at run time",
            ),
        ),
    )
}


@dataclass
class FeederModel:
    """A feeder as tables. ``circuit`` holds the circuit-level settings the solution depends on
    (name, base_frequency_hz, voltage_bases_kv, solution options); keep it JSON-serialisable."""

    feeder_id: str
    site: str = ""
    circuit: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    version: str = ""  # set by the registry (changes whenever any twin of the feeder changes)

    def table(self, name: str) -> pd.DataFrame:
        """The table ``name``, empty with the right columns when the feeder has no such element."""
        if name in self.tables:
            return self.tables[name]
        spec = TABLES[name]
        return spec.schema().empty_table().to_pandas()

    def counts(self) -> dict[str, int]:
        return {name: len(df) for name, df in self.tables.items() if len(df)}

    # Arrow IPC: one stream per table inside a small envelope, so a model crosses a gRPC call in one
    # message and loads with zero parsing of per-element text.
    def to_ipc(self) -> bytes:
        sink = io.BytesIO()
        header = json.dumps(
            {
                "feeder_id": self.feeder_id,
                "site": self.site,
                "circuit": self.circuit,
                "version": self.version,
                "tables": sorted(self.tables),
            }
        ).encode()
        sink.write(len(header).to_bytes(8, "little"))
        sink.write(header)
        for name in sorted(self.tables):
            buf = _table_to_ipc(name, self.tables[name])
            sink.write(len(buf).to_bytes(8, "little"))
            sink.write(buf)
        return sink.getvalue()

    @classmethod
    def from_ipc(cls, data: bytes) -> FeederModel:
        view = memoryview(data)
        n = int.from_bytes(view[:8], "little")
        header = json.loads(bytes(view[8 : 8 + n]))
        pos = 8 + n
        tables: dict[str, pd.DataFrame] = {}
        for name in header["tables"]:
            size = int.from_bytes(view[pos : pos + 8], "little")
            pos += 8
            reader = pa.ipc.open_stream(pa.py_buffer(view[pos : pos + size]))
            tables[name] = reader.read_all().to_pandas()
            pos += size
        return cls(
            feeder_id=header["feeder_id"],
            site=header["site"],
            circuit=header["circuit"],
            tables=tables,
            version=header.get("version", ""),
        )


def _table_to_ipc(name: str, df: pd.DataFrame) -> bytes:
    spec = TABLES.get(name)
    table = (
        pa.Table.from_pandas(df, schema=_schema_for(spec, df.columns), preserve_index=False)
        if spec
        else pa.Table.from_pandas(df, preserve_index=False)
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _schema_for(spec: TableSpec | None, present: Iterable[str]) -> pa.Schema | None:
    if spec is None:
        return None
    known = {c.name: c.type for c in spec.columns}
    return pa.schema([pa.field(col, known[col]) if col in known else pa.field(col, STR) for col in present])
