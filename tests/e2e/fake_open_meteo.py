"""A fake Open-Meteo archive on 127.0.0.1 for the end-to-end tests: a real HTTP server in a thread that
answers ``/v1/archive`` (and ``/v1/forecast``) with Open-Meteo-shaped JSON (a seeded, sinusoidal year), or with 500s while
``failing`` is set. It records the requests it served."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd

__all__ = ["FakeOpenMeteo"]


def _hourly(start: str, end: str) -> dict[str, Any]:
    hours = pd.date_range(start, pd.Timestamp(end) + pd.Timedelta(hours=23), freq="h")
    rng = np.random.default_rng(7)
    doy = np.asarray(hours.day_of_year, dtype=np.float64)
    hod = np.asarray(hours.hour, dtype=np.float64)
    temp = 12 - 14 * np.cos(2 * np.pi * (doy - 15) / 365.25) + 5 * np.sin(2 * np.pi * (hod - 15) / 24)
    sun = np.clip(np.sin(np.pi * (hod - 12) / 12), 0, None)  # UTC hours: US midday is ~18 UTC
    ghi = np.round(850 * sun * rng.uniform(0.4, 1.0, len(hours)))
    return {
        "time": [t.strftime("%Y-%m-%dT%H:%M") for t in hours],
        "temperature_2m": np.round(temp + rng.normal(0, 0.8, len(hours)), 1).tolist(),
        "relative_humidity_2m": np.round(np.clip(65 - 15 * sun, 5, 100)).tolist(),
        "wind_speed_10m": np.round(rng.gamma(2.0, 1.5, len(hours)), 2).tolist(),
        "shortwave_radiation": ghi.tolist(),
        "direct_normal_irradiance": np.round(ghi * 0.8).tolist(),
        "diffuse_radiation": np.round(ghi * 0.2).tolist(),
    }


class FakeOpenMeteo:
    def __init__(self) -> None:
        self.failing = False
        self.requests: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                return

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = dict(parse_qsl(url.query))
                fake.requests.append({"path": url.path, **params})
                if fake.failing:
                    self._send(500, {"error": True, "reason": "fake outage"})
                    return
                if url.path == "/v1/forecast":  # from today (UTC), forecast_days days
                    today = pd.Timestamp.now(tz="UTC").normalize().tz_localize(None)
                    last = today + pd.Timedelta(days=int(params.get("forecast_days", "7")) - 1)
                    params["start_date"], params["end_date"] = str(today.date()), str(last.date())
                elif url.path != "/v1/archive":
                    self._send(404, {"error": True, "reason": "not here"})
                    return
                body = {
                    "latitude": float(params["latitude"]), "longitude": float(params["longitude"]),
                    "utc_offset_seconds": 0, "timezone": "GMT",
                    "hourly_units": {"time": "iso8601", "temperature_2m": "°C", "relative_humidity_2m": "%",
                                     "wind_speed_10m": "m/s", "shortwave_radiation": "W/m²",
                                     "direct_normal_irradiance": "W/m²", "diffuse_radiation": "W/m²"},
                    "hourly": _hourly(params["start_date"], params["end_date"]),
                }  # fmt: skip
                self._send(200, body)

            def _send(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def archive_url(self) -> str:
        return f"{self.url}/v1/archive"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
