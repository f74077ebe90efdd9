"""Hosting-capacity results in SQL (per bus, and stochastic summaries) and Parquet (per sample).

Per-bus results keep only the latest run per (feeder, der, inverter), replaced in one transaction,
with the feeder version they were computed on, so a connection check can tell when they are stale.

Sites: per-bus results belong to their feeder's site, read from the registry's ``feeders`` row in the
same database; given a ``principal``, another site's results (or those of a feeder the database does
not know) do not exist for it. Stochastic results belong to their job (checked on the job).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from gridtwin.access.principal import Principal
from gridtwin.errors import ErrorDetail, InputError, NotFoundError
from gridtwin.store.db import writer
from gridtwin.store.results import atomic_write, parquet_writer
from gridtwin.store.tables import feeders, hosting_bus_results, hosting_stochastic_results

__all__ = ["BUS_RESULT_COLUMNS", "DEFAULT_ORDER_BY", "HostingStore"]

BUS_RESULT_COLUMNS = (
    "bus", "phases", "kv_base", "x", "y", "capacity_kw", "limiting_criterion", "limiting_element",
    "limiting_snapshot", "base_ok", "verified", "error_pct", "method", "version", "computed_at",
)  # fmt: skip
PAGE_MAX = 10_000
# The order of stored per-bus results unless asked otherwise, REST pages and CSV files alike: most
# constrained first (smallest capacity), ties by bus.
DEFAULT_ORDER_BY = "capacity_kw"


def _clean(value: Any) -> Any:
    """NaN/None -> None; numpy scalars -> Python (SQL drivers want plain values)."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class HostingStore:
    def __init__(self, engine: sa.Engine, root: Path) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self.root = Path(root)

    # --- per bus ------------------------------------------------------------------------------------

    def feeder_visible(self, feeder: str, principal: Principal | None) -> bool:
        """Whether ``principal`` sees ``feeder``'s site (True for a trusted caller or one of every site;
        False for a feeder the registry's table does not hold)."""
        if principal is None or principal.all_sites:
            return True
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(feeders.c.site).where(feeders.c.id == feeder)).first()
        return row is not None and principal.sees(row[0])

    def replace_bus_results(
        self, feeder: str, der: str, inverter: str, version: str, frame: pd.DataFrame
    ) -> int:
        """The run's rows replace the earlier ones of (feeder, der, inverter), in one transaction."""
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = []
        for rec in frame.to_dict("records"):
            rows.append(
                {
                    "feeder": feeder, "der": der, "inverter": inverter, "bus": str(rec["bus"]), "version": version,
                    "method": str(rec.get("method") or ""), "phases": _clean(rec.get("phases")),
                    "kv_base": _clean(rec.get("kv_base")), "x": _clean(rec.get("x")), "y": _clean(rec.get("y")),
                    "capacity_kw": _clean(rec.get("capacity_kw")),
                    "limiting_criterion": _clean(rec.get("limiting_criterion")) or "",
                    "limiting_element": _clean(rec.get("limiting_element")) or "",
                    "limiting_snapshot": _clean(rec.get("limiting_snapshot")) or "",
                    "base_ok": bool(rec.get("base_ok", True)),
                    "verified": None if rec.get("verified") is None else bool(rec["verified"]),
                    "error_pct": _clean(rec.get("error_pct")), "computed_at": now,
                }
            )  # fmt: skip
        t = hosting_bus_results
        with self._writer.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.feeder == feeder, t.c.der == der, t.c.inverter == inverter))
            if rows:
                conn.execute(sa.insert(t), rows)
        return len(rows)

    def bus_results(
        self,
        feeder: str,
        der: str = "pv",
        inverter: str = "none",
        *,
        order_by: str = DEFAULT_ORDER_BY,
        descending: bool = False,
        limit: int = 100,
        offset: int = 0,
        principal: Principal | None = None,
    ) -> tuple[pd.DataFrame, int]:
        """A page of stored per-bus rows (``BUS_RESULT_COLUMNS``) and how many there are in all."""
        if order_by not in BUS_RESULT_COLUMNS:
            raise InputError(
                "bad order_by",
                [ErrorDetail(where="order_by", message=f"one of {', '.join(BUS_RESULT_COLUMNS)}")],
            )
        if not 1 <= limit <= PAGE_MAX or offset < 0:
            raise InputError(
                "bad page", [ErrorDetail(where="limit", message=f"limit 1..{PAGE_MAX}, offset >= 0")]
            )
        t = hosting_bus_results
        where = (t.c.feeder == feeder, t.c.der == der, t.c.inverter == inverter)
        col = t.c[order_by]
        order = [col.desc() if descending else col.asc(), t.c.bus]
        stmt = (
            sa.select(*(t.c[c] for c in BUS_RESULT_COLUMNS))
            .where(*where)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        )
        visible = self.feeder_visible(feeder, principal)
        with self._engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar_one())
            rows = conn.execute(stmt).all() if visible else []
        if total == 0 or not visible:
            raise NotFoundError(
                "no hosting-capacity results",
                [ErrorDetail(where=f"{feeder}/{der}/{inverter}", message="run the per-bus study first")],
            )
        frame = pd.DataFrame([dict(r._mapping) for r in rows], columns=list(BUS_RESULT_COLUMNS))
        frame["computed_at"] = frame["computed_at"].map(
            lambda v: v.replace(tzinfo=UTC).isoformat() if v else None
        )
        return frame, total

    def bus_version(self, feeder: str, der: str = "pv", inverter: str = "none") -> str | None:
        t = hosting_bus_results
        stmt = (
            sa.select(t.c.version)
            .where(t.c.feeder == feeder, t.c.der == der, t.c.inverter == inverter)
            .limit(1)
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else str(row[0])

    def all_bus_results(
        self,
        feeder: str,
        der: str = "pv",
        inverter: str = "none",
        *,
        order_by: str = DEFAULT_ORDER_BY,
        descending: bool = False,
        principal: Principal | None = None,
    ) -> pd.DataFrame:
        """Every stored per-bus row, in the order of ``bus_results`` pages (by default the REST order:
        most constrained first), so a CSV lists the buses as the API pages them."""
        frames, offset, total = [], 0, 1
        while offset < total:
            page, total = self.bus_results(
                feeder, der, inverter, limit=PAGE_MAX, offset=offset, order_by=order_by,
                descending=descending, principal=principal,
            )  # fmt: skip
            frames.append(page)
            offset += PAGE_MAX
        return pd.concat(frames, ignore_index=True)

    @staticmethod
    def to_csv(frame: pd.DataFrame) -> bytes:
        buf = io.StringIO()
        frame.to_csv(buf, index=False)
        return buf.getvalue().encode()

    # --- stochastic ---------------------------------------------------------------------------------

    def feeder_dir(self, job_id: str, feeder: str) -> Path:
        return self.root / "hosting" / f"job={job_id}" / f"feeder={feeder}"

    def write_samples(self, job_id: str, feeder: str, steps: pd.DataFrame, capacities: pd.DataFrame) -> Path:
        """Per-sample tables as Parquet (files only: workers call this; SQL is the runner's)."""
        out = self.feeder_dir(job_id, feeder)
        for name, frame in (("steps", steps), ("capacities", capacities)):
            atomic_write(
                out / f"{name}.parquet", parquet_writer(pa.Table.from_pandas(frame, preserve_index=False))
            )
        return out

    def stochastic_rows_writer(
        self, job_id: str, feeder: str, summary: dict[str, Any]
    ) -> Callable[[sa.Connection], None]:
        """``summary`` is ``StochasticSummary.to_dict()`` (JSON-ready, NaN as None)."""
        row = {
            "job_id": job_id,
            "feeder": feeder,
            "placement": str(summary.get("placement", "")),
            "peak_load_kw": _clean(summary.get("peak_load_kw")),
            "samples": _clean(summary.get("samples_ok")),
            "failed_samples": _clean(summary.get("samples_failed")),
            "p5_kw": _clean(summary.get("capacity_kw_p5")),
            "mean_kw": _clean(summary.get("capacity_kw_mean")),
            "p95_kw": _clean(summary.get("capacity_kw_p95")),
            "summary": json.dumps(summary, allow_nan=False),
        }
        t = hosting_stochastic_results

        def write(conn: sa.Connection) -> None:
            conn.execute(sa.delete(t).where(t.c.job_id == job_id, t.c.feeder == feeder))
            conn.execute(sa.insert(t), [row])

        return write

    def stochastic(self, job_id: str) -> list[dict[str, Any]]:
        t = hosting_stochastic_results
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.summary).where(t.c.job_id == job_id).order_by(t.c.feeder)).all()
        return [json.loads(r[0]) for r in rows]

    # --- run manifests (the job runner's run.json for hosting jobs) ----------------------------------

    def job_dir(self, job_id: str) -> Path:
        return self.root / "hosting" / f"job={job_id}"

    def write_manifest(self, job_id: str, manifest: dict[str, Any]) -> Path:
        out = self.job_dir(job_id)
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str)

        def write(path: Path) -> None:
            path.write_text(text)

        atomic_write(out / "run.json", write)
        return out / "run.json"

    def read_manifest(self, job_id: str) -> dict[str, Any]:
        path = self.job_dir(job_id) / "run.json"
        if not path.is_file():
            raise NotFoundError("no manifest", [ErrorDetail(where=job_id, message="run.json not found")])
        data: dict[str, Any] = json.loads(path.read_text())
        return data
