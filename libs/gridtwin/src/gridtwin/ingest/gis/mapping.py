"""The GIS mapping file: which layer holds which asset type, and which column holds which property.

A mapping is YAML, validated with pydantic (errors name the YAML key)::

    crs: EPSG:32616            # optional: CRS for layers that carry none (CSV, a .shp without .prj)
    layers:
      Transformers:            # layer name in the source (a .gdb/.gpkg layer, or the file's stem)
        asset: transformer     # pole | transformer | meter | switch | capacitor | conductor
        columns: {id: XFMR_NO, kva: RATED_KVA}   # property -> source column; others are guessed
      meters:
        asset: meter
        x: EASTING             # CSV only: coordinate columns (else guessed, or a WKT column)
        y: NORTHING
        crs: EPSG:2240

Properties not given are guessed from common utility field names (``GUESSES``): e.g. the id from
FACILITYID / ASSETID / GLOBALID, phases from PHASE / PHASES / PHASEDESIGNATION. A layer missing from
``layers`` has its asset type guessed from its name (``guess_asset``) or is skipped (reported).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from gridtwin.errors import ErrorDetail, InputError

__all__ = [
    "ASSET_TYPES",
    "GUESSES",
    "PROPERTIES",
    "AssetType",
    "GisMapping",
    "LayerMapping",
    "guess_asset",
    "guess_column",
    "load_mapping",
]

AssetType = Literal["pole", "transformer", "meter", "switch", "capacitor", "conductor"]
ASSET_TYPES: tuple[str, ...] = ("pole", "transformer", "meter", "switch", "capacitor", "conductor")

# Property -> common field names, in order of preference (compared case-insensitively).
GUESSES: dict[str, tuple[str, ...]] = {
    "id": ("FACILITYID", "ASSETID", "ASSET_ID", "GIS_ID", "GISID", "ID", "NAME", "GLOBALID", "OBJECTID"),
    "phases": ("PHASEDESIGNATION", "PHASEDESIG", "PHASES", "PHASE", "PHASING", "PHASE_CODE", "PH"),
    "kva": ("RATEDKVA", "KVA", "KVA_RATING", "KVARATING", "RATED_KVA"),
    "kvar": ("RATEDKVAR", "KVAR", "KVAR_RATING", "TOTALKVAR"),
    "feeder": ("FEEDERID", "FEEDER_ID", "FEEDER", "CIRCUIT", "CIRCUITID", "CIRCUIT_ID"),
    "kv": ("NOMINALVOLTAGE", "OPERATINGVOLTAGE", "KV", "VOLTAGE_KV"),
    "status": ("NORMALPOSITION", "NORMAL_STATUS", "STATUS", "NORMALLYOPEN"),
}
PROPERTIES: tuple[str, ...] = tuple(GUESSES)

# Coordinate columns for CSV layers, (x, y) pairs in order of preference; lon/lat names imply WGS84.
CSV_XY: tuple[tuple[str, str], ...] = (
    ("LONGITUDE", "LATITUDE"),
    ("LON", "LAT"),
    ("LNG", "LAT"),
    ("X", "Y"),
    ("EASTING", "NORTHING"),
    ("POINT_X", "POINT_Y"),
)
LONLAT_NAMES = frozenset({"LONGITUDE", "LON", "LNG"})
WKT_COLUMNS: tuple[str, ...] = ("WKT", "GEOMETRY", "GEOM", "SHAPE")

_LAYER_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("transformer", ("transformer", "xfmr", "xfrm", "xformer", "trafo")),
    ("capacitor", ("capacitor", "capbank", "cap_bank")),
    ("switch", ("switch", "breaker", "fuse", "recloser", "sectionalizer", "cutout")),
    ("meter", ("meter", "servicepoint", "service_point", "customer", "premise")),
    ("pole", ("pole", "structure", "support")),
    ("conductor", ("conductor", "line", "span", "primary", "secondary", "cable", "ohprimary", "ugprimary")),
)


def _check_crs(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        CRS.from_user_input(value)
    except CRSError as exc:
        raise ValueError(f"not a CRS pyproj knows: {exc}") from exc
    return value


class LayerMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    asset: AssetType
    columns: dict[str, str] = Field(default_factory=dict)
    crs: str | None = None
    x: str | None = None
    y: str | None = None
    wkt: str | None = None

    @field_validator("columns")
    @classmethod
    def _known_properties(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(PROPERTIES))
        if unknown:
            raise ValueError(f"unknown properties {unknown}; known: {list(PROPERTIES)}")
        return value

    @field_validator("crs")
    @classmethod
    def _crs_ok(cls, value: str | None) -> str | None:
        return _check_crs(value)


class GisMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    crs: str | None = None
    layers: dict[str, LayerMapping] = Field(default_factory=dict)
    guess_unlisted: bool = True  # layers not listed: guess the asset type from the layer name

    @field_validator("crs")
    @classmethod
    def _crs_ok(cls, value: str | None) -> str | None:
        return _check_crs(value)

    def layer(self, name: str) -> LayerMapping | None:
        """The mapping for layer ``name`` (exact, then case-insensitive), or a guessed one, or None."""
        if name in self.layers:
            return self.layers[name]
        for key, value in self.layers.items():
            if key.lower() == name.lower():
                return value
        if self.guess_unlisted:
            asset = guess_asset(name)
            if asset is not None:
                return LayerMapping(asset=asset)
        return None


def guess_asset(layer: str) -> AssetType | None:
    lowered = layer.lower()
    for asset, words in _LAYER_WORDS:
        if any(w in lowered for w in words):
            return asset  # type: ignore[return-value]  # values of _LAYER_WORDS are AssetType names
    return None


def guess_column(prop: str, columns: list[str]) -> str | None:
    """The first of ``GUESSES[prop]`` present in ``columns`` (case-insensitive), as spelled there."""
    upper = {c.upper(): c for c in columns}
    for candidate in GUESSES[prop]:
        if candidate in upper:
            return upper[candidate]
    return None


def load_mapping(source: Path | str | Mapping[str, Any] | None) -> GisMapping:
    """Parse a mapping from a YAML file, YAML text already loaded as a dict, or None (all guessed)."""
    if source is None:
        return GisMapping()
    where = "mapping"
    if isinstance(source, Mapping):
        raw: object = source
    else:
        path = Path(source)
        where = str(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError("cannot read GIS mapping", [ErrorDetail(where, str(exc))]) from exc
        except yaml.YAMLError as exc:
            raise InputError("GIS mapping is not valid YAML", [ErrorDetail(where, str(exc))]) from exc
        except (ValueError, OverflowError, RecursionError) as exc:  # 2023-02-30; 5,000 digits; nesting
            raise InputError(
                "GIS mapping is not valid YAML", [ErrorDetail(where, f"bad value: {exc}")]
            ) from exc
    if raw is None:
        return GisMapping()
    try:
        return GisMapping.model_validate(raw)
    except ValidationError as exc:
        details = [
            ErrorDetail(
                where=f"{where}:" + ".".join(str(p) for p in err["loc"]),
                message=err["msg"],
                code="mapping",
            )
            for err in exc.errors()
        ]
        raise InputError("invalid GIS mapping", details) from exc
