"""write_synthetic_utility into a real SQLite registry and a profile store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from gridtwin.grid.model import TABLES
from gridtwin.grid.ontology import build_interfaces
from gridtwin.grid.synth import synth_feeder, synth_utility_profiles, write_synthetic_utility
from gridtwin.grid.twins import twins_to_feeder
from gridtwin.store.db import make_engine, migrate
from gridtwin.store.profiles import ProfileStore
from gridtwin.twin.registry import TwinRegistry

SEED = 5


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[TwinRegistry]:
    engine = make_engine(f"sqlite:///{tmp_path / 'twins.db'}")
    migrate(engine)
    reg = TwinRegistry(engine)
    reg.upload_models(list(build_interfaces().values()))
    yield reg
    engine.dispose()


def test_write_two_feeders_and_read_them_back(registry: TwinRegistry, tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles")
    seen: list[tuple[int, int, str]] = []
    ids = write_synthetic_utility(
        registry, store, 2, SEED, site="demo", progress=lambda i, n, f: seen.append((i, n, f))
    )
    assert ids == [f"synth-s{SEED}-f0000", f"synth-s{SEED}-f0001"]
    assert seen == [(1, 2, ids[0]), (2, 2, ids[1])]
    assert sorted(f.id for f in registry.list_feeders("demo")) == ids
    for i, fid in enumerate(ids):
        model = synth_feeder(i, SEED, site="demo").model
        back = twins_to_feeder(fid, *registry.export_feeder(fid))
        assert (back.feeder_id, back.site, back.circuit) == (model.feeder_id, model.site, model.circuit)
        for name, df in model.tables.items():
            schema = TABLES[name].schema()
            a = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
            assert a.equals(pa.Table.from_pandas(back.tables[name], schema=schema, preserve_index=False)), (
                name
            )
        refs = [*model.tables["loadshapes"]["profile"], model.circuit["ambient_profile"]]
        assert set(store.resolve(refs)) == set(refs)
    assert store.partitions("loadshape") == store.partitions("weather") == [f"synth-s{SEED}"]
    # the store gives back exactly the values synth_utility_profiles promises
    expected = synth_utility_profiles(SEED)
    got = store.resolve(expected)
    assert all((got[r] == expected[r]).all() for r in expected)

    # a second run replaces, never duplicates; profile bytes are the same
    files = sorted((tmp_path / "profiles").rglob("*.parquet"))
    before = [p.read_bytes() for p in files]
    counts = {f.id: f.twin_count for f in registry.list_feeders("demo")}
    write_synthetic_utility(registry, store, 2, SEED, site="demo")
    assert {f.id: f.twin_count for f in registry.list_feeders("demo")} == counts
    assert [p.read_bytes() for p in files] == before
    assert json.dumps(counts)  # plain ints
