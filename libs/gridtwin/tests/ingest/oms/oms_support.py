"""Shared by the OMS tests: the hand-computed example's outages as CSV and as an Excel workbook."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

HEADER = [
    "OUTAGE_ID",
    "FEEDER_ID",
    "DEVICE_ID",
    "START_TIME",
    "RESTORE_TIME",
    "CAUSE_CODE",
    "CAUSE",
    "CUST_INT",
    "CMI",
]

# The hand-computed example (see test_oms_reliability.py): feeders f1 (1,000 customers), f2 (500).
ROWS: list[list[Any]] = [
    [
        "O1",
        "f1",
        "BRK1",
        datetime(2023, 3, 1, 10, 0),
        datetime(2023, 3, 1, 11, 30),
        "EQ",
        "equipment",
        200,
        None,
    ],
    ["O2", "f1", "FUSE7", datetime(2023, 12, 31, 23, 0), datetime(2024, 1, 1, 1, 0), "TR", "tree", 100, None],
    [
        "O3",
        "f1",
        "REC2",
        datetime(2023, 7, 4, 12, 0),
        datetime(2023, 7, 4, 12, 3),
        "LG",
        "lightning",
        1000,
        None,
    ],
    [
        "O4",
        "f2",
        "BRK9",
        datetime(2023, 3, 1, 10, 30),
        datetime(2023, 3, 1, 10, 50),
        "AN",
        "animal",
        500,
        10000,
    ],
    ["O5", "f2", "T77", datetime(2023, 9, 15, 8, 0), datetime(2023, 9, 15, 12, 0), "TR", "tree", 50, 9000],
    [
        "O6",
        "f2",
        "BRK9",
        datetime(2023, 9, 15, 8, 0),
        datetime(2023, 9, 15, 8, 5),
        "LG",
        "lightning",
        250,
        None,
    ],
]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def write_csv(path: Path, rows: list[list[Any]] | None = None, header: list[str] | None = None) -> Path:
    lines = [",".join(header or HEADER)]
    lines += [",".join(_csv_cell(v) for v in row) for row in (ROWS if rows is None else rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_xlsx(
    path: Path, rows: list[list[Any]] | None = None, header: list[str] | None = None, sheet: str = "Outages"
) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet
    ws.append(header or HEADER)
    for row in ROWS if rows is None else rows:
        ws.append(row)
    book.create_sheet("Notes").append(["exported from the OMS"])
    book.save(path)
    return path
