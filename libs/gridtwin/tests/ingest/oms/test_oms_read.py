"""read_oms: CSV and Excel alike, column guessing and mapping, time zones, and every bad input located."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from gridtwin.errors import InputError
from gridtwin.ingest.oms import OUTAGE_COLUMNS, OmsMapping, read_oms
from oms_support import HEADER, ROWS, write_csv, write_xlsx


def _utc(*args: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(*args, tzinfo=UTC))  # type: ignore[misc]


def _read(path: Path, mapping: OmsMapping | None = None, **kw: str) -> pd.DataFrame:
    frame, issues = read_oms(path, mapping or OmsMapping(), **kw)  # type: ignore[arg-type]
    assert issues == [], issues
    return frame


def test_csv_and_excel_give_identical_frames(tmp_path: Path) -> None:
    csv = _read(write_csv(tmp_path / "outages.csv"))
    xlsx = _read(write_xlsx(tmp_path / "outages.xlsx"))
    assert list(csv.columns) == list(OUTAGE_COLUMNS)
    assert csv["src"].tolist() == [f"outages.csv:{i}" for i in range(2, 8)]
    assert xlsx["src"].tolist() == [f"outages.xlsx:Outages!row {i}" for i in range(2, 8)]
    pd.testing.assert_frame_equal(csv.drop(columns="src"), xlsx.drop(columns="src"))
    assert str(csv["start_utc"].dtype) == "datetime64[us, UTC]"
    first = csv.iloc[1]
    assert first["start_utc"] == _utc(2023, 12, 31, 23, 0) and first["end_utc"] == _utc(2024, 1, 1, 1, 0)
    assert first["duration_min"] == 120.0 and first["customer_minutes"] == 12000.0  # CI x duration
    assert csv["customer_minutes"].iloc[4] == 9000.0  # given (step restoration)
    assert csv["momentary"].tolist() == [False, False, True, False, False, True]  # 5 min is momentary
    assert csv["customers_interrupted"].dtype == "int64"


def test_excel_sheet_choice_and_numbers_as_ids(tmp_path: Path) -> None:
    rows = [[101, 7, 3301.0, datetime(2023, 1, 2, 3, 4), datetime(2023, 1, 2, 4, 4), 12, "x", 10.0, None]]
    path = write_xlsx(tmp_path / "book.xlsx", rows, sheet="Data")
    frame = _read(path, OmsMapping(sheet="Data"))
    assert frame[["outage_id", "feeder", "device", "cause_code"]].iloc[0].tolist() == [
        "101",
        "7",
        "3301",
        "12",
    ]
    assert frame["customers_interrupted"].iloc[0] == 10
    with pytest.raises(InputError) as err:
        read_oms(path, OmsMapping(sheet="Missing"))
    assert err.value.details[0].where == "book.xlsx:Missing" and "Data" in err.value.details[0].message
    with pytest.raises(InputError) as err:
        read_oms(path, OmsMapping(sheet="Notes"))  # a sheet without the columns
    assert err.value.details[0].where == "book.xlsx:Notes!row 1"


def test_excel_truncated_is_a_clear_error(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "outages.xlsx")
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 20):
        broken = tmp_path / "cut.xlsx"
        broken.write_bytes(data[:cut])
        with pytest.raises(InputError) as err:
            read_oms(broken, OmsMapping())
        assert err.value.details[0].where.startswith("cut.xlsx")
        assert "truncated" in err.value.message
    not_zip = tmp_path / "text.xlsx"
    not_zip.write_text("OUTAGE_ID,START_TIME\n")
    with pytest.raises(InputError) as err:
        read_oms(not_zip, OmsMapping())
    assert err.value.details[0].where == "text.xlsx"


def test_excel_bad_rows_name_sheet_and_row(tmp_path: Path) -> None:
    rows = [list(r) for r in ROWS]
    rows[2][7] = -3
    rows[4][4] = "soon"
    path = write_xlsx(tmp_path / "o.xlsx", rows)
    frame, issues = read_oms(path, OmsMapping())
    assert len(frame) == 4
    assert [(i.where, i.code) for i in issues] == [
        ("o.xlsx:Outages!row 4", "customers"),
        ("o.xlsx:Outages!row 6", "time"),
    ]


def test_guessed_columns_bom_and_semicolons(tmp_path: Path) -> None:
    text = (
        "\ufeffTime Off;Time On;Circuit;Interrupting Device;Cause Code;Customers Out;Cust Min\n"
        "03/14/2023 1:05 PM;03/14/2023 2:05 PM;F1;SW3;TR;12;600\n"
    )
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    frame = _read(path)
    row = frame.iloc[0]
    assert (row["feeder"], row["device"], row["cause_code"], row["customers_interrupted"]) == (
        "F1",
        "SW3",
        "TR",
        12,
    )
    assert row["start_utc"] == _utc(2023, 3, 14, 13, 5) and row["duration_min"] == 60.0
    assert row["customer_minutes"] == 600.0 and row["outage_id"] == "export.csv:2"  # no id column: the src


def test_explicit_mapping_with_duration_format_and_tabs(tmp_path: Path) -> None:
    text = (
        "Nr\tBeginn\tDauer\tAbzweig\tSchalter\tUrsache\tKunden\nE-1\t14.03.2023 13:05\t1,5\tF1\tQ1\tST\t40\n"
    )
    text = text.replace("1,5", "1.5")
    path = tmp_path / "stoerungen.tsv"
    path.write_text(text, encoding="utf-8")
    mapping = OmsMapping(
        outage_id="Nr", start="Beginn", duration="Dauer", duration_unit="h", feeder="Abzweig", device="Schalter",
        cause_code="Ursache", customers_interrupted="Kunden", datetime_format="%d.%m.%Y %H:%M",
        timezone="Europe/Berlin",
    )  # fmt: skip
    row = _read(path, mapping).iloc[0]
    assert row["outage_id"] == "E-1" and row["duration_min"] == 90.0
    assert row["start_utc"] == _utc(2023, 3, 14, 12, 5)  # CET = UTC+1
    assert row["end_utc"] == _utc(2023, 3, 14, 13, 35) and row["customer_minutes"] == 40 * 90.0


def test_naive_local_times_across_dst(tmp_path: Path) -> None:
    header = ["OUTAGE_ID", "FEEDER", "DEVICE", "START_TIME", "END_TIME", "CAUSE_CODE", "CUST_INT"]
    rows = [
        ["spring", "f1", "d", "2023-03-12 01:30", "2023-03-12 03:30", "X", 1],  # 01:30 EST -> 03:30 EDT
        ["fall", "f1", "d", "2023-11-05 01:30", "2023-11-05 01:15", "X", 1],  # 01:30 EDT -> 01:15 EST
        ["fall2", "f1", "d", "2023-11-05 00:50", "2023-11-05 01:10", "X", 1],  # 01:10 read as EDT
        ["gap", "f1", "d", "2023-03-12 02:30", "2023-03-12 03:30", "X", 1],  # 02:30 does not exist
        ["aware", "f1", "d", "2023-07-01T12:00:00Z", "2023-07-01T13:00:00+00:00", "X", 1],
        ["summer", "f1", "d", "2023-07-01 08:00", "2023-07-01 09:00", "X", 1],
    ]
    path = write_csv(tmp_path / "dst.csv", rows, header)
    frame, issues = read_oms(path, OmsMapping(), timezone="America/New_York")
    got = frame.set_index("outage_id")
    assert got.loc["spring", "start_utc"] == _utc(2023, 3, 12, 6, 30)
    assert got.loc["spring", "duration_min"] == 60.0
    assert got.loc["fall", "start_utc"] == _utc(2023, 11, 5, 5, 30)
    assert got.loc["fall", "end_utc"] == _utc(2023, 11, 5, 6, 15) and got.loc["fall", "duration_min"] == 45.0
    assert got.loc["fall2", "duration_min"] == 20.0
    assert got.loc["aware", "start_utc"] == _utc(2023, 7, 1, 12, 0)
    assert got.loc["summer", "start_utc"] == _utc(2023, 7, 1, 12, 0)  # EDT = UTC-4
    assert [(i.where, i.code) for i in issues] == [("dst.csv:5", "time")]
    assert "does not exist in America/New_York" in issues[0].message
    # Read as UTC the same text means other instants (and "fall" ends before it starts).
    utc, utc_issues = read_oms(path, OmsMapping())
    assert utc.set_index("outage_id").loc["summer", "start_utc"] == _utc(2023, 7, 1, 8, 0)
    assert [(i.where, i.code) for i in utc_issues] == [("dst.csv:3", "order")]
    # The mapping's zone wins over the argument.
    mapped, _ = read_oms(path, OmsMapping(timezone="America/New_York"), timezone="UTC")
    assert mapped.set_index("outage_id").loc["summer", "start_utc"] == _utc(2023, 7, 1, 12, 0)


def test_every_bad_row_is_located(tmp_path: Path) -> None:
    header = [
        "OUTAGE_ID",
        "FEEDER_ID",
        "DEVICE_ID",
        "START_TIME",
        "RESTORE_TIME",
        "CAUSE_CODE",
        "CUST_INT",
        "CMI",
    ]
    lines = [
        ",".join(header),
        "ok1,f1,d1,2023-01-01 10:00,2023-01-01 11:00,TR,10,",  # line 2
        "bad-time,f1,d1,yesterday,2023-01-01 11:00,TR,10,",  # 3
        "order,f1,d1,2023-01-01 12:00,2023-01-01 11:00,TR,10,",  # 4
        "negative,f1,d1,2023-01-01 10:00,2023-01-01 11:00,TR,-5,",  # 5
        "fraction,f1,d1,2023-01-01 10:00,2023-01-01 11:00,TR,2.5,",  # 6
        "absurd,f1,d1,2023-01-01 10:00,2023-04-01 10:00,TR,10,",  # 7 (90 days)
        "cmi,f1,d1,2023-01-01 10:00,2023-01-01 11:00,TR,10,900",  # 8 (> 10 x 60 = 600)
        "no-start,f1,d1,,2023-01-01 11:00,TR,10,",  # 9
        "no-cust,f1,d1,2023-01-01 10:00,2023-01-01 11:00,TR,,",  # 10
        "semi;f1;d1;2023-01-01 10:00;2023-01-01 11:00;TR;10;",  # 11 (another delimiter)
        "nowhere,,,2023-01-01 10:00,2023-01-01 11:00,TR,10,",  # 12
        "no-end,f1,d1,2023-01-01 10:00,,TR,10,",  # 13
        "",  # 14: blank lines are skipped
        "ok2,,d2,2023-01-02 10:00,2023-01-02 10:04,TR,10,40",  # 15 (feeder from the device later)
    ]
    path = tmp_path / "outages.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    frame, issues = read_oms(path, OmsMapping())
    assert frame["outage_id"].tolist() == ["ok1", "ok2"]
    assert frame["src"].tolist() == ["outages.csv:2", "outages.csv:15"]
    got = [(i.where, i.code) for i in issues]
    assert got == [
        ("outages.csv:3", "time"),
        ("outages.csv:4", "order"),
        ("outages.csv:5", "customers"),
        ("outages.csv:6", "customers"),
        ("outages.csv:7", "duration"),
        ("outages.csv:8", "customer_minutes"),
        ("outages.csv:9", "missing"),
        ("outages.csv:10", "missing"),
        ("outages.csv:11", "fields"),
        ("outages.csv:12", "missing"),
        ("outages.csv:13", "missing"),
    ]
    messages = {i.where: i.message for i in issues}
    assert messages["outages.csv:3"].startswith("start: cannot read time 'yesterday'")
    assert "is before start" in messages["outages.csv:4"]
    assert messages["outages.csv:5"] == "customers_interrupted: -5 is negative"
    assert messages["outages.csv:6"] == "customers_interrupted: 2.5 is not a whole number"
    assert "90.0 days" in messages["outages.csv:7"]
    assert messages["outages.csv:8"].startswith("customer_minutes: 900 exceeds customers x duration")
    assert messages["outages.csv:9"] == "start: missing"
    assert "';'" in messages["outages.csv:11"] and "1 fields" in messages["outages.csv:11"]
    assert messages["outages.csv:13"] == "end: missing (and no duration)"


def test_duration_disagreeing_with_end(tmp_path: Path) -> None:
    text = "START_TIME,END_TIME,DURATION_MIN,CAUSE_CODE,DEVICE_ID,CUST_INT\n"
    text += "2023-01-01 10:00,2023-01-01 11:00,60.4,X,d,1\n2023-01-01 10:00,2023-01-01 11:00,90,X,d,1\n"
    path = tmp_path / "d.csv"
    path.write_text(text, encoding="utf-8")
    frame, issues = read_oms(path, OmsMapping())
    assert len(frame) == 1 and [(i.where, i.code) for i in issues] == [("d.csv:3", "duration")]


@pytest.mark.parametrize(
    ("content", "where", "words"),
    [
        (b"", "empty.csv", "empty"),
        (b"\n\n", "empty.csv", "empty"),
        (",".join(HEADER).encode() + b"\n", "empty.csv", "no data rows"),
        (
            b"START_TIME,END_TIME,DEVICE_ID,CAUSE_CODE\n2023-01-01 10:00,2023-01-01 11:00,d,X\n",
            "empty.csv:1",
            "lacks",
        ),
    ],
)
def test_file_level_errors(tmp_path: Path, content: bytes, where: str, words: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_oms(path, OmsMapping())
    assert err.value.details[0].where == where and words in err.value.message


def test_missing_column_names_what_was_looked_for(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", [r[:7] for r in ROWS], HEADER[:7])  # no CUST_INT, CMI
    with pytest.raises(InputError) as err:
        read_oms(path, OmsMapping())
    (detail,) = err.value.details
    assert detail.where == "o.csv:1" and "no customers_interrupted column" in detail.message
    assert "CUST_INT" in detail.message and "CUSTOMERS_INTERRUPTED" in detail.message
    with pytest.raises(InputError) as err:
        read_oms(write_csv(tmp_path / "p.csv"), OmsMapping(start="BEGIN"))
    assert "mapping field 'start' names column 'BEGIN'" in err.value.details[0].message


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "latin.csv")
    data = path.read_bytes().replace(b"lightning", "éclair".encode("latin-1"), 1)
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        read_oms(path, OmsMapping())
    assert err.value.details[0].where == "latin.csv:4" and "UTF-8" in err.value.details[0].message


def test_huge_file_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "big.csv")
    with pytest.raises(InputError) as err:
        read_oms(path, OmsMapping(), max_rows=3)
    assert (
        err.value.details[0].where == "big.csv:5" and "more than 3 data rows" in err.value.details[0].message
    )
    assert len(read_oms(path, OmsMapping(), max_rows=6)[0]) == 6


def test_bad_zone_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        read_oms(write_csv(tmp_path / "o.csv"), OmsMapping(), timezone="Mars/Olympus")
    assert err.value.details[0].where == "timezone"
    with pytest.raises(InputError):
        read_oms(tmp_path / "nope.csv", OmsMapping())


def test_excel_with_a_cut_sheet_inside_is_a_clear_error(tmp_path: Path) -> None:
    """The zip is whole but the sheet's XML stops halfway (a writer that died): read lazily, still located."""
    import zipfile

    path = write_xlsx(tmp_path / "outages.xlsx")
    broken = tmp_path / "half.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]
            dst.writestr(item, data)
    with pytest.raises(InputError) as err:
        read_oms(broken, OmsMapping())
    assert err.value.details[0].where.startswith("half.xlsx")
