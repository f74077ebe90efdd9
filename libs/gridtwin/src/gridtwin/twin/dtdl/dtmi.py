"""Digital Twin Model Identifiers (DTMI) and element names, per DTDL v2 and v3.

v3: ``dtmi:<segments>[;<major>[.<minor>]]``, version optional, major <= 9 digits, minor <= 6 digits, no
leading zeros, minor not zero. v2: the version is required and one-part only. User DTMIs (the only ones
allowed in models) have segments that start with a letter; ``dtmi:dtdl:`` and ``dtmi:standard:`` are
reserved for the language.
"""

from __future__ import annotations

import re

_SEGMENT = r"[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?"
_PATH = rf"dtmi:{_SEGMENT}(?::{_SEGMENT})*"
_DTMI_V3 = re.compile(rf"^{_PATH}(?:;[1-9][0-9]{{0,8}}(?:\.[1-9][0-9]{{0,5}})?)?$")
_DTMI_V2 = re.compile(rf"^{_PATH};[1-9][0-9]{{0,8}}$")
_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$")

RESERVED_PREFIXES = ("dtmi:dtdl:", "dtmi:standard:")
MAX_USER_DTMI = 2048
MAX_INTERFACE_DTMI = 128
MAX_NAME = {2: 64, 3: 512}


def dtmi_problem(value: object, version: int, *, interface: bool = False) -> str | None:
    """Why ``value`` is not a user DTMI usable as an id in a model of this DTDL version (None: it is)."""
    if not isinstance(value, str):
        return f"identifier must be a string, not {type(value).__name__}"
    limit = MAX_INTERFACE_DTMI if interface else MAX_USER_DTMI
    if len(value) > limit:
        return f"identifier is {len(value)} characters long; the limit is {limit}"
    pattern = _DTMI_V2 if version == 2 else _DTMI_V3
    if not pattern.match(value):
        return f"identifier {value!r} is not a valid DTMI for DTDL v{version}"
    if value.startswith(RESERVED_PREFIXES):
        return f"identifier {value!r} uses a reserved prefix ({' or '.join(RESERVED_PREFIXES)})"
    return None


def is_dtmi_syntax(value: object) -> bool:
    """Loose check used to tell a DTMI reference from a term (any version)."""
    return isinstance(value, str) and value.startswith("dtmi:")


def name_problem(value: object, version: int) -> str | None:
    """Why ``value`` is not a valid element ``name`` (None: it is)."""
    if not isinstance(value, str):
        return f"name must be a string, not {type(value).__name__}"
    if len(value) > MAX_NAME[version]:
        return f"name {value[:40]!r}... is {len(value)} characters long; the limit is {MAX_NAME[version]}"
    if not _NAME.match(value):
        return (
            f"name {value!r} must hold only letters, digits and underscores, start with a letter "
            "and end with a letter or digit"
        )
    return None
