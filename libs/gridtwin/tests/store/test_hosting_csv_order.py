"""The CSV of stored per-bus hosting capacity lists the buses in the REST order: most constrained first
(``GET /feeders/{id}/hosting-capacity`` pages by ``capacity_kw`` ascending, ties by bus)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from gridtwin.store.hosting import HostingStore
from store_support import migrated_engine


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HostingStore]:
    with migrated_engine("sqlite", "gridtwin_test_hosting_csv", tmp_path) as engine:
        yield HostingStore(engine, tmp_path / "results")


def _frame(n: int) -> pd.DataFrame:
    # capacities out of bus order, with ties, so that the two orders differ
    return pd.DataFrame(
        {
            "bus": [f"b{i:05d}" for i in range(n)],
            "capacity_kw": [float((i * 7919) % 97) for i in range(n)],
            "limiting_criterion": ["overvoltage"] * n,
            "method": ["fast"] * n,
        }
    )


def test_csv_is_in_the_rest_order_across_pages(store: HostingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 130
    store.replace_bus_results("f1", "pv", "none", "v1", _frame(n))
    rest, total = store.bus_results("f1", limit=n)  # the REST default: order_by capacity_kw ascending
    assert total == n
    monkeypatch.setattr("gridtwin.store.hosting.PAGE_MAX", 40)  # several pages for the whole file
    every = store.all_bus_results("f1")
    assert every["bus"].tolist() == rest["bus"].tolist()
    caps = every["capacity_kw"].tolist()
    assert caps == sorted(caps) and caps[0] == 0.0
    csv = pd.read_csv(io.BytesIO(store.to_csv(every)))
    assert csv["bus"].tolist() == rest["bus"].tolist()
