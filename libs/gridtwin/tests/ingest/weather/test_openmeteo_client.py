"""OpenMeteoClient against a real HTTP server on 127.0.0.1: what it asks for, what it makes of the
answers, the cache and offline mode, politeness, retries and every way an answer can be wrong."""

from __future__ import annotations

import itertools
import json
import socket
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from gridtwin.errors import InputError, NotFoundError, UpstreamError
from gridtwin.ingest.weather import HOURLY_PARAM, VARIABLES, weather_year
from openmeteo_support import (
    ARCHIVE_PATH,
    FORECAST_PATH,
    FORECAST_START,
    ClientFactory,
    FakeOpenMeteo,
    FakeTime,
    Reply,
    truth,
    truth_year,
)

LAT, LON = 41.87811, -87.62980  # rounded to 41.8781, -87.6298 for the request and the cache key
Y2025 = (date(2025, 1, 1), date(2025, 12, 31))


def _archive_requests(server: FakeOpenMeteo) -> list[dict[str, str]]:
    return [s.params for s in server.seen if s.path == ARCHIVE_PATH]


# -- a year, as sent -------------------------------------------------------------------------------


def test_historical_year_is_what_the_server_sent(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    client = make_client()
    series = client.historical(LAT, LON, *Y2025)
    assert series.source == "api"
    assert (series.lat, series.lon) == (41.8781, -87.6298)
    assert list(series.frame.columns) == list(VARIABLES)
    assert str(pd.DatetimeIndex(series.frame.index).tz) == "UTC" and len(series.frame) == 8760
    arrays, notes = weather_year(series, 2025)
    want = truth_year(2025)
    for name in VARIABLES:
        assert arrays[name].shape == (8760,)
        np.testing.assert_array_equal(arrays[name], want[name], err_msg=name)
    assert notes == []
    assert arrays["ghi_w_per_m2"][0] == 0.0 and arrays["ghi_w_per_m2"].max() > 300  # night / day


def test_request_parameters_and_user_agent(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    make_client().historical(LAT, LON, *Y2025)
    assert len(server.seen) == 1
    seen = server.seen[0]
    assert seen.path == ARCHIVE_PATH
    assert seen.params == {
        "latitude": "41.8781",
        "longitude": "-87.6298",
        "start_date": "2025-01-01",
        "end_date": "2025-12-31",
        "hourly": "temperature_2m,relative_humidity_2m,wind_speed_10m,shortwave_radiation,"
        "direct_normal_irradiance,diffuse_radiation",
        "timezone": "GMT",
        "wind_speed_unit": "ms",
    }
    assert seen.params["hourly"] == HOURLY_PARAM
    assert seen.headers["user-agent"].startswith("GridTwin/")
    assert "weather" in seen.headers["user-agent"]


def test_long_range_is_split_by_calendar_year_and_joined(
    make_client: ClientFactory, server: FakeOpenMeteo
) -> None:
    series = make_client().historical(LAT, LON, date(2023, 6, 1), date(2025, 2, 28))
    got = [(p["start_date"], p["end_date"]) for p in _archive_requests(server)]
    assert got == [("2023-06-01", "2023-12-31"), ("2024-01-01", "2024-12-31"), ("2025-01-01", "2025-02-28")]
    hours = (date(2025, 3, 1) - date(2023, 6, 1)).days * 24
    assert len(series.frame) == hours
    want = truth("2023-06-01", hours)
    for name in VARIABLES:
        np.testing.assert_array_equal(series.frame[name].to_numpy(), want[name], err_msg=name)


def test_leap_year_gives_8760(make_client: ClientFactory) -> None:
    series = make_client().historical(LAT, LON, date(2024, 1, 1), date(2024, 12, 31))
    assert len(series.frame) == 8784
    arrays, notes = weather_year(series, 2024)
    want = truth_year(2024)
    for name in VARIABLES:
        assert arrays[name].shape == (8760,)
        np.testing.assert_array_equal(arrays[name], want[name], err_msg=name)
    assert any("29 February dropped" in n.message for n in notes)
    # 1 March 00:00 follows 28 February 23:00
    np.testing.assert_array_equal(arrays["temp_c"][59 * 24], truth("2024-03-01", 1)["temp_c"])


# -- cache and offline -----------------------------------------------------------------------------


def test_cache_hit_makes_no_second_request(
    make_client: ClientFactory, server: FakeOpenMeteo, tmp_path: Path
) -> None:
    first = make_client().historical(LAT, LON, *Y2025)
    again = make_client().historical(LAT + 0.00001, LON, *Y2025)  # same after rounding to 4 decimals
    assert len(server.seen) == 1
    assert again.source == "cache"
    assert any(n.code == "cache" for n in again.notes)
    assert again.frame.equals(first.frame)
    files = sorted((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].suffix == ".json"  # no temp files left behind
    entry = json.loads(files[0].read_text(encoding="utf-8"))
    assert entry["fetched_at"].startswith("2026-12-01T12:00")
    assert entry["kind"] == "archive" and "start_date=2025-01-01" in entry["url"]


def test_offline_serves_the_cache_and_fails_clearly_on_a_miss(
    make_client: ClientFactory, server: FakeOpenMeteo
) -> None:
    make_client().historical(LAT, LON, *Y2025)
    offline = make_client(offline=True)
    series = offline.historical(LAT, LON, *Y2025)
    assert series.source == "cache" and len(series.frame) == 8760
    with pytest.raises(NotFoundError, match=r"not in the weather cache \(offline\)") as info:
        offline.historical(LAT, LON, date(2022, 1, 1), date(2022, 12, 31))
    text = str(info.value)
    assert "41.8781" in text and "-87.6298" in text and "2022-01-01" in text and "2022-12-31" in text
    assert info.value.details[0].code == "offline"
    assert len(server.seen) == 1  # offline never asks


def test_corrupt_cache_entry_is_refetched(
    make_client: ClientFactory, server: FakeOpenMeteo, tmp_path: Path
) -> None:
    make_client().historical(LAT, LON, *Y2025)
    (entry,) = (tmp_path / "cache").iterdir()
    entry.write_text("{not json", encoding="utf-8")
    series = make_client().historical(LAT, LON, *Y2025)
    assert series.source == "api" and len(server.seen) == 2
    assert any("cache entry ignored" in n.message for n in series.notes)


def test_forecast_expires_after_the_ttl(
    make_client: ClientFactory, server: FakeOpenMeteo, fake_time: FakeTime
) -> None:
    client = make_client()
    fc = client.forecast(LAT, LON, days=3)
    assert fc.source == "api" and len(fc.frame) == 72
    assert fc.frame.index[0].isoformat() == FORECAST_START.isoformat() + "+00:00"
    seen = server.seen[0]
    assert seen.path == FORECAST_PATH
    assert seen.params == {
        "latitude": "41.8781",
        "longitude": "-87.6298",
        "hourly": HOURLY_PARAM,
        "forecast_days": "3",
        "timezone": "GMT",
        "wind_speed_unit": "ms",
    }
    fake_time.advance(timedelta(minutes=59))
    assert client.forecast(LAT, LON, days=3).source == "cache"
    fake_time.advance(timedelta(minutes=2))
    offline = make_client(offline=True).forecast(LAT, LON, days=3)  # stale, but all there is offline
    assert offline.source == "cache" and any(n.code == "stale" for n in offline.notes)
    assert client.forecast(LAT, LON, days=3).source == "api"
    assert len(server.seen) == 2
    fake_time.advance(timedelta(minutes=30))
    assert client.forecast(LAT, LON, days=3).source == "cache"  # the refetch was cached anew


def test_recent_archive_days_expire_like_forecasts(
    make_client: ClientFactory, server: FakeOpenMeteo, fake_time: FakeTime
) -> None:
    client = make_client()
    recent = (date(2026, 11, 1), date(2026, 11, 28))  # the archive may still fill these in
    client.historical(LAT, LON, *recent)
    fake_time.advance(timedelta(hours=2))
    assert client.historical(LAT, LON, *recent).source == "api"
    old = (date(2025, 3, 1), date(2025, 3, 31))
    client.historical(LAT, LON, *old)
    fake_time.advance(timedelta(days=400))
    assert client.historical(LAT, LON, *old).source == "cache"  # archive responses never expire
    assert len(server.seen) == 3


# -- politeness ------------------------------------------------------------------------------------


def test_min_interval_between_requests(make_client: ClientFactory, fake_time: FakeTime) -> None:
    client = make_client(min_interval_s=1.5)
    client.historical(LAT, LON, date(2022, 1, 1), date(2024, 12, 31))  # three requests
    client.forecast(LAT, LON, days=1)
    starts: list[float] = client.transport_starts  # type: ignore[attr-defined]
    assert len(starts) == 4
    assert all(b - a >= 1.5 for a, b in itertools.pairwise(starts))
    assert fake_time.sleeps == [1.5, 1.5, 1.5]  # nothing else happened on the fake clock


def test_min_interval_is_shared_by_threads(make_client: ClientFactory) -> None:
    client = make_client(min_interval_s=2.0)
    errors: list[BaseException] = []

    def fetch(year: int) -> None:
        try:
            client.historical(LAT, LON, date(year, 1, 1), date(year, 1, 31))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=(y,)) for y in (2019, 2020, 2021, 2022)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    starts = sorted(client.transport_starts)  # type: ignore[attr-defined]
    assert len(starts) == 4
    assert all(b - a >= 2.0 for a, b in itertools.pairwise(starts))


# -- retries ---------------------------------------------------------------------------------------


def test_500_twice_then_200_succeeds(
    make_client: ClientFactory, server: FakeOpenMeteo, fake_time: FakeTime
) -> None:
    server.queue += [Reply(500, b"oops"), Reply(503, {"error": True, "reason": "busy"})]
    client = make_client(min_interval_s=0.0, backoff_base_s=1.0)
    series = client.historical(LAT, LON, *Y2025)
    assert series.source == "api" and len(series.frame) == 8760
    assert len(server.seen) == 3
    first, second = fake_time.sleeps
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0  # exponential, jittered
    assert make_client(offline=True).historical(LAT, LON, *Y2025).source == "cache"


def test_backoff_jitter_is_deterministic(
    make_client: ClientFactory, server: FakeOpenMeteo, fake_time: FakeTime, tmp_path: Path
) -> None:
    runs = []
    for k in range(2):
        server.queue += [Reply(500), Reply(500), Reply(500)]
        before = len(fake_time.sleeps)
        make_client(min_interval_s=0.0, cache_dir=tmp_path / f"c{k}").forecast(LAT, LON, days=1)
        runs.append(fake_time.sleeps[before:])
    assert len(runs[0]) == 3 and runs[0] == runs[1]


def test_always_500_gives_up_after_retries_plus_one(
    make_client: ClientFactory, server: FakeOpenMeteo
) -> None:
    server.default = Reply(500, {"error": True, "reason": "internal"})
    client = make_client(retries=2, archive_url=server.archive_url + "?apikey=SECRET123")
    with pytest.raises(UpstreamError, match="after 3 attempts") as info:
        client.historical(LAT, LON, *Y2025)
    assert len(server.seen) == 3
    assert server.seen[0].params["apikey"] == "SECRET123"  # sent, but never shown
    err = info.value
    text = str(err)
    assert "127.0.0.1" in text and ARCHIVE_PATH in text and "HTTP 500" in text and "internal" in text
    assert "SECRET123" not in text and "SECRET123" not in repr(err.context)
    assert err.context["status"] == 500 and err.context["attempts"] == 3


def test_429_retry_after_is_honoured(
    make_client: ClientFactory, server: FakeOpenMeteo, fake_time: FakeTime
) -> None:
    server.queue.append(Reply(429, {"error": True, "reason": "Too many requests"}, {"Retry-After": "7"}))
    client = make_client(min_interval_s=0.0, backoff_base_s=0.1)
    assert len(client.historical(LAT, LON, *Y2025).frame) == 8760
    assert len(server.seen) == 2
    assert fake_time.sleeps == [7.0]


def test_retry_after_beyond_the_limit_gives_up_at_once(
    make_client: ClientFactory, server: FakeOpenMeteo
) -> None:
    server.default = Reply(429, {"error": True, "reason": "Daily limit"}, {"Retry-After": "86400"})
    with pytest.raises(UpstreamError, match="wait too long") as info:
        make_client().historical(LAT, LON, *Y2025)
    assert len(server.seen) == 1 and info.value.context["status"] == 429
    assert "Daily limit" in str(info.value)


def test_a_server_that_never_answers_times_out(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    server.default = Reply(hang=True)
    client = make_client(timeout_s=0.2, retries=1, min_interval_s=0.0)
    with pytest.raises(UpstreamError, match="after 2 attempts") as info:
        client.historical(LAT, LON, *Y2025)
    assert "timeout" in str(info.value)
    assert len(server.seen) == 2


def test_connection_refused_is_retried_then_upstream_error(make_client: ClientFactory) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(archive_url=f"http://127.0.0.1:{port}/v1/archive", retries=2)
    with pytest.raises(UpstreamError, match="after 3 attempts") as info:
        client.historical(LAT, LON, *Y2025)
    assert "ConnectError" in str(info.value) and f":{port}/v1/archive" in str(info.value)


def test_400_fails_at_once_with_the_reason(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    reason = "Parameter 'start_date' is out of allowed range from 1940-01-01 to 2026-11-30"
    server.default = Reply(400, {"error": True, "reason": reason})
    with pytest.raises(InputError) as info:
        make_client().historical(LAT, LON, *Y2025)
    assert reason in str(info.value) and info.value.context["reason"] == reason
    assert len(server.seen) == 1


def test_other_4xx_is_an_upstream_error_with_the_reason(
    make_client: ClientFactory, server: FakeOpenMeteo
) -> None:
    server.default = Reply(403, {"error": True, "reason": "API key invalid"})
    with pytest.raises(UpstreamError, match="API key invalid"):
        make_client().historical(LAT, LON, *Y2025)
    assert len(server.seen) == 1


# -- bad answers -----------------------------------------------------------------------------------


def _fails_on(server: FakeOpenMeteo, client: Any, reply: Reply) -> UpstreamError:
    server.default = reply
    with pytest.raises(UpstreamError) as info:
        client.historical(LAT, LON, *Y2025)
    assert len(server.seen) == 1  # not retried
    return info.value


def test_malformed_json(make_client: ClientFactory, server: FakeOpenMeteo, tmp_path: Path) -> None:
    err = _fails_on(server, make_client(), Reply(200, b'{"hourly": {"time": ['))
    assert "not JSON" in str(err)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())  # not cached


def test_missing_hourly_time(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    err = _fails_on(server, make_client(), Reply(edit=lambda d: d["hourly"].pop("time")))
    assert err.details[0].where.endswith("hourly.time")


def test_mismatched_lengths(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    err = _fails_on(server, make_client(), Reply(edit=lambda d: d["hourly"]["temperature_2m"].pop()))
    assert err.details[0].where.endswith("hourly.temperature_2m")
    assert "8759 values" in str(err) and "8760" in str(err)


def test_non_numeric_values(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["hourly"]["wind_speed_10m"][5] = "calm"

    err = _fails_on(server, make_client(), Reply(edit=edit))
    assert err.details[0].where.endswith("hourly.wind_speed_10m[5]") and "'calm'" in str(err)


def test_unknown_unit(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["hourly_units"]["shortwave_radiation"] = "MJ/m²"

    err = _fails_on(server, make_client(), Reply(edit=edit))
    assert err.details[0].where.endswith("hourly_units.shortwave_radiation")


def test_units_are_converted(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["hourly_units"]["temperature_2m"] = "°F"
        d["hourly_units"]["wind_speed_10m"] = "km/h"
        d["hourly"]["temperature_2m"][0] = 212.0
        d["hourly"]["wind_speed_10m"][0] = 36.0

    server.default = Reply(edit=edit)
    frame = make_client().historical(LAT, LON, *Y2025).frame
    assert frame["temp_c"].iloc[0] == pytest.approx(100.0) and frame["wind_m_per_s"].iloc[0] == pytest.approx(
        10.0
    )


def test_huge_response(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    err = _fails_on(server, make_client(max_response_bytes=10_000), Reply())
    assert "too large" in str(err) and "10000" in str(err)


def test_nulls_short_gaps_filled_and_noted(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    def edit(d: dict[str, Any]) -> None:
        for i in (100, 101, 102):  # 3 h: filled
            d["hourly"]["temperature_2m"][i] = None
        d["hourly"]["relative_humidity_2m"][0] = None  # an edge: nearest value

    server.default = Reply(edit=edit)
    series = make_client().historical(LAT, LON, *Y2025)
    assert series.frame["temp_c"].isna().sum() == 3  # the series keeps what was sent
    arrays, notes = weather_year(series, 2025)
    t = truth_year(2025)["temp_c"]
    np.testing.assert_allclose(arrays["temp_c"][100:103], np.interp([100, 101, 102], [99, 103], t[[99, 103]]))
    assert arrays["humidity_pct"][0] == truth_year(2025)["humidity_pct"][1]
    by_where = {n.where.rsplit(".", 1)[-1]: n.message for n in notes}
    assert "3 missing hours interpolated" in by_where["temp_c"]
    assert "2025-01-05T04:00:00+00:00" in by_where["temp_c"]
    assert "1 missing hours" in by_where["humidity_pct"]


def test_nulls_long_gap_is_an_error(make_client: ClientFactory, server: FakeOpenMeteo) -> None:
    def edit(d: dict[str, Any]) -> None:
        for i in range(200, 204):  # 4 h: not filled
            d["hourly"]["shortwave_radiation"][i] = None

    server.default = Reply(edit=edit)
    series = make_client().historical(LAT, LON, *Y2025)
    with pytest.raises(InputError, match="missing values") as info:
        weather_year(series, 2025)
    assert info.value.details[0].where.endswith("ghi_w_per_m2[200]")
    assert "4 missing hours from 2025-01-09T08:00:00+00:00" in str(info.value)


def test_year_not_covered_is_an_error(make_client: ClientFactory) -> None:
    series = make_client().historical(LAT, LON, date(2025, 1, 1), date(2025, 6, 30))
    with pytest.raises(InputError) as info:
        weather_year(series, 2025)
    assert "temp_c" in info.value.details[0].where and "2025-07-01T00:00:00+00:00" in str(info.value)


# -- bad arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda c: c.historical(91.0, 0.0, *Y2025), "latitude"),
        (lambda c: c.historical(0.0, float("nan"), *Y2025), "longitude"),
        (lambda c: c.historical(0.0, 180.5, *Y2025), "longitude"),
        (lambda c: c.historical(0.0, 0.0, date(2025, 2, 1), date(2025, 1, 1)), "start"),
        (lambda c: c.historical(0.0, 0.0, date(2026, 11, 1), date(2026, 12, 2)), "end"),  # future
        (lambda c: c.historical(0.0, 0.0, date(1939, 12, 31), date(1940, 1, 5)), "start"),
        (lambda c: c.historical(0.0, 0.0, date(2000, 1, 1), date(2011, 1, 1)), "end"),  # > 10 years
        (lambda c: c.forecast(0.0, 0.0, days=0), "days"),
        (lambda c: c.forecast(0.0, 0.0, days=17), "days"),
    ],
)
def test_bad_arguments(make_client: ClientFactory, server: FakeOpenMeteo, call: Any, where: str) -> None:
    with pytest.raises(InputError) as info:
        call(make_client())
    assert info.value.details[0].where == where
    assert server.seen == []
