"""What the reader fuzzers found (issue 15), one test each with the input that triggered it.

Engine-backed cases (OpenDSS, CYME) run in the fuzz worker: a regression there may crash the process
(it did: a segfault), and must fail this test, not take pytest down.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fuzz_inputs import cb
from fuzz_support import Worker
from gridtwin.config.settings import Settings
from gridtwin.errors import InputError, UnsafeArchiveError
from gridtwin.ingest.ami.options import AmiOptions, parse_ami_options
from gridtwin.ingest.ami.read import iter_chunks
from gridtwin.ingest.ami.report import Issues
from gridtwin.ingest.archive import extracted_zip
from gridtwin.ingest.gis import load_mapping, read_gis
from gridtwin.ingest.oms import read_oms
from gridtwin.powerflow.script_guard import CRASHING
from gridtwin.scenarios.loader import parse_scenario

# -- OpenDSS ---------------------------------------------------------------------------------------

DSS_HEAD = (
    b"new circuit.x basekv=12.47\nnew line.l1 bus1=sourcebus bus2=b1\nnew load.ld bus1=b1 kv=12.47 kw=10\n"
)


def test_report_commands_do_not_crash_the_engine(fuzz_worker: Worker) -> None:
    """``V`` (Voltages) before a solve was a SIGSEGV of the whole process (DSS C-API 0.15.7), and so
    are 15 other report commands: the script guard drops them, full names and abbreviations alike."""
    lines = [name[:least] for name, least in CRASHING.items()] + list(CRASHING)
    outcome = fuzz_worker.run("opendss", {"master.dss": DSS_HEAD + "\n".join(lines).encode() + b"\n"})
    assert outcome.kind == "ok", outcome.text
    outcome = fuzz_worker.run("opendss", {"master.dss": b"new circuit.x basekv=12.47\nV"})
    assert outcome.kind == "ok", outcome.text


def test_crashing_table_matches_the_engines_abbreviations() -> None:
    """OpenDSS takes an abbreviation as the first command (in its own order) starting with it: the
    guard's shortest abbreviation of each crashing command must resolve to it, one letter less not."""
    from gridtwin._dsslib import opendssdirect

    ex = opendssdirect.NewContext().Executive
    names = [str(ex.Command(i)).lower() for i in range(1, int(ex.NumCommands()) + 1)]

    def resolve(word: str) -> str | None:
        return word if word in names else next((n for n in names if n.startswith(word)), None)

    for name, least in CRASHING.items():
        assert name in names, f"{name} is no longer an OpenDSS command"
        assert all(resolve(name[:k]) == name for k in range(least, len(name) + 1)), name
        assert least == 1 or resolve(name[: least - 1]) != name, (
            f"{name}: {name[: least - 1]} resolves to it too"
        )


def test_export_to_a_bare_file_name_stays_private(fuzz_worker: Worker) -> None:
    """``export summary out.csv`` wrote out.csv into the process's working folder (a server's)."""
    script = DSS_HEAD + b"solve\nexport summary out.csv\nexport voltages v.csv\nexport eventlog ev.csv\n"
    outcome = fuzz_worker.run("opendss", {"master.dss": script})
    assert outcome.kind == "ok", outcome.text


def test_compile_without_a_file_does_not_read_the_working_folder(fuzz_worker: Worker) -> None:
    """A bare ``C`` (compile) read the process's working folder and named it in the error."""
    for line in (b"C", b"redirect", b"compile ''"):
        outcome = fuzz_worker.run("opendss", {"master.dss": b"new circuit.x basekv=12.47\n" + line})
        assert outcome.kind == "ok", (line, outcome.text)


def test_script_that_is_not_utf8_is_refused_at_its_line(fuzz_worker: Worker) -> None:
    """An engine message quoting byte 0x80 raised UnicodeDecodeError out of the reader."""
    outcome = fuzz_worker.run("opendss", {"master.dss": b"new circuit.x basekv=12.47\n\x80"})
    assert outcome.kind == "refused", outcome.text
    assert "master.dss:2" in outcome.text and "not UTF-8" in outcome.text


def test_overflowing_value_is_refused_naming_the_element(fuzz_worker: Worker) -> None:
    """``length=1e309`` reached the reader as null: TypeError in the length arithmetic."""
    script = b"new circuit.x basekv=12.47\nnew line.l1 bus1=sourcebus bus2=b1 length=1e309 units=km\n"
    outcome = fuzz_worker.run("opendss", {"master.dss": script})
    assert outcome.kind == "refused", outcome.text
    assert "line.l1.Length" in outcome.text


# -- CYME ------------------------------------------------------------------------------------------


def test_cyme_section_of_a_few_nanometres_is_a_jumper(fuzz_worker: Worker) -> None:
    """A length of 1.6e-226 m made a singular line that OpenDSS refused as "generated script line 12"."""
    head = "[GENERAL]\nDATE=December 1, 2026\nCYME_VERSION=9.0\n[SI]\n\n"
    source = cb.SOURCE.format(kv=cb.KV, vln=7.199558)
    network = cb.nodes("src", "n1", "l1") + cb.sections("s1,src,n1,ABC", "ld,n1,l1,ABC")
    network += cb.lines(f"s1,s1,{cb.LINE_ID},1.6e-226")
    files = {
        "network.txt": (head + source + network).encode(),
        "equipment.txt": (head + cb.EQUIPMENT_LINE).encode(),
        "load.txt": (head + cb.loads([("ld", "A", 100.0, 30.0)])).encode(),
    }
    outcome = fuzz_worker.run("cyme", files)
    assert outcome.kind == "ok", outcome.text


# -- AMI -------------------------------------------------------------------------------------------


def _ami(path: Path, text: bytes, options: AmiOptions | None = None) -> int:
    path.write_bytes(text)
    return sum(c.table.num_rows for c in iter_chunks(path, 0, options or AmiOptions(), Issues(10)))


def test_ami_voltage_column_without_gaps_reads(tmp_path: Path) -> None:
    """Any CSV whose voltage (or kvarh) column had no empty value failed: "assignment destination is
    read-only" (Arrow hands a full column to numpy zero-copy)."""
    text = b"meter_id,timestamp,kwh,kvarh,voltage\nM1,2025-01-01T00:00:00,1,0.2,240\nM1,2025-01-01T00:15:00,1,0.2,241\n"
    assert _ami(tmp_path / "reads.csv", text) == 2


def test_ami_huge_interval_value_is_ignored(tmp_path: Path) -> None:
    """An interval of 1e308 minutes overflowed (RuntimeWarning, an error under this suite's filters)."""
    text = b"meter_id,timestamp,kwh,interval\nM1,2025-01-01T00:15:00,1,1e308\nM1,2025-01-01T00:30:00,1,15\n"
    assert _ami(tmp_path / "reads.csv", text) == 2


def test_ami_parquet_footer_with_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    """A damaged footer naming a column in non-UTF-8 bytes raised UnicodeDecodeError out of Arrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"meter_id": ["M1"], "timestamp": ["2025-01-01T00:00:00"], "kwh": [1.0]}), buf)
    data = buf.getvalue().replace(b"meter_id", b"meter\x97id")
    with pytest.raises(InputError) as err:
        _ami(tmp_path / "reads.parquet", data)
    assert err.value.details[0].where == "reads.parquet"


def test_ami_options_that_are_not_json_name_options() -> None:
    with pytest.raises(InputError) as err:
        parse_ami_options('{"chunk_rows": 3}\n{"chunk_rows": 3}')
    assert err.value.details[0].where == "options"  # was "options." (an empty field path)


# -- GIS -------------------------------------------------------------------------------------------


def test_gis_phase_of_infinity_is_no_phase(tmp_path: Path) -> None:
    """``PHASE=1e309`` raised OverflowError (int(inf))."""
    (tmp_path / "meters.csv").write_text(
        "FACILITYID,PHASE,LONGITUDE,LATITUDE\nM1,1e309,10,20\nM2,inf,11,21\n"
    )
    layers = read_gis(tmp_path / "meters.csv")
    assert list(layers.features["nphases"]) == [0, 0]


def test_gis_wkt_row_cut_short(tmp_path: Path) -> None:
    """A short row leaves NaN in the WKT column: TypeError from shapely ("Expected bytes or string")."""
    (tmp_path / "meters.csv").write_text('FACILITYID,PHASE,WKT\nM0,A,"POINT (1 2)"\nM1,A\n')
    layers = read_gis(tmp_path / "meters.csv", {"crs": "EPSG:4326"})
    assert len(layers.features) == 1 and any("no geometry" in i.message for i in layers.issues)


def test_gis_wkt_overflow_is_a_non_finite_coordinate(tmp_path: Path) -> None:
    (tmp_path / "meters.csv").write_text('FACILITYID,WKT\nM0,"POINT (1e309 2)"\n')
    layers = read_gis(tmp_path / "meters.csv", {"crs": "EPSG:4326"})
    assert [i.message for i in layers.issues] == ["non-finite coordinates"]


@pytest.mark.parametrize(
    ("text", "says"),
    [(b"crs: EPSG:43\x8f6\n", "utf-8"), (b"crs: 2023-02-30\n", "day is out of range")],
)
def test_gis_mapping_unreadable(tmp_path: Path, text: bytes, says: str) -> None:
    """A mapping file that is not UTF-8, or holds a date that does not exist, escaped the loader."""
    (tmp_path / "mapping.yaml").write_bytes(text)
    with pytest.raises(InputError) as err:
        load_mapping(tmp_path / "mapping.yaml")
    assert err.value.details[0].where.endswith("mapping.yaml") and says in err.value.details[0].message


# -- OMS -------------------------------------------------------------------------------------------

OMS_HEAD = "OUTAGE_ID,FEEDER_ID,DEVICE_ID,START_TIME,RESTORE_TIME,CAUSE_CODE,CUST_INT,CMI,DURATION\n"


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("O1,f1,B1,2025-01-01 10:00,2025-01-01 11:00,EQ,100000000000000000000,,", "more than any utility"),
        ("O1,f1,B1,9999-12-31 23:00,9999-12-31 23:30,EQ,10,,", "out of the calendar"),
        ("O1,f1,B1,2025-01-01 10:00,,EQ,10,,1e300", "longer than 60 days"),
    ],
)
def test_oms_values_out_of_range_are_row_errors(tmp_path: Path, row: str, says: str) -> None:
    """1e20 customers overflowed int64 in the frame; the last hour of year 9999 in New York (UTC is in
    year 10000), and a 1e300-minute duration, overflowed the datetime arithmetic."""
    (tmp_path / "outages.csv").write_text(
        OMS_HEAD + row + "\nO2,f1,B1,2025-01-02 10:00,2025-01-02 11:00,EQ,5,,\n"
    )
    frame, issues = read_oms(tmp_path / "outages.csv", timezone="America/New_York")
    assert len(frame) == 1
    assert issues and issues[0].where == "outages.csv:2" and says in issues[0].message, issues


def test_oms_workbook_with_an_unknown_compression_method(tmp_path: Path) -> None:
    """zipfile's NotImplementedError escaped the Excel reader."""
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["START_TIME", "RESTORE_TIME", "CUST_INT", "CAUSE_CODE", "FEEDER"])
    buf = io.BytesIO()
    book.save(buf)
    data = bytearray(buf.getvalue())
    data[8:10] = b"\x63\x00"  # the first member's method: 99 (AES), which zipfile cannot inflate
    central = data.find(b"PK\x01\x02")
    data[central + 10 : central + 12] = b"\x63\x00"
    (tmp_path / "outages.xlsx").write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        read_oms(tmp_path / "outages.xlsx")
    assert err.value.details[0].where == "outages.xlsx"


# -- scenario YAML / JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt", "says"),
    [
        (b"name: " + b"[" * 3000 + b"]" * 3000, None, "over 64 levels"),
        (b"name: {" * 3000, None, "over 64 levels"),
        (b'{"name": ' + b"[" * 3000 + b"]" * 3000 + b"}", "json", "nested too deeply"),
        (b"seed: " + b"9" * 5000, None, "4300 digits"),
        (b'{"seed": ' + b"9" * 5000 + b"}", "json", "4300 digits"),
        (b"base_year: 2023-02-30\n", None, "day is out of range"),
    ],
)
def test_scenario_hostile_documents_are_input_errors(text: bytes, fmt: str | None, says: str) -> None:
    """RecursionError (3,000-deep nesting, YAML or JSON), ValueError (an integer of 5,000 digits; a
    date that does not exist) escaped ``parse_scenario``."""
    with pytest.raises(InputError) as err:
        parse_scenario(text, source="s.yaml", fmt=fmt)
    detail = err.value.details[0]
    assert detail.where.startswith("s.yaml") and says in detail.message


# -- uploads ---------------------------------------------------------------------------------------

LIMITS = Settings(
    max_upload_bytes=1 << 20, max_unzipped_bytes=4 << 20, max_zip_members=64, max_zip_ratio=50.0
)


def _zip(*members: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, body in members:
            zf.writestr(name, body)
    return buf.getvalue()


def _refused(data: bytes) -> UnsafeArchiveError:
    with pytest.raises(UnsafeArchiveError) as err, extracted_zip(data, LIMITS):
        pass
    return err.value


def test_zip_with_corrupt_deflate_data() -> None:
    """zlib.error escaped the extraction ("invalid stored block lengths")."""
    data = bytearray(_zip(("a/b/c.dss", b"new circuit.x\n" * 20)))
    data[40] ^= 0xFF  # inside the compressed stream of the first member
    err = _refused(bytes(data))
    assert err.details[0].where == "a/b/c.dss" and err.details[0].code == "corrupt"


def test_zip_member_offset_before_the_archive() -> None:
    """A central directory pointing before the file's start raised ValueError (negative seek)."""
    data = bytearray(_zip(("m.dss", b"x" * 100)))
    central = data.find(b"PK\x01\x02")
    data[central + 42 : central + 46] = (0xFFFFFF00).to_bytes(4, "little")  # local header offset
    err = _refused(bytes(data))
    assert err.details[0].where in ("m.dss", "<upload>")


@pytest.mark.parametrize(
    "members",
    [
        (("a", b"file"), ("a/b", b"under a file")),  # NotADirectoryError
        (("a/b", b"x"), ("a", b"a folder already")),  # IsADirectoryError
        (("x" * 300, b"name too long"),),  # ENAMETOOLONG
    ],
)
def test_zip_names_the_file_system_refuses(members: tuple[tuple[str, bytes], ...]) -> None:
    err = _refused(_zip(*members))
    assert err.details[0].where in {m[0] for m in members}


def test_zip_member_named_blank_is_shown_quoted() -> None:
    data = bytearray(_zip(("\r", b"x" * 10), method=zipfile.ZIP_STORED))
    data[0] = 0  # the local header's magic: "Bad magic number for file header"
    err = _refused(bytes(data))
    assert err.details[0].where == repr("\r")
