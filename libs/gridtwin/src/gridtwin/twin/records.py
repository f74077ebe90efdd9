"""Records the registry returns, and the split of ADT-shaped documents into table rows and back.

A twin document ``{"$dtId", "$metadata": {"$model", ...}, "site", "feeder", <properties>}`` is stored as
columns ``id, model, site, feeder, etag`` plus ``properties``: the JSON of everything else (``$etag`` is
dropped, extra ``$metadata`` keys are kept under ``$metadata``). ``assemble_twin`` puts it back together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from gridtwin.errors import ErrorDetail
from gridtwin.store.tables import FEEDER_ID_MAX, ID_MAX, MODEL_MAX, NAME_MAX, SITE_MAX

__all__ = [
    "MAX_PROPERTIES_CHARS",
    "FeederInfo",
    "ModelInfo",
    "RelationshipRecord",
    "TwinRecord",
    "arrow_table",
    "assemble_relationship",
    "assemble_twin",
    "display_name",
    "dump_json",
    "feeder_twin_count",
    "model_extends",
    "split_relationship",
    "split_twin",
]

# Largest properties JSON accepted for one twin or relationship (characters). Feeder assets are a
# few hundred bytes; this bounds hostile uploads well below MySQL's max_allowed_packet.
MAX_PROPERTIES_CHARS = 1_000_000

FEEDER_RE = re.compile(rf"[A-Za-z0-9_-]{{1,{FEEDER_ID_MAX}}}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_TWIN_HEADER = ("$dtId", "$etag", "$metadata", "site", "feeder")
_REL_HEADER = ("$relationshipId", "$sourceId", "$relationshipName", "$targetId", "$etag")


def feeder_twin_count(twin_docs: Sequence[Any], feeder: str) -> int:
    """How many of ``twin_docs`` belong to ``feeder`` (their ``feeder`` is it): the number the registry
    keeps as the feeder's ``twin_count`` (``gridtwin feeders list``, ``GET /feeders``).

    An import writes more than that: the site twin (``site.<site>``) carries no feeder, since the site's
    feeders share it and it must outlive any one of them, so it is not one of the feeder's twins.
    """
    return sum(1 for d in twin_docs if isinstance(d, dict) and d.get("feeder") == feeder)


@dataclass(frozen=True)
class TwinRecord:
    id: str
    model: str
    site: str | None
    feeder: str | None
    etag: str
    doc: dict[str, Any]


@dataclass(frozen=True)
class RelationshipRecord:
    id: str
    source_id: str
    name: str
    target_id: str
    etag: str
    doc: dict[str, Any]

    @property
    def properties(self) -> dict[str, Any]:
        return {k: v for k, v in self.doc.items() if k not in _REL_HEADER}


@dataclass(frozen=True)
class FeederInfo:
    id: str
    site: str | None
    twin_count: int
    version: str


@dataclass(frozen=True)
class ModelInfo:
    id: str
    extends: list[str]
    display_name: str
    doc: dict[str, Any]


_STRICT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dump_json(value: Any) -> str:
    """Compact JSON that every SQL JSON function accepts: no NaN/Infinity (ValueError), no
    non-JSON types (TypeError). orjson does the work (a tenth of the stdlib's time at 100k twins)."""
    text = orjson.dumps(value).decode()
    if "null" in text:  # orjson writes NaN and Infinity as null: let the strict encoder decide
        return _STRICT.encode(value)
    return text


def _check_text(
    value: Any, where: str, field: str, max_len: int, errors: list[ErrorDetail], required: bool = True
) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        errors.append(ErrorDetail(where, f"{field} must be a non-empty string", "invalid_type"))
        return None
    if len(value) > max_len:
        errors.append(ErrorDetail(where, f"{field} is longer than {max_len} characters", "too_long"))
        return None
    if not value.isprintable() and _CONTROL_RE.search(value):  # isprintable: the fast common case
        errors.append(ErrorDetail(where, f"{field} contains control characters", "invalid"))
        return None
    return value


def _dump_properties(props: dict[str, Any], where: str, errors: list[ErrorDetail]) -> str | None:
    try:
        text = dump_json(props)
    except (TypeError, ValueError, RecursionError) as exc:
        errors.append(ErrorDetail(where, f"document is not valid JSON data: {exc}", "invalid_json"))
        return None
    if len(text) > MAX_PROPERTIES_CHARS:
        errors.append(
            ErrorDetail(where, f"document is larger than {MAX_PROPERTIES_CHARS} characters", "too_large")
        )
        return None
    return text


def split_twin(doc: Any, where: str) -> tuple[dict[str, Any] | None, list[ErrorDetail]]:
    """Check a twin document's shape and split it into a row (without etag/updated_at).

    ``where`` names the document when it has no usable ``$dtId`` (e.g. ``twins[3]``).
    """
    errors: list[ErrorDetail] = []
    if not isinstance(doc, dict):
        return None, [ErrorDetail(where, "a twin must be a JSON object", "invalid_type")]
    twin_id = _check_text(doc.get("$dtId"), where, "$dtId", ID_MAX, errors)
    where = twin_id or where
    meta = doc.get("$metadata")
    model: str | None = None
    extra_meta: dict[str, Any] = {}
    if not isinstance(meta, dict):
        errors.append(ErrorDetail(where, "$metadata must be an object with $model", "invalid_type"))
    else:
        model = _check_text(meta.get("$model"), where, "$metadata.$model", MODEL_MAX, errors)
        if len(meta) > 1:
            extra_meta = {k: v for k, v in meta.items() if k != "$model"}
    site = _check_text(doc.get("site"), where, "site", SITE_MAX, errors, required=False)
    feeder = doc.get("feeder")
    if feeder is not None and not (isinstance(feeder, str) and FEEDER_RE.fullmatch(feeder)):
        errors.append(ErrorDetail(where, "feeder must match [A-Za-z0-9_-]{1,64}", "invalid"))
    props = doc.copy()
    for key in _TWIN_HEADER:
        props.pop(key, None)
    if extra_meta:
        props["$metadata"] = extra_meta
    text = _dump_properties(props, where, errors)
    if errors or twin_id is None or model is None or text is None:
        return None, errors
    return {"id": twin_id, "model": model, "site": site, "feeder": feeder, "properties": text}, []


def assemble_twin(
    twin_id: str, model: str, site: str | None, feeder: str | None, etag: str, properties: str
) -> TwinRecord:
    props: dict[str, Any] = json.loads(properties)
    meta: dict[str, Any] = {"$model": model}
    extra = props.pop("$metadata", None)
    if isinstance(extra, dict):
        meta.update(extra)
    doc: dict[str, Any] = {"$dtId": twin_id, "$etag": etag, "$metadata": meta}
    if site is not None:
        doc["site"] = site
    if feeder is not None:
        doc["feeder"] = feeder
    doc.update(props)
    return TwinRecord(twin_id, model, site, feeder, etag, doc)


def split_relationship(doc: Any, where: str) -> tuple[dict[str, Any] | None, list[ErrorDetail]]:
    """Check a relationship document's shape and split it into a row (without etag/updated_at)."""
    errors: list[ErrorDetail] = []
    if not isinstance(doc, dict):
        return None, [ErrorDetail(where, "a relationship must be a JSON object", "invalid_type")]
    source = _check_text(doc.get("$sourceId"), where, "$sourceId", ID_MAX, errors)
    rel_id = _check_text(doc.get("$relationshipId"), where, "$relationshipId", ID_MAX, errors)
    if source and rel_id:
        where = f"{source}/relationships/{rel_id}"
    name = _check_text(doc.get("$relationshipName"), where, "$relationshipName", NAME_MAX, errors)
    target = _check_text(doc.get("$targetId"), where, "$targetId", ID_MAX, errors)
    props = {k: v for k, v in doc.items() if k not in _REL_HEADER}
    text = _dump_properties(props, where, errors)
    if errors or source is None or rel_id is None or name is None or target is None or text is None:
        return None, errors
    return {"source_id": source, "id": rel_id, "name": name, "target_id": target, "properties": text}, []


def assemble_relationship(
    rel_id: str, source_id: str, name: str, target_id: str, etag: str, properties: str
) -> RelationshipRecord:
    doc: dict[str, Any] = {
        "$relationshipId": rel_id,
        "$etag": etag,
        "$sourceId": source_id,
        "$relationshipName": name,
        "$targetId": target_id,
    }
    doc.update(json.loads(properties))
    return RelationshipRecord(rel_id, source_id, name, target_id, etag, doc)


def arrow_table(rows: Sequence[Any], names: Sequence[str], meta: dict[bytes | str, bytes | str]) -> pa.Table:
    """String columns ``names`` from row tuples (the registry's feeder export)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    schema = pa.schema(
        [pa.field(n, pa.string(), nullable=n in ("site", "feeder")) for n in names], metadata=meta
    )
    return pa.Table.from_arrays([pa.array(list(c), pa.string()) for c in columns], schema=schema)


def model_extends(interface: dict[str, Any]) -> list[str]:
    """The DTMIs an Interface extends (``extends`` may be a string, a list, or inline Interfaces)."""
    ext = interface.get("extends", [])
    items = ext if isinstance(ext, list) else [ext]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("@id"), str):
            out.append(item["@id"])
    return out


def display_name(interface: dict[str, Any]) -> str:
    """``displayName`` as one string (the English entry of a localised one)."""
    name = interface.get("displayName", "")
    if isinstance(name, dict):
        return str(name.get("en", next(iter(name.values()), "")))
    return str(name)
