"""Outage records from an OMS export (CSV or Excel) as an ``OUTAGE_COLUMNS`` frame.

Rules:

- CSV is UTF-8 (a byte-order mark is fine); the delimiter (``, ; TAB |``) is the one the header uses
  most. A row with another field count than the header (often another delimiter) is a row error.
- Excel (``.xlsx``/``.xlsm``) is read with openpyxl in read-only mode, the mapping's ``sheet`` or the
  first; a truncated or corrupt workbook is an ``InputError`` naming the file.
- Times: ISO 8601 or common US formats (or the mapping's ``datetime_format``); Excel date cells as
  they are. Naive times are local to the mapping's ``timezone``, else ``read_oms(timezone=)``; a local
  time repeated at the end of DST is read as its first occurrence for the start, and for the end as the
  one that keeps the end after the start (or agrees with the duration column). A local time that does
  not exist (the hour skipped at the start of DST) is a row error. Frames hold tz-aware UTC times.
- ``end`` may be absent (column or value) when a ``duration`` is given; when both are given they must
  agree (1 minute or 1 %). ``customer_minutes`` defaults to customers x duration and must not exceed it
  (customers cannot be out longer than the outage; step restoration makes it smaller).
- Each bad row gives one ``ErrorDetail`` per problem, ``where`` = ``"outages.csv:17"`` or
  ``"outages.xlsx:Sheet1!row 17"``, the message naming the field; bad rows are left out of the frame.
  Whether an import with bad rows fails is the caller's choice.
- Fatal (``InputError``): unreadable or non-UTF-8 file, no header, a required column missing (the
  message lists the header names looked for), no data rows, more than ``max_rows`` data rows.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import math
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError  # nosec B405  # the exception only, nothing parsed with it
from zoneinfo import ZoneInfo

import pandas as pd

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.ingest.oms.mapping import FIELDS, GUESSES, OmsMapping, check_timezone, normalise_header

__all__ = [
    "MAX_DURATION_MIN",
    "MOMENTARY_MAX_MIN",
    "OMS_MAX_ROWS",
    "OUTAGE_COLUMNS",
    "empty_outages",
    "read_oms",
]

OUTAGE_COLUMNS: tuple[str, ...] = (
    "outage_id", "feeder", "device", "start_utc", "end_utc", "duration_min", "cause_code", "cause",
    "customers_interrupted", "customer_minutes", "momentary", "src",
)  # fmt: skip
MOMENTARY_MAX_MIN = 5.0  # IEEE 1366-2022: an interruption of 5 minutes or less is momentary
MAX_DURATION_MIN = 60 * 24 * 60.0  # 60 days: longer is an export error, not an outage
OMS_MAX_ROWS = 1_000_000  # data rows per file; a bigger file is refused (split it or raise max_rows)
MAX_CUSTOMERS = 10**9  # customers one outage can interrupt: more is an export error (and no int64)
MAX_ISSUES = 10_000  # row details kept; more are counted in one closing detail
_DELIMITERS = (",", ";", "\t", "|")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p",
    "%m/%d/%y %H:%M:%S", "%m/%d/%y %H:%M", "%m/%d/%y %I:%M %p",
    "%d-%b-%Y %H:%M:%S", "%d-%b-%Y %H:%M", "%d-%b-%y %H:%M", "%Y%m%d %H%M%S", "%Y%m%d%H%M",
)  # fmt: skip
_UNIT_MIN = {"min": 1.0, "h": 60.0, "s": 1.0 / 60.0}
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


def empty_outages() -> pd.DataFrame:
    """An ``OUTAGE_COLUMNS`` frame with no rows and the right dtypes."""
    return _frame({c: [] for c in OUTAGE_COLUMNS})


def read_oms(
    path: Path | str,
    mapping: OmsMapping | None = None,
    *,
    timezone: str = "UTC",
    max_rows: int = OMS_MAX_ROWS,
) -> tuple[pd.DataFrame, list[ErrorDetail]]:
    """The good rows as ``OUTAGE_COLUMNS`` (source order) and one detail per problem of the bad ones."""
    path = Path(path)
    mapping = mapping or OmsMapping()
    zone_name = mapping.timezone or timezone
    try:
        check_timezone(zone_name)
    except ValueError as exc:
        raise InputError("bad time zone", [ErrorDetail("timezone", str(exc), "timezone")]) from exc
    ctx = _Context(
        name=path.name,
        zone=ZoneInfo(zone_name),
        fmt=mapping.datetime_format,
        duration_unit_min=_UNIT_MIN[mapping.duration_unit],
        max_rows=max_rows,
    )
    if not path.is_file():
        raise InputError("cannot read OMS file", [ErrorDetail(str(path), "no such file", "not_found")])
    if path.suffix.lower() in _EXCEL_SUFFIXES:
        _read_excel(path, mapping, ctx)
    elif path.suffix.lower() == ".xls":
        raise InputError(
            "old Excel files (.xls) are not read",
            [ErrorDetail(ctx.name, "save the sheet as .xlsx or CSV (UTF-8)", "unsupported")],
        )
    else:
        _read_csv(path, mapping, ctx)
    if ctx.data_rows == 0:
        raise InputError("OMS file has no data rows", [ErrorDetail(ctx.name, "only a header", "empty")])
    if ctx.dropped_issues:
        ctx.issues.append(
            ErrorDetail(ctx.name, f"{ctx.dropped_issues} more problems not listed", "too_many_errors")
        )
    return _frame(ctx.columns), ctx.issues


# --- reading ----------------------------------------------------------------------------------------


@dataclass
class _Context:
    name: str
    zone: tzinfo
    fmt: str | None
    duration_unit_min: float
    max_rows: int
    data_rows: int = 0
    issues: list[ErrorDetail] = field(default_factory=list)
    dropped_issues: int = 0
    columns: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in OUTAGE_COLUMNS})

    def issue(self, where: str, message: str, code: str) -> None:
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(ErrorDetail(where, message, code))
        else:
            self.dropped_issues += 1


def _utf8_lines(path: Path, name: str) -> Iterator[str]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    "OMS file is not UTF-8",
                    [
                        ErrorDetail(
                            f"{name}:{number}",
                            f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1} is not UTF-8; "
                            "export or save the file as UTF-8",
                            "encoding",
                        )
                    ],
                ) from exc


def _read_csv(path: Path, mapping: OmsMapping, ctx: _Context) -> None:
    try:
        lines = _utf8_lines(path, ctx.name)
        head: list[str] = []
        for line in lines:
            head.append(line)
            if line.strip():
                break
        if not head or not head[-1].strip():
            raise InputError("OMS file is empty", [ErrorDetail(ctx.name, "no header row", "empty")])
        delimiter = max(_DELIMITERS, key=head[-1].count)
        reader = csv.reader(itertools.chain(head, lines), delimiter=delimiter, strict=True)
        header: list[str] | None = None
        cols: dict[str, int] = {}
        last_line = 0
        for fields in reader:
            first_line, last_line = last_line + 1, reader.line_num
            if not any(f.strip() for f in fields):
                continue
            where = f"{ctx.name}:{first_line}"
            if header is None:
                header = fields
                cols = _resolve(header, mapping, where)
                continue
            if len(fields) != len(header) and not (
                len(fields) > len(header) and not any(f.strip() for f in fields[len(header) :])
            ):
                _count_row(ctx, where)
                others = [d for d in _DELIMITERS if d != delimiter and d in "".join(fields)]
                hint = f" (it uses {others[0]!r}, the header {delimiter!r})" if others else ""
                ctx.issue(where, f"row has {len(fields)} fields, the header {len(header)}{hint}", "fields")
                continue
            _count_row(ctx, where)
            _row(ctx, where, {f: fields[i] for f, i in cols.items()})
    except csv.Error as exc:
        raise InputError(
            "OMS file is not valid CSV", [ErrorDetail(f"{ctx.name}:{reader.line_num}", str(exc), "csv")]
        ) from exc
    except OSError as exc:
        raise InputError("cannot read OMS file", [ErrorDetail(ctx.name, str(exc), "io")]) from exc
    if header is None:
        raise InputError("OMS file is empty", [ErrorDetail(ctx.name, "no header row", "empty")])


def _read_excel(path: Path, mapping: OmsMapping, ctx: _Context) -> None:
    import openpyxl  # imported here: CSV-only use never loads it

    broken = (
        zipfile.BadZipFile, zlib.error, ParseError, KeyError, EOFError, ValueError, OSError, TypeError,
        NotImplementedError, RuntimeError,  # a compression method zipfile lacks; an encrypted part
    )  # fmt: skip
    with warnings.catch_warnings():
        # openpyxl warns about styles and extensions it ignores; none of that matters to the values.
        warnings.simplefilter("ignore")
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except broken as exc:
            raise InputError(
                "cannot read Excel workbook (truncated or not an .xlsx file?)",
                [ErrorDetail(ctx.name, f"{type(exc).__name__}: {exc}", "excel")],
            ) from exc
        try:
            names = list(book.sheetnames)
            sheet = mapping.sheet or (names[0] if names else "")
            if sheet not in names:
                raise InputError(
                    "no such sheet",
                    [ErrorDetail(f"{ctx.name}:{sheet}", f"sheets in the workbook: {names}", "sheet")],
                )
            ws = book[sheet]
            ws.reset_dimensions()  # some writers store wrong dimensions; read what is there
            header: list[str] | None = None
            cols: dict[str, int] = {}
            try:
                for number, values in enumerate(ws.iter_rows(values_only=True), 1):
                    if not any(_text(v) for v in values):
                        continue
                    where = f"{ctx.name}:{sheet}!row {number}"
                    if header is None:
                        header = [_text(v) for v in values]
                        cols = _resolve(header, mapping, where)
                        continue
                    _count_row(ctx, where)
                    cells = list(values)
                    _row(ctx, where, {f: cells[i] if i < len(cells) else None for f, i in cols.items()})
            except broken as exc:
                raise InputError(
                    "Excel workbook is truncated or corrupt",
                    [ErrorDetail(f"{ctx.name}:{sheet}", f"{type(exc).__name__}: {exc}", "excel")],
                ) from exc
            if header is None:
                raise InputError(
                    "OMS sheet is empty", [ErrorDetail(f"{ctx.name}:{sheet}", "no header row", "empty")]
                )
        finally:
            book.close()


def _count_row(ctx: _Context, where: str) -> None:
    ctx.data_rows += 1
    if ctx.data_rows > ctx.max_rows:
        raise InputError(
            "OMS file is too large",
            [ErrorDetail(where, f"more than {ctx.max_rows} data rows; split the file", "too_large")],
        )


def _resolve(header: list[str], mapping: OmsMapping, where: str) -> dict[str, int]:
    """Field -> column index: the mapping's columns, then guesses for the rest."""
    norm = [normalise_header(h) for h in header]
    index: dict[str, int] = {}
    for i, n in enumerate(norm):
        index.setdefault(n, i)
    cols: dict[str, int] = {}
    details: list[ErrorDetail] = []
    for fld, column in mapping.columns().items():
        found = index.get(normalise_header(column))
        if found is None:
            details.append(
                ErrorDetail(
                    where, f"mapping field {fld!r} names column {column!r}, not in the header", "column"
                )
            )
        else:
            cols[fld] = found
    taken = set(cols.values())
    for fld in FIELDS:
        if fld in cols or fld in mapping.columns():
            continue
        for guess in GUESSES[fld]:
            at = index.get(guess)
            if at is not None and at not in taken:
                cols[fld] = at
                taken.add(at)
                break

    def missing(fld: str, extra: str = "") -> None:
        looked = ", ".join(GUESSES[fld])
        details.append(
            ErrorDetail(
                where, f"no {fld} column: looked for {looked}{extra}; map it in the mapping", "column"
            )
        )

    if not details:
        for fld in ("start", "cause_code", "customers_interrupted"):
            if fld not in cols:
                missing(fld)
        if "end" not in cols and "duration" not in cols:
            missing("end", " (or a duration column: " + ", ".join(GUESSES["duration"]) + ")")
        if "device" not in cols and "feeder" not in cols:
            missing("device", " (or a feeder column: " + ", ".join(GUESSES["feeder"]) + ")")
    if details:
        shown = ", ".join(repr(h) for h in header)
        raise InputError(f"OMS header lacks required columns (header: {shown})", details)
    return cols


# --- one row ----------------------------------------------------------------------------------------


def _row(ctx: _Context, where: str, cells: dict[str, Any]) -> None:
    problems: list[tuple[str, str]] = []

    def bad(message: str, code: str) -> None:
        problems.append((message, code))

    start = end = None
    start_raw = cells.get("start")
    if not _text(start_raw):
        bad("start: missing", "missing")
    else:
        starts = _times(start_raw, ctx, "start", bad)
        start = starts[0] if starts else None

    duration_min: float | None = None
    if "duration" in cells and _text(cells["duration"]):
        value = _number(cells["duration"])
        if value is None or value < 0:
            bad(f"duration: {_text(cells['duration'])!r} is not a non-negative number", "duration")
        else:
            duration_min = value * ctx.duration_unit_min

    end_raw = cells.get("end")
    if _text(end_raw):
        ends = _times(end_raw, ctx, "end", bad)
        if ends and start is not None:
            end = ends[0]
            if len(ends) > 1:  # repeated local hour: the reading after start / agreeing with the duration
                after = [e for e in ends if e >= start] or ends
                if duration_min is not None:
                    after.sort(key=lambda e: abs((e - start).total_seconds() / 60 - duration_min))
                end = after[0]
        elif ends:
            end = ends[0]
    elif duration_min is not None:
        if start is not None and duration_min <= MAX_DURATION_MIN:  # (a longer one is reported below)
            end = start + timedelta(minutes=duration_min)
    else:
        bad("end: missing (and no duration)", "missing")

    length_min: float | None = None
    if start is not None and end is not None:
        length_min = (end - start).total_seconds() / 60.0
        if length_min < 0:
            bad(f"end {end.isoformat()} is before start {start.isoformat()}", "order")
        elif length_min > MAX_DURATION_MIN:
            bad(f"duration {length_min / 1440:.1f} days is longer than 60 days", "duration")
        if duration_min is not None and abs(duration_min - length_min) > max(1.0, 0.01 * length_min):
            bad(f"duration: {duration_min:g} min disagrees with end - start = {length_min:g} min", "duration")
    elif duration_min is not None and duration_min > MAX_DURATION_MIN:
        bad(f"duration {duration_min / 1440:.1f} days is longer than 60 days", "duration")

    customers: int | None = None
    raw = cells.get("customers_interrupted")
    if not _text(raw):
        bad("customers_interrupted: missing", "missing")
    else:
        value = _number(raw)
        if value is None:
            bad(f"customers_interrupted: {_text(raw)!r} is not a number", "customers")
        elif value < 0:
            bad(f"customers_interrupted: {_text(raw)} is negative", "customers")
        elif value != math.floor(value):
            bad(f"customers_interrupted: {_text(raw)} is not a whole number", "customers")
        elif value > MAX_CUSTOMERS:
            bad(f"customers_interrupted: {_text(raw)} is more than any utility serves", "customers")
        else:
            customers = int(value)

    cmi: float | None = None
    if "customer_minutes" in cells and _text(cells["customer_minutes"]):
        value = _number(cells["customer_minutes"])
        if value is None or value < 0:
            bad(
                f"customer_minutes: {_text(cells['customer_minutes'])!r} is not a non-negative number",
                "customer_minutes",
            )
        else:
            cmi = value
            if customers is not None and length_min is not None and length_min >= 0:
                most = customers * length_min
                if cmi > most * 1.01 + 1.0:
                    bad(
                        f"customer_minutes: {cmi:g} exceeds customers x duration = {customers} x "
                        f"{length_min:g} min = {most:g}",
                        "customer_minutes",
                    )

    feeder = _text(cells.get("feeder"))
    device = _text(cells.get("device"))
    if not feeder and not device:
        bad("device and feeder: both missing", "missing")

    if problems:
        for message, code in problems:
            ctx.issue(where, message, code)
        return
    assert start is not None and end is not None and length_min is not None and customers is not None
    out = ctx.columns
    out["outage_id"].append(_text(cells.get("outage_id")) or where)
    out["feeder"].append(feeder)
    out["device"].append(device)
    out["start_utc"].append(start)
    out["end_utc"].append(end)
    out["duration_min"].append(length_min)
    out["cause_code"].append(_text(cells.get("cause_code")))
    out["cause"].append(_text(cells.get("cause")))
    out["customers_interrupted"].append(customers)
    out["customer_minutes"].append(cmi if cmi is not None else customers * length_min)
    out["momentary"].append(length_min <= MOMENTARY_MAX_MIN)
    out["src"].append(where)


def _text(value: Any) -> str:
    """A cell as text: None -> "", 12.0 -> "12" (Excel stores ids as numbers), strings stripped."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isfinite(value) and value == math.floor(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip().replace("_", "")
        if _THOUSANDS.match(text):
            text = text.replace(",", "")
        try:
            number = float(text)
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def _times(value: Any, ctx: _Context, name: str, bad: Any) -> list[datetime]:
    """The UTC instants a cell may mean (two for a repeated local hour), or [] after reporting why."""
    naive: datetime | None = None
    if isinstance(value, datetime):
        naive = value
    elif isinstance(value, int | float) and not isinstance(value, bool):  # an Excel serial date
        if 1 <= value < 2_958_466:
            naive = _EXCEL_EPOCH + timedelta(days=float(value))
    else:
        naive = _parse_text(str(value).strip(), ctx.fmt)
    if naive is None:
        hint = (
            f" with format {ctx.fmt!r}"
            if ctx.fmt
            else " (ISO 8601 or e.g. 03/14/2023 13:05; set datetime_format)"
        )
        bad(f"{name}: cannot read time {_text(value)!r}{hint}", "time")
        return []
    found: list[datetime] = []
    try:
        if naive.tzinfo is not None:
            return [naive.astimezone(UTC)]
        for fold in (0, 1):
            local = naive.replace(tzinfo=ctx.zone, fold=fold)
            instant = local.astimezone(UTC)
            if instant.astimezone(ctx.zone).replace(tzinfo=None) == naive and instant not in found:
                found.append(instant)
    except OverflowError:  # year 1 or 9999 moved past the calendar by the zone's offset
        bad(f"{name}: {_text(value)!r} is out of the calendar's range", "time")
        return []
    if not found:
        bad(
            f"{name}: {naive.isoformat(sep=' ')} does not exist in {ctx.zone} (skipped at the DST change)",
            "time",
        )
    return found


def _parse_text(text: str, fmt: str | None) -> datetime | None:
    if not text:
        return None
    if fmt:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for candidate in _TIME_FORMATS:
        try:
            return datetime.strptime(text, candidate)
        except ValueError:
            continue
    return None


def _frame(columns: Mapping[str, Iterable[Any]]) -> pd.DataFrame:
    data = {c: list(columns[c]) for c in OUTAGE_COLUMNS}
    frame = pd.DataFrame(
        {
            "outage_id": pd.Series(data["outage_id"], dtype=object).astype(str),
            "feeder": pd.Series(data["feeder"], dtype=object).astype(str),
            "device": pd.Series(data["device"], dtype=object).astype(str),
            "start_utc": pd.Series(pd.to_datetime(data["start_utc"], utc=True), dtype="datetime64[us, UTC]"),
            "end_utc": pd.Series(pd.to_datetime(data["end_utc"], utc=True), dtype="datetime64[us, UTC]"),
            "duration_min": pd.Series(data["duration_min"], dtype="float64"),
            "cause_code": pd.Series(data["cause_code"], dtype=object).astype(str),
            "cause": pd.Series(data["cause"], dtype=object).astype(str),
            "customers_interrupted": pd.Series(data["customers_interrupted"], dtype="int64"),
            "customer_minutes": pd.Series(data["customer_minutes"], dtype="float64"),
            "momentary": pd.Series(data["momentary"], dtype="bool"),
            "src": pd.Series(data["src"], dtype=object).astype(str),
        }
    )
    return frame
