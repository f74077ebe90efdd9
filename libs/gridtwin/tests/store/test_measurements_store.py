"""MeasurementStore contract suite on SQLite and MySQL (``gridtwin_test_measurements``, marker mysql)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from gridtwin.errors import InputError, NotFoundError
from gridtwin.store.measurements import METER_COLUMNS, MeasurementStore
from gridtwin.store.tables import ami_load_summary, ami_meter_overrides, ami_meters, imports
from store_support import migrated_engine

MYSQL_DB = "gridtwin_test_measurements"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    with migrated_engine(request.param, MYSQL_DB, tmp_path_factory.mktemp("measurements")) as eng:
        yield eng


@pytest.fixture
def store(engine: sa.Engine) -> MeasurementStore:
    with engine.begin() as conn:
        for t in (imports, ami_meters, ami_meter_overrides, ami_load_summary):
            conn.execute(sa.delete(t))
    return MeasurementStore(engine)


def _meters(ids: list[str], transformer: str = "t1") -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "meter_id": ids, "feeder": ["f1"] * n, "load": [f"l{i}" for i in ids], "transformer": [transformer] * n,
            "bus": ["b1"] * n, "phases": ["A"] * n, "lon": [-88.0] * n, "lat": [float("nan")] * n,
            "generating": [False] * n, "role": ["customer"] * n, "customer_class": [1] * n,
            "method": ["nearest"] * n, "confidence": ["high"] * n, "reasons": [["nearest t1 at 3.0 m"]] * n,
        }
    )  # fmt: skip


def test_import_lifecycle(store: MeasurementStore) -> None:
    rec = store.create_import("ami", "s1", "reads.csv", {"timezone": "UTC"})
    assert rec.status == "staging" and rec.params == {"timezone": "UTC"}
    again = store.create_import("ami", "s1", "reads.csv", {}, import_id=rec.id)
    assert again.id == rec.id  # a resumed import keeps its row
    with pytest.raises(InputError, match="another kind"):
        store.create_import("oms", "s1", "x", {}, import_id=rec.id)
    store.set_progress(rec.id, {"chunks_done": 3})
    assert store.get_import(rec.id).progress == {"chunks_done": 3}
    done = store.finish_import(rec.id, "committed", {"counts": {"rows": 10}})
    assert done.status == "committed" and done.report["counts"]["rows"] == 10 and done.finished_at
    store.create_import("oms", "s1", "o.csv", {})
    assert [r.kind for r in store.list_imports("ami")] == ["ami"]
    assert len(store.list_imports()) == 2
    with pytest.raises(NotFoundError):
        store.get_import("nope")
    with pytest.raises(InputError):
        store.create_import("bogus", "s1", "", {})


def test_meter_directory_upsert_and_read(store: MeasurementStore) -> None:
    assert store.upsert_meters("s1", _meters(["m1", "m2", "m3"]), "i1") == 3
    store.upsert_meters("s1", _meters(["m2"], transformer="t9"), "i2")
    got = store.meters("s1")
    assert list(got.columns) == list(METER_COLUMNS)
    assert got["meter_id"].tolist() == ["m1", "m2", "m3"]
    assert got.set_index("meter_id").loc["m2", "transformer"] == "t9"
    assert got["reasons"].iloc[0] == ["nearest t1 at 3.0 m"]
    assert got["lat"].isna().all() and got["generating"].dtype == bool
    assert store.meter_count("s1") == 3 and store.meter_count("other") == 0
    assert store.meters("s1", feeders=["f2"]).empty


def test_meter_directory_refuses_overlong_ids_whole(store: MeasurementStore) -> None:
    bad = _meters(["ok1", "x" * 300])
    with pytest.raises(InputError, match="too long") as err:
        store.upsert_meters("s1", bad, "i1")
    assert "meters[1]" in err.value.details[0].where
    assert store.meter_count("s1") == 0  # nothing half-written


def test_overrides(store: MeasurementStore) -> None:
    store.set_overrides("s1", pd.DataFrame({"meter_id": ["m1", "m2"], "feeder": ["f1", "f1"],
                                            "transformer": ["t2", "t3"], "note": ["field check", ""]}))  # fmt: skip
    assert store.overrides("s1")["transformer"].tolist() == ["t2", "t3"]
    store.set_overrides(
        "s1", pd.DataFrame({"meter_id": ["m1"], "feeder": [""], "transformer": [""], "note": [""]})
    )
    assert store.overrides("s1")["meter_id"].tolist() == ["m2"]


def test_load_summary(store: MeasurementStore) -> None:
    summary = {"feeder": "f1", "year": 2025, "meters": 10, "transformers": 2, "energy_kwh": 1234.5,
               "peak_kw": 50.0, "peak_utc": "2025-07-01T18:00:00+00:00", "load_factor": 0.4,
               "coincidence_factor": 0.7, "coverage": 0.99, "head_energy_kwh": None, "head_ratio": None}  # fmt: skip
    store.put_load_summary("s1", summary)
    store.put_load_summary("s1", {**summary, "peak_kw": 60.0})
    rows = store.load_summaries(feeders=["f1"])
    assert len(rows) == 1 and rows[0]["peak_kw"] == 60.0
    assert store.load_summaries(year=2024) == []
