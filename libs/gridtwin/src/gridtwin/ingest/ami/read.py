"""Streaming readers for AMI sources: CSV (pyarrow's incremental reader) and Parquet (row batches).

Each yields chunks of at most ``chunk_rows`` reads normalised to ``STAGE_SCHEMA``: meter id, interval
start in UTC (whole seconds), interval minutes, kWh, kvarh, voltage, the source index and its line (CSV:
the physical line, header = 1; Parquet: row number from 1). Rows that cannot be read become issue lines
naming ``file:line``; whole-file problems (no header, a required column missing, bytes that are not
UTF-8, a line longer than ``max_line_bytes``, a truncated Parquet file) raise ``InputError``.

CSV line numbers assume one physical line per row (no newlines inside quoted values).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.ingest.ami.options import COLUMN_GUESSES, AmiOptions, normalise_header
from gridtwin.ingest.ami.report import Issues
from gridtwin.store.ami import STAGE_DICT_SCHEMA as CHUNK_SCHEMA

# The pyarrow.compute stubs overload on exact array types; the kernels take any array here.
pc: Any = _pc

__all__ = ["Chunk", "iter_chunks", "resolve_columns"]

I64 = npt.NDArray[np.int64]
_DELIMS = (",", ";", "\t", "|")
_OFFSET = r"(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"
_INTERVALS_S = np.array([300, 900, 1800, 3600], dtype=np.int64)
_REQUIRED = ("meter_id", "timestamp", "kwh")


@dataclass
class Chunk:
    source: int
    index: int  # chunk number within its source
    table: pa.Table  # CHUNK_SCHEMA (STAGE_SCHEMA with dictionary meter ids)
    rows_read: int  # source rows seen in this chunk, bad ones included
    interval_s: int | None  # the file's interval as detected so far (kept for a resumed run)


def resolve_columns(header: list[str], options: AmiOptions, where: str) -> dict[str, str]:
    """Logical name -> source column; ``InputError`` naming the header when a required one is missing."""
    given = options.columns.model_dump()
    by_norm = {normalise_header(h): h for h in reversed(header)}
    out: dict[str, str] = {}
    for logical, guesses in COLUMN_GUESSES.items():
        name = given.get(logical)
        if name is not None:
            if name not in header:
                raise InputError(
                    f"column {name!r} not found",
                    [ErrorDetail(where=where, message=f"no column {name!r} for {logical}; header: {header}")],
                )
            out[logical] = name
            continue
        for guess in guesses:
            if normalise_header(guess) in by_norm:
                out[logical] = by_norm[normalise_header(guess)]
                break
    missing = [c for c in _REQUIRED if c not in out]
    if missing:
        raise InputError(
            "AMI source lacks required columns",
            [
                ErrorDetail(where=where, message=f"no {c} column (header: {', '.join(header)})")
                for c in missing
            ],
        )
    return out


# -- conversions -----------------------------------------------------------------------------------


def _to_float(arr: pa.Array[Any]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Values (NaN where empty) and the mask of values that are present but not numbers."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.utf8_trim_whitespace(arr)
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
    try:
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64), np.zeros(len(arr), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raw = pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object)
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return values, np.isnan(values) & raw.notna().to_numpy()


def _localise(naive_ms: pa.Array[Any], zone: str) -> tuple[I64, npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """Naive local times -> UTC seconds (earliest reading), seconds to the later reading of an ambiguous
    time (0 when unambiguous) and the mask of times that do not exist (spring forward)."""
    wall = naive_ms.cast(pa.timestamp("s"))
    wall_s = np.asarray(pc.cast(wall, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    if zone in ("UTC", "Etc/UTC", "GMT"):
        return wall_s, np.zeros(len(wall_s), np.int32), np.zeros(len(wall_s), bool)
    early = pc.assume_timezone(wall, zone, ambiguous="earliest", nonexistent="earliest")
    late = pc.assume_timezone(wall, zone, ambiguous="latest", nonexistent="latest")
    back = pc.cast(pc.local_timestamp(early), pa.int64()).to_numpy(zero_copy_only=False)
    early_s = np.asarray(pc.cast(early, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    late_s = np.asarray(pc.cast(late, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    missing = np.asarray(back, dtype=np.int64) != wall_s
    amb = np.where(missing, 0, late_s - early_s).astype(np.int32)
    return early_s, amb, missing


def _parse_iso(strings: pa.Array[Any], unit_type: pa.DataType) -> tuple[pa.Array[Any], npt.NDArray[np.bool_]]:
    """Cast ISO strings; where the fast cast fails, pandas finds the bad ones (they become null)."""
    try:
        return pc.cast(strings, unit_type), np.zeros(len(strings), bool)
    except pa.ArrowInvalid:
        raw = pd.Series(strings.to_numpy(zero_copy_only=False), dtype=object)
        aware = unit_type.tz is not None  # type: ignore[attr-defined]
        parsed = pd.to_datetime(raw, errors="coerce", utc=aware, format="ISO8601")
        bad = (parsed.isna() & raw.notna()).to_numpy()
        return pa.array(parsed.dt.floor("ms"), type=unit_type, from_pandas=True), bad


def parse_times(
    col: pa.Array[Any], options: AmiOptions
) -> tuple[I64, npt.NDArray[np.int32], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """UTC seconds, ambiguity seconds, bad mask, non-existent mask of one timestamp column."""
    n = len(col)
    utc = np.zeros(n, np.int64)
    amb = np.zeros(n, np.int32)
    bad = np.zeros(n, bool)
    nonexistent = np.zeros(n, bool)
    if pa.types.is_timestamp(col.type):
        if col.type.tz is not None:
            sec = pc.cast(col.cast(pa.timestamp("s", tz="UTC"), safe=False), pa.int64())
            return np.asarray(sec.to_numpy(zero_copy_only=False), np.int64), amb, bad, nonexistent
        utc, amb, nonexistent = _localise(col.cast(pa.timestamp("ms"), safe=False), options.timezone)
        return utc, amb, bad, nonexistent
    if not pa.types.is_string(col.type):
        col = col.cast(pa.string())
    col = pc.utf8_trim_whitespace(col)
    empty = pc.fill_null(pc.equal(col, ""), True).to_numpy(zero_copy_only=False)
    if options.timestamp_format is not None:
        parsed = pc.strptime(col, format=options.timestamp_format, unit="ms", error_is_null=True)
        bad = np.asarray(pc.is_null(parsed).to_numpy(zero_copy_only=False), bool)
        if parsed.type.tz is not None:
            utc = np.asarray(
                pc.cast(parsed.cast(pa.timestamp("s", tz="UTC")), pa.int64()).fill_null(0), np.int64
            )
        else:
            u, a, m = _localise(pc.fill_null(parsed, pa.scalar(0, pa.timestamp("ms"))), options.timezone)
            utc, amb, nonexistent = u, a, m
        return utc, amb, bad, nonexistent & ~bad
    has_offset = np.asarray(
        pc.fill_null(pc.match_substring_regex(col, _OFFSET), False).to_numpy(zero_copy_only=False), bool
    )
    bad |= empty
    for aware in (True, False):
        sel = np.flatnonzero((has_offset if aware else ~has_offset) & ~empty)
        if len(sel) == 0:
            continue
        sub = col.take(sel)
        unit_type = pa.timestamp("ms", tz="UTC") if aware else pa.timestamp("ms")
        parsed, sub_bad = _parse_iso(sub, unit_type)
        bad[sel] |= sub_bad
        parsed = pc.fill_null(parsed, pa.scalar(0, unit_type))
        if aware:
            ms = np.asarray(pc.cast(parsed, pa.int64()).to_numpy(zero_copy_only=False), np.int64)
            utc[sel] = ms // 1000
        else:
            u, a, m = _localise(parsed, options.timezone)
            utc[sel], amb[sel], nonexistent[sel] = u, a, m
    return utc, amb, bad, nonexistent & ~bad


def _detect_intervals(codes: I64, ts: I64, nmeters: int, fallback: int | None) -> tuple[I64, int | None]:
    """Interval seconds per row: the most common allowed step between a meter's sorted reads, else the
    file's (``fallback``); and the file's mode for later chunks."""
    key = codes * (1 << 40) + ts
    if len(key) < 2 or bool((key[1:] >= key[:-1]).all()):  # usual: already in (meter, time) order
        c, t = codes, ts
    else:
        order = np.argsort(key, kind="stable")
        c, t = codes[order], ts[order]
    same = c[1:] == c[:-1]
    d = np.diff(t)
    counts = np.stack(
        [np.bincount(c[1:][same & (d == k)], minlength=nmeters) for k in _INTERVALS_S], axis=1
    )  # meters x allowed intervals
    totals = counts.sum(axis=0)
    file_mode = int(_INTERVALS_S[int(np.argmax(totals))]) if totals.sum() else fallback
    per_meter = _INTERVALS_S[np.argmax(counts, axis=1)]
    default = file_mode if file_mode is not None else 3600
    per_meter = np.where(counts.max(axis=1) > 0, per_meter, default)
    return per_meter[codes], file_mode


@dataclass
class _State:
    file_interval_s: int | None = None


def normalise(
    raw: dict[str, pa.Array[Any]],
    rows: I64,
    source: int,
    name: str,
    options: AmiOptions,
    issues: Issues,
    state: _State,
    heads: pa.Array[Any] | None = None,
) -> pa.Table:
    """One chunk of source columns -> ``STAGE_SCHEMA``; unreadable rows become issue lines."""
    uniq, codes, no_meter = _meter_codes(raw["meter_id"])
    issues.add_rows(name, rows[no_meter], lambda i: "no meter id", "no_meter")
    utc, amb, bad_ts, nonexistent = parse_times(raw["timestamp"], options)
    bad_ts &= ~no_meter
    # Source text only for the rows listed (casting the whole column to strings costs more than the rest).
    bad_text = _texts(raw["timestamp"], bad_ts, options.max_issue_lines)
    issues.add_rows(name, rows[bad_ts], lambda i: f"unreadable timestamp {bad_text[i]!r}", "bad_timestamp")
    ne_text = _texts(raw["timestamp"], nonexistent, options.max_issue_lines)
    issues.add_rows(
        name,
        rows[nonexistent],
        lambda i: f"{ne_text[i]} does not exist in {options.timezone} (clocks spring forward); dropped",
        "dst_nonexistent",
    )
    kwh, bad_kwh = _to_float(raw["kwh"])
    ok = ~(no_meter | bad_ts | nonexistent)
    bad_kwh &= ok
    kwh_text = _texts(raw["kwh"], bad_kwh, options.max_issue_lines)
    issues.add_rows(name, rows[bad_kwh], lambda i: f"kWh {kwh_text[i]!r} is not a number", "bad_number")
    ok &= ~bad_kwh & ~np.isnan(kwh)  # an empty kWh is a missing read: the gap is filled later
    extra: dict[str, npt.NDArray[np.float64] | None] = {}
    for logical, out in (("kvarh", "kvarh"), ("voltage", "voltage_v")):
        if logical in raw:
            values, bad = _to_float(raw[logical])
            # not in place: a column with no empty value comes zero-copy from Arrow, read-only
            extra[out] = np.where(bad, np.nan, values)
        else:
            extra[out] = None  # all null: no column to build
    all_ok = bool(ok.all())
    keep = np.arange(len(ok)) if all_ok else np.flatnonzero(ok)
    if not all_ok:
        codes, utc, amb, kwh, rows_kept = codes[keep], utc[keep], amb[keep], kwh[keep], rows[keep]
    else:
        rows_kept = rows
    # Interval: given, a column, or detected per meter in this chunk.
    if options.interval_min is not None:
        step = np.full(len(keep), options.interval_min * 60, np.int64)
    elif "interval" in raw:
        given, _ = _to_float(raw["interval"])
        given = given[keep]
        step, state.file_interval_s = _detect_intervals(codes, utc, len(uniq), state.file_interval_s)
        valid = np.isin(given, _INTERVALS_S // 60)  # (minutes: a huge given value must not overflow)
        step = np.where(valid, np.where(valid, given, 0.0) * 60, step).astype(np.int64)
    else:
        step, state.file_interval_s = _detect_intervals(codes, utc, len(uniq), state.file_interval_s)
    if options.timestamp_at == "end":
        utc = utc - step
    # Stamps a little off the grid (e.g. 00:14:59) snap to it; further off are dropped with a line.
    snapped = ((utc + step // 2) // step) * step
    off = np.abs(utc - snapped) > 60
    issues.add_rows(
        name, rows_kept[off], lambda i: "timestamp is not on the meter's interval grid; dropped", "off_grid"
    )
    absurd = np.abs(kwh) > options.absurd_kwh_per_h * step / 3600.0
    if heads is not None and absurd.any():  # a feeder-head meter reads a whole feeder: not per customer
        absurd &= ~np.asarray(pc.is_in(uniq, value_set=heads).to_numpy(zero_copy_only=False), bool)[codes]
    absurd_vals = kwh[absurd]
    issues.add_rows(
        name,
        rows_kept[absurd],
        lambda i: f"kWh {absurd_vals[i]:g} is absurd for a {int(step[absurd][i]) // 60}-min read; removed",
        "absurd",
    )
    good = np.flatnonzero(~off) if off.any() else None

    def pick(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return a if good is None else a[good]

    n_out = len(utc) if good is None else len(good)
    sel = keep if good is None else keep[good]

    def optional(values: npt.NDArray[np.float64] | None) -> pa.Array[Any]:
        if values is None:
            return pa.nulls(n_out, pa.float64())
        return pa.array(values if all_ok and good is None else values[sel], pa.float64(), from_pandas=True)

    # Meter ids stay dictionary indices into this chunk's distinct ids (no per-row strings).
    meter_col = pa.DictionaryArray.from_arrays(pick(codes).astype(np.int32), uniq)
    return pa.Table.from_arrays(
        [
            meter_col,
            pa.array(pick(snapped), pa.int64()).cast(pa.timestamp("s", tz="UTC")),
            pa.array((pick(step) // 60).astype(np.int16)),
            pa.array(pick(kwh)),
            optional(extra["kvarh"]),
            optional(extra["voltage_v"]),
            pa.array(np.full(n_out, source, np.int32)),
            pa.array(pick(rows_kept)),
            pa.array(pick(amb)),
        ],
        schema=CHUNK_SCHEMA,
    )


def _meter_codes(col: Any) -> tuple[pa.Array[Any], I64, npt.NDArray[np.bool_]]:
    """Distinct stripped meter ids, each row's index into them and the mask of rows without one.
    Dictionary columns (Parquet) are stripped and encoded on their dictionary alone."""
    if pa.types.is_dictionary(col.type):
        values = col.dictionary
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        enc = pc.dictionary_encode(pc.utf8_trim_whitespace(values))
        remap = np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)
        idx = col.indices
        null = np.asarray(idx.is_null().to_numpy(zero_copy_only=False), bool) if idx.null_count else None
        raw = np.asarray(idx.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
        codes = remap[raw] if len(remap) else np.zeros(len(raw), np.int64)
    else:
        if not pa.types.is_string(col.type):
            col = col.cast(pa.string())
        enc = pc.dictionary_encode(pc.utf8_trim_whitespace(col))
        idx = enc.indices
        null = np.asarray(idx.is_null().to_numpy(zero_copy_only=False), bool) if idx.null_count else None
        codes = np.asarray(idx.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    uniq = enc.dictionary
    empty = np.asarray(pc.equal(uniq, "").to_numpy(zero_copy_only=False), bool)
    no_meter = empty[codes] if len(uniq) else np.ones(len(codes), bool)
    if null is not None:
        no_meter |= null
    return uniq, codes, no_meter


def _texts(col: pa.Array[Any], mask: npt.NDArray[np.bool_], limit: int) -> list[Any]:
    """Source text of the first ``limit`` rows under ``mask``."""
    idx = np.flatnonzero(mask)[:limit]
    if len(idx) == 0:
        return []
    return list(col.take(idx).cast(pa.string()).to_pylist())


# -- CSV -------------------------------------------------------------------------------------------


def _bad_utf8(path: Path) -> tuple[int, int] | None:
    """(line, byte offset) of the first byte sequence that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                start = max(0, exc.start - pending)
                return line + block[:start].count(b"\n"), offset + start
            line += block.count(b"\n")
            offset += len(block)
    return None


def _header(path: Path, options: AmiOptions) -> tuple[list[str], str]:
    with path.open("rb") as handle:
        head = handle.read(options.max_line_bytes + 1)
    if not head.strip():
        raise InputError("empty AMI file", [ErrorDetail(where=f"{path.name}:1", message="the file is empty")])
    end = head.find(b"\n")
    if end < 0 and len(head) > options.max_line_bytes:
        raise InputError(
            "line too long",
            [
                ErrorDetail(
                    where=f"{path.name}:1",
                    message=f"the header line is longer than {options.max_line_bytes} bytes",
                )
            ],
        )
    line = head[: end if end >= 0 else len(head)].removeprefix(codecs.BOM_UTF8)
    try:
        text = line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise InputError(
            "AMI file is not UTF-8",
            [ErrorDetail(where=f"{path.name}:1", message=f"byte {exc.start} is not UTF-8", code="encoding")],
        ) from None
    delim = max(_DELIMS, key=text.count) if any(d in text for d in _DELIMS) else ","
    return [h.strip().strip('"') for h in text.split(delim)], delim


def _iter_csv(
    path: Path, options: AmiOptions, invalid: list[tuple[int, int, str]]
) -> Iterator[tuple[dict[str, pa.Array[Any]], I64, int]]:
    """Batches of the CSV; rows the parser skips go to ``invalid`` as (line, valid rows before it,
    message or "" for an empty line) so the caller can report them with the chunk they fall in."""
    header, delim = _header(path, options)
    cols = resolve_columns(header, options, f"{path.name}:1")
    lines_seen: list[int] = []

    def on_invalid(row: Any) -> Literal["skip", "error"]:
        number = int(row.number) if row.number is not None else -1
        message = ""
        if row.text.strip():
            hint = next(
                (f" (it uses {d!r}: mixed delimiters?)" for d in _DELIMS if d != delim and d in row.text), ""
            )
            message = f"expected {row.expected_columns} fields, got {row.actual_columns}{hint}"
        invalid.append((number, number - 2 - len(lines_seen), message))
        lines_seen.append(number)
        return "skip"

    reader_opts = pcsv.ReadOptions(block_size=options.max_line_bytes, use_threads=False)
    parse_opts = pcsv.ParseOptions(delimiter=delim, invalid_row_handler=on_invalid, ignore_empty_lines=False)
    convert_opts = pcsv.ConvertOptions(
        include_columns=list(dict.fromkeys(cols.values())),
        column_types={c: pa.string() for c in cols.values()},
        strings_can_be_null=True,
    )
    valid_before = 0
    try:
        reader = pcsv.open_csv(
            path, read_options=reader_opts, parse_options=parse_opts, convert_options=convert_opts
        )
        for batch in reader:
            n = batch.num_rows
            # Line of the k-th valid row: header + k + the skipped lines before it.
            inv = np.asarray(lines_seen, np.int64)
            valid_at = inv - 2 - np.arange(len(inv))  # valid rows before each skipped line
            k = np.arange(valid_before, valid_before + n, dtype=np.int64)
            lines = k + 2 + np.searchsorted(valid_at, k, side="right")
            valid_before += n
            raw = {logical: batch.column(name) for logical, name in cols.items()}
            yield raw, lines, n
    except pa.ArrowInvalid as exc:
        text = str(exc)
        where = f"{path.name}:{valid_before + len(lines_seen) + 2}"
        if "straddling" in text or "straddles" in text:
            raise InputError(
                "line too long",
                [
                    ErrorDetail(
                        where=where, message=f"a line near here is longer than {options.max_line_bytes} bytes"
                    )
                ],
            ) from None
        if "UTF8" in text or "utf8" in text.lower():
            found = _bad_utf8(path)
            line, byte = found if found else (valid_before + 2, -1)
            raise InputError(
                "AMI file is not UTF-8",
                [
                    ErrorDetail(
                        where=f"{path.name}:{line}",
                        message=f"byte {byte} is not valid UTF-8",
                        code="encoding",
                    )
                ],
            ) from None
        raise InputError("unreadable CSV", [ErrorDetail(where=where, message=text)]) from None


# -- Parquet ---------------------------------------------------------------------------------------


def _iter_parquet(path: Path, options: AmiOptions) -> Iterator[tuple[dict[str, pa.Array[Any]], I64, int]]:
    def broken(exc: Exception) -> InputError:
        return InputError(
            "unreadable Parquet file",
            [ErrorDetail(where=path.name, message=f"truncated or corrupt Parquet: {exc}", code="corrupt")],
        )

    # A damaged footer can name columns in bytes that are not UTF-8 (UnicodeDecodeError from Arrow).
    try:
        pf = pq.ParquetFile(path)
        names = list(pf.schema_arrow.names)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise broken(exc) from None
    cols = resolve_columns(names, options, path.name)
    done = 0
    try:
        batches = pf.iter_batches(
            batch_size=min(options.chunk_rows, 1 << 17), columns=list(dict.fromkeys(cols.values()))
        )
        for batch in batches:
            n = batch.num_rows
            raw = {logical: batch.column(name) for logical, name in cols.items()}
            yield raw, np.arange(done + 1, done + n + 1, dtype=np.int64), n
            done += n
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise broken(exc) from None


def is_parquet(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    with path.open("rb") as handle:
        return handle.read(4) == b"PAR1"


def iter_chunks(
    path: Path,
    source: int,
    options: AmiOptions,
    issues: Issues,
    *,
    skip: int = 0,
    interval_s: int | None = None,
    heads: pa.Array[Any] | None = None,
) -> Iterator[Chunk]:
    """Normalised chunks of at most ``options.chunk_rows`` source rows (memory bounded by that). The
    first ``skip`` chunks (staged by an earlier run) are read past without normalising or reporting;
    ``interval_s`` is the file's interval detected by then; ``heads``: feeder-head meter ids (not absurd)."""
    state = _State(interval_s)
    invalid: list[tuple[int, int, str]] = []
    batches = _iter_parquet(path, options) if is_parquet(path) else _iter_csv(path, options, invalid)
    pending: list[tuple[dict[str, pa.Array[Any]], I64]] = []
    size = 0
    index = 0
    valid_end = 0

    def report_invalid(final: bool) -> int:
        take = len(invalid) if final else sum(1 for _, vb, _ in invalid if vb < valid_end)
        for line, _, message in invalid[:take]:
            if message and index >= skip:
                issues.add(f"{path.name}:{line}", message, "bad_row")
        del invalid[:take]
        return take

    def flush(final: bool) -> Chunk | None:
        nonlocal pending, size
        bad = report_invalid(final)
        if index < skip:
            pending, size = [], 0
            return None
        raw = {k: pa.concat_arrays([p[0][k] for p in pending]) for k in pending[0][0]} if pending else {}
        rows = np.concatenate([p[1] for p in pending]) if pending else np.zeros(0, np.int64)
        n = len(rows)
        pending, size = [], 0
        table = (
            normalise(raw, rows, source, path.name, options, issues, state, heads)
            if n
            else CHUNK_SCHEMA.empty_table()
        )
        return Chunk(source, index, table, n + bad, state.file_interval_s)

    for raw, rows, n in batches:
        start = 0
        while start < n:
            take = min(n - start, options.chunk_rows - size)
            pending.append(({k: v.slice(start, take) for k, v in raw.items()}, rows[start : start + take]))
            size += take
            start += take
            valid_end += take
            if size >= options.chunk_rows:
                chunk = flush(False)
                if chunk is not None:
                    yield chunk
                index += 1
    if size or invalid:
        chunk = flush(True)
        if chunk is not None:
            yield chunk
