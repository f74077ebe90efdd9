"""Array helpers of the AMI quality checks: segment operations on flat arrays sorted by meter, then time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as _pc

# The pyarrow.compute stubs overload on exact array types; the kernels take any array here.
pc: Any = _pc

__all__ = [
    "codes_in", "dict_chunks", "medians", "month_bounds", "np_col", "nullable", "order_rows", "pick", "ramp",
    "runs", "scatter", "segment_first", "std_offset_s", "step_of_meter", "transitions",
]  # fmt: skip

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


def month_bounds(month: str) -> tuple[int, int]:
    """[start, end) of a "YYYY-MM" month in UTC epoch seconds."""
    y, m = int(month[:4]), int(month[5:7])
    start = datetime(y, m, 1, tzinfo=UTC)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()), int(end.timestamp())


def runs(mask: B, breaks: B) -> tuple[I64, I64]:
    """Starts and lengths of runs of True in ``mask``; a run also ends before each True of ``breaks``
    (the first row of a meter)."""
    if not mask.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    prev = np.concatenate(([False], mask[:-1])) & ~breaks
    nxt = np.concatenate((mask[1:] & ~breaks[1:], [False]))
    starts = np.flatnonzero(mask & ~prev)
    ends = np.flatnonzero(mask & ~nxt)
    return starts.astype(np.int64), (ends - starts + 1).astype(np.int64)


def segment_first(keys: I64) -> B:
    """True where a sorted key differs from the one before."""
    out = np.ones(len(keys), bool)
    out[1:] = keys[1:] != keys[:-1]
    return out


def transitions(zone: str | None, lo: int, hi: int) -> list[tuple[int, int, bool]]:
    """DST changes in [lo, hi): (local wall-clock start of the skipped/repeated hour as if it were UTC,
    its length in seconds, True for spring forward)."""
    if zone is None:
        return []
    tz = ZoneInfo(zone)
    out: list[tuple[int, int, bool]] = []
    t = datetime.fromtimestamp(lo, UTC)
    end = datetime.fromtimestamp(hi, UTC)
    prev = t.astimezone(tz).utcoffset() or timedelta(0)
    while t < end:
        nxt = t + timedelta(hours=1)
        off = nxt.astimezone(tz).utcoffset() or timedelta(0)
        if off != prev:
            wall = nxt + (prev if off > prev else off)  # wall time at which the hour is skipped / repeated
            out.append(
                (
                    int(wall.replace(tzinfo=UTC).timestamp()),
                    int(abs((off - prev).total_seconds())),
                    off > prev,
                )
            )
        prev, t = off, nxt
    return out


def std_offset_s(zone: str) -> int:
    tz = ZoneInfo(zone)
    jan = datetime(2025, 1, 15, tzinfo=UTC).astimezone(tz).utcoffset() or timedelta(0)
    jul = datetime(2025, 7, 15, tzinfo=UTC).astimezone(tz).utcoffset() or timedelta(0)
    return int(min(jan, jul).total_seconds())


def codes_in(meters: pa.Array[Any], uniq: pa.Array[Any]) -> I64:
    found = pc.fill_null(pc.index_in(meters, value_set=uniq), -1)  # -1: not in uniq (never gathered)
    return np.asarray(found.to_numpy(zero_copy_only=False), np.int64)


def dict_chunks(col: pa.ChunkedArray[Any]) -> list[tuple[I64, pa.Array[Any]]]:
    """(indices, dictionary) per chunk of a meter id column (strings are dictionary-encoded here)."""
    out: list[tuple[I64, pa.Array[Any]]] = []
    for chunk in col.chunks:
        if len(chunk) == 0:
            continue
        enc: Any = chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk)
        idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)
        out.append((idx, enc.dictionary.cast(pa.string())))
    return out


def order_rows(code: I64, ts: I64, src: I64, srow: I64) -> I64 | None:
    """Row order by (meter, time, source, row); None when the rows already are in it (the usual case)."""
    if len(code) < 2:
        return None
    key = code * (1 << 40) + ts
    pos = src * (1 << 40) + srow
    if bool((pos[1:] > pos[:-1]).all()):  # staged in source order: a stable sort by (meter, time) will do
        if bool((key[1:] >= key[:-1]).all()):
            return None
        return np.asarray(np.argsort(key, kind="stable"), np.int64)
    return np.asarray(np.lexsort((srow, src, ts, code)), np.int64)


def np_col(col: pa.ChunkedArray[Any] | pa.Array[Any], dtype: type) -> npt.NDArray[np.generic]:
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.int64())
    return np.asarray(
        col.to_numpy(zero_copy_only=False) if isinstance(col, pa.Array) else col.to_numpy(), dtype
    )


def nullable(values: F64 | None, n: int = 0) -> pa.Array[Any]:
    if values is None:
        return pa.nulls(n, pa.float64())
    return pa.array(values, type=pa.float64(), from_pandas=True)


def scatter(total: int, idx: I64, values: npt.NDArray[Any]) -> F64 | None:
    """``values`` on a NaN grid of ``total`` slots; None when every value is NaN (an absent column)."""
    if np.isnan(values).all():
        return None
    out = np.full(total, np.nan)
    out[idx] = values
    return out


def medians(meter: I64, values: F64, nm: int) -> F64:
    """Median of each meter's values (NaN without any); ``meter`` is non-decreasing (grid order)."""
    median = np.full(nm, np.nan)
    if len(values) == 0:
        return median
    cnt = np.bincount(meter, minlength=nm)
    start = np.concatenate(([0], np.cumsum(cnt)[:-1]))
    with_values = np.flatnonzero(cnt)
    c = cnt[with_values]
    width = int(c.max())
    if len(with_values) * width <= 4 * len(values) + 1024:
        # One row per meter, padded with +inf: a row-wise sort beats a lexsort of (meter, value).
        row_of = np.zeros(nm, np.int64)
        row_of[with_values] = np.arange(len(with_values))
        mat = np.full((len(with_values), width), np.inf)
        mat[row_of[meter], np.arange(len(meter)) - start[meter]] = values
        mat.sort(axis=1)
        r = np.arange(len(with_values))
        median[with_values] = (mat[r, (c - 1) // 2] + mat[r, c // 2]) / 2
        return median
    o = np.lexsort((values, meter))  # very uneven counts: padding would cost more than it saves
    sv = values[o]
    lo_i = start[with_values] + (c - 1) // 2
    hi_i = start[with_values] + c // 2
    median[with_values] = (sv[lo_i] + sv[hi_i]) / 2
    return median


def pick(idx: npt.NDArray[Any], *arrays: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
    """The same rows (an index or a mask) of several aligned arrays."""
    return [a[idx] for a in arrays]


def ramp(lengths: I64) -> I64:
    """0..len-1 for each run, concatenated."""
    total = int(lengths.sum())
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    out: I64 = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
    return out


def step_of_meter(code: I64, step: I64, nm: int) -> I64:
    """Each meter's interval (seconds): the one most of its rows carry (3600 for a meter without rows)."""
    kinds = np.array([300, 900, 1800, 3600], np.int64)
    kind = np.searchsorted(kinds, step).clip(0, 3)
    counts = np.bincount(code * 4 + kind, minlength=nm * 4).reshape(nm, 4)
    return np.asarray(np.where(counts.sum(axis=1) > 0, kinds[np.argmax(counts, axis=1)], 3600), np.int64)
