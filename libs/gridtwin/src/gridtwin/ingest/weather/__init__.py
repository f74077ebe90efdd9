"""Weather in, from Open-Meteo: the historical archive and the forecast, cached on disk.

``OpenMeteoClient`` fetches (politely, with retries and an offline mode) into a ``WeatherSeries``;
``weather_year`` cuts a 8760-hour year out of it; ``store_weather`` writes it as profiles
``weather/{partition}/{name}`` (``weather_partition`` names one) that a feeder's
``circuit["ambient_profile"]`` points at; ``to_open_meteo_json`` saves it as a file the scenario
loader reads.
"""

from __future__ import annotations

from gridtwin.ingest.weather.client import (
    DEFAULT_ARCHIVE_URL,
    DEFAULT_FORECAST_URL,
    HOURLY_PARAM,
    OpenMeteoClient,
    parse_open_meteo,
)
from gridtwin.ingest.weather.series import (
    HOURS_PER_YEAR,
    VARIABLES,
    WeatherSeries,
    store_weather,
    to_open_meteo_json,
    weather_partition,
    weather_year,
)

__all__ = [
    "DEFAULT_ARCHIVE_URL",
    "DEFAULT_FORECAST_URL",
    "HOURLY_PARAM",
    "HOURS_PER_YEAR",
    "VARIABLES",
    "OpenMeteoClient",
    "WeatherSeries",
    "parse_open_meteo",
    "store_weather",
    "to_open_meteo_json",
    "weather_partition",
    "weather_year",
]
