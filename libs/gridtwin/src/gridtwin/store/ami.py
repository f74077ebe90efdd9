"""AMI interval reads in Parquet, one file per feeder and month (docs/CONTRACTS.md, "AMI store").

Layout under ``root`` (usually ``{data_dir}/ami``)::

    feeder={feeder}/month={YYYY-MM}/reads.parquet     committed reads, sorted by (meter_id, ts_utc)
    _imports/{import_id}/progress.json                the importer's checkpoint (its own JSON)
    _imports/{import_id}/staging/feeder=/month=/chunk-NNNNNN.parquet   normalised source chunks
    _imports/{import_id}/final/feeder=/month=/reads.parquet            partitions ready to commit
    _imports/{import_id}/quality.parquet, report.json                  the import's results
    _imports/{import_id}/commit.json                  the journal: present = the commit is decided
    _quality/import={import_id}.parquet, .json        per-meter quality table and report of a committed import

Commit: every final partition is written first, then the journal (atomically); from then on the commit
is decided and each partition is moved into place with one ``os.replace``. A crash in between is rolled
forward by ``recover()`` (run at service start), so an import's partitions all become visible or none.
An import without a journal is still resumable; ``abort`` removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntFlag
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from gridtwin.errors import ErrorDetail, InputError, NotFoundError
from gridtwin.store.results import atomic_write

__all__ = ["AMI_READ_SCHEMA", "STAGE_DICT_SCHEMA", "STAGE_SCHEMA", "AmiStore", "QualityFlag"]


class QualityFlag(IntFlag):
    FILLED_LINEAR = 1
    FILLED_PROFILE = 2
    SPIKE = 4
    NEGATIVE = 8
    FLATLINE = 16
    DUPLICATE_CONFLICT = 32
    DST_RESOLVED = 64
    ABSURD = 128
    TZ_SUSPECT = 256


_READ_FIELDS: list[pa.Field[Any]] = [
    pa.field("meter_id", pa.string()),
    pa.field("ts_utc", pa.timestamp("s", tz="UTC")),
    pa.field("interval_min", pa.int16()),
    pa.field("kwh", pa.float64()),
    pa.field("kvarh", pa.float64()),
    pa.field("voltage_v", pa.float64()),
    pa.field("flags", pa.uint16()),
    pa.field("kwh_raw", pa.float64()),
]
AMI_READ_SCHEMA = pa.schema(_READ_FIELDS)

# Staged (normalised, not yet checked) reads: source index and line keep report lines "file:row";
# ``amb_s`` > 0 marks an ambiguous local time (fall back): seconds to add for its later reading.
_STAGE_FIELDS: list[pa.Field[Any]] = [
    pa.field("meter_id", pa.string()),
    pa.field("ts_utc", pa.timestamp("s", tz="UTC")),
    pa.field("interval_min", pa.int16()),
    pa.field("kwh", pa.float64()),
    pa.field("kvarh", pa.float64()),
    pa.field("voltage_v", pa.float64()),
    pa.field("src", pa.int32()),
    pa.field("src_row", pa.int64()),
    pa.field("amb_s", pa.int32()),
]
STAGE_SCHEMA = pa.schema(_STAGE_FIELDS)
# The same with meter ids as dictionary indices: how the importer stages chunks (no per-row strings).
STAGE_DICT_SCHEMA = STAGE_SCHEMA.set(0, pa.field("meter_id", pa.dictionary(pa.int32(), pa.string())))

T = TypeVar("T")

_PART = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_READS = "reads.parquet"
_DICT_COLUMNS: Any = ["meter_id"]  # the stubs allow only a bool; pyarrow takes column names too
_JOURNAL = "commit.json"


def _check(what: str, value: str, pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value) or value in (".", ".."):
        raise InputError(
            f"bad AMI {what}", [ErrorDetail(where=what, message=f"{value!r} must match {pattern.pattern}")]
        )


def _write_parquet(table: pa.Table, path: Path, *, final: bool) -> None:
    def write(tmp: Path) -> None:
        if final:  # committed data: compact, meter ids dictionary-encoded
            pq.write_table(table, tmp, compression="zstd", compression_level=3, use_dictionary=_DICT_COLUMNS)
        else:  # scratch data, read once: fast
            pq.write_table(table, tmp, compression="lz4", use_dictionary=_DICT_COLUMNS)

    atomic_write(path, write)


def _write_json(path: Path, value: dict[str, Any]) -> None:
    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")

    atomic_write(path, write)


def _parts(base: Path) -> list[tuple[str, str]]:
    """(feeder, month) folders directly under ``base``, sorted."""
    if not base.is_dir():
        return []
    out: list[tuple[str, str]] = []
    for fdir in base.iterdir():
        if fdir.is_dir() and fdir.name.startswith("feeder="):
            out.extend(
                (fdir.name.removeprefix("feeder="), mdir.name.removeprefix("month="))
                for mdir in fdir.iterdir()
                if mdir.is_dir() and mdir.name.startswith("month=")
            )
    return sorted(out)


class AmiStore:
    """Committed AMI reads under ``root`` plus the staging area of running imports."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- read API ----------------------------------------------------------------------------------

    def _part_dir(self, base: Path, feeder: str, month: str) -> Path:
        _check("feeder", feeder, _PART)
        _check("month", month, _MONTH)
        return base / f"feeder={feeder}" / f"month={month}"

    def feeders(self) -> list[str]:
        """Feeders holding at least one committed month, sorted."""
        return sorted({f for f, m in _parts(self.root) if self.has_month(f, m)})

    def months(self, feeder: str) -> list[str]:
        """Committed months ("YYYY-MM") of a feeder, sorted."""
        return [m for f, m in _parts(self.root) if f == feeder and self.has_month(f, m)]

    def has_month(self, feeder: str, month: str) -> bool:
        return (self._part_dir(self.root, feeder, month) / _READS).is_file()

    def read_month(
        self, feeder: str, month: str, columns: list[str] | None = None, *, dictionary: bool = False
    ) -> pa.Table:
        """One committed partition (``AMI_READ_SCHEMA`` or the named columns); NotFoundError if absent.
        ``dictionary``: meter_id as read from disk, dictionary-encoded (2-3x faster than strings)."""
        path = self._part_dir(self.root, feeder, month) / _READS
        if not path.is_file():
            raise NotFoundError(
                "AMI month not found", [ErrorDetail(where=f"{feeder}/{month}", message=f"no {path}")]
            )
        if dictionary:
            table = pq.read_table(path, columns=columns, read_dictionary=["meter_id"])
            for i, name in enumerate(table.column_names):  # Parquet has no seconds unit: back to the schema's
                want = AMI_READ_SCHEMA.field(name).type
                if name != "meter_id" and table.schema.field(i).type != want:
                    table = table.set_column(i, name, table.column(i).cast(want))
            return table
        return pq.read_table(path, columns=columns, schema=AMI_READ_SCHEMA)

    def iter_year(
        self, feeder: str, year: int, columns: list[str] | None = None, *, dictionary: bool = False
    ) -> Iterator[pa.Table]:
        """The feeder's committed months of ``year``, one table at a time (bounded memory)."""
        for month in self.months(feeder):
            if month.startswith(f"{year:04d}-"):
                yield self.read_month(feeder, month, columns, dictionary=dictionary)

    def delete_feeder(self, feeder: str) -> None:
        """Remove every committed month of a feeder (renamed away first, so it disappears at once)."""
        _check("feeder", feeder, _PART)
        folder = self.root / f"feeder={feeder}"
        if not folder.is_dir():
            return
        trash = self.root / f".deleted-{uuid.uuid4().hex}"
        os.replace(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)

    # -- staging -----------------------------------------------------------------------------------

    def import_dir(self, import_id: str) -> Path:
        _check("import id", import_id, _ID)
        return self.root / "_imports" / import_id

    def load_progress(self, import_id: str) -> dict[str, Any] | None:
        path = self.import_dir(import_id) / "progress.json"
        if not path.is_file():
            return None
        value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return value

    def save_progress(self, import_id: str, progress: dict[str, Any]) -> None:
        _write_json(self.import_dir(import_id) / "progress.json", progress)

    def stage_chunk(self, import_id: str, feeder: str, month: str, seq: int, table: pa.Table) -> Path:
        path = (
            self._part_dir(self.import_dir(import_id) / "staging", feeder, month) / f"chunk-{seq:06d}.parquet"
        )
        dict_ids = pa.types.is_dictionary(table.schema.field("meter_id").type)
        _write_parquet(table.cast(STAGE_DICT_SCHEMA if dict_ids else STAGE_SCHEMA), path, final=False)
        return path

    def staged_chunks(self, import_id: str, feeder: str, month: str) -> list[Path]:
        folder = self._part_dir(self.import_dir(import_id) / "staging", feeder, month)
        return sorted(folder.glob("chunk-*.parquet")) if folder.is_dir() else []

    def drop_chunks_from(self, import_id: str, seq: int) -> None:
        """Remove staged chunks numbered ``seq`` or later (left by a run that crashed mid-chunk)."""
        for feeder, month in self.staged_partitions(import_id):
            for path in self.staged_chunks(import_id, feeder, month):
                if int(path.stem.removeprefix("chunk-")) >= seq:
                    path.unlink()

    def staged_partitions(self, import_id: str) -> list[tuple[str, str]]:
        return _parts(self.import_dir(import_id) / "staging")

    def read_staged(self, import_id: str, feeder: str, month: str, *, dictionary: bool = False) -> pa.Table:
        """The staged chunks of a partition in order; ``dictionary``: meter ids as dictionary arrays (one
        dictionary per chunk, possibly holding ids of other partitions), else strings."""
        paths = self.staged_chunks(import_id, feeder, month)
        schema = STAGE_DICT_SCHEMA if dictionary else STAGE_SCHEMA
        if not paths:
            return schema.empty_table()
        if not dictionary:
            return pa.concat_tables([pq.read_table(p, schema=STAGE_SCHEMA) for p in paths])
        return pa.concat_tables(list(self.iter_staged(import_id, feeder, month)))

    def iter_staged(self, import_id: str, feeder: str, month: str) -> Iterator[pa.Table]:
        """The staged chunks of a partition in order, one table at a time (``STAGE_DICT_SCHEMA``)."""
        for path in self.staged_chunks(import_id, feeder, month):
            yield pq.read_table(path, read_dictionary=_DICT_COLUMNS).cast(STAGE_DICT_SCHEMA)

    def stage_final(self, import_id: str, feeder: str, month: str, table: pa.Table) -> None:
        path = self._part_dir(self.import_dir(import_id) / "final", feeder, month) / _READS
        _write_parquet(table.cast(AMI_READ_SCHEMA), path, final=True)

    def stage_final_blocks(
        self, import_id: str, feeder: str, month: str, produce: Callable[[Callable[[pa.Table], None]], T]
    ) -> T:
        """``stage_final`` written as it is produced: ``produce(write)`` hands the partition's tables in
        order to ``write`` (a row group each, never the whole partition in memory); its result is returned."""
        path = self._part_dir(self.import_dir(import_id) / "final", feeder, month) / _READS
        out: list[T] = []

        def write_file(tmp: Path) -> None:
            with pq.ParquetWriter(
                tmp, AMI_READ_SCHEMA, compression="zstd", compression_level=3, use_dictionary=_DICT_COLUMNS
            ) as writer:

                def write(table: pa.Table) -> None:
                    if table.num_rows:
                        writer.write_table(table.cast(AMI_READ_SCHEMA), row_group_size=1 << 20)

                out.append(produce(write))

        atomic_write(path, write_file)
        return out[0]

    def read_final(self, import_id: str, feeder: str, month: str) -> pa.Table:
        path = self._part_dir(self.import_dir(import_id) / "final", feeder, month) / _READS
        return pq.read_table(path, schema=AMI_READ_SCHEMA)

    def stage_results(self, import_id: str, quality: pa.Table, report: dict[str, Any]) -> None:
        folder = self.import_dir(import_id)
        atomic_write(folder / "quality.parquet", lambda tmp: pq.write_table(quality, tmp, compression="zstd"))
        _write_json(folder / "report.json", report)

    def committed_report(self, import_id: str) -> dict[str, Any] | None:
        """The report JSON of a committed import (None when there is none)."""
        path = self.quality_path(import_id).with_suffix(".json")
        if not path.is_file():
            return None
        value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return value

    # -- commit ------------------------------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across processes: finalize + commit of one import at a time (merges read stored data)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def is_committing(self, import_id: str) -> bool:
        return (self.import_dir(import_id) / _JOURNAL).is_file()

    def commit(self, import_id: str) -> list[tuple[str, str]]:
        """Make every final partition (and the quality table) of the import visible; the partitions."""
        folder = self.import_dir(import_id)
        parts = _parts(folder / "final")
        _write_json(folder / _JOURNAL, {"import_id": import_id, "partitions": [list(p) for p in parts]})
        self._roll_forward(import_id)
        return parts

    def _roll_forward(self, import_id: str) -> None:
        folder = self.import_dir(import_id)
        journal = json.loads((folder / _JOURNAL).read_text(encoding="utf-8"))
        for feeder, month in journal["partitions"]:
            src = self._part_dir(folder / "final", feeder, month) / _READS
            if src.is_file():  # already moved when a previous roll-forward got this far
                dst = self._part_dir(self.root, feeder, month) / _READS
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
        (self.root / "_quality").mkdir(parents=True, exist_ok=True)
        quality = folder / "quality.parquet"
        if quality.is_file():
            os.replace(quality, self.quality_path(import_id))
        report = folder / "report.json"
        if report.is_file():
            os.replace(report, self.quality_path(import_id).with_suffix(".json"))
        self.abort(import_id)

    def recover(self) -> list[str]:
        """Roll forward every import whose commit was interrupted; their ids."""
        base = self.root / "_imports"
        done: list[str] = []
        if base.is_dir():
            for folder in sorted(base.iterdir()):
                if (folder / _JOURNAL).is_file():
                    self._roll_forward(folder.name)
                    done.append(folder.name)
        return done

    def abort(self, import_id: str) -> None:
        """Remove an import's staging area (committed data is untouched)."""
        folder = self.import_dir(import_id)
        if folder.is_dir():
            trash = folder.parent / f".aborted-{uuid.uuid4().hex}"
            os.replace(folder, trash)
            shutil.rmtree(trash, ignore_errors=True)
        with contextlib.suppress(OSError):  # no empty _imports left: the store looks as before
            folder.parent.rmdir()

    def imports(self) -> list[str]:
        """Ids of imports with a staging area (running, crashed or waiting to be resumed)."""
        base = self.root / "_imports"
        return (
            sorted(p.name for p in base.iterdir() if p.is_dir() and _ID.fullmatch(p.name))
            if base.is_dir()
            else []
        )

    # -- quality -----------------------------------------------------------------------------------

    def quality_path(self, import_id: str) -> Path:
        _check("import id", import_id, _ID)
        return self.root / "_quality" / f"import={import_id}.parquet"

    def write_quality(self, import_id: str, table: pa.Table) -> None:
        atomic_write(self.quality_path(import_id), lambda tmp: pq.write_table(table, tmp, compression="zstd"))

    def read_quality(self, import_id: str) -> pa.Table:
        path = self.quality_path(import_id)
        if not path.is_file():
            raise NotFoundError(
                "AMI quality table not found", [ErrorDetail(where=import_id, message=f"no {path}")]
            )
        return pq.read_table(path)
