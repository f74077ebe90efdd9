"""A fake Open-Meteo on 127.0.0.1: a real ``ThreadingHTTPServer`` in a thread that answers archive and
forecast requests with Open-Meteo-shaped JSON from a seeded generator (or with whatever a test
queues: errors, garbage, a hang), and records every request. Plus a fake clock for the client."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import numpy as np
import pandas as pd
from gridtwin.ingest.weather import OpenMeteoClient

ARCHIVE_PATH = "/v1/archive"
FORECAST_PATH = "/v1/forecast"
FORECAST_START = datetime(2026, 6, 1)  # the fake forecast always starts here (UTC)
OM_KEYS = {
    "temp_c": "temperature_2m",
    "humidity_pct": "relative_humidity_2m",
    "wind_m_per_s": "wind_speed_10m",
    "ghi_w_per_m2": "shortwave_radiation",
    "dni_w_per_m2": "direct_normal_irradiance",
    "dhi_w_per_m2": "diffuse_radiation",
}
UNITS = {
    "time": "iso8601",
    "temperature_2m": "°C",
    "relative_humidity_2m": "%",
    "wind_speed_10m": "m/s",
    "shortwave_radiation": "W/m²",
    "direct_normal_irradiance": "W/m²",
    "diffuse_radiation": "W/m²",
}

# -- the weather the server "has": 2020-01-01 .. 2027-01-01 UTC, hourly, seeded --------------------

EPOCH = pd.Timestamp("2020-01-01", tz="UTC")
_HOURS = pd.date_range("2020-01-01", "2027-01-01", freq="h", tz="UTC", inclusive="left")


def _make_truth() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20250101)
    doy = np.asarray(_HOURS.day_of_year, dtype=np.float64)
    hour = np.asarray(_HOURS.hour, dtype=np.float64)
    season = -np.cos(2 * np.pi * (doy - 15) / 365.25)  # -1 mid January, +1 mid July
    temp = 10 + 13 * season + 5 * np.sin(2 * np.pi * (hour - 9) / 24) + rng.normal(0, 1.0, len(hour))
    sun = np.clip(np.sin(np.pi * (hour - 6) / 12), 0, None) * (0.75 + 0.25 * season)  # 0 at night
    cloud = rng.uniform(0.3, 1.0, len(hour))
    ghi = 950 * sun * cloud
    dni = np.where(ghi > 0, 800 * sun * cloud**2, 0.0)
    return {
        "temp_c": np.round(temp, 1),
        "humidity_pct": np.round(
            np.clip(70 - 20 * np.sin(2 * np.pi * (hour - 9) / 24) + rng.normal(0, 5, len(hour)), 5, 100)
        ),
        "wind_m_per_s": np.round(rng.gamma(2.0, 2.0, len(hour)), 2),
        "ghi_w_per_m2": np.round(ghi),
        "dni_w_per_m2": np.round(dni),
        "dhi_w_per_m2": np.round(np.clip(ghi - dni * sun, 0, None)),
    }


TRUTH = _make_truth()


def truth(start: pd.Timestamp | datetime | str, hours: int) -> dict[str, np.ndarray]:
    """What the server sends for ``hours`` hours from ``start`` (UTC)."""
    i = _index(start)
    return {k: v[i : i + hours].copy() for k, v in TRUTH.items()}


def _index(start: pd.Timestamp | datetime | str) -> int:
    ts = pd.Timestamp(start)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int((ts - EPOCH).total_seconds() // 3600)


def truth_year(year: int) -> dict[str, np.ndarray]:
    """The server's year as 8760 values (29 February dropped)."""
    hours = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="h", tz="UTC", inclusive="left")
    t = truth(hours[0], len(hours))
    keep = ~((hours.month == 2) & (hours.day == 29))
    return {k: v[keep] for k, v in t.items()}


def open_meteo_doc(
    start: pd.Timestamp | datetime | str, hours: int, lat: float, lon: float
) -> dict[str, Any]:
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0
    times = pd.date_range(t0, periods=hours, freq="h")
    values = truth(t0, hours)
    hourly: dict[str, Any] = {"time": [t.strftime("%Y-%m-%dT%H:%M") for t in times]}
    for name, key in OM_KEYS.items():
        hourly[key] = [float(v) for v in values[name]]
    return {
        "latitude": lat,
        "longitude": lon,
        "generationtime_ms": 0.1,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 200.0,
        "hourly_units": dict(UNITS),
        "hourly": hourly,
    }


def doc_for(path: str, params: dict[str, str]) -> dict[str, Any]:
    """The answer Open-Meteo would give to this request."""
    lat, lon = float(params["latitude"]), float(params["longitude"])
    if path == ARCHIVE_PATH:
        start = date.fromisoformat(params["start_date"])
        end = date.fromisoformat(params["end_date"])
        return open_meteo_doc(
            datetime(start.year, start.month, start.day), ((end - start).days + 1) * 24, lat, lon
        )
    return open_meteo_doc(FORECAST_START, int(params["forecast_days"]) * 24, lat, lon)


# -- the server ------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict[str, Any] | None = None  # None: the generated answer
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (until the test ends)
    edit: Callable[[dict[str, Any]], None] | None = None  # change the generated answer


@dataclass
class Seen:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


class FakeOpenMeteo(ThreadingHTTPServer):
    """Replies come from ``queue`` (first in, first out), then ``default``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[Seen] = []
        self.queue: list[Reply] = []
        self.default = Reply()
        self.release = threading.Event()
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def archive_url(self) -> str:
        return self.base + ARCHIVE_PATH

    @property
    def forecast_url(self) -> str:
        return self.base + FORECAST_PATH

    def next_reply(self, seen: Seen) -> Reply:
        with self.lock:
            self.seen.append(seen)
            return self.queue.pop(0) if self.queue else self.default


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenMeteo

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        reply = self.server.next_reply(
            Seen(url.path, params, {k.lower(): v for k, v in self.headers.items()})
        )
        if reply.hang:
            self.server.release.wait(10.0)
            self.close_connection = True
            return
        if reply.body is None:
            doc = doc_for(url.path, params)
            if reply.edit is not None:
                reply.edit(doc)
            body = json.dumps(doc).encode()
        elif isinstance(reply.body, dict):
            body = json.dumps(reply.body).encode()
        else:
            body = reply.body
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
            self.wfile.write(body)


ClientFactory = Callable[..., OpenMeteoClient]  # the ``make_client`` fixture


# -- time ------------------------------------------------------------------------------------------


class FakeTime:
    """A monotonic clock that only moves when the client sleeps, and a wall clock set by the test."""

    def __init__(self, now: datetime) -> None:
        self.t = 1000.0
        self.wall = now
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.t += seconds

    def now(self) -> datetime:
        return self.wall

    def advance(self, delta: timedelta) -> None:
        self.wall += delta


class StampingTransport(httpx.HTTPTransport):
    """The real transport, noting the fake clock when each request starts."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self.clock = clock
        self.starts: list[float] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.starts.append(self.clock())
        return super().handle_request(request)
