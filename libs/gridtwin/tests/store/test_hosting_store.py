"""HostingStore contract suite on SQLite and MySQL (``gridtwin_test_hosting``, marker mysql)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from gridtwin.errors import InputError, NotFoundError
from gridtwin.store.hosting import HostingStore
from gridtwin.store.tables import hosting_bus_results, hosting_stochastic_results
from store_support import migrated_engine

MYSQL_DB = "gridtwin_test_hosting"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    with migrated_engine(request.param, MYSQL_DB, tmp_path_factory.mktemp("hosting")) as eng:
        yield eng


@pytest.fixture
def store(engine: sa.Engine, tmp_path: Path) -> HostingStore:
    with engine.begin() as conn:
        conn.execute(sa.delete(hosting_bus_results))
        conn.execute(sa.delete(hosting_stochastic_results))
    return HostingStore(engine, tmp_path)


def _frame(n: int, method: str = "fast") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bus": [f"b{i:03d}" for i in range(n)],
            "phases": [3] * n,
            "kv_base": [12.47] * n,
            "x": [float(i) for i in range(n)],
            "y": [float("nan")] * n,
            "capacity_kw": [float(100 * (n - i)) for i in range(n)],
            "limiting_criterion": ["overvoltage"] * n,
            "limiting_element": ["bus.b000"] * n,
            "limiting_snapshot": ["min_daytime_load"] * n,
            "base_ok": [True] * n,
            "method": [method] * n,
            "verified": [True] * n,
            "error_pct": [0.5] * n,
        }
    )


def test_replace_page_csv_and_version(store: HostingStore) -> None:
    assert store.replace_bus_results("f1", "pv", "none", "v1", _frame(30)) == 30
    page, total = store.bus_results("f1", limit=5)
    assert total == 30 and page["capacity_kw"].tolist() == [100.0, 200.0, 300.0, 400.0, 500.0]
    assert page["y"].isna().all() and page["version"].eq("v1").all()  # NaN stored as NULL
    desc, _ = store.bus_results("f1", order_by="capacity_kw", descending=True, limit=1)
    assert desc["capacity_kw"].iloc[0] == 3000.0
    assert store.bus_version("f1") == "v1" and store.bus_version("f1", "load") is None
    store.replace_bus_results("f1", "pv", "none", "v2", _frame(3, "exact"))  # replaces, not appends
    every = store.all_bus_results("f1")
    assert len(every) == 3 and set(every["method"]) == {"exact"} and store.bus_version("f1") == "v2"
    csv = store.to_csv(every).decode()
    assert csv.splitlines()[0].startswith("bus,phases,kv_base") and len(csv.splitlines()) == 4
    with pytest.raises(NotFoundError):
        store.bus_results("f1", "pv", "volt_var")
    with pytest.raises(InputError):
        store.bus_results("f1", order_by="nope")


def test_stochastic_rows_and_samples(store: HostingStore, engine: sa.Engine) -> None:
    summary = {"feeder": "f1", "placement": "random", "peak_load_kw": 5000.0, "samples_ok": 4, "samples_failed": 1,
               "capacity_kw_p5": 100.0, "capacity_kw_mean": 800.0, "capacity_kw_p95": None, "violation": []}  # fmt: skip
    with engine.begin() as conn:
        store.stochastic_rows_writer("job1", "f1", summary)(conn)
        store.stochastic_rows_writer("job1", "f1", summary)(conn)  # a retried feeder replaces its row
    assert store.stochastic("job1") == [summary]
    out = store.write_samples("job1", "f1", pd.DataFrame({"sample": [0]}), pd.DataFrame({"sample": [0]}))
    assert (out / "steps.parquet").is_file() and (out / "capacities.parquet").is_file()
    store.write_manifest("job1", {"status": "succeeded"})
    assert store.read_manifest("job1") == {"status": "succeeded"}
