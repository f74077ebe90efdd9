"""Unit systems of CYME exports and the field readers that convert as they parse.

``[SI]`` files give section lengths and conductor spacings in metres, conductor diameter and GMR in
centimetres, resistances and reactances in ohm/km and susceptances in microsiemens/km. ``[IMPERIAL]``
files give feet, inches, ohm/mile and microsiemens/mile. Everything leaves here in the model's units
(metres, ohm per metre, nanofarad per metre).
"""

from __future__ import annotations

import math

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.ingest.cyme.sections import SectionRecord

__all__ = [
    "FT_M",
    "MI_M",
    "conductor_size_m",
    "length_m",
    "num",
    "opt_num",
    "per_length_to_per_m",
    "spacing_m",
]

FT_M = 0.3048
IN_M = 0.0254
MI_M = 1609.344


def _bad(rec: SectionRecord, name: str, message: str) -> InputError:
    return InputError(
        "invalid CYME value", [ErrorDetail(f"{rec.where} {name}", message, code="invalid_value")]
    )


def opt_num(rec: SectionRecord, name: str) -> float | None:
    """The field as a finite float, None when the column is absent or empty."""
    text = rec.get(name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _bad(rec, name, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise _bad(rec, name, f"{text!r} is not a finite number")
    return value


def num(rec: SectionRecord, name: str, default: float | None = None) -> float:
    """The field as a float; ``default`` when empty, else an InputError naming file:line and field."""
    if name not in rec.fields and default is None:
        raise InputError(
            "missing CYME column",
            [ErrorDetail(f"{rec.where} {name}", "the FORMAT line has no such column", code="missing_column")],
        )
    value = opt_num(rec, name)
    if value is None:
        if default is None:
            raise _bad(rec, name, "empty value")
        return default
    return value


def length_m(rec: SectionRecord, value: float) -> float:
    """A section length: metres in SI files, feet in imperial ones."""
    return value if rec.units == "SI" else value * FT_M


def spacing_m(rec: SectionRecord, value: float) -> float:
    """A conductor position: metres in SI files, feet in imperial ones."""
    return value if rec.units == "SI" else value * FT_M


def conductor_size_m(rec: SectionRecord, value: float) -> float:
    """Conductor diameter or GMR: centimetres in SI files, inches in imperial ones."""
    return value * 0.01 if rec.units == "SI" else value * IN_M


def per_length_to_per_m(rec: SectionRecord, value: float) -> float:
    """ohm (or microsiemens) per km in SI files, per mile in imperial ones -> per metre."""
    return value / 1000.0 if rec.units == "SI" else value / MI_M
