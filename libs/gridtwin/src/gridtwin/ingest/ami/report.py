"""What an AMI import did: counts, located issue lines (capped), the per-meter quality table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridtwin.errors import ErrorDetail

__all__ = ["BAD_ROW_CODES", "QUALITY_COLUMNS", "AmiReport", "Issues", "grade"]

QUALITY_COLUMNS: tuple[str, ...] = (
    "meter_id", "feeder", "reads", "expected", "missing", "filled_linear", "filled_profile", "duplicates",
    "conflicting_duplicates", "spikes", "absurd", "negatives", "flatline_reads", "dst_resolved", "dst_fault",
    "tz_shift_h", "first_utc", "last_utc", "interval_min", "grade",
)  # fmt: skip

# Issue codes that count against ``max_bad_rows`` (rows that could not be read at all).
BAD_ROW_CODES = frozenset({"bad_row", "bad_timestamp", "bad_number", "no_meter"})
# Share of good reads (of the expected) for grades A, B, C; below: F.
GRADE_SHARES = ((0.99, "A"), (0.95, "B"), (0.80, "C"))


def grade(good: npt.NDArray[np.float64], expected: npt.NDArray[np.float64]) -> list[str]:
    share = np.divide(good, expected, out=np.zeros_like(good), where=expected > 0)
    out = np.full(share.shape, "F", dtype=object)
    for limit, letter in reversed(GRADE_SHARES):
        out[share >= limit] = letter
    return [str(x) for x in out]


class Issues:
    """Report lines: the first ``max_lines`` are kept, every one is counted by code."""

    def __init__(self, max_lines: int) -> None:
        self.max_lines = max_lines
        self.lines: list[ErrorDetail] = []
        self.counts: dict[str, int] = {}

    def add(self, where: str, message: str, code: str) -> None:
        self.counts[code] = self.counts.get(code, 0) + 1
        if len(self.lines) < self.max_lines:
            self.lines.append(ErrorDetail(where=where, message=message, code=code))

    def add_rows(
        self, file: str, rows: npt.NDArray[np.int64], message: Callable[[int], str], code: str
    ) -> None:
        """One line per row (``message(i)`` for the i-th row), built only for the lines still listed."""
        n = len(rows)
        if n == 0:
            return
        self.counts[code] = self.counts.get(code, 0) + n
        room = max(0, self.max_lines - len(self.lines))
        for i in range(min(room, n)):
            self.lines.append(ErrorDetail(where=f"{file}:{int(rows[i])}", message=message(i), code=code))

    def bad_rows(self) -> int:
        return sum(v for k, v in self.counts.items() if k in BAD_ROW_CODES)

    def total(self) -> int:
        return sum(self.counts.values())

    def state(self) -> dict[str, Any]:
        return {"lines": [d.to_dict() for d in self.lines], "counts": dict(self.counts)}

    @classmethod
    def from_state(cls, max_lines: int, state: dict[str, Any]) -> Issues:
        out = cls(max_lines)
        out.lines = [ErrorDetail(**d) for d in state.get("lines", [])]
        out.counts = {str(k): int(v) for k, v in state.get("counts", {}).items()}
        return out


@dataclass
class AmiReport:
    import_id: str
    sources: list[str]
    counts: dict[str, int]
    feeders: list[str]
    months: list[str]
    period_utc: tuple[str, str] | None
    issues: list[ErrorDetail]
    quality_summary: dict[str, Any]
    quality: pd.DataFrame = field(
        repr=False, default_factory=lambda: pd.DataFrame(columns=list(QUALITY_COLUMNS))
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "sources": list(self.sources),
            "counts": {k: int(v) for k, v in self.counts.items()},
            "feeders": list(self.feeders),
            "months": list(self.months),
            "period_utc": list(self.period_utc) if self.period_utc else None,
            "issues": [d.to_dict() for d in self.issues],
            "quality_summary": self.quality_summary,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any], quality: pd.DataFrame) -> AmiReport:
        period = value.get("period_utc")
        return cls(
            import_id=value["import_id"],
            sources=list(value["sources"]),
            counts={str(k): int(v) for k, v in value["counts"].items()},
            feeders=list(value["feeders"]),
            months=list(value["months"]),
            period_utc=(period[0], period[1]) if period else None,
            issues=[ErrorDetail(**d) for d in value["issues"]],
            quality_summary=dict(value["quality_summary"]),
            quality=quality,
        )


def quality_summary(quality: pd.DataFrame) -> dict[str, Any]:
    """JSON-safe roll-up of the per-meter table."""
    grades = quality["grade"].value_counts().to_dict() if len(quality) else {}
    expected = float(quality["expected"].sum()) if len(quality) else 0.0
    missing = float(quality["missing"].sum()) if len(quality) else 0.0
    return {
        "meters": len(quality),
        "grades": {g: int(grades.get(g, 0)) for g in ("A", "B", "C", "F")},
        "completeness": round(1.0 - missing / expected, 6) if expected else None,
        "tz_suspect_meters": int((quality["tz_shift_h"] != 0).sum()) if len(quality) else 0,
        "dst_fault_meters": int(quality["dst_fault"].sum()) if len(quality) else 0,
        "worst_meters": quality.sort_values(["grade", "missing"], ascending=[False, False])["meter_id"]
        .head(20)
        .astype(str)
        .tolist()
        if len(quality)
        else [],
    }
