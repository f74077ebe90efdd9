"""Read GIS layers (shapefile, GeoJSON, GeoPackage, file geodatabase, CSV) into one WGS84 feature table.

GDAL does the format work through pyogrio; pyproj (via geopandas) reprojects. Every feature comes out
as one row of ``FEATURE_COLUMNS`` plus a WGS84 geometry (x = longitude, y = latitude). Features that
cannot be used (null, empty or invalid geometry, wrong geometry kind for the asset) are left out and
listed in ``GisLayers.issues`` naming file, layer and feature; a file GDAL cannot read, a layer with no
CRS (and none in the mapping), or a mapping column the layer lacks raise ``InputError``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.ingest.gis.mapping import (
    CSV_XY,
    LONLAT_NAMES,
    PROPERTIES,
    WKT_COLUMNS,
    GisMapping,
    LayerMapping,
    guess_column,
    load_mapping,
)

__all__ = ["FEATURE_COLUMNS", "WGS84", "GisLayers", "normalise_phases", "read_gis"]

WGS84 = "EPSG:4326"
FEATURE_COLUMNS: dict[str, str] = {
    "ref": "str",  # file:layer:id (or #row) -- names the feature in reports
    "source": "str",  # file name
    "layer": "str",
    "fid": "int64",  # row position in the layer
    "asset": "str",  # pole | transformer | meter | switch | capacitor | conductor
    "gis_id": "str",  # "" when the feature has none
    "phases": "str",  # letters, e.g. "ABC", "" when unknown
    "nphases": "int64",  # 0 when unknown
    "kva": "float64",
    "kvar": "float64",
    "kv": "float64",
    "feeder": "str",
    "status": "str",
}
_POINT_ASSETS = frozenset({"pole", "transformer", "meter", "switch", "capacitor"})
_GDB_SUFFIXES = frozenset({".gdb"})
_OGR_SUFFIXES = frozenset({".shp", ".geojson", ".json", ".gpkg", ".gdb", ".fgb", ".kml", ".gml"})
# ArcFM-style coded phase designation (bit mask A=4, B=2, C=1).
_PHASE_BITS = ((4, "A"), (2, "B"), (1, "C"))


@dataclass
class GisLayers:
    """All features read, WGS84, one row per feature (``FEATURE_COLUMNS`` + ``geometry``)."""

    features: gpd.GeoDataFrame
    issues: list[ErrorDetail] = field(default_factory=list)
    layers: dict[str, str] = field(default_factory=dict)  # "file:layer" -> asset type or "skipped"

    def of(self, asset: str) -> gpd.GeoDataFrame:
        return self.features[self.features["asset"] == asset]


def read_gis(
    paths: Path | str | Sequence[Path | str],
    mapping: GisMapping | Path | str | Mapping[str, Any] | None = None,
) -> GisLayers:
    """Read every layer of every source into one WGS84 table; all-or-nothing on hard errors."""
    spec = mapping if isinstance(mapping, GisMapping) else load_mapping(mapping)
    sources = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    frames: list[gpd.GeoDataFrame] = []
    issues: list[ErrorDetail] = []
    layers: dict[str, str] = {}
    for path in sources:
        for name, raw, where in _read_source(path, spec):
            lm = spec.layer(name)
            if lm is None:
                layers[where] = "skipped"
                issues.append(
                    ErrorDetail(where, "layer not in the mapping and no asset type guessed", "skipped")
                )
                continue
            layers[where] = lm.asset
            frame, found = _normalise(raw, lm, spec, where, path.name, name)
            frames.append(frame)
            issues.extend(found)
    if frames:
        features = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=WGS84)
    else:
        features = _empty()
    return GisLayers(features=features, issues=issues, layers=layers)


def _empty() -> gpd.GeoDataFrame:
    data = {c: pd.Series(dtype="object" if t == "str" else t) for c, t in FEATURE_COLUMNS.items()}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


# ----------------------------------------------------------------------------------------------------
# sources


def _read_source(path: Path, spec: GisMapping) -> Iterable[tuple[str, gpd.GeoDataFrame, str]]:
    suffix = path.suffix.lower()
    if not path.exists():
        raise InputError("GIS source not found", [ErrorDetail(str(path), "no such file or directory")])
    if suffix == ".csv":
        yield path.stem, _read_csv(path, spec), f"{path.name}:{path.stem}"
        return
    if suffix not in _OGR_SUFFIXES:
        raise InputError(
            "unsupported GIS format",
            [ErrorDetail(str(path), f"expected one of {sorted(_OGR_SUFFIXES | {'.csv'})}")],
        )
    if suffix == ".shp":
        _check_shp_length(path)
    if suffix in _GDB_SUFFIXES or suffix == ".gpkg":
        names = [str(n) for n in _ogr(path, "", lambda: pyogrio.list_layers(path))[:, 0]]
    else:
        names = [path.stem]  # one layer per file; named by the file so the mapping can key on it
    for name in names:
        layer_arg = name if suffix in _GDB_SUFFIXES or suffix == ".gpkg" else None
        where = f"{path.name}:{name}"
        frame = _ogr(path, where, lambda arg=layer_arg: pyogrio.read_dataframe(path, layer=arg))
        yield name, frame, where


def _check_shp_length(path: Path) -> None:
    """GDAL reads a cut-short .shp without complaint (the missing records come back with no geometry),
    so compare the file with the length its header declares (bytes 24-27, big-endian 16-bit words)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.read(28)
    declared = int.from_bytes(header[24:28], "big") * 2 if len(header) == 28 else -1
    if declared != size:
        raise InputError(
            "GIS source is damaged or truncated",
            [ErrorDetail(str(path.name), f"header declares {declared} bytes, file has {size}", "truncated")],
        )


def _ogr(path: Path, where: str, call: Any) -> Any:
    """Run a GDAL read; its errors and warnings (GDAL warns on truncated records) become InputError."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = call()
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise InputError(
                "GDAL cannot read GIS source", [ErrorDetail(where or str(path), str(exc))]
            ) from exc
        except (pyogrio.errors.FieldError, pyogrio.errors.GeometryError, OSError, ValueError) as exc:
            raise InputError(
                "GDAL cannot read GIS layer", [ErrorDetail(where or str(path), str(exc))]
            ) from exc
    if caught:
        raise InputError(
            "GIS source is damaged or truncated",
            [ErrorDetail(where or str(path), str(w.message), "truncated") for w in caught],
        )
    return out


def _read_csv(path: Path, spec: GisMapping) -> gpd.GeoDataFrame:
    where = f"{path.name}:{path.stem}"
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError("cannot read GIS CSV", [ErrorDetail(where, str(exc))]) from exc
    lm = spec.layer(path.stem)
    upper = {c.upper(): c for c in df.columns}
    crs = (lm.crs if lm else None) or spec.crs
    if (lm is not None and lm.wkt is not None) or any(w in upper for w in WKT_COLUMNS):
        col = lm.wkt if lm is not None and lm.wkt else next(upper[w] for w in WKT_COLUMNS if w in upper)
        _require(df, col, where, "wkt")
        # a short row leaves NaN (a float) even with dtype=str: only non-empty text is WKT
        wkt = np.array([v if isinstance(v, str) and v else None for v in df[col]], dtype=object)
        with warnings.catch_warnings():  # 1e309 overflows to inf: refused below as non-finite
            warnings.simplefilter("ignore", RuntimeWarning)
            geom = shapely.from_wkt(wkt, on_invalid="ignore")
        return gpd.GeoDataFrame(df.drop(columns=[col]), geometry=gpd.GeoSeries(geom), crs=crs)
    if lm is not None and lm.x and lm.y:
        xcol, ycol = lm.x, lm.y
        _require(df, xcol, where, "x")
        _require(df, ycol, where, "y")
    else:
        pair = next(((upper[x], upper[y]) for x, y in CSV_XY if x in upper and y in upper), None)
        if pair is None:
            raise InputError(
                "GIS CSV has no coordinate columns",
                [ErrorDetail(where, f"name x/y in the mapping or use one of {list(CSV_XY)} or a WKT column")],
            )
        xcol, ycol = pair
        if crs is None and xcol.upper() in LONLAT_NAMES:
            crs = WGS84  # longitude/latitude columns mean WGS84 unless the mapping says otherwise
    xs = pd.to_numeric(df[xcol].replace("", None), errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(df[ycol].replace("", None), errors="coerce").to_numpy(dtype=float)
    geom = np.array(
        [None if np.isnan(a) or np.isnan(b) else shapely.Point(a, b) for a, b in zip(xs, ys, strict=True)]
    )
    return gpd.GeoDataFrame(df.drop(columns=[xcol, ycol]), geometry=gpd.GeoSeries(geom), crs=crs)


def _require(df: pd.DataFrame, col: str, where: str, key: str) -> None:
    if col not in df.columns:
        raise InputError(
            "GIS mapping names a column the layer lacks",
            [ErrorDetail(f"{where}: mapping key {key}", f"no column {col!r}; columns: {list(df.columns)}")],
        )


# ----------------------------------------------------------------------------------------------------
# normalisation


def _normalise(
    raw: gpd.GeoDataFrame, lm: LayerMapping, spec: GisMapping, where: str, source: str, layer: str
) -> tuple[gpd.GeoDataFrame, list[ErrorDetail]]:
    columns = [str(c) for c in raw.columns if c != raw.geometry.name]
    cols: dict[str, str | None] = {}
    for prop in PROPERTIES:
        if prop in lm.columns:
            if lm.columns[prop] not in columns:
                raise InputError(
                    "GIS mapping names a column the layer lacks",
                    [
                        ErrorDetail(
                            f"mapping layers.{layer}.columns.{prop}",
                            f"{where} has no column {lm.columns[prop]!r}; columns: {columns}",
                        )
                    ],
                )
            cols[prop] = lm.columns[prop]
        else:
            cols[prop] = guess_column(prop, columns)
    frame = _to_wgs84(raw, lm, spec, where)
    n = len(frame)
    ids = _text(frame, cols["id"], n)
    phase_col = cols["phases"]
    letters, counts = normalise_phases(
        frame[phase_col] if phase_col else pd.Series([None] * n),
        coded=(phase_col or "").upper().startswith("PHASEDESIG"),
    )
    out = pd.DataFrame(
        {
            "ref": [f"{where}:{i}" if i else f"{where}:#{k}" for k, i in enumerate(ids)],
            "source": source,
            "layer": layer,
            "fid": np.arange(n, dtype=np.int64),
            "asset": lm.asset,
            "gis_id": ids,
            "phases": letters,
            "nphases": counts,
            "kva": _number(frame, cols["kva"], n),
            "kvar": _number(frame, cols["kvar"], n),
            "kv": _number(frame, cols["kv"], n),
            "feeder": _text(frame, cols["feeder"], n),
            "status": _text(frame, cols["status"], n),
        }
    )
    geoms = frame.geometry.to_numpy()
    keep, issues = _check_geometries(geoms, lm.asset, out["ref"].tolist())
    result = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, crs=WGS84), crs=WGS84)
    return result[keep].reset_index(drop=True), issues


def _to_wgs84(raw: gpd.GeoDataFrame, lm: LayerMapping, spec: GisMapping, where: str) -> gpd.GeoDataFrame:
    frame = raw
    if frame.crs is None:
        given = lm.crs or spec.crs
        if given is None:
            raise InputError(
                "GIS layer has no coordinate reference system",
                [ErrorDetail(where, "no CRS in the file (.prj missing?); give `crs:` in the mapping", "crs")],
            )
        try:
            frame = frame.set_crs(CRS.from_user_input(given))
        except CRSError as exc:
            raise InputError("bad CRS", [ErrorDetail(where, str(exc), "crs")]) from exc
    frame = frame.to_crs(WGS84)
    bounds = frame.geometry[~(frame.geometry.isna() | frame.geometry.is_empty)].total_bounds
    if len(bounds) == 4 and np.all(np.isfinite(bounds)):
        minx, miny, maxx, maxy = (float(b) for b in bounds)
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise InputError(
                "GIS coordinates outside WGS84 after reprojection",
                [ErrorDetail(where, f"bounds {bounds.tolist()} - is the layer's CRS right?", "crs")],
            )
    return frame


def _text(frame: pd.DataFrame, col: str | None, n: int) -> list[str]:
    if col is None:
        return [""] * n
    values = frame[col].tolist()
    out: list[str] = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append("")
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))  # ids stored as doubles in shapefiles
        else:
            out.append(str(v).strip())
    return out


def _number(frame: pd.DataFrame, col: str | None, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    if col is None:
        return np.full(n, np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)


def normalise_phases(values: pd.Series[Any], *, coded: bool = False) -> tuple[list[str], list[int]]:
    """Phase letters and counts: "ABC", "a-b", "CN" -> letters; 3 -> count only; with ``coded`` an
    integer is the ArcFM bit mask (A=4, B=2, C=1)."""
    letters: list[str] = []
    counts: list[int] = []
    for v in values.tolist():
        text = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip().upper()
        number: int | None = None
        try:
            number = int(float(text)) if text else None
        except (ValueError, OverflowError):  # not a number; inf or 1e309
            number = None
        if number is not None and coded and 0 < number < 8:
            found = "".join(letter for bit, letter in _PHASE_BITS if number & bit)
            letters.append(found)
            counts.append(len(found))
        elif number is not None:
            letters.append("")
            counts.append(number if 0 < number <= 3 else 0)
        else:
            found = "".join(sorted({c for c in text if c in "ABC"}))
            letters.append(found)
            counts.append(len(found))
    return letters, counts


def _check_geometries(
    geoms: Any, asset: str, refs: list[str]
) -> tuple[np.ndarray[Any, Any], list[ErrorDetail]]:
    keep = np.ones(len(refs), dtype=bool)
    issues: list[ErrorDetail] = []
    kinds = ("Point", "MultiPoint") if asset in _POINT_ASSETS else ("LineString", "MultiLineString")
    for k, (g, ref) in enumerate(zip(geoms, refs, strict=True)):
        problem = ""
        if g is None:
            problem = "no geometry"
        elif g.is_empty:
            problem = "empty geometry"
        elif g.geom_type not in kinds:
            problem = f"{g.geom_type} where a {asset} needs {' or '.join(kinds)}"
        elif g.geom_type == "MultiPoint" and len(g.geoms) != 1:
            problem = f"MultiPoint with {len(g.geoms)} points for one {asset}"
        elif not np.all(np.isfinite(shapely.get_coordinates(g))):
            problem = "non-finite coordinates"
        elif not g.is_valid:
            problem = f"invalid geometry: {shapely.is_valid_reason(g)}"
        if problem:
            keep[k] = False
            issues.append(ErrorDetail(ref, problem, "geometry"))
    return keep, issues
