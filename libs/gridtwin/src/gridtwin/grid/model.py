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
    return TableSpec(name, interface, dss_class, (Column("name", STR, "", "element name, lower case"), *cols))


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
            Column("r1_ohm", F64, "ohm"),
            Column("x1_ohm", F64, "ohm"),
            Column("r0_ohm", F64, "ohm"),
            Column("x0_ohm", F64, "ohm"),
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
        ),
        _spec(
            "switches",
            "Switch",
            "",
            Column("line", STR, "", "the line element the device sits on"),
            Column("kind", STR, "", "switch | breaker | fuse | recloser | sectionalizer | relay"),
            Column("normal_open", BOOL),
            Column("rated_a", F64, "ampere"),
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
            Column("min_tap_pu", F64),
            Column("max_tap_pu", F64),
            Column("num_taps", I64),
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
            Column("pt_phase", I64),
            Column("reversible", BOOL),
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
