"""OutageStore on SQLite and MySQL (``gridtwin_test_outages``, marker mysql): round trip, filters,
all-or-nothing insert with located width errors, delete by import."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from gridtwin.errors import InputError
from gridtwin.ingest.oms import OUTAGE_COLUMNS, OmsMapping, read_oms
from gridtwin.store.outages import FRAME_COLUMNS, OutageStore
from gridtwin.store.tables import outages
from store_support import migrated_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest" / "oms"))
from oms_support import write_csv

MYSQL_DB = "gridtwin_test_outages"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    with migrated_engine(request.param, MYSQL_DB, tmp_path_factory.mktemp("outages")) as eng:
        yield eng


@pytest.fixture
def store(engine: sa.Engine) -> OutageStore:
    with engine.begin() as conn:
        conn.execute(sa.delete(outages))
    return OutageStore(engine)


@pytest.fixture
def frame(tmp_path: Path) -> pd.DataFrame:
    read, issues = read_oms(write_csv(tmp_path / "outages.csv"), OmsMapping())
    assert not issues
    return read.assign(
        device_twin=[f"{f}.switches.{d.lower()}" for f, d in zip(read.feeder, read.device, strict=True)]
    )


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(outages)).scalar_one())


def test_columns_agree_with_the_reader() -> None:
    assert FRAME_COLUMNS[: len(OUTAGE_COLUMNS)] == OUTAGE_COLUMNS
    stored = {c.name for c in outages.columns} - {"id", "site"}
    assert stored == set(FRAME_COLUMNS)


def test_round_trip_and_filters(store: OutageStore, frame: pd.DataFrame) -> None:
    assert store.insert("imp1", "site1", frame) == 6
    back = store.frame("site1")
    assert list(back.columns) == list(FRAME_COLUMNS)
    expected = frame.sort_values("start_utc", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(back.drop(columns="import_id"), expected[list(FRAME_COLUMNS[:-1])])
    assert back["import_id"].eq("imp1").all()
    assert str(back["start_utc"].dtype) == "datetime64[us, UTC]"

    assert store.frame("site1", feeders=["f2"])["outage_id"].tolist() == ["O4", "O5", "O6"]
    window = store.frame(
        "site1", start=datetime(2023, 3, 1, 10, 30, tzinfo=UTC), end=datetime(2023, 9, 15, 8, 0, tzinfo=UTC)
    )
    assert window["outage_id"].tolist() == ["O4", "O3"]  # start in [start, end)
    naive = store.frame("site1", start=datetime(2023, 12, 1))  # naive = UTC
    assert naive["outage_id"].tolist() == ["O2"]
    assert store.frame("other").empty and list(store.frame("other").columns) == list(FRAME_COLUMNS)
    assert store.feeders("site1") == ["f1", "f2"] and store.feeders("other") == []


def test_insert_is_all_or_nothing(store: OutageStore, engine: sa.Engine, frame: pd.DataFrame) -> None:
    store.insert("keep", "site1", frame.iloc[:1])
    five = frame.iloc[:5].copy()
    five.loc[five.index[2], "device"] = "x" * 300
    with pytest.raises(InputError) as err:
        store.insert("imp2", "site1", five)
    (detail,) = err.value.details
    assert detail.where == "outages.csv:4"  # row 3 of 5 (the file's line 4)
    assert "device is 300 characters; the column holds 255" in detail.message
    assert _count(engine) == 1  # nothing of imp2 written, the earlier import untouched

    bad = frame.iloc[:2].copy()
    bad.loc[bad.index[1], "cause_code"] = "c" * 65
    bad.loc[bad.index[1], "customers_interrupted"] = -1
    with pytest.raises(InputError) as err:
        store.insert("imp3", "site1", bad)
    assert [d.where for d in err.value.details] == ["outages.csv:3", "outages.csv:3"]
    with pytest.raises(InputError) as err:
        store.insert("i" * 33, "site1", frame)
    assert err.value.details[0].where == "import_id"
    assert _count(engine) == 1


def test_delete_import_and_chunks(
    store: OutageStore, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gridtwin.store.outages as mod

    monkeypatch.setattr(mod, "CHUNK_ROWS", 4)  # 6 rows in two executemany chunks, one transaction
    assert store.insert("a", "site1", frame) == 6
    assert store.insert("b", "site1", frame.iloc[:2]) == 2
    assert store.delete_import("a") == 6
    assert store.frame("site1")["import_id"].tolist() == ["b", "b"]
    assert store.delete_import("a") == 0


def test_unlinked_frame_and_naive_times(store: OutageStore, frame: pd.DataFrame) -> None:
    plain = frame.drop(columns="device_twin")
    plain["start_utc"] = plain["start_utc"].dt.tz_localize(None)  # naive = UTC
    assert store.insert("c", "site1", plain) == 6
    back = store.frame("site1")
    assert back["device_twin"].eq("").all()
    assert back["start_utc"].min() == pd.Timestamp("2023-03-01 10:00", tz="UTC")
