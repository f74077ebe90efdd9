"""Options of an AMI import: which source columns mean what, how to read time, quality thresholds."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gridtwin.errors import ErrorDetail, InputError

__all__ = ["COLUMN_GUESSES", "AmiOptions", "ColumnMap", "parse_ami_options"]

# Header spellings tried (case-, space- and underscore-insensitive) when a column is not named.
COLUMN_GUESSES: dict[str, tuple[str, ...]] = {
    "meter_id": (
        "meter_id",
        "meter",
        "meternumber",
        "meter_no",
        "meter_number",
        "meterid",
        "device_id",
        "serial",
        "serial_number",
        "premise_meter",
        "service_point",
        "sdp_id",
    ),
    "timestamp": (
        "timestamp",
        "ts",
        "ts_utc",
        "read_time",
        "readtime",
        "interval_end",
        "interval_end_time",
        "interval_start",
        "read_date_time",
        "reading_time",
        "datetime",
        "date_time",
        "time",
        "end_time",
        "start_time",
        "read_ts",
        "read_end",
        "read_end_time",
        "interval_ending",
        "end_datetime",
        "reading_datetime",
    ),
    "kwh": (
        "kwh",
        "usage",
        "value",
        "kwh_delivered",
        "energy_kwh",
        "consumption",
        "usage_kwh",
        "read_value",
        "kwh_value",
        "energy",
    ),
    "kvarh": ("kvarh", "kvar", "kvarh_delivered", "reactive_kvarh", "reactive"),
    "voltage": ("voltage", "voltage_v", "volts", "v", "avg_voltage", "voltage_avg"),
    "interval": ("interval_min", "interval", "interval_minutes", "interval_length", "duration_min"),
}


def normalise_header(name: str) -> str:
    return "".join(ch for ch in name.strip().lower() if ch.isalnum())


class ColumnMap(BaseModel):
    """Source column names; None = guess from ``COLUMN_GUESSES``. meter_id, timestamp, kwh are required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    meter_id: str | None = None
    timestamp: str | None = None
    kwh: str | None = None
    kvarh: str | None = None
    voltage: str | None = None
    interval: str | None = None


class AmiOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: ColumnMap = Field(default_factory=ColumnMap)
    timezone: str = Field(default="UTC", description="IANA zone of naive timestamps (offsets win when given)")
    timestamp_format: str | None = Field(
        default=None, description="strptime format when timestamps are not ISO 8601 (e.g. %m/%d/%Y %H:%M)"
    )
    timestamp_at: Literal["end", "start"] = Field(default="end", description="what a read's timestamp marks")
    interval_min: Literal[5, 15, 30, 60] | None = Field(default=None, description="None = detect per meter")
    dst_zone: str | None = Field(
        default=None,
        description="the utility's local zone for the DST-fault check; None = timezone when it is not UTC",
    )
    # Quality thresholds.
    spike_factor: float = Field(
        default=10.0, gt=1, description="spike: > factor x the meter's positive median"
    )
    spike_min_kwh: float = Field(default=1.0, ge=0, description="a spike is at least this many kWh")
    absurd_kwh_per_h: float = Field(
        default=2000.0, gt=0, description="|read| / interval hours above: removed"
    )
    flatline_min_intervals: int = Field(default=16, ge=2, description="identical non-zero reads in a row")
    max_linear_fill_intervals: int = Field(default=8, ge=0, description="longer gaps get the meter's profile")
    tz_min_corr: float = Field(default=0.8, ge=0, le=1, description="TZ_SUSPECT: correlation at the best lag")
    tz_min_gain: float = Field(default=0.2, ge=0, description="TZ_SUSPECT: best lag beats lag 0 by this much")
    max_bad_rows: int = Field(default=10_000, ge=0, description="more bad rows make the import fail")
    chunk_rows: int = Field(default=1_000_000, ge=1, description="reads per streamed chunk (bounds memory)")
    max_issue_lines: int = Field(default=200, ge=0, description="report lines listed; the rest are counted")
    max_line_bytes: int = Field(default=4 << 20, ge=1 << 16, description="longest CSV line accepted")

    @field_validator("timezone", "dst_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    def local_zone(self) -> str | None:
        """The zone whose DST transitions the DST-fault check looks at (None: no check)."""
        zone = self.dst_zone or self.timezone
        return None if zone in ("UTC", "Etc/UTC", "GMT") else zone


def parse_ami_options(text: str) -> AmiOptions:
    """Options from JSON text ("" means the defaults); errors name ``options.<field>``."""
    try:
        return AmiOptions.model_validate_json(text or "{}")
    except ValidationError as exc:
        details = [
            # a document-level error (not JSON at all) has no field: it is "options" itself
            ErrorDetail(where=".".join(["options", *(str(p) for p in e["loc"])]), message=e["msg"])
            for e in exc.errors()
        ]
        raise InputError("bad AMI options", details) from None
