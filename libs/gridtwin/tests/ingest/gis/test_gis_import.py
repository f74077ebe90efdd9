"""The whole GIS import over a local registry (no gRPC): layers onto the feeders they name, a dry run
that changes nothing, one write that makes a new feeder version, and overrides kept per feeder only
once that write has landed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gis_fixtures import build_gis, write_gis
from gridtwin.errors import InputError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.source import RegistryFeeders
from gridtwin.grid.twins import feeder_to_twins
from gridtwin.ingest.gis.pipeline import import_gis, overrides_path
from gridtwin.twin.registry import TwinRegistry


def test_layers_onto_the_feeders_they_name(
    model: FeederModel, feeders: RegistryFeeders, twin_registry: TwinRegistry, tmp_path: Path
) -> None:
    fid = model.feeder_id
    twin_registry.bulk_upsert(*feeder_to_twins(model), replace_feeder=fid)
    before = feeders.feeder_version(fid)
    paths, mapping = write_gis(build_gis(model), tmp_path, "geojson")
    root = tmp_path / "overrides"

    dry = import_gis(
        feeders, twin_registry, paths, mapping, {}, overrides_root=root, timeout_s=300, dry_run=True
    )
    assert dry.feeders == [fid] and dry.twins == 0 and dry.matched > 0
    assert dry.report["skipped"] == ["some-other-feeder"]  # named by a layer, unknown to the registry
    assert set(dry.report["feeders"]) == {fid}
    assert feeders.feeder_version(fid) == before and not root.exists()

    given = {"TX0005": "ignore", "TX0001": f"{fid}.transformers.tx0001"}
    done = import_gis(
        feeders, twin_registry, paths, mapping, given, overrides_root=root, timeout_s=300, feeder=fid
    )
    assert done.feeders == [fid] and done.twins > 0 and done.matched > 0
    assert done.report["counts"]["ignored"] >= 1  # one feeder: its own report
    assert feeders.feeder_version(fid) != before
    kept = json.loads(overrides_path(root, fid).read_text())
    assert kept == given
    json.dumps(done.report, allow_nan=False, default=str)


def test_layers_that_name_no_known_feeder_are_refused(
    model: FeederModel, feeders: RegistryFeeders, twin_registry: TwinRegistry, tmp_path: Path
) -> None:
    paths, mapping = write_gis(build_gis(model), tmp_path, "geojson")
    with pytest.raises(InputError) as err:
        import_gis(feeders, twin_registry, paths, mapping, {}, overrides_root=tmp_path / "o", timeout_s=300)
    assert err.value.message == "the layers name no feeder of the registry"
    assert model.feeder_id in err.value.details[0].message  # named but unknown
