"""A year of weather (or a forecast) in, as the Measurements service runs it: fetched for a location
(given, or the site's feeders' centroid), stored as profiles, and optionally attached to the feeders
(their ``circuit["ambient_profile"]``), over a ``FeederSource`` and a ``TwinPatcher``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from gridtwin.access.principal import Principal
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.source import FeederSource
from gridtwin.ingest.measurements import MeasurementStores, recorded_failure, site_feeders
from gridtwin.ingest.weather.client import OpenMeteoClient
from gridtwin.ingest.weather.series import WeatherSeries, store_weather, weather_partition, weather_year
from gridtwin.store.measurements import ImportRecord
from gridtwin.store.profiles import ProfileStore
from gridtwin.store.sites import check_writable
from gridtwin.twin.records import TwinRecord

__all__ = ["TwinPatcher", "attach_weather", "feeder_centroid", "import_weather", "store_forecast"]


class TwinPatcher(Protocol):
    """Reads and JSON-patches single twins: a ``TwinRegistry``, or the registry's gRPC client."""

    def get(self, twin_id: str) -> TwinRecord: ...

    def patch(
        self, twin_id: str, ops: Sequence[Mapping[str, Any]], if_match: str | None = None
    ) -> TwinRecord: ...


def feeder_centroid(source: FeederSource, feeders: Sequence[str]) -> tuple[float, float]:
    """(lat, lon): the median of the feeders' bus coordinates (WGS84), or an error asking for one."""
    xs: list[float] = []
    ys: list[float] = []
    for f in feeders:
        buses = source.feeder_model(f).table("buses")
        has = buses["has_coords"].astype(bool)
        xs.extend(pd.to_numeric(buses.loc[has, "x"]).tolist())
        ys.extend(pd.to_numeric(buses.loc[has, "y"]).tolist())
    lon, lat = (float(np.median(xs)), float(np.median(ys))) if xs else (float("nan"), float("nan"))
    if not (np.isfinite(lat) and np.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise InputError(
            "no location for the weather",
            [ErrorDetail(where="lat/lon", message="the feeders have no WGS84 coordinates: give lat and lon")],
        )
    return lat, lon


def attach_weather(twins: TwinPatcher, feeder: str, ref: str) -> str:
    """Point the feeder's ambient profile at ``ref`` (QSTS aging, the scenarios' base weather): one
    patch of the feeder twin's ``circuit_json``."""
    doc = twins.get(feeder).doc
    circuit = json.loads(doc.get("circuit_json") or "{}")
    circuit["ambient_profile"] = ref
    twins.patch(
        feeder, [{"op": "add", "path": "/circuit_json", "value": json.dumps(circuit, sort_keys=True)}]
    )
    return feeder


def store_forecast(profiles: ProfileStore, series: WeatherSeries, lat: float, lon: float) -> list[str]:
    """The forecast's hours as profiles ``weather/{partition}-forecast/{name}`` (variables with every
    hour given), for short-term studies; a year's weather is what feeders attach to."""
    frame = series.frame
    if not len(frame):
        return []
    names = [str(c) for c in frame.columns if bool(frame[c].notna().all())]
    start = frame.index[0].to_pydatetime()
    part = f"{weather_partition(lat, lon, start.year)}-forecast"
    values = frame[names].to_numpy(dtype=np.float64).T
    return profiles.write("weather", part, names, values, start_utc=start)


def _series_report(series: WeatherSeries) -> dict[str, Any]:
    frame = series.frame
    return {
        "lat": series.lat, "lon": series.lon, "source": series.source, "hours": len(frame),
        "start_utc": str(frame.index[0]) if len(frame) else "", "end_utc": str(frame.index[-1]) if len(frame) else "",
        "mean_temp_c": float(frame["temp_c"].mean()) if len(frame) else None,
    }  # fmt: skip


def import_weather(
    source: FeederSource,
    twins: TwinPatcher,
    stores: MeasurementStores,
    client: OpenMeteoClient,
    site: str,
    feeders: Sequence[str] = (),
    *,
    location: tuple[float, float] | None = None,
    year: int = 0,
    forecast: bool = False,
    forecast_days: int = 7,
    attach: bool = False,
    principal: Principal | None = None,
) -> ImportRecord:
    """A whole ``year`` from the archive (or, with ``forecast``, the next ``forecast_days``) for
    ``location`` (lat, lon; None: the centroid of the site's feeders), stored as profiles; with
    ``attach`` the site's feeders (``feeders`` only, when given) point their ambient profile at it.
    ``site`` must be ``principal``'s (checked before anything is fetched)."""
    check_writable(principal, [site])
    chosen = site_feeders(source, site, feeders) if (attach or location is None) else []
    lat, lon = location if location is not None else feeder_centroid(source, chosen)
    params = {"lat": lat, "lon": lon, "year": year, "forecast": forecast, "feeders": chosen}
    rec = stores.records.create_import("weather", site, "open-meteo", params, principal=principal)
    with recorded_failure(stores.records, rec.id):
        if forecast:
            series = client.forecast(lat, lon, days=forecast_days)
            report = {**_series_report(series), "profiles": store_forecast(stores.profiles, series, lat, lon)}
        else:
            last_full = date.today().year - 1  # the archive holds whole years up to last year
            if not 1940 <= year <= last_full:
                raise InputError(
                    "bad year", [ErrorDetail(where="year", message=f"a whole year 1940..{last_full}")]
                )
            series = client.historical(lat, lon, date(year, 1, 1), date(year, 12, 31))
            arrays, notes = weather_year(series, year)
            partition = weather_partition(lat, lon, year)
            refs = store_weather(
                stores.profiles, partition, arrays, start_utc=datetime(year, 1, 1, tzinfo=UTC)
            )
            report = {**_series_report(series), "profiles": refs, "notes": [n.to_dict() for n in notes]}
            if attach:
                report["attached"] = [attach_weather(twins, f, f"weather/{partition}/temp_c") for f in chosen]
                report["attached_feeders"] = chosen
    return stores.records.finish_import(rec.id, "committed", report)
