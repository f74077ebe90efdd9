"""Time series (load shapes, weather) in Parquet, one file per (kind, partition).

A profile reference is ``"{kind}/{partition}/{name}"`` (each part ``[A-Za-z0-9_.-]+``). Layout:
``{root}/kind={kind}/partition={partition}/profiles.parquet`` with columns ``name``, ``interval_h``,
``start_utc`` and ``values`` (``list<float32>``). A partition is written whole and replaced
atomically (temp file in the same folder, then ``os.replace``), so readers never see half a file.

Same input -> same bytes: fixed compression, no pandas metadata, no statistics or timestamps that
vary between runs (the synthetic utility's byte-for-byte promise depends on it).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from gridtwin.errors import ErrorDetail, InputError, NotFoundError

__all__ = ["DEFAULT_START_UTC", "PROFILE_SCHEMA", "ProfileStore", "parse_ref", "profile_ref"]

DEFAULT_START_UTC = datetime(2025, 1, 1, tzinfo=UTC)
_FIELDS: list[pa.Field[Any]] = [
    pa.field("name", pa.string()),
    pa.field("interval_h", pa.float64()),
    pa.field("start_utc", pa.timestamp("us", tz="UTC")),
    pa.field("values", pa.list_(pa.float32())),
]
PROFILE_SCHEMA = pa.schema(_FIELDS)
_PART = re.compile(r"[A-Za-z0-9_.-]+")
_FILE = "profiles.parquet"


def _check_part(what: str, value: str, where: str) -> None:
    if not isinstance(value, str) or not _PART.fullmatch(value) or value in (".", ".."):
        raise InputError(
            f"bad profile {what}",
            [ErrorDetail(where=where, message=f"{what} {value!r} must match [A-Za-z0-9_.-]+")],
        )


def profile_ref(kind: str, partition: str, name: str) -> str:
    """The reference of one profile, checked."""
    ref = f"{kind}/{partition}/{name}"
    for what, value in (("kind", kind), ("partition", partition), ("name", name)):
        _check_part(what, value, ref)
    return ref


def parse_ref(ref: str) -> tuple[str, str, str]:
    """``(kind, partition, name)`` of a reference; ``InputError`` naming it when malformed."""
    parts = ref.split("/") if isinstance(ref, str) else []
    if len(parts) != 3:
        raise InputError(
            "bad profile reference",
            [ErrorDetail(where=str(ref), message="expected kind/partition/name")],
        )
    for what, value in zip(("kind", "partition", "name"), parts, strict=True):
        _check_part(what, value, ref)
    return parts[0], parts[1], parts[2]


class ProfileStore:
    """Profiles under ``root`` (usually ``settings.data_dir / "profiles"``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, kind: str, partition: str) -> Path:
        return self.root / f"kind={kind}" / f"partition={partition}"

    def write(
        self,
        kind: str,
        partition: str,
        names: Sequence[str],
        values: npt.ArrayLike,
        *,
        interval_h: float = 1.0,
        start_utc: datetime = DEFAULT_START_UTC,
    ) -> list[str]:
        """Replace the partition with these profiles (row i of ``values`` is ``names[i]``); the refs."""
        where = f"{kind}/{partition}"
        _check_part("kind", kind, where)
        _check_part("partition", partition, where)
        refs = [profile_ref(kind, partition, n) for n in names]
        data = np.asarray(values, dtype=np.float64)
        if data.ndim != 2 or data.shape[0] != len(refs):
            raise InputError(
                "profile values must be a 2-D array, one row per name",
                [ErrorDetail(where=where, message=f"got shape {data.shape} for {len(refs)} names")],
            )
        if len(set(names)) != len(names):
            raise InputError(
                "duplicate profile names", [ErrorDetail(where=where, message="names must be unique")]
            )
        bad = [refs[i] for i in np.flatnonzero(~np.isfinite(data).all(axis=1))]
        if bad:
            raise InputError(
                "profile values must be finite",
                [ErrorDetail(where=r, message="holds NaN or infinity") for r in bad],
            )
        if not (interval_h > 0 and np.isfinite(interval_h)):
            raise InputError(
                "bad profile interval", [ErrorDetail(where=where, message="interval_h must be > 0")]
            )
        if start_utc.tzinfo is None:
            raise InputError(
                "start time must be timezone-aware",
                [ErrorDetail(where=where, message="start_utc has no timezone (use UTC)")],
            )
        npts = data.shape[1]
        flat = pa.array(data.astype(np.float32).ravel(), type=pa.float32())
        offsets = pa.array(np.arange(len(refs) + 1, dtype=np.int32) * npts, type=pa.int32())
        table = pa.table(
            [
                pa.array(list(names), type=pa.string()),
                pa.array([float(interval_h)] * len(refs), type=pa.float64()),
                pa.array([start_utc.astimezone(UTC)] * len(refs), type=pa.timestamp("us", tz="UTC")),
                pa.ListArray.from_arrays(offsets, flat),
            ],
            schema=PROFILE_SCHEMA,
        )
        folder = self._dir(kind, partition)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".profiles-", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            # Fixed options so the bytes depend on the data only (no created_by drift within a version).
            pq.write_table(
                table,
                tmp,
                compression="zstd",
                compression_level=3,
                write_statistics=False,
                use_dictionary=False,
            )
            os.chmod(tmp, 0o644)  # mkstemp makes it private; profiles are shared data
            os.replace(tmp, folder / _FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return refs

    def _table(self, kind: str, partition: str) -> pa.Table:
        where = f"{kind}/{partition}"
        _check_part("kind", kind, where)
        _check_part("partition", partition, where)
        path = self._dir(kind, partition) / _FILE
        try:
            return pq.read_table(path, schema=PROFILE_SCHEMA)
        except FileNotFoundError:
            raise NotFoundError(
                "profile partition not found", [ErrorDetail(where=where, message=f"no {path}")]
            ) from None

    def read(self, kind: str, partition: str, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Name -> values (float64) of a partition, all of it or just ``names``."""
        table = self._table(kind, partition)
        all_names = [str(n) for n in table.column("name").to_pylist()]
        index = {n: i for i, n in enumerate(all_names)}
        wanted = all_names if names is None else list(names)
        missing = [n for n in wanted if n not in index]
        if missing:
            raise NotFoundError(
                "profile not found",
                [ErrorDetail(where=f"{kind}/{partition}/{n}", message="no such profile") for n in missing],
            )
        col = table.column("values").combine_chunks()
        out: dict[str, np.ndarray] = {}
        for n in wanted:
            values = col[index[n]].values
            out[n] = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        return out

    def resolve(self, refs: Iterable[str]) -> dict[str, np.ndarray]:
        """Ref -> values for every ref (each partition read once)."""
        wanted: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for ref in refs:
            kind, partition, name = parse_ref(ref)
            wanted.setdefault((kind, partition), []).append((ref, name))
        out: dict[str, np.ndarray] = {}
        missing: list[ErrorDetail] = []
        for (kind, partition), items in wanted.items():
            try:
                found = self.read(kind, partition)
            except NotFoundError:
                missing.extend(
                    ErrorDetail(where=ref, message="profile partition not found") for ref, _ in items
                )
                continue
            for ref, name in items:
                if name in found:
                    out[ref] = found[name]
                else:
                    missing.append(ErrorDetail(where=ref, message="no such profile"))
        if missing:
            raise NotFoundError("profile not found", missing)
        return out

    def delete(self, kind: str, partition: str) -> None:
        """Remove a partition (no error when it does not exist)."""
        _check_part("kind", kind, f"{kind}/{partition}")
        _check_part("partition", partition, f"{kind}/{partition}")
        shutil.rmtree(self._dir(kind, partition), ignore_errors=True)

    def partitions(self, kind: str) -> list[str]:
        """Partitions of ``kind`` holding a profile file, sorted."""
        _check_part("kind", kind, kind)
        base = self.root / f"kind={kind}"
        if not base.is_dir():
            return []
        return sorted(
            p.name.removeprefix("partition=")
            for p in base.iterdir()
            if p.name.startswith("partition=") and (p / _FILE).is_file()
        )
