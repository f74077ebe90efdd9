"""Jobs over different periods or steps are not compared: ``compare`` (``jobs compare``) and
``diff_jobs`` (``scenario diff``) refuse them with an InputError naming both periods."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gridtwin.errors import InputError
from gridtwin.scenarios.diff import diff_jobs
from gridtwin.store.jobs import JobStore
from gridtwin.store.results import QstsResultStore, check_comparable
from store_support import migrated_engine


def _params(hours: int = 8760, start: int = 0, step: int = 60, **extra: Any) -> dict[str, Any]:
    spec = {"hours": hours, "start_hour": start, "step_minutes": step, "ambient_c": 25.0}
    return {"spec": spec, **extra}


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[JobStore, QstsResultStore]]:
    with migrated_engine("sqlite", "gridtwin_test_periods", tmp_path) as engine:
        yield JobStore(engine), QstsResultStore(engine, tmp_path / "results")


def test_check_comparable_names_both_periods() -> None:
    check_comparable(_params(), _params(ambient_c=30.0), base_job="base", job="week")  # same period
    check_comparable({"hours": 24}, _params(168))  # no QSTS spec on one side: not judged here
    with pytest.raises(InputError) as info:
        check_comparable(_params(8760), _params(168), base_job="base", job="week")
    exc = info.value
    assert "different periods" in exc.message
    assert "week ran 168 h from hour 0 in 60-min steps" in exc.message
    assert "base ran 8760 h from hour 0 in 60-min steps" in exc.message
    assert [(d.where, d.message) for d in exc.details] == [
        ("week.spec.hours", "168 here, 8760 in the base job base")
    ]
    # the REST message is the status text up to its first ": " (the details follow it): both periods there
    rest_message = str(exc).split(": ", 1)[0]
    assert "week ran 168 h" in rest_message and "base ran 8760 h" in rest_message
    with pytest.raises(InputError) as info:
        check_comparable(_params(168, 4000, 60), _params(168, 0, 15), base_job="b", job="j")
    assert [d.where for d in info.value.details] == ["j.spec.start_hour", "j.spec.step_minutes"]
    assert "in 15-min steps" in info.value.message and "from hour 4000" in info.value.message


def test_compare_refuses_jobs_over_different_periods(stores: tuple[JobStore, QstsResultStore]) -> None:
    js, rs = stores
    year = js.create("qsts", _params(8760), ["fa"]).id
    week = js.create("qsts", _params(168), ["fa"]).id
    other_year = js.create("qsts", _params(8760), ["fa"]).id
    frame, total = rs.compare(other_year, year)  # same period: compared (no rows yet)
    assert total == 0 and len(frame) == 0
    for level in ("feeders", "elements"):
        with pytest.raises(InputError) as info:
            rs.compare(week, year, level=level)
        assert f"{week} ran 168 h" in info.value.message and f"{year} ran 8760 h" in info.value.message


def test_diff_refuses_jobs_over_different_periods(stores: tuple[JobStore, QstsResultStore]) -> None:
    js, rs = stores
    base = js.create("qsts", _params(8760), ["fa"]).id
    fine = js.create("qsts", _params(8760, extra_seed=1), ["fa"]).id
    week = js.create("qsts", _params(168), ["fa"]).id
    quarter_hour = js.create("qsts", _params(8760, step=15), ["fa"]).id
    with pytest.raises(InputError) as info:
        diff_jobs(rs, base, [fine, week])  # one bad job spoils the diff: nothing is computed
    assert f"{week} ran 168 h from hour 0 in 60-min steps" in info.value.message
    assert f"{base} ran 8760 h from hour 0 in 60-min steps" in info.value.message
    with pytest.raises(InputError) as info:
        diff_jobs(rs, base, [quarter_hour])
    assert info.value.details[0].where == f"{quarter_hour}.spec.step_minutes"
