"""A GIS import writes a new feeder version: its model gets the import checks too, in the child that
reconciles it, and their findings lead the feeder's report."""

from __future__ import annotations

import copy
from pathlib import Path

from gis_fixtures import build_gis, write_gis
from gridtwin.grid.model import FeederModel
from gridtwin.grid.source import RegistryFeeders
from gridtwin.grid.twins import feeder_to_twins
from gridtwin.ingest.gis.pipeline import import_gis
from gridtwin.twin.registry import TwinRegistry


def test_gis_import_reports_phases_floating_behind_an_open_conductor(
    model: FeederModel, feeders: RegistryFeeders, twin_registry: TwinRegistry, tmp_path: Path
) -> None:
    broken = copy.deepcopy(model)
    lines = broken.tables["lines"]
    (row,) = lines.index[lines["name"] == "tr004"]
    lines.at[row, "open_conductors"] = ["1.2", "1.3"]  # phases B and C open past trunk bus t003
    fid = broken.feeder_id
    twin_registry.bulk_upsert(*feeder_to_twins(broken), replace_feeder=fid)
    paths, mapping = write_gis(build_gis(model), tmp_path, "geojson")

    done = import_gis(
        feeders, twin_registry, paths, mapping, {}, overrides_root=tmp_path / "o", timeout_s=300, feeder=fid,
        dry_run=True,
    )  # fmt: skip
    report = done.report
    first = report["warnings"][0]
    assert first["code"] == "floating_phases" and first["where"] == "line.tr004"
    assert "phases B, C at bus t004" in first["message"] and "conductors 1.2, 1.3" in first["message"]
    assert report["counts"]["check_warnings"] >= 1


def test_gis_import_of_a_sound_feeder_finds_nothing(
    model: FeederModel, feeders: RegistryFeeders, twin_registry: TwinRegistry, tmp_path: Path
) -> None:
    fid = model.feeder_id
    twin_registry.bulk_upsert(*feeder_to_twins(model), replace_feeder=fid)
    paths, mapping = write_gis(build_gis(model), tmp_path, "geojson")
    done = import_gis(
        feeders, twin_registry, paths, mapping, {}, overrides_root=tmp_path / "o", timeout_s=300, feeder=fid
    )
    assert done.report["counts"]["check_warnings"] == 0
