"""ScenarioStore contract suite on SQLite and MySQL (``gridtwin_test_scenarios``, marker mysql)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from gridtwin.errors import ConflictError, InputError, NotFoundError
from gridtwin.store.scenarios import ScenarioStore
from gridtwin.store.tables import scenario_sweeps, scenarios
from store_support import migrated_engine

MYSQL_DB = "gridtwin_test_scenarios"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    with migrated_engine(request.param, MYSQL_DB, tmp_path_factory.mktemp("scenarios")) as eng:
        yield eng


@pytest.fixture
def store(engine: sa.Engine) -> ScenarioStore:
    with engine.begin() as conn:
        conn.execute(sa.delete(scenario_sweeps))
        conn.execute(sa.delete(scenarios))
    return ScenarioStore(engine)


def test_create_get_update_list_delete(store: ScenarioStore) -> None:
    body = {"name": "a", "layers": [{"type": "ev", "id": "x"}], "values": list(range(8760))}
    rec = store.create("a", 1, body, "name: a\n", "my-scn")
    assert rec.id == "my-scn" and rec.revision == 1 and rec.body == body
    assert store.get("my-scn").source_text == "name: a\n"
    with pytest.raises(ConflictError):
        store.create("a", 1, body, "", "my-scn")
    rec2 = store.update("my-scn", "b", 1, {"name": "b"}, "name: b\n", expected_revision=1)
    assert rec2.revision == 2 and rec2.name == "b"
    with pytest.raises(ConflictError):
        store.update("my-scn", "c", 1, {"name": "c"}, "", expected_revision=1)
    other = store.create("z", 1, {"name": "z"}, "")
    assert other.id.startswith("scn-")
    records, total = store.list()
    assert total == 2 and {r.id for r in records} == {"my-scn", other.id}
    store.delete("my-scn")
    with pytest.raises(NotFoundError):
        store.get("my-scn")


def test_sweeps_belong_to_a_scenario(store: ScenarioStore) -> None:
    store.create("s", 1, {"name": "s"}, "", "s1")
    samples = [{"sample": 0, "values": {"layers.ev.adoption.pct": 10.0}, "job_id": "j0"}]
    sw = store.create_sweep("s1", "grid", {"method": "grid"}, samples)
    assert store.get_sweep(sw.id).samples == samples
    assert [s.id for s in store.list_sweeps("s1")] == [sw.id]
    with pytest.raises(NotFoundError):
        store.create_sweep("nope", "grid", {}, [])
    store.delete("s1")  # its sweeps go with it
    with pytest.raises(NotFoundError):
        store.get_sweep(sw.id)


def test_bad_ids_names_and_nan_are_refused(store: ScenarioStore) -> None:
    with pytest.raises(InputError):
        store.create("a", 1, {}, "", "bad id!")
    with pytest.raises(InputError):
        store.create("", 1, {}, "")
    with pytest.raises(ValueError):  # NaN is not JSON: never stored
        store.create("a", 1, {"x": float("nan")}, "")
    assert store.list()[1] == 0
