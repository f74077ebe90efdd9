"""One twin count per feeder: what an import reports is what ``feeders list`` (the registry's
``twin_count``) shows: the feeder's own twins. The site twin (``site.<site>``) is written by every import
of the site but belongs to no feeder (the site's feeders share it), so it is in neither number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gridtwin.grid.synth.feeder import synth_feeder
from gridtwin.grid.twins import feeder_to_twins, site_twin_id
from gridtwin.store.db import make_engine, migrate
from gridtwin.twin.records import feeder_twin_count
from gridtwin.twin.registry import TwinRegistry

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[TwinRegistry]:
    engine = make_engine(f"sqlite:///{tmp_path / 'twins.db'}")
    migrate(engine)
    reg = TwinRegistry(engine)
    reg.upload_models(
        [json.loads(p.read_text(encoding="utf-8")) for p in sorted((REPO / "dtdl").glob("*.json"))]
    )
    yield reg
    engine.dispose()


def test_import_count_is_the_feeders_list_count(registry: TwinRegistry) -> None:
    counts = {}
    for index in (0, 1):  # two feeders of one site: they share its site twin
        model = synth_feeder(index, 42, site="north").model
        twins, rels = feeder_to_twins(model)
        written, _ = registry.bulk_upsert(twins, rels)
        own = feeder_twin_count(twins, model.feeder_id)
        assert written == len(twins) == own + 1  # the batch also holds the shared site twin
        assert site_twin_id("north") in {t["$dtId"] for t in twins}
        counts[model.feeder_id] = own
    listed = {f.id: f.twin_count for f in registry.list_feeders()}
    assert listed == counts
    registry.delete_feeder(next(iter(counts)))  # the site twin outlives one feeder
    assert registry.get(site_twin_id("north")).feeder is None
    assert list(counts)[1] in {f.id for f in registry.list_feeders()}


def test_count_of_a_replaced_feeder(registry: TwinRegistry) -> None:
    model = synth_feeder(0, 7, site="s").model
    twins, rels = feeder_to_twins(model)
    registry.bulk_upsert(twins, rels)
    gone = f"{model.feeder_id}.loads.{model.table('loads')['name'].iloc[0]}"
    fewer = [t for t in twins if t["$dtId"] != gone]
    kept = {t["$dtId"] for t in fewer}
    registry.bulk_upsert(fewer, [r for r in rels if r["$sourceId"] in kept and r["$targetId"] in kept],
                         replace_feeder=model.feeder_id)  # fmt: skip
    (info,) = registry.list_feeders()
    assert info.twin_count == feeder_twin_count(fewer, model.feeder_id)
    assert info.twin_count == feeder_twin_count(twins, model.feeder_id) - 1
