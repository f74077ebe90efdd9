"""A year of weather in over a local registry (no gRPC): fetched for the centroid of the site's feeders
(from the fake Open-Meteo), stored as profiles, and attached to the feeders as their ambient profile."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from gridtwin.errors import InputError
from gridtwin.grid.source import RegistryFeeders
from gridtwin.grid.synth import synth_feeder
from gridtwin.grid.twins import feeder_to_twins
from gridtwin.ingest.measurements import MeasurementStores
from gridtwin.ingest.weather.pipeline import feeder_centroid, import_weather
from gridtwin.twin.registry import TwinRegistry
from openmeteo_support import ClientFactory

SITE = "w1"


def test_weather_for_the_feeders_centroid_attached_to_them(
    make_client: ClientFactory,
    feeders: RegistryFeeders,
    twin_registry: TwinRegistry,
    sql_engine: sa.Engine,
    tmp_path: Path,
) -> None:
    model = synth_feeder(0, 3, site=SITE).model
    fid = model.feeder_id
    twin_registry.bulk_upsert(*feeder_to_twins(model), replace_feeder=fid)
    stores = MeasurementStores.open(sql_engine, tmp_path / "data")
    lat, lon = feeder_centroid(feeders, [fid])
    assert -90 <= lat <= 90 and -180 <= lon <= 180

    rec = import_weather(feeders, twin_registry, stores, make_client(), SITE, year=2024, attach=True)
    assert rec.status == "committed" and rec.report["attached_feeders"] == [fid]
    assert rec.params["lat"] == lat and rec.params["lon"] == lon and rec.params["feeders"] == [fid]
    ref = feeders.feeder_model(fid).circuit["ambient_profile"]
    assert ref.startswith("weather/") and ref.endswith("/temp_c") and ref in rec.report["profiles"]
    assert stores.profiles.resolve([ref])[ref].shape == (8760,)

    with pytest.raises(InputError, match="bad year"):
        import_weather(feeders, twin_registry, stores, make_client(), SITE, location=(lat, lon), year=1900)
    assert stores.records.list_imports("weather")[0].status == "failed"
