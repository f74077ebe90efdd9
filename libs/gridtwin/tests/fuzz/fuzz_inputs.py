"""Inputs for the reader fuzzers: valid files built from drawn parameters, then mutated the way real
files go wrong (cut short, huge numbers, NaN, odd unicode, duplicate ids, a column missing, a line
doubled or dropped), mixed with raw bytes.

Every builder takes a hypothesis ``draw``; the atheris drill drives the same builders from its own
bytes (``tests/drills/fuzz_readers.py``), so one set of generators serves both.
"""

from __future__ import annotations

import io
import json
import math
import sys
import warnings
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

Files = dict[str, bytes]
Draw = Callable[..., Any]

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
REPO = TESTS.parents[2]
sys.path.insert(0, str(TESTS / "ingest" / "cyme"))  # cyme_builder: small CYMDIST exports
import cyme_builder as cb  # noqa: E402

# Values that break parsers: non-finite and overflowing numbers, digits past int() limits, empty,
# signs, brackets and quotes, odd unicode (BOM, RTL override, NUL, astral), paths and format strings.
JUNK: tuple[str, ...] = (
    "", " ", "nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e308", "4.9e-324", "-0",
    "0", "-1", "99999999999999999999999", "9" * 5000, "0x1F", "1,000", "1_0", "true", "null", "None",
    "[", "]", "{", "}", "(", ",", ";", "=", '"', "'", "\\", "\t", "é", "\u202e", "\x00", "\ufeff",
    "\U0001f600", "名前", "../../etc/passwd", "/etc/passwd", "C:\\x", "%s%n", "{0}", "-" * 300,
    "2023-02-30T25:61:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59", "1e5", "2.5", "A", "ABCN",
)  # fmt: skip
junk = st.sampled_from(JUNK)
SEPARATORS = (",", "=", " ", ";", "\t", ":", "|")


# -- generic mutations -----------------------------------------------------------------------------


def _tokens(line: str) -> list[tuple[int, int]]:
    """(start, end) of the runs between separators."""
    spans, start = [], 0
    for i, ch in enumerate(line + ","):
        if ch in SEPARATORS or i == len(line):
            if i > start:
                spans.append((start, i))
            start = i + 1
    return spans


MUTATIONS = ("drop", "dup", "swap", "truncate", "cut_bytes", "token", "insert", "column", "case", "bytes")


@st.composite
def mutation_ops(draw: Draw, max_ops: int = 4) -> list[tuple[str, int, str]]:
    return draw(
        st.lists(st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 1 << 20), junk), max_size=max_ops)
    )


def mutate(data: bytes, ops: list[tuple[str, int, str]]) -> bytes:
    """Apply line/token/byte mutations in order (deterministic in ``ops``)."""
    text = data.decode("utf-8", "surrogateescape")
    for op, pos, value in ops:
        lines = text.split("\n")
        i = pos % len(lines)
        if op == "drop":
            del lines[i]
        elif op == "dup":  # duplicate ids, repeated sections
            lines.insert(i, lines[i])
        elif op == "swap":
            j = (pos // 7) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "truncate":  # the file stops mid-line
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: pos % (len(lines[-1]) + 1)]
        elif op == "token":  # one value replaced
            spans = _tokens(lines[i])
            if spans:
                a, b = spans[pos % len(spans)]
                lines[i] = lines[i][:a] + value + lines[i][b:]
        elif op == "insert":
            lines.insert(i, value)
        elif op == "column":  # a column dropped from one line (the header when i == 0)
            parts = lines[i].split(",")
            if len(parts) > 1:
                del parts[pos % len(parts)]
                lines[i] = ",".join(parts)
        elif op == "case":
            lines[i] = lines[i].swapcase()
        elif op == "cut_bytes":  # cut inside a multi-byte character too
            raw = "\n".join(lines).encode("utf-8", "surrogateescape")
            text = raw[: pos % (len(raw) + 1)].decode("utf-8", "surrogateescape")
            continue
        elif op == "bytes":
            raw = bytearray("\n".join(lines).encode("utf-8", "surrogateescape"))
            if raw:
                raw[pos % len(raw)] = (pos >> 8) & 0xFF
            text = bytes(raw).decode("utf-8", "surrogateescape")
            continue
        text = "\n".join(lines)
    return text.encode("utf-8", "surrogateescape")


@st.composite
def mutated(draw: Draw, files: Files, max_ops: int = 4) -> Files:
    """``files`` with one of them mutated (or none, sometimes: the valid file must read)."""
    if draw(st.integers(0, 3)) == 0:  # a quarter of the inputs stay as built
        return files
    ops = draw(mutation_ops(max_ops))
    if not ops:
        return files
    name = draw(st.sampled_from(sorted(files)))
    return {**files, name: mutate(files[name], ops)}


def value(draw: Draw, normal: st.SearchStrategy[Any], wild: float = 0.05) -> Any:
    """A normal value, or (now and then) a junk one."""
    if draw(st.integers(0, 99)) < wild * 100:
        return draw(junk)
    return draw(normal)


def num(lo: float, hi: float) -> st.SearchStrategy[str]:
    return st.floats(lo, hi, allow_nan=False).map(lambda v: f"{v:.6g}")


# -- OpenDSS ---------------------------------------------------------------------------------------

# Commands a hostile script may hold: output files (must land in the reader's private folder), moves
# of the data path, nested redirects, elements the model does not hold.
DSS_EXTRAS = (
    "export voltages",
    "export summary out.csv",
    "show voltages",
    "save circuit dir=saved",
    "set datapath=..",
    "set datapath=/tmp",
    "cd ..",
    "redirect other.dss",
    "compile other.dss",
    "new monitor.m1 element=line.l1 terminal=1",
    "new energymeter.em1 element=line.l1",
    "set tracecontrol=yes",
    "set mode=snapshot",
    "solve",
    "open line.l1 1",
    "buscoords coords.csv",
    "set voltagebases=[]",
    "edit line.l1 length=-1",
    "new line.l1 bus1=b1 bus2=b1",
    "new transformer.t9 windings=5",
    "new loadshape.big npts=2 interval=0 mult=[1 2] hour=[0]",
    "batchedit load..* kw=0",
    "like line.l1",
)


@st.composite
def opendss_files(draw: Draw) -> Files:
    n = draw(st.integers(1, 5))
    ph = value(draw, st.sampled_from(["3", "1", "2"]))
    kv = value(draw, st.sampled_from(["12.47", "4.16", "0.48", "115"]))
    lines = [
        "clear",
        f"new circuit.{value(draw, st.sampled_from(['fz', 'ckt', 'a.b']))} basekv={kv} "
        f"pu={value(draw, num(0.9, 1.1))} phases={ph} bus1=src",
        f"new linecode.lc nphases={ph} r1={value(draw, num(0, 1))} x1={value(draw, num(0, 1))} "
        f"r0={value(draw, num(0, 1))} x0={value(draw, num(0, 2))} units={value(draw, st.sampled_from(['km', 'kft', 'mi', 'm']))}",
    ]
    buses = ["src"] + [f"b{i}" for i in range(1, n + 1)]
    for i in range(1, n + 1):
        frm = buses[draw(st.integers(0, i - 1))]
        lines.append(
            f"new line.l{i} bus1={frm} bus2=b{i} linecode=lc length={value(draw, num(0.001, 5))} units=km"
            + (" switch=yes" if draw(st.booleans()) and i > 1 else "")
        )
    kinds = draw(
        st.lists(st.sampled_from(["load", "cap", "xf", "pv", "gen", "shape", "reactor"]), max_size=6)
    )
    for k, kind in enumerate(kinds):
        bus = value(draw, st.sampled_from(buses[1:]))
        if kind == "load":
            lines.append(
                f"new load.ld{k} bus1={bus} kv={kv} kw={value(draw, num(0, 5000))} "
                f"kvar={value(draw, num(-500, 2000))} model={value(draw, st.sampled_from(['1', '2', '5', '8']))}"
                " zipv=[0.3 0.3 0.4 0.3 0.3 0.4 0.8]"
            )
        elif kind == "cap":
            lines.append(f"new capacitor.c{k} bus1={bus} kv={kv} kvar={value(draw, num(0, 1200))}")
        elif kind == "xf":
            lines.append(
                f"new transformer.t{k} phases={ph} windings=2 buses=[{bus} lv{k}] conns=[wye wye] "
                f"kvs=[{kv} 0.48] kvas=[{value(draw, num(1, 5000))} 500] xhl={value(draw, num(0.1, 10))} "
                f"%r={value(draw, num(0, 2))}"
            )
            if draw(st.booleans()):
                lines.append(f"new regcontrol.r{k} transformer=t{k} winding=2 vreg=120 ptratio=20 band=2")
        elif kind == "pv":
            lines.append(
                f"new pvsystem.pv{k} bus1={bus} kv={kv} kva={value(draw, num(0, 500))} "
                f"pmpp={value(draw, num(0, 500))} irradiance=1"
            )
        elif kind == "gen":
            lines.append(f"new generator.g{k} bus1={bus} kv={kv} kw={value(draw, num(0, 500))} pf=0.95")
        elif kind == "shape":
            pts = [value(draw, num(0, 2)) for _ in range(draw(st.integers(1, 6)))]
            lines.append(f"new loadshape.s{k} npts={len(pts)} interval=1 mult=[{' '.join(pts)}]")
        else:
            lines.append(f"new reactor.x{k} bus1={bus} kv={kv} kvar={value(draw, num(0, 300))}")
    lines += draw(st.lists(st.sampled_from(DSS_EXTRAS), max_size=3))
    lines.append(f"set voltagebases=[{kv} 0.48]")
    lines.append("calcvoltagebases")
    files: Files = {"master.dss": "\n".join(lines).encode()}
    if draw(st.booleans()):
        coords = [f"{b},{value(draw, num(-1e4, 1e4))},{value(draw, num(-1e4, 1e4))}" for b in buses]
        files["coords.csv"] = "\n".join(coords).encode()
        files["master.dss"] += b"\nbuscoords coords.csv\n"
    if draw(st.booleans()):
        files["other.dss"] = f"new load.extra bus1=b1 kv={kv} kw=10\n".encode()
    return draw(mutated(files))


@st.composite
def opendss_raw(draw: Draw) -> Files:
    head = draw(
        st.sampled_from([b"", b"new circuit.x basekv=12.47\n", b"clear\nnew circuit.x\nnew line.l1 "])
    )
    return {"master.dss": head + draw(st.binary(max_size=600))}


# -- CYME ------------------------------------------------------------------------------------------


@st.composite
def cyme_files(draw: Draw) -> Files:
    """A source, 1-4 line sections in a chain or tree, loads, and now and then a transformer and a
    shunt capacitor, as ``cyme_builder`` writes them."""
    n = draw(st.integers(1, 4))
    names = ["src"] + [f"n{i}" for i in range(1, n + 1)]
    secs = []
    for i in range(1, n + 1):
        frm = names[draw(st.integers(0, i - 1))]
        secs.append(f"s{i},{frm},n{i},{value(draw, st.sampled_from(['ABC', 'A', 'BC']))}")
    line_rows = [f"s{i},s{i},{cb.LINE_ID},{value(draw, num(0, 3000))}" for i in range(1, n + 1)]
    network = cb.nodes(*names, "l1") + cb.sections(*secs, f"ld,n{n},l1,ABC") + cb.lines(*line_rows)
    equipment = ""
    if draw(st.booleans()):
        network += cb.block(
            "TRANSFORMER SETTING",
            "SectionID,Location,EqID,DeviceNumber,Conn,PrimTap,SecondaryTap,ConnectionStatus",
            [f"s1,M,XF,xf1,{value(draw, st.sampled_from(['0', '1', '4', 'Y_D', '99']))},100,100,0"],
        )
        equipment += cb.block(
            "TRANSFORMER",
            "ID,Type,KVA,KVLLprim,KVLLsec,Z1,Z0,XR,XR0,Conn,NoLoadLosses",
            [f"XF,2,{value(draw, num(1, 5000))},{cb.KV},{cb.KV},5,5,4,4,0,0.5"],
        )
    if draw(st.booleans()):
        network += cb.block(
            "SHUNT CAPACITOR SETTING",
            "SectionID,DeviceNumber,Location,Connection,Phase,KVAR,ThreePhaseKVAR,KV,Control,ShuntCapacitorID",
            [f"s1,cap1,S,Y,ABC,{value(draw, num(0, 600))},0,7.2,0,"],
        )
    load_rows = [
        ("ld", p, float(draw(st.floats(0, 500))), float(draw(st.floats(-100, 300))))
        for p in draw(st.lists(st.sampled_from("ABC"), min_size=1, max_size=3, unique=True))
    ]
    load = cb.loads(load_rows, connection=value(draw, st.sampled_from(["0", "2"])))
    head = f"[GENERAL]\nDATE=December 1, 2026\nCYME_VERSION=9.0\n[{value(draw, st.sampled_from(['SI', 'IMPERIAL']))}]\n\n"
    source = cb.SOURCE.format(kv=cb.KV, vln=round(cb.KV / math.sqrt(3.0), 6))
    files = {
        "network.txt": (head + source + network).encode(),
        "equipment.txt": (head + cb.EQUIPMENT_LINE + equipment).encode(),
        "load.txt": (head + load).encode(),
    }
    return draw(mutated(files))


@st.composite
def cyme_raw(draw: Draw) -> Files:
    head = draw(st.sampled_from([b"", b"[SI]\n", b"[NODE]\nFORMAT_NODE=NodeID,CoordX,CoordY\n"]))
    return {"network.txt": head + draw(st.binary(max_size=400))}


# -- GIS -------------------------------------------------------------------------------------------


@st.composite
def gis_files(draw: Draw) -> Files:
    files: Files = {}
    n = draw(st.integers(0, 4))
    coord = st.floats(-100, 100, allow_nan=False)

    def feature(i: int, line: bool) -> dict[str, Any]:
        pts = [[value(draw, coord), value(draw, coord)] for _ in range(2 if line else 1)]
        nums = [[_jnum(v) for v in p] for p in pts]
        geom: Any = (
            {"type": "LineString", "coordinates": nums} if line else {"type": "Point", "coordinates": nums[0]}
        )
        geom = value(draw, st.just(geom), wild=0.1)
        props = {
            "FACILITYID": value(draw, st.sampled_from([f"T{i}", "T1", ""])),
            "PHASEDESIGNATION": value(draw, st.sampled_from(["7", "4", "ABC", "a-b", ""])),
            "RATEDKVA": value(draw, st.sampled_from([25, 50.0, "75", None])),
            "FEEDERID": "f1",
        }
        return {"type": "Feature", "geometry": geom, "properties": props}

    if draw(st.booleans()):
        doc: dict[str, Any] = {
            "type": "FeatureCollection",
            "features": [feature(i, False) for i in range(n)],
        }
        if draw(st.booleans()):
            doc["crs"] = {"type": "name", "properties": {"name": value(draw, st.just("EPSG:4326"))}}
        files["transformers.geojson"] = json.dumps(doc).encode()
    if draw(st.booleans()):
        doc = {"type": "FeatureCollection", "features": [feature(i, True) for i in range(n)]}
        files["primary_lines.geojson"] = json.dumps(doc).encode()
    if draw(st.booleans()) or not files:
        xy = draw(st.sampled_from([("LONGITUDE", "LATITUDE"), ("X", "Y"), ("WKT", None)]))
        header = ["FACILITYID", "PHASE", "KVA", *(c for c in xy if c)]
        rows = [",".join(header)]
        for i in range(n):
            if xy[0] == "WKT":
                geo = [f'"POINT ({value(draw, num(-100, 100))} {value(draw, num(-80, 80))})"']
            else:
                geo = [value(draw, num(-100, 100)), value(draw, num(-80, 80))]
            rows.append(",".join([f"M{i}", value(draw, st.sampled_from(["A", "BC", "3"])), "10", *geo]))
        files["meters.csv"] = "\n".join(rows).encode()
    if draw(st.booleans()):
        files["mapping.yaml"] = (
            f"crs: {value(draw, st.sampled_from(['EPSG:4326', 'EPSG:32616']))}\n"
            "layers:\n  meters:\n    asset: meter\n".encode()
        )
    return draw(mutated(files))


def _jnum(v: Any) -> Any:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return f if math.isfinite(f) else v


@st.composite
def gis_raw(draw: Draw) -> Files:
    name = draw(st.sampled_from(["poles.geojson", "meters.csv", "lines.json", "switches.fgb", "x.gpkg"]))
    head = draw(st.sampled_from([b"", b'{"type":"FeatureCollection","features":[', b"X,Y,ID\n"]))
    return {name: head + draw(st.binary(max_size=400))}


# -- AMI -------------------------------------------------------------------------------------------

AMI_T0 = datetime(2025, 3, 9, 0, 0)  # the US spring-forward day: local 02:xx does not exist


def _ami_rows(draw: Draw, n: int) -> list[list[Any]]:
    step = draw(st.sampled_from([5, 15, 60]))
    meters = draw(st.lists(st.sampled_from(["M1", "M2", " M3 ", ""]), min_size=1, max_size=3))
    rows = []
    for _ in range(n):
        t = AMI_T0 + timedelta(minutes=step * draw(st.integers(0, 40)))
        stamp = value(
            draw,
            st.sampled_from(
                [t.isoformat(), t.isoformat() + "Z", t.strftime("%m/%d/%Y %H:%M"), t.isoformat() + "-05:00"]
            ),
        )
        rows.append(
            [
                draw(st.sampled_from(meters)),
                stamp,
                value(draw, num(-1, 5)),
                value(draw, num(0, 3)),
                value(draw, num(100, 260)),
                value(draw, st.sampled_from(["15", "60", "7"])),
            ]
        )
    return rows


def _options(draw: Draw) -> bytes:
    opts: dict[str, Any] = {"chunk_rows": draw(st.sampled_from([3, 7, 1000]))}
    if draw(st.booleans()):
        opts["timezone"] = "America/Chicago"
    if draw(st.booleans()):
        opts["timestamp_format"] = draw(st.sampled_from(["%m/%d/%Y %H:%M", "%Y-%m-%dT%H:%M:%S"]))
    if draw(st.booleans()):
        opts["interval_min"] = 15
    if draw(st.booleans()):
        opts["timestamp_at"] = "start"
    return json.dumps(opts).encode()


@st.composite
def ami_csv(draw: Draw) -> Files:
    header = draw(
        st.sampled_from(
            ["meter_id,timestamp,kwh,kvarh,voltage,interval", "METER_NO;READ_END;KWH;KVARH;V;INTERVAL_MIN",
             "meter,ts,usage,kvar,volts,duration_min"]
        )
    )  # fmt: skip
    delim = ";" if ";" in header else ","
    rows = _ami_rows(draw, draw(st.integers(0, 12)))
    text = header + "\n" + "".join(delim.join(str(c) for c in r) + "\n" for r in rows)
    return {**draw(mutated({"reads.csv": text.encode()})), "options.json": _options(draw)}


@st.composite
def ami_parquet(draw: Draw) -> Files:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _ami_rows(draw, draw(st.integers(0, 12)))
    kind = draw(st.sampled_from(["string", "timestamp", "timestamp_tz", "int", "dict"]))
    stamps: Any
    if kind == "string":
        stamps = pa.array([r[1] for r in rows], pa.string())
    elif kind == "int":
        stamps = pa.array([draw(st.integers(-(2**63), 2**63 - 1)) for _ in rows], pa.int64())
    else:
        base = [AMI_T0 + timedelta(minutes=15 * draw(st.integers(-(10**6), 10**6))) for _ in rows]
        tz = "UTC" if kind == "timestamp_tz" else None
        stamps = pa.array(base, pa.timestamp("ms", tz=tz))
    meters: Any = pa.array([r[0] for r in rows], pa.string())
    if kind == "dict":
        meters = meters.dictionary_encode()
    kwh = pa.array([_float(r[2]) for r in rows], pa.float64())
    table = pa.table({"meter_id": meters, "timestamp": stamps, "kwh": kwh, "voltage": [r[4] for r in rows]})
    if draw(st.booleans()):
        table = table.drop_columns([draw(st.sampled_from(table.column_names))])
    buf = io.BytesIO()
    pq.write_table(table, buf)
    data = buf.getvalue()
    cut = draw(st.sampled_from([None, None, 0.5, 0.9, 0.99]))
    if cut is not None:
        data = data[: int(len(data) * cut)]
    elif draw(st.booleans()):
        b = bytearray(data)
        b[draw(st.integers(0, len(b) - 1))] ^= 0xFF
        data = bytes(b)
    return {"reads.parquet": data, "options.json": _options(draw)}


def _float(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


@st.composite
def ami_raw(draw: Draw) -> Files:
    head = draw(st.sampled_from([b"", b"meter_id,timestamp,kwh\n", b"PAR1"]))
    name = draw(st.sampled_from(["reads.csv", "reads.parquet", "reads.txt"]))
    return {name: head + draw(st.binary(max_size=400))}


# -- OMS -------------------------------------------------------------------------------------------

OMS_HEADER = [
    "OUTAGE_ID",
    "FEEDER_ID",
    "DEVICE_ID",
    "START_TIME",
    "RESTORE_TIME",
    "CAUSE_CODE",
    "CUST_INT",
    "CMI",
]


def _oms_rows(draw: Draw, n: int, excel: bool) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for i in range(n):
        start = AMI_T0 + timedelta(hours=draw(st.integers(-(10**5), 10**5)))
        end = start + timedelta(minutes=draw(st.integers(-10, 10**5)))
        if excel:
            t: Any = st.one_of(st.just(start), st.floats(allow_nan=True), st.integers(-(10**7), 10**7), junk)
            e: Any = st.one_of(st.just(end), st.floats(allow_nan=True), junk)
            cust: Any = st.one_of(st.integers(-5, 10**20), st.floats(allow_nan=True), junk)
            rows.append(
                [
                    f"O{i}", "f1", value(draw, st.just("BRK1")), draw(t), draw(e), "EQ", draw(cust),
                    value(draw, st.just(None)),
                ]
            )  # fmt: skip
        else:
            rows.append(
                [
                    value(draw, st.sampled_from([f"O{i}", "O1"])), "f1", "BRK1",
                    value(draw, st.sampled_from([start.isoformat(" "), start.strftime("%m/%d/%Y %H:%M")])),
                    value(draw, st.just(end.isoformat(" "))), "EQ", value(draw, st.sampled_from(["10", "1,000"])),
                    value(draw, st.just("")),
                ]
            )  # fmt: skip
    return rows


@st.composite
def oms_csv(draw: Draw) -> Files:
    rows = _oms_rows(draw, draw(st.integers(0, 8)), excel=False)
    text = ",".join(OMS_HEADER) + "\n" + "".join(",".join(str(c) for c in r) + "\n" for r in rows)
    return draw(mutated({"outages.csv": text.encode()}))


@st.composite
def oms_excel(draw: Draw) -> Files:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(OMS_HEADER)
    for row in _oms_rows(draw, draw(st.integers(0, 6)), excel=True):
        ws.append([_cell(v) for v in row])
    buf = io.BytesIO()
    book.save(buf)
    data = buf.getvalue()
    cut = draw(st.sampled_from([None, None, None, 0.3, 0.8, 0.98]))
    if cut is not None:
        data = data[: int(len(data) * cut)]
    elif draw(st.booleans()):
        b = bytearray(data)
        b[draw(st.integers(0, len(b) - 1))] ^= draw(st.integers(1, 255))
        data = bytes(b)
    return {"outages.xlsx": data}


def _cell(v: Any) -> Any:
    if isinstance(v, str):  # openpyxl refuses control characters in cells
        return "".join(ch for ch in v if ch >= " " or ch in "\t\n")
    if isinstance(v, int) and abs(v) > 2**53:
        return float(v)
    return v


@st.composite
def oms_raw(draw: Draw) -> Files:
    name = draw(st.sampled_from(["outages.csv", "outages.xlsx", "outages.xls", "outages.txt"]))
    head = draw(
        st.sampled_from([b"", b"START_TIME,RESTORE_TIME,CUST_INT,CAUSE_CODE,FEEDER\n", b"PK\x03\x04"])
    )
    return {name: head + draw(st.binary(max_size=400))}


# -- scenario --------------------------------------------------------------------------------------

SCENARIO_SEED = (REPO / "examples" / "scenarios" / "stacked-2030.yaml").read_text(encoding="utf-8")

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    junk,
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(node: Any, trail: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [trail]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*trail, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*trail, i))
    return out


def _set(node: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _set(node[head], rest, new)}
    copy = list(node)
    copy[head] = _set(node[head], rest, new)
    return copy


@st.composite
def tree_edit(draw: Draw, doc: Any, max_edits: int = 3) -> Any:
    """``doc`` (JSON-like) with values replaced, keys dropped, list items doubled (duplicate ids)."""
    for _ in range(draw(st.integers(0, max_edits))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "drop", "dup", "deep"]))
        if op == "replace":
            doc = _set(doc, path, draw(json_values))
        elif op == "deep":  # nesting past any sane depth (written out by ``dump_deep``)
            doc = _set(doc, path, DEEP)
        elif path:
            parent_path, key = path[:-1], path[-1]
            parent = _get(doc, parent_path)
            if isinstance(parent, dict):
                new = dict(parent)
                if op == "drop":
                    new.pop(key, None)
                else:  # the same key in another case
                    new[str(key).swapcase()] = parent[key]
            else:
                new = list(parent)
                if op == "drop":
                    del new[key]
                else:
                    new.insert(key, parent[key])
            doc = _set(doc, parent_path, new)
    return doc


DEEP = "__deep__"


def dump_deep(text: str) -> str:
    """JSON or flow-style YAML text with each ``DEEP`` placeholder as 3,000 nested lists."""
    return text.replace(f'"{DEEP}"', "[" * 3000 + "]" * 3000).replace(DEEP, "[" * 3000 + "]" * 3000)


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


@st.composite
def scenario_files(draw: Draw) -> Files:
    import yaml

    doc = yaml.safe_load(SCENARIO_SEED)
    doc = draw(tree_edit(doc))
    as_json = draw(st.booleans())
    text = dump_deep(json.dumps(doc) if as_json else yaml.safe_dump(doc, allow_unicode=True))
    name = "scenario.json" if as_json else "scenario.yaml"
    return draw(mutated({name: text.encode("utf-8", "surrogatepass")}))


# YAML that parsers choke on: alias bombs, deep nesting, tags, huge ints, binary, merge keys.
YAML_HOSTILE = (
    b"a: &a [1,2]\nb: [*a,*a]\n",
    b"name: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    b"name: {" * 3000 + b"\n",
    b"seed: " + b"9" * 5000 + b"\n",
    b"seed: !!python/object/apply:os.system ['true']\n",
    b"seed: !!binary aGVsbG8=\n",
    b"<<: {a: 1}\n",
    b"name: x\nname: y\n",
    b"\xef\xbb\xbfname: bom\n",
    b"%YAML 9.9\n---\na: 1\n",
    b"--- !!set\n? a\n",
    b"base_year: 1e999\nseed: .nan\n",
    b"layers:\n" + b"  - type: ev\n" * 3,
    b'{"seed": ' + b"9" * 5000 + b"}",
    b'{"name": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    b'{"seed": NaN, "base_year": Infinity}',
)


@st.composite
def scenario_raw(draw: Draw) -> Files:
    data = draw(
        st.one_of(
            st.sampled_from(YAML_HOSTILE), st.binary(max_size=300), st.text(max_size=200).map(str.encode)
        )
    )
    name = draw(st.sampled_from(["scenario.yaml", "scenario.json"]))
    return {name: mutate(data, draw(mutation_ops(2)))}


# -- DTDL ------------------------------------------------------------------------------------------

DTDL_DIR = REPO / "dtdl"
DTDL_SEEDS: dict[str, Any] = {
    p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DTDL_DIR.glob("*.json"))
}


@st.composite
def dtdl_files(draw: Draw) -> Files:
    names = draw(st.lists(st.sampled_from(sorted(DTDL_SEEDS)), min_size=1, max_size=4, unique=True))
    files: Files = {}
    for name in names:
        files[name] = dump_deep(json.dumps(draw(tree_edit(DTDL_SEEDS[name])))).encode()
    if draw(st.booleans()):  # the whole ontology, one file edited: references across files resolve
        edited = draw(st.sampled_from(sorted(DTDL_SEEDS)))
        files = {n: json.dumps(d).encode() for n, d in DTDL_SEEDS.items()}
        files[edited] = dump_deep(json.dumps(draw(tree_edit(DTDL_SEEDS[edited], 4)))).encode()
    return draw(mutated(files, 2))


@st.composite
def dtdl_raw(draw: Draw) -> Files:
    head = draw(st.sampled_from([b"", b'{"@context": "dtmi:dtdl:context;3", "@type": "Interface", "@id": ']))
    return {"model.json": head + draw(st.binary(max_size=300))}


# -- uploads (zip) ---------------------------------------------------------------------------------

ZIP_NAMES = (
    "master.dss", "a/b/c.dss", "../evil.dss", "/abs.dss", "C:/win.dss", "a\\..\\..\\x", "", ".", "./",
    "a/../../b", "x\x00y", "dup.txt", "DUP.txt", "a", "a/b", "a/", "名前/ファイル.dss", "\u202etxt.exe",
    "x" * 300, "/".join(["d"] * 200) + "/f",
)  # fmt: skip


@st.composite
def zip_files(draw: Draw) -> Files:
    buf = io.BytesIO()
    n = draw(st.integers(0, 5))
    with zipfile.ZipFile(buf, "w") as zf:
        for _ in range(n):
            name = draw(st.one_of(st.sampled_from(ZIP_NAMES), st.text(min_size=1, max_size=20)))
            info = zipfile.ZipInfo(name)
            info.compress_type = draw(
                st.sampled_from(
                    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
                )
            )
            kind = draw(st.sampled_from(["file", "file", "symlink", "fifo", "dir", "exec"]))
            if kind == "symlink":
                info.create_system = 3
                info.external_attr = 0o120777 << 16
            elif kind == "fifo":
                info.create_system = 3
                info.external_attr = 0o010644 << 16
            elif kind == "exec":
                info.create_system = 3
                info.external_attr = 0o100755 << 16
            body = draw(st.sampled_from([b"", b"new circuit.x\n", b"\x00" * 2_000_000, b"ab" * 1000]))
            if draw(st.integers(0, 9)) == 0:
                info.flag_bits |= 0x1  # "encrypted"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # duplicate names are wanted here
                    zf.writestr(info, body)
            except (ValueError, UnicodeEncodeError):
                continue
    data = bytearray(buf.getvalue())
    for _ in range(draw(st.integers(0, 3))):  # corrupt sizes, methods, data, directory
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    cut = draw(st.sampled_from([None, None, None, 0.5, 0.95]))
    out = bytes(data if cut is None else data[: int(len(data) * cut)])
    return {"upload.zip": out}


@st.composite
def zip_raw(draw: Draw) -> Files:
    head = draw(st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06" + b"\x00" * 18]))
    return {"upload.zip": head + draw(st.binary(max_size=300))}


STRATEGIES: dict[str, list[st.SearchStrategy[Files]]] = {
    "opendss": [opendss_files(), opendss_raw()],
    "cyme": [cyme_files(), cyme_raw()],
    "gis": [gis_files(), gis_raw()],
    "ami": [ami_csv(), ami_parquet(), ami_raw()],
    "oms": [oms_csv(), oms_excel(), oms_raw()],
    "scenario": [scenario_files(), scenario_raw()],
    "dtdl": [dtdl_files(), dtdl_raw()],
    "archive": [zip_files(), zip_raw()],
}
