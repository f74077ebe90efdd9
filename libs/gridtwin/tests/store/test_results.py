"""QstsResultStore contract suite on SQLite and MySQL (``gridtwin_test_results``, marker mysql).

Results are built by hand with the declared columns (no OpenDSS run needed to test the store).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from gridtwin.errors import InputError, NotFoundError
from gridtwin.powerflow.qsts_results import (
    BUS_COLUMNS,
    ELEMENT_COLUMNS,
    ENERGY_KEYS,
    FEEDER_SUMMARY_COLUMNS,
    HOURLY_COLUMNS,
    QstsResult,
    QstsSpec,
)
from gridtwin.store.jobs import JobStore
from gridtwin.store.results import QstsResultStore
from gridtwin.store.tables import job_tasks, jobs, qsts_element_results, qsts_feeder_results
from store_support import migrated_engine

MYSQL_DB = "gridtwin_test_results"
HOURS = 24


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    with migrated_engine(request.param, MYSQL_DB, tmp_path_factory.mktemp("results")) as eng:
        yield eng


@pytest.fixture
def stores(engine: sa.Engine, tmp_path: Path) -> tuple[JobStore, QstsResultStore]:
    with engine.begin() as conn:
        for table in (jobs, job_tasks, qsts_feeder_results, qsts_element_results):
            conn.execute(sa.delete(table))
    return JobStore(engine), QstsResultStore(engine, tmp_path / "results")


def make_result(
    feeder: str, seed: int, *, elements: int = 6, buses: int = 5, scale: float = 1.0
) -> QstsResult:
    """A small, deterministic QSTS result with exactly the declared columns."""
    rng = np.random.default_rng(seed)
    spec = QstsSpec(hours=HOURS)
    steps = np.arange(HOURS, dtype=np.int64)
    kw = 1000 * scale * (1 + 0.5 * np.sin(steps / 24 * 2 * np.pi))
    hourly = pd.DataFrame(
        {
            "step": steps,
            "time_utc": pd.date_range(spec.start_utc, periods=HOURS, freq="h"),
            "converged": np.ones(HOURS, dtype=bool),
            "source_kw": kw,
            "source_kvar": kw * 0.3,
            "losses_kw": kw * 0.02,
            "line_losses_kw": kw * 0.015,
            "xfmr_load_losses_kw": kw * 0.004,
            "xfmr_noload_losses_kw": np.full(HOURS, 1.0),
            "vmin_pu": rng.uniform(0.93, 0.97, HOURS),
            "vmin_bus": [f"b{i % buses}" for i in range(HOURS)],
            "vmax_pu": rng.uniform(1.0, 1.04, HOURS),
            "vmax_bus": ["sourcebus"] * HOURS,
            "buses_outside_a": rng.integers(0, 3, HOURS),
            "buses_outside_b": np.zeros(HOURS, dtype=np.int64),
        },
        columns=list(HOURLY_COLUMNS),
    )
    bus_frame = pd.DataFrame(
        {
            "bus": [f"b{i}" for i in range(buses)],
            "base_kv": np.full(buses, 7.2),
            "hours_outside_a": np.array([3.0, 0.0, 3.0, 7.0, 1.0])[:buses] * scale,
            "hours_outside_b": np.zeros(buses),
            "vmin_pu": rng.uniform(0.9, 0.95, buses),
            "vmin_step": rng.integers(0, HOURS, buses),
            "vmax_pu": rng.uniform(1.0, 1.05, buses),
            "vmax_step": rng.integers(0, HOURS, buses),
        },
        columns=list(BUS_COLUMNS),
    )
    kinds = ["line", "transformer"] * (elements // 2) + ["line"] * (elements % 2)
    loading = rng.uniform(20, 130, elements) * scale
    loading[0] = np.nan  # an element that never carried current: stored as NULL
    elem = pd.DataFrame(
        {
            "element": [f"{k}.e{i}" for i, k in enumerate(kinds)],
            "kind": kinds,
            "hours_over_normal": rng.integers(0, 5, elements).astype(float),
            "hours_over_emergency": np.zeros(elements),
            "max_loading_pct": loading,
            "max_loading_step": rng.integers(0, HOURS, elements),
            "equivalent_aging_factor": [rng.uniform(0.1, 2) if k == "transformer" else np.nan for k in kinds],
            "loss_of_life_h": [rng.uniform(1, 40) if k == "transformer" else np.nan for k in kinds],
        },
        columns=list(ELEMENT_COLUMNS),
    )
    energy = {k: float(i + 1) * scale for i, k in enumerate(ENERGY_KEYS)}
    return QstsResult(
        feeder=feeder,
        version="7",
        spec=spec,
        steps=HOURS,
        unconverged_steps=0,
        unconverged_step_list=[],
        hourly=hourly,
        buses=bus_frame,
        elements=elem,
        energy=energy,
        timings_s={"solve": 0.5, "total": 0.75},
    )


def run_job(
    jobs_store: JobStore, results: QstsResultStore, found: dict[str, QstsResult], job_id: str | None = None
) -> str:
    """Check results in the way the job runner does: files on the worker, rows in the task checkpoint."""
    job = jobs_store.create("qsts", {"hours": HOURS}, sorted(found), job_id=job_id)
    for feeder, result in found.items():
        results.write_feeder_files(job.id, result)
        write = results.rows_writer(job.id, result.summary(), result.elements)
        jobs_store.task_done(job.id, feeder, duration_s=1.0, write=write)
    jobs_store.finish(job.id)
    return job.id


THREE = {"fa": (1, 1.0), "fb": (2, 2.0), "fc": (3, 0.5)}  # feeder -> (seed, scale)


def three_feeders() -> dict[str, QstsResult]:
    return {f: make_result(f, seed, scale=scale) for f, (seed, scale) in THREE.items()}


def test_feeders_ordering_paging_and_validation(stores: tuple[JobStore, QstsResultStore]) -> None:
    js, rs = stores
    found = three_feeders()
    job = run_job(js, rs, found)
    assert js.get(job).status == "succeeded"
    frame, total = rs.feeders(job)
    assert total == 3 and list(frame.columns) == list(FEEDER_SUMMARY_COLUMNS)
    # bus_hours_outside_a = 14 * scale
    assert frame["feeder"].tolist() == ["fb", "fa", "fc"]
    assert frame["bus_hours_outside_a"].tolist() == [28.0, 14.0, 7.0]
    expected = found["fa"].summary()
    row = frame.set_index("feeder").loc["fa"]
    for col in FEEDER_SUMMARY_COLUMNS[1:]:
        if expected[col] is None:
            assert pd.isna(row[col]), col
        elif isinstance(expected[col], float):
            assert row[col] == pytest.approx(expected[col]), col
        else:
            assert row[col] == expected[col], col
    first, _ = rs.feeders(job, limit=2)
    rest, _ = rs.feeders(job, limit=2, offset=2)
    assert first["feeder"].tolist() + rest["feeder"].tolist() == ["fb", "fa", "fc"]
    asc, _ = rs.feeders(job, order_by="peak_kw", descending=False)
    assert asc["feeder"].tolist() == ["fc", "fa", "fb"]
    one, n = rs.feeders(job, feeder="fc")
    assert n == 1 and one["feeder"].tolist() == ["fc"]
    for kwargs, where in (
        ({"order_by": "nope"}, "order_by"),
        ({"limit": 0}, "limit"),
        ({"limit": 10001}, "limit"),
    ):
        with pytest.raises(InputError) as exc:
            rs.feeders(job, **kwargs)
        assert exc.value.details[0].where == where
    with pytest.raises(NotFoundError):
        rs.feeders("no-such-job")
    empty = js.create("qsts", {}, ["x"])
    assert rs.feeders(empty.id)[1] == 0


def test_elements_ordering_nulls_last_and_stable_paging(stores: tuple[JobStore, QstsResultStore]) -> None:
    js, rs = stores
    found = three_feeders()
    # ties across feeders: paging must still be stable and complete
    found["fc"].elements.loc[1:3, "max_loading_pct"] = 50.0
    found["fa"].elements.loc[1:2, "max_loading_pct"] = 50.0
    job = run_job(js, rs, found)
    frame, total = rs.elements(job, limit=10000)
    assert total == 18 and list(frame.columns) == ["feeder", *ELEMENT_COLUMNS]
    values = frame["max_loading_pct"]
    assert values.iloc[:15].is_monotonic_decreasing and values.iloc[15:].isna().all()  # 3 NULLs last
    pages = [rs.elements(job, limit=4, offset=o)[0] for o in range(0, 18, 4)]
    paged = pd.concat(pages, ignore_index=True)
    assert list(zip(paged["feeder"], paged["element"], strict=True)) == list(
        zip(frame["feeder"], frame["element"], strict=True)
    )
    assert len(set(zip(paged["feeder"], paged["element"], strict=True))) == 18
    asc, _ = rs.elements(job, order_by="max_loading_pct", descending=False, limit=10000)
    assert (
        asc["max_loading_pct"].iloc[:15].is_monotonic_increasing
        and asc["max_loading_pct"].iloc[15:].isna().all()
    )
    tx, n = rs.elements(job, kind="transformer", feeder="fb")
    assert n == 3 and set(tx["kind"]) == {"transformer"} and set(tx["feeder"]) == {"fb"}
    lines, _ = rs.elements(job, kind="line", order_by="loss_of_life_h", limit=10000)
    assert lines["loss_of_life_h"].isna().all()  # NaN went in as NULL
    assert str(frame["max_loading_step"].dtype) == "Int64"
    with pytest.raises(InputError) as exc:
        rs.elements(job, order_by="max_loading_pct; DROP TABLE jobs")
    assert exc.value.details[0].where == "order_by"
    with pytest.raises(InputError):
        rs.elements(job, offset=-1)


def test_rows_writer_replaces_and_inserts_many(stores: tuple[JobStore, QstsResultStore]) -> None:
    js, rs = stores
    big = make_result("fbig", 9, elements=2000)
    job = js.create("qsts", {}, ["fbig"])
    js.task_done(job.id, "fbig", duration_s=1.0, write=rs.rows_writer(job.id, big.summary(), big.elements))
    assert rs.elements(job.id)[1] == 2000
    # rewriting the same feeder (a task rerun) replaces its rows
    small = make_result("fbig", 10, elements=4)
    js.task_done(
        job.id, "fbig", duration_s=1.0, write=rs.rows_writer(job.id, small.summary(), small.elements)
    )
    assert rs.elements(job.id)[1] == 4 and rs.feeders(job.id)[1] == 1
    dup = small.elements.copy()
    names = dup["element"].tolist()
    names[1] = names[0]
    dup["element"] = names
    with pytest.raises(InputError, match="duplicate"):
        rs.rows_writer(job.id, small.summary(), dup)
    with pytest.raises(InputError) as exc:
        rs.rows_writer(job.id, {**small.summary(), "feeder": "../x"}, small.elements)
    assert exc.value.details[0].where == "feeder"


def test_compare_two_jobs(stores: tuple[JobStore, QstsResultStore]) -> None:
    js, rs = stores
    base = run_job(js, rs, three_feeders())
    changed = {
        "fa": make_result("fa", 1, scale=3.0),  # bus hours 42 vs 14
        "fb": make_result("fb", 2, scale=2.0),  # unchanged
        "fd": make_result("fd", 4, scale=1.0),  # new feeder
    }
    job = run_job(js, rs, changed)
    frame, total = rs.compare(job, base)
    assert total == 4
    assert list(frame.columns[:4]) == ["feeder", "steps", "steps_base", "steps_delta"]  # strings left out
    assert "vmin_bus" not in frame.columns and "bus_hours_outside_a_delta" in frame.columns
    # largest |delta| first; rows present in one job only have NULL deltas and come last (by feeder)
    assert frame["feeder"].tolist() == ["fa", "fb", "fc", "fd"]
    row = frame.set_index("feeder")
    assert row.loc["fa", "bus_hours_outside_a_delta"] == pytest.approx(28.0)
    assert row.loc["fb", "bus_hours_outside_a_delta"] == 0.0
    hours = row["bus_hours_outside_a"]
    assert np.isnan(hours["fc"]) and row.loc["fc", "bus_hours_outside_a_base"] == 7.0
    assert np.isnan(row["bus_hours_outside_a_base"]["fd"]) and np.isnan(
        row["bus_hours_outside_a_delta"]["fd"]
    )
    assert row.loc["fa", "steps_delta"] == 0 and str(frame["steps_delta"].dtype) == "Int64"
    by_value, _ = rs.compare(job, base, order_by="bus_hours_outside_a")
    assert by_value["feeder"].tolist() == ["fa", "fb", "fd", "fc"]  # 42, 28, 14, NULL (fc only in base)
    by_base, _ = rs.compare(job, base, order_by="bus_hours_outside_a_base")
    assert by_base["feeder"].tolist() == ["fb", "fa", "fc", "fd"]  # 28, 14, 7, NULL
    by_peak, _ = rs.compare(job, base, order_by="peak_kw_delta")
    assert by_peak["feeder"].tolist()[:2] == ["fa", "fb"]
    page, total = rs.compare(job, base, limit=1, offset=1)
    assert total == 4 and page["feeder"].tolist() == ["fb"]

    elems, n = rs.compare(job, base, level="elements", limit=10000)
    assert n == 24 and list(elems.columns[:2]) == ["feeder", "element"]
    assert {"max_loading_pct", "max_loading_pct_base", "max_loading_pct_delta"} <= set(elems.columns)
    both = elems[elems["feeder"] == "fa"].set_index("element")
    e1 = both.loc["transformer.e1"]
    assert e1["max_loading_pct_delta"] == pytest.approx(e1["max_loading_pct"] - e1["max_loading_pct_base"])
    assert e1["max_loading_pct"] == pytest.approx(3 * e1["max_loading_pct_base"])
    deltas = elems["max_loading_pct_delta"].abs()
    known = deltas.notna().sum()
    assert deltas.iloc[:known].is_monotonic_decreasing and deltas.iloc[known:].isna().all()
    with pytest.raises(InputError) as exc:
        rs.compare(job, base, level="buses")
    assert exc.value.details[0].where == "level"
    with pytest.raises(InputError) as exc:
        rs.compare(job, base, order_by="vmin_bus")
    assert exc.value.details[0].where == "order_by"
    with pytest.raises(NotFoundError):
        rs.compare("nope", "nope-either")


def test_parquet_files_round_trip(stores: tuple[JobStore, QstsResultStore]) -> None:
    js, rs = stores
    result = make_result("fa", 1)
    job = js.create("qsts", {}, ["fa"])
    folder = rs.write_feeder_files(job.id, result)
    assert folder == rs.root / "qsts" / f"job={job.id}" / "feeder=fa" == rs.feeder_dir(job.id, "fa")
    assert sorted(p.name for p in folder.iterdir()) == ["buses.parquet", "elements.parquet", "hourly.parquet"]
    schema = pq.read_schema(folder / "hourly.parquet")
    assert schema.field("time_utc").type == pa.timestamp("us", tz="UTC")
    assert pq.ParquetFile(folder / "hourly.parquet").metadata.row_group(0).column(0).compression == "ZSTD"
    hourly = rs.hourly(job.id, "fa")
    assert list(hourly.columns) == list(HOURLY_COLUMNS)
    expected = result.hourly.copy()
    expected["time_utc"] = expected["time_utc"].astype("datetime64[us, UTC]")
    pd.testing.assert_frame_equal(hourly, expected)
    assert hourly["time_utc"].iloc[1] - hourly["time_utc"].iloc[0] == timedelta(hours=1)
    elements = pq.read_table(folder / "elements.parquet").to_pandas()
    pd.testing.assert_frame_equal(elements, result.elements)

    buses, total = rs.buses(job.id, "fa")
    assert total == 5 and list(buses.columns) == list(BUS_COLUMNS)
    assert buses["bus"].tolist() == ["b3", "b2", "b0", "b4", "b1"]  # 7, 3, 3 (ties by bus, descending), 1, 0
    page, _ = rs.buses(job.id, "fa", order_by="bus", descending=False, limit=2, offset=1)
    assert page["bus"].tolist() == ["b1", "b2"]
    with pytest.raises(InputError):
        rs.buses(job.id, "fa", order_by="nope")
    with pytest.raises(NotFoundError) as exc:
        rs.hourly(job.id, "fz")
    assert exc.value.details[0].where == f"{job.id}/fz"
    with pytest.raises(InputError):
        rs.hourly(job.id, "../../etc")
    broken = make_result("fb", 2)
    broken.hourly = broken.hourly.drop(columns=["vmin_bus"])
    with pytest.raises(InputError, match="lacks"):
        rs.write_feeder_files(job.id, broken)
    assert not rs.feeder_dir(job.id, "fb").exists() or not any(rs.feeder_dir(job.id, "fb").iterdir())


def test_manifest_round_trip(stores: tuple[JobStore, QstsResultStore]) -> None:
    _, rs = stores
    manifest = {
        "job_id": "j1",
        "started_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "seeds": {"synth": 42},
        "peak_rss_mb": np.float64(812.5),
        "failures": [{"feeder": "fx", "details": [{"where": "fx", "message": "bad"}]}],
    }
    path = rs.write_manifest("j1", manifest)
    assert path == rs.root / "qsts" / "job=j1" / "run.json"
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temp file left behind
    back = rs.read_manifest("j1")
    assert back["started_at"] == "2026-01-02T03:04:05+00:00" and back["peak_rss_mb"] == 812.5
    assert back["failures"] == manifest["failures"] and json.loads(path.read_text()) == back
    rs.write_manifest("j1", {"job_id": "j1", "v": 2})
    assert rs.read_manifest("j1") == {"job_id": "j1", "v": 2}
    with pytest.raises(NotFoundError):
        rs.read_manifest("j2")


def test_delete_job(stores: tuple[JobStore, QstsResultStore]) -> None:
    js, rs = stores
    keep = run_job(js, rs, {"fa": make_result("fa", 1)})
    gone = run_job(js, rs, three_feeders())
    rs.write_manifest(gone, {"job_id": gone})
    rs.delete_job(gone)
    assert rs.feeders(gone)[1] == 0 and rs.elements(gone)[1] == 0
    assert not rs.job_dir(gone).exists()
    assert rs.feeders(keep)[1] == 1 and rs.hourly(keep, "fa").shape[0] == HOURS
    rs.delete_job(gone)  # idempotent
