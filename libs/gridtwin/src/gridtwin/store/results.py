"""QSTS results: per-feeder and per-element summaries in SQL, time series and bus tables in Parquet.

Layout (docs/CONTRACTS.md): ``{root}/qsts/job={id}/feeder={f}/{hourly,buses,elements}.parquet`` and the
run manifest ``{root}/qsts/job={id}/run.json``. Workers write the files (no SQL there); the job runner
writes the SQL rows through ``rows_writer`` inside ``JobStore.task_done`` (the checkpoint transaction).

The column sets live beside the store (``qsts_columns``): the store never imports the engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from gridtwin.errors import ErrorDetail, InputError, NotFoundError
from gridtwin.store.db import writer
from gridtwin.store.qsts_columns import BUS_COLUMNS, ELEMENT_COLUMNS, HOURLY_COLUMNS
from gridtwin.store.tables import jobs, qsts_element_results, qsts_feeder_results


class FeederFiles(Protocol):
    """What ``write_feeder_files`` needs of a QSTS result (``gridtwin.powerflow.qsts_results.QstsResult``)."""

    feeder: str
    hourly: pd.DataFrame
    buses: pd.DataFrame
    elements: pd.DataFrame


__all__ = [
    "PAGE_LIMIT_MAX",
    "PERIOD_KEYS",
    "QstsResultStore",
    "atomic_write",
    "check_comparable",
    "describe_period",
    "parquet_writer",
]

PAGE_LIMIT_MAX = 10_000
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # job and feeder ids: safe as path parts
PARQUET_COMPRESSION: Final = "zstd"

# Per level of compare(): table, key columns, headline metric (default order: largest |delta|).
_LEVELS: dict[str, tuple[sa.Table, tuple[str, ...], str]] = {
    "feeders": (qsts_feeder_results, ("feeder",), "bus_hours_outside_a"),
    "elements": (qsts_element_results, ("feeder", "element"), "max_loading_pct"),
}


# What makes two QSTS runs comparable: the same hours of the same year, at the same step. Energy, hours
# over a limit and losses are sums over the period: a 168-hour job against an 8760-hour base would
# "lose" most of the year's energy.
PERIOD_KEYS = ("hours", "start_hour", "step_minutes")
_PERIOD_DEFAULTS = {"hours": 8760, "start_hour": 0, "step_minutes": 60}


def _period(params: Mapping[str, Any] | None) -> dict[str, int] | None:
    """The QSTS period of a job's params (``params["spec"]``); None when the job has no QSTS spec."""
    spec = (params or {}).get("spec")
    if not isinstance(spec, Mapping):
        return None
    period = {}
    for key in PERIOD_KEYS:
        value = spec.get(key, _PERIOD_DEFAULTS[key])
        try:
            period[key] = int(value)
        except (TypeError, ValueError):
            raise InputError(
                "bad job spec", [ErrorDetail(where=f"spec.{key}", message=f"not a number: {value!r}")]
            ) from None
    return period


def describe_period(period: Mapping[str, int]) -> str:
    """``168 h from hour 0 in 60-min steps``."""
    return f"{period['hours']} h from hour {period['start_hour']} in {period['step_minutes']}-min steps"


def check_comparable(
    base_params: Mapping[str, Any] | None,
    job_params: Mapping[str, Any] | None,
    *,
    base_job: str = "base job",
    job: str = "job",
) -> None:
    """``InputError`` unless the two jobs ran over the same period at the same step (``hours``,
    ``start_hour``, ``step_minutes`` of their params' ``spec``); the message names both periods.

    Jobs without a QSTS spec (old rows, other kinds) are not judged here.
    """
    base, mine = _period(base_params), _period(job_params)
    if base is None or mine is None or base == mine:
        return
    differ = [k for k in PERIOD_KEYS if base[k] != mine[k]]
    # No ": " in the message: the gateway keeps the text before it as the REST message.
    raise InputError(
        f"jobs {job} and {base_job} ran over different periods and cannot be compared "
        f"({job} ran {describe_period(mine)}, {base_job} ran {describe_period(base)})",
        [
            ErrorDetail(
                where=f"{job}.spec.{k}",
                message=f"{mine[k]} here, {base[k]} in the base job {base_job}",
                code="not_comparable",
            )
            for k in differ
        ],
    )


def _kind(column: sa.ColumnElement[Any]) -> str:
    """int | float | str: how a column's values are converted on the way in and out."""
    if isinstance(column.type, sa.Integer):
        return "int"
    if isinstance(column.type, sa.Float):  # Double is a Float
        return "float"
    return "str"


def _result_columns(table: sa.Table) -> list[tuple[str, str]]:
    return [(c.name, _kind(c)) for c in table.columns if c.name != "job_id"]


def _check_id(value: str, field: str) -> None:
    if not ID_RE.fullmatch(value):
        raise InputError(
            f"bad {field} {value!r}", [ErrorDetail(where=field, message="must match [A-Za-z0-9_-]{1,64}")]
        )


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= PAGE_LIMIT_MAX:
        raise InputError("bad limit", [ErrorDetail(where="limit", message=f"must be 1..{PAGE_LIMIT_MAX}")])
    if offset < 0:
        raise InputError("bad offset", [ErrorDetail(where="offset", message="must be >= 0")])


def _check_order(order_by: str, allowed: Sequence[str]) -> None:
    if order_by not in allowed:
        raise InputError(
            f"cannot order by {order_by!r}",
            [ErrorDetail(where="order_by", message=f"must be one of {', '.join(allowed)}")],
        )


def _sql_values(values: Any, kind: str) -> list[Any]:
    """A column's values as plain Python for the driver: NaN/inf/NA -> None (MySQL stores neither)."""
    series = pd.Series(values, dtype=object if kind == "str" else None)
    if kind == "str":
        return [None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in series]
    arr = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(arr)
    if kind == "int":
        return [int(x) if ok else None for x, ok in zip(arr.tolist(), finite.tolist(), strict=True)]
    out = arr.astype(object)  # Python floats
    out[~finite] = None
    return list(out.tolist())


def _frame(rows: Sequence[Sequence[Any]], columns: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """SQL rows as a DataFrame: float64 (NULL -> NaN), nullable Int64, object strings (NULL -> None)."""
    names = [name for name, _ in columns]
    frame = pd.DataFrame([tuple(r) for r in rows], columns=names)
    for name, kind in columns:
        if kind == "float":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif kind == "int":
            frame[name] = pd.array(frame[name].tolist(), dtype="Int64")
        else:
            frame[name] = frame[name].astype(object)
    return frame


def _order(
    column: sa.ColumnElement[Any], descending: bool, ties: Sequence[sa.ColumnElement[Any]]
) -> list[sa.ColumnElement[Any]]:
    """ORDER BY with NULLs last on SQLite and MySQL (both sort NULL lowest), ties by ``ties``.

    Ties go in the same direction as the sort: on InnoDB a secondary index (job_id, metric) ends with
    the primary key (job_id, feeder[, element]), so a descending page is one backward index range scan
    that stops at the limit instead of a sort over every element of the job.
    """
    if descending:
        return [column.desc(), *(t.desc() for t in ties)]
    return [sa.case((column.is_(None), 1), else_=0), column.asc(), *(t.asc() for t in ties)]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the same directory, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def parquet_writer(table: pa.Table) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        pq.write_table(table, path, compression=PARQUET_COMPRESSION)

    return write


def _arrow_table(frame: pd.DataFrame, columns: Sequence[str], where: str) -> pa.Table:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{where} lacks result columns",
            [ErrorDetail(where=where, message=f"missing {', '.join(missing)}")],
        )
    table = pa.Table.from_pandas(frame.loc[:, list(columns)], preserve_index=False)
    # Timestamps as microseconds UTC (the contract's type), whatever unit pandas held them in.
    fields = [
        pa.field(f.name, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields), safe=False).replace_schema_metadata(None)


class QstsResultStore:
    """Results of QSTS jobs: SQL summaries through ``engine``, Parquet files under ``root``."""

    def __init__(self, engine: sa.Engine, root: Path) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self.root = Path(root)

    # --- files -------------------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        _check_id(job_id, "job_id")
        return self.root / "qsts" / f"job={job_id}"

    def feeder_dir(self, job_id: str, feeder: str) -> Path:
        _check_id(feeder, "feeder")
        return self.job_dir(job_id) / f"feeder={feeder}"

    def write_feeder_files(self, job_id: str, result: FeederFiles) -> Path:
        """hourly/buses/elements.parquet of one feeder (each atomically); filesystem only, for workers."""
        folder = self.feeder_dir(job_id, result.feeder)
        parts = {
            "hourly": (result.hourly, HOURLY_COLUMNS),
            "buses": (result.buses, BUS_COLUMNS),
            "elements": (result.elements, ELEMENT_COLUMNS),
        }
        tables = {
            name: _arrow_table(frame, cols, f"{result.feeder}.{name}")
            for name, (frame, cols) in parts.items()
        }
        for name, table in tables.items():
            atomic_write(folder / f"{name}.parquet", parquet_writer(table))
        return folder

    def write_manifest(self, job_id: str, manifest: dict[str, Any]) -> Path:
        path = self.job_dir(job_id) / "run.json"
        text = json.dumps(manifest, indent=2, sort_keys=True, default=_json_default, allow_nan=False)

        def write(tmp: Path) -> None:
            tmp.write_text(text + "\n", encoding="utf-8")

        atomic_write(path, write)
        return path

    def read_manifest(self, job_id: str) -> dict[str, Any]:
        path = self.job_dir(job_id) / "run.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(
                f"no manifest for job {job_id}", [ErrorDetail(where=job_id, message=f"{path} not found")]
            ) from None
        return data

    def hourly(self, job_id: str, feeder: str) -> pd.DataFrame:
        return self._read_parquet(job_id, feeder, "hourly")

    def buses(
        self,
        job_id: str,
        feeder: str,
        *,
        order_by: str = "hours_outside_a",
        descending: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[pd.DataFrame, int]:
        _check_order(order_by, BUS_COLUMNS)
        _check_page(limit, offset)
        frame = self._read_parquet(job_id, feeder, "buses")
        keys = [order_by] if order_by == "bus" else [order_by, "bus"]
        ordered = frame.sort_values(keys, ascending=not descending, na_position="last", kind="stable")
        return ordered.iloc[offset : offset + limit].reset_index(drop=True), len(frame)

    def _read_parquet(self, job_id: str, feeder: str, name: str) -> pd.DataFrame:
        path = self.feeder_dir(job_id, feeder) / f"{name}.parquet"
        if not path.is_file():
            raise NotFoundError(
                f"no {name} results for feeder {feeder} of job {job_id}",
                [ErrorDetail(where=f"{job_id}/{feeder}", message=f"{path.name} not found")],
            )
        return pq.read_table(path).to_pandas()

    # --- SQL rows ----------------------------------------------------------------------------------

    def rows_writer(
        self, job_id: str, summary: dict[str, Any], elements: pd.DataFrame
    ) -> Callable[[sa.Connection], None]:
        """A function that, in the caller's transaction, replaces this (job, feeder)'s SQL rows with the
        summary row and the element rows. Rows are converted here, before the transaction starts."""
        _check_id(job_id, "job_id")
        feeder = str(summary.get("feeder") or "")
        _check_id(feeder, "feeder")
        summary_row = {"job_id": job_id}
        for name, kind in _result_columns(qsts_feeder_results):
            summary_row[name] = _sql_values([summary.get(name)], kind)[0]
        element_columns = _result_columns(qsts_element_results)
        if "element" not in elements.columns:
            raise InputError(
                "elements lack names", [ErrorDetail(where=f"{feeder}.elements", message="no element column")]
            )
        dupes = elements["element"][elements["element"].duplicated()].unique().tolist()
        if dupes:
            raise InputError(
                "duplicate element names",
                [
                    ErrorDetail(where=f"{feeder}.elements", message=f"duplicate element {e!r}")
                    for e in dupes[:20]
                ],
            )
        n = len(elements)
        values: dict[str, list[Any]] = {"job_id": [job_id] * n}
        for name, kind in element_columns:
            if name == "feeder":
                values[name] = [feeder] * n
            elif name in elements.columns:
                values[name] = _sql_values(elements[name].to_numpy(), kind)
            else:
                values[name] = [None] * n
        names = list(values)
        element_rows = [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]

        def write(conn: sa.Connection) -> None:
            for table in (qsts_element_results, qsts_feeder_results):
                conn.execute(sa.delete(table).where(table.c.job_id == job_id, table.c.feeder == feeder))
            conn.execute(sa.insert(qsts_feeder_results), [summary_row])
            if element_rows:
                conn.execute(sa.insert(qsts_element_results), element_rows)  # executemany

        return write

    def feeders(
        self,
        job_id: str,
        *,
        order_by: str = "bus_hours_outside_a",
        descending: bool = True,
        limit: int = 100,
        offset: int = 0,
        feeder: str | None = None,
    ) -> tuple[pd.DataFrame, int]:
        """A page of feeder summaries (FEEDER_SUMMARY_COLUMNS) and the number of rows in all."""
        t = qsts_feeder_results
        filters = {} if feeder is None else {"feeder": feeder}
        return self._page(job_id, t, order_by, descending, limit, offset, filters, ("feeder",))

    def elements(
        self,
        job_id: str,
        *,
        feeder: str | None = None,
        kind: str | None = None,
        order_by: str = "max_loading_pct",
        descending: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[pd.DataFrame, int]:
        """A page of element rows (feeder + ELEMENT_COLUMNS) and the number of rows in all."""
        filters = {k: v for k, v in (("feeder", feeder), ("kind", kind)) if v is not None}
        t = qsts_element_results
        return self._page(job_id, t, order_by, descending, limit, offset, filters, ("feeder", "element"))

    def _page(
        self,
        job_id: str,
        table: sa.Table,
        order_by: str,
        descending: bool,
        limit: int,
        offset: int,
        filters: Mapping[str, str],
        keys: Sequence[str],
    ) -> tuple[pd.DataFrame, int]:
        columns = _result_columns(table)
        _check_order(order_by, [name for name, _ in columns])
        _check_page(limit, offset)
        where = [table.c.job_id == job_id, *(table.c[k] == v for k, v in filters.items())]
        ties = [table.c[k] for k in keys if k != order_by]
        stmt = (
            sa.select(*(table.c[name] for name, _ in columns))
            .where(*where)
            .order_by(*_order(table.c[order_by], descending, ties))
            .limit(limit)
            .offset(offset)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
            total = int(
                conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
            )
            if total == 0:
                self._require_job(conn, job_id)
        return _frame(rows, columns), total

    def job_params(self, job_id: str) -> dict[str, Any] | None:
        """The job's stored params (None when there is no such job row)."""
        with self._engine.connect() as conn:
            raw = conn.execute(sa.select(jobs.c.params_json).where(jobs.c.id == job_id)).scalar_one_or_none()
        if raw is None:
            return None
        params = json.loads(raw)
        return params if isinstance(params, dict) else None

    def check_comparable(self, job_id: str, base_job_id: str) -> None:
        """``check_comparable`` on the two jobs' stored params: an ``InputError`` naming both periods
        when they differ. A job without a row is left to the lookups that follow (NotFoundError)."""
        check_comparable(
            self.job_params(base_job_id), self.job_params(job_id), base_job=base_job_id, job=job_id
        )

    def compare(
        self,
        job_id: str,
        base_job_id: str,
        *,
        level: str = "feeders",
        order_by: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[pd.DataFrame, int]:
        """``job_id`` against ``base_job_id``: keys, then per numeric column ``c``, ``c_base``, ``c_delta``.

        ``order_by`` (any output column) sorts descending, NULLs last; the default is the largest absolute
        delta of the level's headline metric. Ties by keys, ascending. Jobs over different periods or
        steps are refused (``check_comparable``): their sums are not comparable. A full outer join on the keys (MySQL
        has none): this job's rows left-joined to the base, UNION ALL the base rows missing here (a
        primary-key anti-join). The page is picked on keys and sort value alone, then its columns joined:
        sorting wide rows over a deduplicated UNION of keys took MariaDB 8-9 s for two jobs of 200k
        elements; this takes about 1.5 s on MariaDB and SQLite.
        """
        if level not in _LEVELS:
            raise InputError(
                f"unknown level {level!r}",
                [ErrorDetail(where="level", message="must be feeders or elements")],
            )
        _check_page(limit, offset)
        self.check_comparable(job_id, base_job_id)
        table, keys, headline = _LEVELS[level]
        numeric = [(n, k) for n, k in _result_columns(table) if n not in keys and k != "str"]
        out_columns: list[tuple[str, str]] = [(k, "str") for k in keys]
        for name, kind in numeric:
            out_columns += [(name, kind), (f"{name}_base", kind), (f"{name}_delta", kind)]
        if order_by is not None:
            _check_order(order_by, [name for name, _ in out_columns])

        Side = Callable[[str], Any]  # column name -> expression for one side of the join

        def outputs(cur: Side, base: Side, key: Side) -> dict[str, Any]:
            out: dict[str, Any] = {k: key(k) for k in keys}
            for name, _ in numeric:
                out[name] = cur(name)
                out[f"{name}_base"] = base(name)
                out[f"{name}_delta"] = cur(name) - base(name)
            return out

        def sort_value(cur: Side, base: Side, key: Side) -> Any:
            if order_by is None:
                return sa.func.abs(cur(headline) - base(headline))
            return outputs(cur, base, key)[order_by]

        def same_keys(a: sa.FromClause, b: sa.FromClause) -> list[sa.ColumnElement[bool]]:
            return [a.c[k] == b.c[k] for k in keys]

        def missing(name: str) -> Any:  # the side a base-only row lacks
            return sa.literal(None, type_=table.c[name].type)

        cur1, base1, base2, cur2 = (table.alias(n) for n in ("cur1", "base1", "base2", "cur2"))
        here = (
            sa.select(
                *(cur1.c[k] for k in keys),
                sort_value(cur1.c.get, base1.c.get, cur1.c.get).label("sort_value"),
            )
            .select_from(
                cur1.outerjoin(base1, sa.and_(base1.c.job_id == base_job_id, *same_keys(base1, cur1)))
            )
            .where(cur1.c.job_id == job_id)
        )
        # base rows with no row in this job: an anti-join on the primary key alone (index only)
        not_here = ~sa.exists().where(cur2.c.job_id == job_id, *same_keys(cur2, base2))
        base_only = sa.select(*(base2.c[k] for k in keys)).where(base2.c.job_id == base_job_id, not_here)
        base_only_sorted = base_only.add_columns(
            sort_value(missing, base2.c.get, base2.c.get).label("sort_value")
        )
        rows_all = sa.union_all(here, base_only_sorted).subquery("u")
        # NULLs sort lowest on both backends: last when descending
        order = [rows_all.c.sort_value.desc(), *(rows_all.c[k].asc() for k in keys)]
        page = sa.select(rows_all).order_by(*order).limit(limit).offset(offset).subquery("p")
        cur, base = table.alias("cur"), table.alias("base")
        stmt = (
            sa.select(
                *(expr.label(name) for name, expr in outputs(cur.c.get, base.c.get, page.c.get).items())
            )
            .select_from(
                page.outerjoin(cur, sa.and_(cur.c.job_id == job_id, *same_keys(cur, page))).outerjoin(
                    base, sa.and_(base.c.job_id == base_job_id, *same_keys(base, page))
                )
            )
            .order_by(page.c.sort_value.desc(), *(page.c[k].asc() for k in keys))
        )
        count_here = sa.select(sa.func.count()).select_from(table).where(table.c.job_id == job_id)
        count_base_only = sa.select(sa.func.count()).select_from(base_only.subquery())
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
            total = int(conn.execute(count_here).scalar_one()) + int(
                conn.execute(count_base_only).scalar_one()
            )
            if total == 0:
                self._require_job(conn, job_id)
                self._require_job(conn, base_job_id)
        return _frame(rows, out_columns), total

    def _require_job(self, conn: sa.Connection, job_id: str) -> None:
        """NotFoundError unless ``job_id`` is a job (a job without results yet is simply empty)."""
        if conn.execute(sa.select(jobs.c.id).where(jobs.c.id == job_id)).first() is None:
            raise NotFoundError(f"job {job_id} not found", [ErrorDetail(where=job_id, message="no such job")])

    def delete_job(self, job_id: str) -> None:
        """The job's result rows and files (the job row itself belongs to ``JobStore``)."""
        folder = self.job_dir(job_id)
        with self._writer.begin() as conn:
            for table in (qsts_element_results, qsts_feeder_results):
                conn.execute(sa.delete(table).where(table.c.job_id == job_id))
        shutil.rmtree(folder, ignore_errors=True)
