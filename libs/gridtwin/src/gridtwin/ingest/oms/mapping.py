"""Which column of an OMS export holds what: ``OmsMapping`` and its YAML form.

Every field left unset is guessed from the header against common spellings (``GUESSES``,
case-insensitive, spaces and hyphens read as underscores); a field set names the source column
exactly (case-insensitive too). Example YAML::

    start: TIME_OFF
    end: TIME_ON
    device: INTERRUPTING_DEVICE
    customers_interrupted: CUST_OUT
    datetime_format: "%d.%m.%Y %H:%M"
    timezone: Europe/Berlin
    sheet: Outages 2023
"""

from __future__ import annotations

import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gridtwin.errors import ErrorDetail, InputError

__all__ = [
    "FIELDS",
    "GUESSES",
    "REQUIRED",
    "OmsMapping",
    "check_timezone",
    "normalise_header",
    "parse_oms_mapping",
]

# The mapping's column fields, in the order they are resolved (guessing skips columns already taken).
FIELDS: tuple[str, ...] = (
    "outage_id", "start", "end", "duration", "cause_code", "cause", "device", "feeder",
    "customers_interrupted", "customer_minutes",
)  # fmt: skip
# Columns every source must have (``end`` may be replaced by ``duration``, see ``read_oms``).
REQUIRED: tuple[str, ...] = ("start", "end", "cause_code", "device", "customers_interrupted")

GUESSES: dict[str, tuple[str, ...]] = {
    "outage_id": (
        "OUTAGE_ID", "OUTAGEID", "EVENT_ID", "INCIDENT_ID", "OUTAGE_NO", "OUTAGE_NUMBER", "INTERRUPTION_ID",
        "TICKET_ID", "TICKET", "INCIDENT", "EVENT", "ID",
    ),
    "start": (
        "START_TIME", "OUTAGE_START", "TIME_OFF", "START_UTC", "START_DATETIME", "START", "OFF_TIME",
        "OUTAGE_TIME", "BEGIN_TIME", "INTERRUPTION_START", "OUT_TIME", "DATE_OFF", "OUTAGE_BEGIN",
    ),
    "end": (
        "END_TIME", "OUTAGE_END", "RESTORE_TIME", "TIME_ON", "END_UTC", "END_DATETIME", "END",
        "RESTORATION_TIME", "RESTORED_TIME", "RESTORED", "ON_TIME", "RESTORE_DATETIME", "INTERRUPTION_END",
        "DATE_ON",
    ),
    "duration": (
        "DURATION_MIN", "DURATION_MINS", "DURATION_MINUTES", "OUTAGE_MINUTES", "OUTAGE_DURATION", "DURATION",
        "MINUTES",
    ),
    "cause_code": ("CAUSE_CODE", "CAUSECODE", "CAUSE_CD", "CAUSE_ID", "REASON_CODE", "CAUSE"),
    "cause": ("CAUSE_DESC", "CAUSE_DESCRIPTION", "CAUSE_TEXT", "CAUSE", "REASON", "DESCRIPTION"),
    "device": (
        "DEVICE_ID", "DEVICE", "DEVICE_NAME", "INTERRUPTING_DEVICE", "PROTECTIVE_DEVICE", "OPENING_DEVICE",
        "ISOLATING_DEVICE", "EQUIPMENT_ID", "ELEMENT",
    ),
    "feeder": ("FEEDER_ID", "FEEDER", "FEEDER_NAME", "CIRCUIT", "CIRCUIT_ID", "CIRCUIT_NAME", "CKT"),
    "customers_interrupted": (
        "CUST_INT", "CUSTOMERS_INTERRUPTED", "CUST_INTERRUPTED", "CUSTOMERS_OUT", "CUST_OUT", "CUSTOMERS",
        "CUSTOMERS_AFFECTED", "CUSTOMER_COUNT", "NUM_CUSTOMERS", "CI",
    ),
    "customer_minutes": (
        "CMI", "CUSTOMER_MINUTES", "CUSTOMER_MINUTES_INTERRUPTED", "CUST_MIN", "CUST_MINUTES", "CUST_MINS",
    ),
}  # fmt: skip


def normalise_header(name: object) -> str:
    """``" Time Off "`` -> ``"TIME_OFF"``: upper case, runs of spaces, hyphens and dots as one underscore."""
    return re.sub(r"[\s\-.]+", "_", str(name).strip()).upper()


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'America/New_York')") from exc
    return value


class OmsMapping(BaseModel):
    """Source column per field (None = guess from the header), plus how to read times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outage_id: str | None = Field(default=None, description="outage / event id (default: file:row)")
    start: str | None = Field(default=None, description="interruption start time")
    end: str | None = Field(
        default=None, description="restoration time; may be absent when duration is given"
    )
    duration: str | None = Field(
        default=None, description="duration in duration_unit, used when end is absent"
    )
    duration_unit: Literal["min", "h", "s"] = "min"
    cause_code: str | None = None
    cause: str | None = Field(default=None, description="cause text (optional)")
    device: str | None = Field(default=None, description="interrupting / protective device name")
    feeder: str | None = Field(
        default=None, description="feeder id (optional per row: taken from the device)"
    )
    customers_interrupted: str | None = None
    customer_minutes: str | None = Field(
        default=None, description="customer minutes interrupted (optional: customers x duration when absent)"
    )
    sheet: str | None = Field(default=None, description="Excel sheet name (default: the first sheet)")
    datetime_format: str | None = Field(
        default=None, description="strptime format of the times (default: ISO 8601 and common formats)"
    )
    timezone: str | None = Field(
        default=None, description="IANA zone of naive times in this source (overrides read_oms(timezone=))"
    )

    @field_validator(*FIELDS, "sheet", "datetime_format")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave the field out to guess it)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    def columns(self) -> dict[str, str]:
        """The fields set explicitly, field -> source column."""
        out: dict[str, str] = {}
        for name in FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value)
        return out


def parse_oms_mapping(text: str | None, where: str = "mapping") -> OmsMapping:
    """An ``OmsMapping`` from YAML text; errors name ``where`` and the field (``"oms.yaml:start"``)."""
    if text is None or not text.strip():
        return OmsMapping()
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = f"{where}:{mark.line + 1}" if mark is not None else where
        raise InputError("OMS mapping is not valid YAML", [ErrorDetail(loc, str(exc), "mapping")]) from exc
    if raw is None:
        return OmsMapping()
    if not isinstance(raw, dict):
        raise InputError(
            "invalid OMS mapping",
            [ErrorDetail(where, f"expected a mapping of field: column, got {type(raw).__name__}", "mapping")],
        )
    try:
        return OmsMapping.model_validate(raw)
    except ValidationError as exc:
        details = [
            ErrorDetail(
                where=f"{where}:" + (".".join(str(p) for p in err["loc"]) or "<root>"),
                message=err["msg"],
                code="mapping",
            )
            for err in exc.errors()
        ]
        raise InputError("invalid OMS mapping", details) from exc
