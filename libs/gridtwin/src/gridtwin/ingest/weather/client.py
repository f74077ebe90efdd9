"""Open-Meteo client: historical archive and forecast, cached on disk, polite, retrying.

Every request goes through one path:

1. the cache: one JSON file per request under ``cache_dir`` named by the SHA-256 of the canonical
   request (URL without credentials + sorted parameters, secrets left out), holding ``fetched_at``
   and the response. Archive responses never expire (except those reaching into the last
   ``recent_archive_days`` days, which the archive still fills in: they expire like forecasts);
   forecasts expire after ``forecast_ttl_s``. A cache file that does not parse is ignored (noted).
2. offline: only the cache is used. A miss raises ``NotFoundError`` (code ``offline``) naming the
   place and dates ("not in the weather cache (offline)"): nothing is unavailable, the answer is not
   there (a 404, not a 503 to retry); an expired entry is served with a note.
3. the network: at least ``min_interval_s`` between request starts (monotonic clock, one lock for
   all threads), a descriptive User-Agent, the response body capped at ``max_response_bytes``.
   Timeouts, connection errors, HTTP 429 and 5xx are retried up to ``retries`` times with
   exponential backoff and seeded jitter, waiting at least what ``Retry-After`` asks for.

Errors:

- ``InputError``: bad arguments (coordinates, dates, days), and HTTP 400/422 (Open-Meteo rejected the
  request's parameters: the message carries its ``reason``).
- ``UpstreamError``: retries used up (names the URL without secrets, the attempts and the last
  status or exception), any other 4xx (with the API's reason), a Retry-After beyond
  ``max_retry_after_s``, a response that is too large, not JSON, or not Open-Meteo-shaped (missing
  ``hourly.time``, arrays of the wrong length, values that are not numbers, unknown units: the field
  is named).
- ``NotFoundError``: an offline cache miss.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import numpy as np
import pandas as pd

from gridtwin.errors import ErrorDetail, InputError, NotFoundError, UpstreamError
from gridtwin.ingest.weather.series import OPEN_METEO_VARIABLES, VARIABLES, WeatherSeries
from gridtwin.scenarios.weather import TEMP_UNITS_FAHRENHEIT, WIND_M_PER_S

__all__ = [
    "DEFAULT_ARCHIVE_URL",
    "DEFAULT_FORECAST_URL",
    "HOURLY_PARAM",
    "MIN_ARCHIVE_DATE",
    "OpenMeteoClient",
    "parse_open_meteo",
]

log = logging.getLogger(__name__)

DEFAULT_ARCHIVE_URL = "https://archive-api.open-meteo.com/v1/archive"
DEFAULT_FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
_TO_OPEN_METEO = {v: k for k, v in OPEN_METEO_VARIABLES.items()}
HOURLY_PARAM = ",".join(_TO_OPEN_METEO[v] for v in VARIABLES)
MIN_ARCHIVE_DATE = date(1940, 1, 1)  # the ERA5 archive's first day
MAX_FORECAST_DAYS = 16
_CACHE_VERSION = 1
_SECRET_PARAMS = frozenset({"apikey", "api_key", "key", "token", "access_token"})
_RADIATION_UNITS = frozenset({"w/m²", "w/m2", "w/m^2", "wm-2", "w m-2"})
_AWARE = re.compile(r"(Z|[+-]\d\d:?\d\d)$")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504}) | frozenset(range(505, 600))

Kind = Literal["archive", "forecast"]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("gridtwin")
    except Exception:  # not installed as a distribution (e.g. a source checkout)
        return "0"


def _bad_arg(where: str, message: str) -> InputError:
    return InputError("bad weather request", [ErrorDetail(where=where, message=message)])


def _bad_response(where: str, message: str, **context: Any) -> UpstreamError:
    return UpstreamError(
        "Open-Meteo response is not usable",
        [ErrorDetail(where=where, message=message, code="bad_response")],
        **context,
    )


def _check_coord(value: float, name: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise _bad_arg(name, f"not a number: {value!r}")
    v = float(value)
    if not math.isfinite(v) or not -limit <= v <= limit:
        raise _bad_arg(name, f"{value!r} is outside [-{limit:g}, {limit:g}]")
    v = round(v, 4)
    return 0.0 if v == 0.0 else v


def _check_date(value: date, name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise _bad_arg(name, f"a calendar date (datetime.date) is needed, got {value!r}")
    return value


# -- parsing ---------------------------------------------------------------------------------------


def _unit_factor(var: str, unit: Any, where: str) -> tuple[float, float]:
    """(scale, offset) to our units, from the declared Open-Meteo unit."""
    u = str(unit).strip().lower().replace(" ", "")
    if var == "temp_c":
        fahrenheit = TEMP_UNITS_FAHRENHEIT.get(u)
        if fahrenheit is None:
            raise _bad_response(where, f"unknown temperature unit {unit!r}")
        return (5.0 / 9.0, -32.0 * 5.0 / 9.0) if fahrenheit else (1.0, 0.0)
    if var == "wind_m_per_s":
        factor = WIND_M_PER_S.get(u)
        if factor is None:
            raise _bad_response(where, f"unknown wind speed unit {unit!r}")
        return factor, 0.0
    if var == "humidity_pct":
        if u != "%":
            raise _bad_response(where, f"unknown humidity unit {unit!r} (expected %)")
        return 1.0, 0.0
    if u not in _RADIATION_UNITS:
        raise _bad_response(where, f"unknown irradiance unit {unit!r} (expected W/m²)")
    return 1.0, 0.0


def _numbers(values: list[Any], where: str) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            out[i] = np.nan
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[i] = float(v)
        else:
            raise _bad_response(f"{where}[{i}]", f"not a number: {v!r}")
    return out


def parse_open_meteo(doc: Any, label: str) -> tuple[pd.DataFrame, list[ErrorDetail]]:
    """An Open-Meteo response document as an hourly UTC frame of ``VARIABLES`` (NaN for null), in
    our units. Raises ``UpstreamError`` naming the field (``{label}: hourly.<name>``) when the
    document is not what Open-Meteo sends."""
    notes: list[ErrorDetail] = []
    if not isinstance(doc, dict):
        raise _bad_response(label, f"a JSON object is expected, got {type(doc).__name__}")
    if doc.get("error"):
        raise _bad_response(f"{label}: reason", str(doc.get("reason") or "error without a reason"))
    hourly = doc.get("hourly")
    if not isinstance(hourly, dict):
        raise _bad_response(f"{label}: hourly", "missing (an Open-Meteo response has an 'hourly' object)")
    times = hourly.get("time")
    if not isinstance(times, list) or not times:
        raise _bad_response(f"{label}: hourly.time", "missing or empty")
    if not all(isinstance(t, str) for t in times):
        i = next(i for i, t in enumerate(times) if not isinstance(t, str))
        raise _bad_response(f"{label}: hourly.time[{i}]", f"an ISO 8601 time is expected, got {times[i]!r}")
    parsed = pd.to_datetime(pd.Series(times, dtype=object), format="ISO8601", errors="coerce", utc=True)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise _bad_response(
            f"{label}: hourly.time[{int(bad[0])}]", f"unparseable time {times[int(bad[0])]!r}"
        )
    offset_s = doc.get("utc_offset_seconds") or 0
    if isinstance(offset_s, bool) or not isinstance(offset_s, int | float):
        raise _bad_response(f"{label}: utc_offset_seconds", f"not a number: {offset_s!r}")
    index = pd.DatetimeIndex(parsed)
    if not any(_AWARE.search(t) for t in times):
        index = index - pd.Timedelta(seconds=float(offset_s))  # naive local times at the given offset
    if index[0] != index[0].floor("h"):
        raise _bad_response(f"{label}: hourly.time[0]", f"{times[0]!r} is not on the hour")
    steps = np.diff(index.as_unit("s").asi8)
    if len(steps) and (steps != 3600).any():
        i = int(np.flatnonzero(steps != 3600)[0])
        raise _bad_response(
            f"{label}: hourly.time[{i + 1}]",
            f"{steps[i] / 3600:g} h after the previous time (hourly, increasing times expected)",
        )
    units = doc.get("hourly_units")
    units = units if isinstance(units, dict) else {}
    columns: dict[str, np.ndarray] = {}
    for var in VARIABLES:
        key = _TO_OPEN_METEO[var]
        where = f"{label}: hourly.{key}"
        values = hourly.get(key)
        if values is None:
            raise _bad_response(where, "missing (it was requested)")
        if not isinstance(values, list) or len(values) != len(times):
            n = len(values) if isinstance(values, list) else type(values).__name__
            raise _bad_response(where, f"{n} values, hourly.time has {len(times)}")
        arr = _numbers(values, where)
        if key in units:
            scale, offset = _unit_factor(var, units[key], f"{label}: hourly_units.{key}")
            arr = arr * scale + offset
        else:
            notes.append(
                ErrorDetail(
                    where=f"{label}: hourly_units.{key}",
                    message="unit not given: the requested unit is assumed",
                    code="assumption",
                )
            )
        columns[var] = arr
    frame = pd.DataFrame(columns, index=index.rename("time_utc"))
    return frame, notes


def _retry_after_s(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    v = value.strip()
    try:
        s = float(v)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(v)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    return max(0.0, s) if math.isfinite(s) else None


# -- the client ------------------------------------------------------------------------------------


class _Retryable(Exception):
    def __init__(self, what: str, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.status = status
        self.retry_after_s = retry_after_s


class OpenMeteoClient:
    """Historical (``archive_url``) and forecast (``forecast_url``) hourly weather from Open-Meteo,
    cached in ``cache_dir`` (``DEFAULT_ARCHIVE_URL`` and ``DEFAULT_FORECAST_URL`` are the public
    endpoints). ``transport`` (an ``httpx.BaseTransport``), ``sleep``, ``clock``
    (monotonic seconds) and ``now`` (aware UTC datetime) can be replaced in tests. Close it (or use
    it as a context manager) to release the HTTP connections."""

    def __init__(
        self,
        archive_url: str,
        forecast_url: str,
        cache_dir: Path | str,
        *,
        offline: bool = False,
        min_interval_s: float = 1.0,
        timeout_s: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        forecast_ttl_s: float = 3600.0,
        recent_archive_days: int = 7,
        max_response_bytes: int = 50 * 1024 * 1024,
        max_span_days: int = 3653,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        max_retry_after_s: float = 600.0,
        jitter_seed: int = 0,
        user_agent: str | None = None,
    ) -> None:
        if retries < 0 or min_interval_s < 0 or timeout_s <= 0 or max_response_bytes <= 0:
            raise _bad_arg(
                "OpenMeteoClient", "retries, min_interval_s >= 0; timeout_s, max_response_bytes > 0"
            )
        self.archive_url = archive_url
        self.forecast_url = forecast_url
        self.cache_dir = Path(cache_dir)
        self.offline = offline
        self.min_interval_s = float(min_interval_s)
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.forecast_ttl_s = float(forecast_ttl_s)
        self.recent_archive_days = int(recent_archive_days)
        self.max_response_bytes = int(max_response_bytes)
        self.max_span_days = int(max_span_days)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self.max_retry_after_s = float(max_retry_after_s)
        self.user_agent = user_agent or (
            f"GridTwin/{_version()} (distribution-utility digital twin; weather ingest) "
            f"python-httpx/{httpx.__version__}"
        )
        self._sleep = sleep
        self._clock = clock
        self._now = now
        self._rng = random.Random(jitter_seed)  # nosec B311  # retry jitter, not a secret
        self._lock = threading.Lock()  # one request start at a time, min_interval_s apart
        self._last_start: float | None = None
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(self.timeout_s),
            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            follow_redirects=True,
        )
        self.requests_made = 0  # HTTP attempts, for reports and tests

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpenMeteoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public ------------------------------------------------------------------------------------

    def historical(self, lat: float, lon: float, start: date, end: date) -> WeatherSeries:
        """Hourly weather from ``start`` 00:00Z to ``end`` 23:00Z (both days included) from the
        archive; ranges are fetched in calendar-year requests (at most one year each) and joined.
        Hours the archive has no value for are NaN (``weather_year`` fills or rejects them)."""
        lat_r = _check_coord(lat, "latitude", 90.0)
        lon_r = _check_coord(lon, "longitude", 180.0)
        start = _check_date(start, "start")
        end = _check_date(end, "end")
        today = self._now().astimezone(UTC).date()
        if start > end:
            raise _bad_arg("start", f"{start} is after end {end}")
        if start < MIN_ARCHIVE_DATE:
            raise _bad_arg("start", f"{start} is before the archive's first day {MIN_ARCHIVE_DATE}")
        if end > today:
            raise _bad_arg("end", f"{end} is in the future (today is {today} UTC): use forecast()")
        span = (end - start).days + 1
        if span > self.max_span_days:
            raise _bad_arg("end", f"{span} days from {start} to {end}; at most {self.max_span_days} per call")
        frames: list[pd.DataFrame] = []
        notes: list[ErrorDetail] = []
        sources: set[str] = set()
        lo = start
        while lo <= end:
            hi = min(end, date(lo.year, 12, 31))
            params: dict[str, str] = {
                "latitude": f"{lat_r:.4f}",
                "longitude": f"{lon_r:.4f}",
                "start_date": lo.isoformat(),
                "end_date": hi.isoformat(),
                "hourly": HOURLY_PARAM,
                "timezone": "GMT",
                "wind_speed_unit": "ms",
            }
            recent = hi >= today - timedelta(days=self.recent_archive_days)
            frame, got_notes, source = self._get(
                "archive",
                self.archive_url,
                params,
                ttl_s=self.forecast_ttl_s if recent else None,
                what=f"archive {lat_r:.4f},{lon_r:.4f} {lo}..{hi}",
            )
            frames.append(frame)
            notes += got_notes
            sources.add(source)
            lo = hi + timedelta(days=1)
        joined = pd.concat(frames)
        joined = joined[~joined.index.duplicated(keep="first")].sort_index()
        hours = pd.date_range(
            pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC") + pd.Timedelta(hours=23), freq="h"
        )
        frame = joined.reindex(hours)
        frame.index.name = "time_utc"
        short = int(frame[list(VARIABLES)].isna().all(axis=1).sum())
        if short:
            notes.append(
                ErrorDetail(
                    where=f"archive {lat_r:.4f},{lon_r:.4f} {start}..{end}",
                    message=f"{short} of {len(hours)} hours have no values at all",
                    code="missing",
                )
            )
        return WeatherSeries(frame, lat_r, lon_r, "api" if "api" in sources else "cache", notes)

    def forecast(self, lat: float, lon: float, days: int = 7) -> WeatherSeries:
        """The hourly forecast for ``days`` days (1..16) from today 00:00Z."""
        lat_r = _check_coord(lat, "latitude", 90.0)
        lon_r = _check_coord(lon, "longitude", 180.0)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_FORECAST_DAYS:
            raise _bad_arg("days", f"{days!r}: a whole number of days from 1 to {MAX_FORECAST_DAYS}")
        params = {
            "latitude": f"{lat_r:.4f}",
            "longitude": f"{lon_r:.4f}",
            "hourly": HOURLY_PARAM,
            "forecast_days": str(days),
            "timezone": "GMT",
            "wind_speed_unit": "ms",
        }
        frame, notes, source = self._get(
            "forecast",
            self.forecast_url,
            params,
            ttl_s=self.forecast_ttl_s,
            what=f"forecast {lat_r:.4f},{lon_r:.4f} {days} days",
        )
        return WeatherSeries(frame, lat_r, lon_r, "api" if source == "api" else "cache", notes)

    # -- requests ----------------------------------------------------------------------------------

    @staticmethod
    def _request_url(url: str, params: dict[str, str]) -> httpx.URL:
        return httpx.URL(url).copy_merge_params(params)

    @staticmethod
    def _public(url: httpx.URL) -> str:
        """The URL without credentials (user info removed, secret parameters masked)."""
        query = [(k, "REDACTED" if k.lower() in _SECRET_PARAMS else v) for k, v in url.params.multi_items()]
        return str(url.copy_with(username=None, password=None).copy_with(params=query))

    @staticmethod
    def _cache_key(url: httpx.URL) -> str:
        items = sorted((k, v) for k, v in url.params.multi_items() if k.lower() not in _SECRET_PARAMS)
        base = f"{url.scheme}://{url.host}{f':{url.port}' if url.port else ''}{url.path}"
        canonical = json.dumps([base, items], separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def _cache_path(self, kind: Kind, key: str) -> Path:
        return self.cache_dir / f"{kind}-{key}.json"

    def _get(
        self, kind: Kind, base_url: str, params: dict[str, str], *, ttl_s: float | None, what: str
    ) -> tuple[pd.DataFrame, list[ErrorDetail], Literal["api", "cache"]]:
        url = self._request_url(base_url, params)
        public = self._public(url)
        key = self._cache_key(url)
        path = self._cache_path(kind, key)
        label = f"Open-Meteo {what}"
        notes: list[ErrorDetail] = []
        cached = self._read_cache(path, key, label, notes)
        if cached is not None:
            fetched_at, frame, parse_notes = cached
            age_s = (self._now() - fetched_at).total_seconds()
            if ttl_s is None or age_s <= ttl_s:
                notes.append(
                    ErrorDetail(
                        where=what, message=f"from the cache (fetched {fetched_at.isoformat()})", code="cache"
                    )
                )
                return frame, notes + parse_notes, "cache"
            if self.offline:
                notes.append(
                    ErrorDetail(
                        where=what,
                        message=f"cached {age_s / 3600:.1f} h ago, older than {ttl_s / 3600:g} h: served "
                        "anyway (offline)",
                        code="stale",
                    )
                )
                return frame, notes + parse_notes, "cache"
        if self.offline:
            raise NotFoundError(
                "not in the weather cache (offline)",
                [ErrorDetail(where=what, message=f"no cached response in {self.cache_dir}", code="offline")],
                url=public,
            )
        doc = self._fetch(url, public, label)
        frame, parse_notes = parse_open_meteo(doc, label)
        self._write_cache(path, key, kind, public, doc)
        return frame, notes + parse_notes, "api"

    def _read_cache(
        self, path: Path, key: str, label: str, notes: list[ErrorDetail]
    ) -> tuple[datetime, pd.DataFrame, list[ErrorDetail]] | None:
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            notes.append(ErrorDetail(where=str(path), message=f"cache unreadable: {exc}", code="cache"))
            return None
        try:
            entry = json.loads(raw)
            if entry.get("version") != _CACHE_VERSION or entry.get("key") != key:
                raise ValueError("another cache version or key")
            fetched_at = datetime.fromisoformat(entry["fetched_at"])
            if fetched_at.tzinfo is None:
                fetched_at = fetched_at.replace(tzinfo=UTC)
            frame, parse_notes = parse_open_meteo(entry["response"], label)
        except (ValueError, KeyError, TypeError, AttributeError, UpstreamError) as exc:
            notes.append(ErrorDetail(where=str(path), message=f"cache entry ignored: {exc}", code="cache"))
            return None
        return fetched_at, frame, parse_notes

    def _write_cache(self, path: Path, key: str, kind: Kind, public: str, doc: Any) -> None:
        entry = {
            "version": _CACHE_VERSION,
            "key": key,
            "kind": kind,
            "url": public,
            "fetched_at": self._now().astimezone(UTC).isoformat(),
            "response": doc,
        }
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(entry, f, separators=(",", ":"), ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _wait_turn(self) -> None:
        """Block until ``min_interval_s`` has passed since the last request started (all threads)."""
        with self._lock:
            if self._last_start is not None:
                wait = self._last_start + self.min_interval_s - self._clock()
                if wait > 0:
                    self._sleep(wait)
            self._last_start = self._clock()
            self.requests_made += 1

    def _backoff_s(self, attempt: int) -> float:
        """Exponential backoff with jitter in [1/2, 1] of the step (seeded: the same every run)."""
        step = min(self.backoff_max_s, self.backoff_base_s * 2.0**attempt)
        return step * (0.5 + 0.5 * self._rng.random())

    def _fetch(self, url: httpx.URL, public: str, label: str) -> Any:
        last: _Retryable | None = None
        attempts = self.retries + 1
        for attempt in range(attempts):
            if last is not None:
                delay = self._backoff_s(attempt - 1)
                if last.retry_after_s is not None:
                    if last.retry_after_s > self.max_retry_after_s:
                        raise UpstreamError(
                            "Open-Meteo asks to wait too long",
                            [
                                ErrorDetail(
                                    where=public,
                                    message=f"{last.what}; Retry-After {last.retry_after_s:g} s is over "
                                    f"{self.max_retry_after_s:g} s",
                                    code="rate_limited",
                                )
                            ],
                            url=public,
                            status=last.status,
                            attempts=attempt,
                        )
                    delay = max(delay, last.retry_after_s)
                log.info("open-meteo: %s; retry %d/%d in %.1f s", last.what, attempt, self.retries, delay)
                self._sleep(delay)
            self._wait_turn()
            try:
                return self._attempt(url, public, label)
            except _Retryable as exc:
                last = exc
        assert last is not None
        raise UpstreamError(
            f"Open-Meteo request failed after {attempts} attempts",
            [ErrorDetail(where=public, message=f"last: {last.what}", code="unavailable")],
            url=public,
            status=last.status,
            attempts=attempts,
            last=last.what,
        )

    def _attempt(self, url: httpx.URL, public: str, label: str) -> Any:
        cap = self.max_response_bytes
        try:
            with self._http.stream("GET", url) as resp:
                status = resp.status_code
                length = resp.headers.get("content-length", "")
                if length.isdigit() and int(length) > cap:
                    raise self._too_large(public, f"Content-Length {int(length)} bytes")
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > cap:
                        raise self._too_large(public, f"more than {cap} bytes")
                retry_after = resp.headers.get("retry-after")
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timeout after {self.timeout_s:g} s ({type(exc).__name__})") from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(
                "Open-Meteo request failed",
                [ErrorDetail(where=public, message=f"{type(exc).__name__}: {exc}", code="unavailable")],
                url=public,
            ) from exc
        if status in _RETRY_STATUS:
            raise _Retryable(
                f"HTTP {status}{self._reason_suffix(body)}", status, _retry_after_s(retry_after, self._now())
            )
        if status >= 400:
            reason = self._reason(body) or f"HTTP {status} without a reason"
            cls = InputError if status in (400, 422) else UpstreamError
            raise cls(
                f"Open-Meteo rejected the request: {reason}",
                [ErrorDetail(where=public, message=f"HTTP {status}: {reason}", code="rejected")],
                url=public,
                status=status,
                reason=reason,
            )
        if status != 200:
            raise _bad_response(public, f"HTTP {status} (200 expected)", url=public, status=status)
        try:
            doc = json.loads(bytes(body).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise _bad_response(label, f"not UTF-8 at byte {exc.start}", url=public) from exc
        except json.JSONDecodeError as exc:
            raise _bad_response(
                f"{label}: line {exc.lineno} column {exc.colno}", f"not JSON: {exc.msg}", url=public
            ) from exc
        return doc

    def _too_large(self, public: str, what: str) -> UpstreamError:
        return UpstreamError(
            "Open-Meteo response too large",
            [
                ErrorDetail(
                    where=public,
                    message=f"{what}; the cap is {self.max_response_bytes} bytes",
                    code="too_large",
                )
            ],
            url=public,
        )

    @staticmethod
    def _reason(body: bytes | bytearray) -> str | None:
        try:
            doc = json.loads(bytes(body[:65536]).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            text = bytes(body[:200]).decode("utf-8", "replace").strip()
            return text or None
        if isinstance(doc, dict) and doc.get("reason"):
            return str(doc["reason"])[:500]
        return None

    @classmethod
    def _reason_suffix(cls, body: bytes | bytearray) -> str:
        reason = cls._reason(body)
        return f": {reason}" if reason else ""
