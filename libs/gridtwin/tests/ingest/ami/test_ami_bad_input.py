"""Bad input: every problem names the file and line; fatal ones commit nothing and hang nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from ami_import_support import directory, listing, reads, stored, write_csv, write_parquet
from gridtwin.errors import InputError
from gridtwin.ingest.ami import AmiOptions, import_ami
from gridtwin.store.ami import AmiStore

METERS = {"M1": "F1", "M2": "F1"}
HEADER = "MeterNumber,read_time,usage\n"


def _import(tmp_path: Path, src: Path, **opts: object):  # type: ignore[no-untyped-def]
    store = AmiStore(tmp_path / "s")
    return import_ami([src], directory(METERS), store, import_id="b", options=AmiOptions(**opts)), store  # type: ignore[arg-type]


def _fails(tmp_path: Path, src: Path, **opts: object) -> InputError:
    store = AmiStore(tmp_path / "s")
    with pytest.raises(InputError) as info:
        import_ami([src], directory(METERS), store, import_id="b", options=AmiOptions(**opts))  # type: ignore[arg-type]
    assert store.feeders() == [] and not (tmp_path / "s" / "_imports").exists()
    return info.value


def test_non_utf8_bytes_name_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_bytes(
        (HEADER + "M1,2025-07-01T01:00:00Z,1.0\nM1,2025-07-01T02:00:00Z,1.0\n").encode()
        + b"M\xff\xfe1,2025-07-01T03:00:00Z,1\n"
    )
    err = _fails(tmp_path, src)
    assert err.details[0].where == "r.csv:4" and "UTF-8" in err.details[0].message


def test_mixed_delimiters_are_reported_with_lines(tmp_path: Path) -> None:
    src = write_csv(reads(["M1"], "2025-07-01", "2025-07-02"), tmp_path / "r.csv")
    lines = src.read_text().splitlines()
    lines[5] = lines[5].replace(",", ";")
    lines[9] = lines[9].replace(",", ";")
    src.write_text("\n".join(lines) + "\n")
    rep, _ = _import(tmp_path, src)
    bad = [d for d in rep.issues if d.code == "bad_row"]
    assert [d.where for d in bad] == ["r.csv:6", "r.csv:10"]
    assert "mixed delimiters" in bad[0].message
    assert rep.counts["rows_bad"] == 2 and rep.counts["filled_linear"] == 2


def test_semicolon_file_is_sniffed(tmp_path: Path) -> None:
    frame = reads(["M1"], "2025-07-01", "2025-07-02")
    rep, _ = _import(tmp_path, write_csv(frame, tmp_path / "r.csv", sep=";"))
    assert rep.counts["reads"] == 24 and rep.issues == []


def test_unparseable_timestamps_name_the_row(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text(
        HEADER
        + "M1,2025-07-01T01:00:00Z,1.0\nM1,yesterday,1.0\nM1,2025-07-01T03:00:00Z,1.0\nM1,2025-13-01 00:00,2\n"
    )
    rep, _ = _import(tmp_path, src)
    bad = [(d.where, d.code) for d in rep.issues]
    assert bad == [("r.csv:3", "bad_timestamp"), ("r.csv:5", "bad_timestamp")]
    assert "yesterday" in rep.issues[0].message
    assert rep.counts["reads"] == 2


def test_missing_required_column_names_the_header(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text("MeterNumber,usage\nM1,1.0\n")
    err = _fails(tmp_path, src)
    assert err.details[0].where == "r.csv:1"
    assert "timestamp" in err.details[0].message and "MeterNumber, usage" in err.details[0].message


def test_empty_file(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text("")
    assert "empty" in _fails(tmp_path, src).details[0].message
    src.write_text(HEADER)
    assert _fails(tmp_path, src).details[0].code == "empty"


def test_truncated_parquet_names_the_file(tmp_path: Path) -> None:
    src = write_parquet(reads(["M1"], "2025-07-01", "2025-07-03"), tmp_path / "r.parquet")
    src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    err = _fails(tmp_path, src)
    assert err.details[0].where == "r.parquet" and "Parquet" in err.details[0].message


def test_too_many_bad_rows_fail_and_commit_nothing(tmp_path: Path) -> None:
    store = AmiStore(tmp_path / "s")
    import_ami([write_csv(reads(["M1"], "2025-06-01", "2025-06-02"), tmp_path / "a.csv")], directory(METERS),
               store, import_id="a", options=AmiOptions())  # fmt: skip
    before = listing(tmp_path / "s")
    src = tmp_path / "r.csv"
    src.write_text(
        HEADER + "".join(f"M1,2025-07-01T{h:02d}:00:00Z,{'x' if h % 2 else 1}\n" for h in range(24))
    )
    with pytest.raises(InputError) as info:
        import_ami(
            [src], directory(METERS), store, import_id="b", options=AmiOptions(max_bad_rows=5, chunk_rows=4)
        )
    assert "too many bad rows" in str(info.value)
    assert info.value.details[0].where == "r.csv:3" and info.value.details[0].code == "bad_number"
    assert listing(tmp_path / "s") == before


def test_a_huge_line_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    with src.open("w") as fh:
        fh.write(HEADER + "M1,2025-07-01T01:00:00Z,1.0\n")
        fh.write("M1,2025-07-01T02:00:00Z," + "9" * (10 << 20) + "\n")
        fh.write("M1,2025-07-01T03:00:00Z,1.0\n")
    err = _fails(tmp_path, src)
    assert "longer than" in err.details[0].message and err.details[0].where.startswith("r.csv:")


def test_absurd_values_are_report_lines(tmp_path: Path) -> None:
    frame = reads(["M1"], "2025-07-01", "2025-07-02", step_min=15)
    frame.loc[[4, 9], "kwh"] = [900.0, -700.0]  # > 2000 kWh/h for a quarter hour
    rep, store = _import(tmp_path, write_csv(frame, tmp_path / "r.csv", step_min=15))
    lines = [d for d in rep.issues if d.code == "absurd"]
    assert [d.where for d in lines] == ["r.csv:6", "r.csv:11"]
    assert rep.counts["absurd"] == 2 and stored(store)["kwh_raw"].notna().sum() == 2


def test_issue_lines_are_capped_but_counted(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text(
        HEADER + "M1,2025-07-01T01:00:00Z,1\n" + "".join(f"Q{i},2025-07-01T01:00:00Z,1\n" for i in range(30))
    )
    rep, _ = _import(tmp_path, src, max_issue_lines=5)
    assert len(rep.issues) == 5 and rep.counts["issues"] == 30 and rep.counts["rows_unknown_meter"] == 30
