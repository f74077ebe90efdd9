"""Twin documents checked against their Interface, fast.

Each schema is compiled once into a closure ``value -> bool`` that does no schema walking; only when a
value fails does the slow :func:`explain` walk the schema to say where and why. The registry checks
100k twins per bulk upsert with these.
"""

from __future__ import annotations

import datetime as dt
import re
import reprlib
from collections.abc import Callable
from functools import lru_cache

from gridtwin.errors import ErrorDetail
from gridtwin.twin.dtdl.model import GEOSPATIAL, Interface, Schema

Check = Callable[[object], bool]
# (document or component value, where prefix, errors) -> None
DocCheck = Callable[[dict[str, object], str, list[ErrorDetail]], None]

FLOAT32_MAX = 3.4028234663852886e38
TWIN_KEYS = frozenset({"$dtId", "$metadata", "$etag"})

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?")
_NUM = r"[0-9]+(?:[.,][0-9]+)?"
_DURATION = re.compile(
    rf"P(?!$)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?=[0-9])(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?"
)


_DATE_MATCH = _DATE.fullmatch
_DATETIME_MATCH = _DATETIME.fullmatch
_TIME_MATCH = _TIME.fullmatch
_DURATION_MATCH = _DURATION.fullmatch
_date_from_iso = dt.date.fromisoformat
_datetime_from_iso = dt.datetime.fromisoformat
_time_from_iso = dt.time.fromisoformat


# Timestamps repeat a lot within a bulk upload (install dates, update times): a small cache makes the
# repeats cost one dict lookup.
@lru_cache(maxsize=8192)
def _is_date_text(v: str) -> bool:
    if len(v) != 10 or _DATE_MATCH(v) is None:
        return False
    try:
        _date_from_iso(v)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=8192)
def _is_datetime_text(v: str) -> bool:
    if _DATETIME_MATCH(v) is None:
        return False
    try:
        _datetime_from_iso(v.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=8192)
def _is_time_text(v: str) -> bool:
    if _TIME_MATCH(v) is None:
        return False
    try:
        _time_from_iso(v.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=8192)
def _is_duration_text(v: str) -> bool:
    return _DURATION_MATCH(v) is not None


def _is_date(v: object) -> bool:
    return type(v) is str and _is_date_text(v)


def _is_datetime(v: object) -> bool:
    return type(v) is str and _is_datetime_text(v)


def _is_time(v: object) -> bool:
    return type(v) is str and _is_time_text(v)


def _is_duration(v: object) -> bool:
    return type(v) is str and _is_duration_text(v)


_DOUBLE_MAX = 1.7976931348623157e308


def _is_double(v: object) -> bool:
    t = type(v)
    if t is float:
        return bool(v - v == 0.0)  # type: ignore[operator]  # False for inf and nan
    return t is int and -_DOUBLE_MAX <= v <= _DOUBLE_MAX  # type: ignore[operator]


def _is_float(v: object) -> bool:
    t = type(v)
    if t is float:
        return -FLOAT32_MAX <= v <= FLOAT32_MAX  # type: ignore[operator]  # False for nan and inf
    return t is int and -FLOAT32_MAX <= v <= FLOAT32_MAX  # type: ignore[operator]


def _is_integer(v: object) -> bool:
    return type(v) is int and -2147483648 <= v <= 2147483647


def _is_long(v: object) -> bool:
    return type(v) is int and -9223372036854775808 <= v <= 9223372036854775807


def _is_boolean(v: object) -> bool:
    return v is True or v is False


def _is_string(v: object) -> bool:
    return type(v) is str


PRIMITIVE_CHECKS: dict[str, Check] = {
    "boolean": _is_boolean,
    "integer": _is_integer,
    "long": _is_long,
    "double": _is_double,
    "float": _is_float,
    "string": _is_string,
    "date": _is_date,
    "dateTime": _is_datetime,
    "time": _is_time,
    "duration": _is_duration,
}
_PRIMITIVE_WORDS = {
    "boolean": "true or false",
    "integer": "a 32-bit integer",
    "long": "a 64-bit integer",
    "double": "a finite number",
    "float": "a finite single-precision number",
    "string": "a string",
    "date": "an RFC 3339 date (YYYY-MM-DD)",
    "dateTime": "an RFC 3339 date-time",
    "time": "an RFC 3339 time",
    "duration": "an ISO 8601 duration",
}


def compile_schema(schema: Schema) -> Check:
    """One closure that says whether a JSON value fits ``schema``."""
    kind = schema.kind
    if kind in PRIMITIVE_CHECKS:
        return PRIMITIVE_CHECKS[kind]
    if kind in GEOSPATIAL:
        geo = GEOSPATIAL[kind]
        return lambda v: type(v) is dict and v.get("type") == geo and type(v.get("coordinates")) is list
    if kind == "Enum":
        values = frozenset(schema.enum_values.values())
        if schema.value_schema == "integer":
            return lambda v: type(v) is int and v in values
        return lambda v: type(v) is str and v in values
    if kind == "Array":
        element = compile_schema(schema.element) if schema.element else _anything
        return lambda v: type(v) is list and all(map(element, v))
    if kind == "Map":
        value = compile_schema(schema.map_value) if schema.map_value else _anything
        return lambda v: type(v) is dict and all(map(value, v.values()))
    if kind == "Object":
        fields = {name: compile_schema(f) for name, f in schema.fields.items()}

        def check_object(v: object) -> bool:
            if type(v) is not dict:
                return False
            for k, x in v.items():
                f = fields.get(k)
                if f is None or not f(x):
                    return False
            return True

        return check_object
    return _anything


def _anything(v: object) -> bool:
    return True


def explain(schema: Schema, value: object, where: str, errors: list[ErrorDetail]) -> None:
    """Why ``value`` does not fit ``schema`` (the slow path, run only after a compiled check failed)."""
    kind = schema.kind
    if kind in PRIMITIVE_CHECKS:
        if not PRIMITIVE_CHECKS[kind](value):
            errors.append(
                ErrorDetail(where, f"expected {_PRIMITIVE_WORDS[kind]} ({kind}), got {_show(value)}")
            )
    elif kind in GEOSPATIAL:
        if not compile_schema(schema)(value):
            errors.append(ErrorDetail(where, f"expected a GeoJSON {GEOSPATIAL[kind]}, got {_show(value)}"))
    elif kind == "Enum":
        if not compile_schema(schema)(value):
            allowed = ", ".join(repr(v) for v in list(schema.enum_values.values())[:20])
            errors.append(ErrorDetail(where, f"{_show(value)} is not one of the Enum's values ({allowed})"))
    elif kind == "Array":
        if type(value) is not list:
            errors.append(ErrorDetail(where, f"expected an array, got {_show(value)}"))
        elif schema.element is not None:
            check = compile_schema(schema.element)
            for i, item in enumerate(value):
                if not check(item):
                    explain(schema.element, item, f"{where}/{i}", errors)
    elif kind == "Map":
        if type(value) is not dict:
            errors.append(ErrorDetail(where, f"expected an object (Map), got {_show(value)}"))
        elif schema.map_value is not None:
            check = compile_schema(schema.map_value)
            for key, item in value.items():
                if not check(item):
                    explain(schema.map_value, item, f"{where}/{key}", errors)
    elif kind == "Object":
        if type(value) is not dict:
            errors.append(ErrorDetail(where, f"expected an object, got {_show(value)}"))
            return
        for key, item in value.items():
            field = schema.fields.get(key)
            if field is None:
                errors.append(ErrorDetail(f"{where}/{key}", f"the Object has no field {key!r}", "unknown"))
            elif not compile_schema(field)(item):
                explain(field, item, f"{where}/{key}", errors)


_REPR = reprlib.Repr()  # keyword arguments arrive only in Python 3.12
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 2, 40, 40, 4, 4


def _show(value: object) -> str:
    """A short, bounded rendering (hostile values can be huge or deeply nested)."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    return _REPR.repr(value)


def compile_interface(
    iface: Interface, interfaces: dict[str, Interface], cache: dict[str, DocCheck], *, component: bool = False
) -> DocCheck:
    """A closure checking a twin document (or a component's value) of ``iface``; cached per Interface."""
    key = f"{'component:' if component else ''}{iface.dtmi}"
    if key in cache:
        return cache[key]
    checks: dict[str, Check] = {}
    schemas: dict[str, Schema] = {}
    comps: dict[str, DocCheck] = {}
    for name, content in iface.all_contents.items():
        if content.kind == "Property" and content.schema is not None:
            checks[name] = compile_schema(content.schema)
            schemas[name] = content.schema
        elif content.kind == "Component" and content.component in interfaces:
            comps[name] = compile_interface(interfaces[content.component], interfaces, cache, component=True)
    allowed_meta = frozenset({"$metadata"}) if component else TWIN_KEYS
    others = {n for n, c in iface.all_contents.items() if c.kind in ("Telemetry", "Command", "Relationship")}

    def check(doc: dict[str, object], prefix: str, errors: list[ErrorDetail]) -> None:
        get = checks.get
        for name, value in doc.items():
            check_value = get(name)
            if check_value is not None:
                if not check_value(value):
                    explain(schemas[name], value, f"{prefix}/{name}", errors)
                continue
            comp = comps.get(name)
            if comp is not None:
                where = f"{prefix}/{name}"
                if type(value) is not dict:
                    errors.append(ErrorDetail(where, f"a Component must be an object, got {_show(value)}"))
                else:
                    if type(value.get("$metadata")) is not dict:
                        errors.append(ErrorDetail(f"{where}/$metadata", 'a Component needs "$metadata": {}'))
                    comp(value, where, errors)
            elif name not in allowed_meta:
                why = (
                    f"is a {iface.all_contents[name].kind}, not a Property"
                    if name in others
                    else "is not a Property"
                )
                errors.append(ErrorDetail(f"{prefix}/{name}", f"{name!r} {why} of {iface.dtmi}", "unknown"))

    cache[key] = check
    return check
