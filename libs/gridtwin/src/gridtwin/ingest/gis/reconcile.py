"""Match GIS features to the electrical elements of a feeder and put the feeder on the map.

Order: the override table (gis id -> twin id or "ignore") first, then ids (the feature's id equals the
element's name or its twin id), then spatial proximity among elements of the matching type, weighed by
phase and rating agreement. Every match carries a confidence in [0, 1] and its method. Matched point
features place their buses (x = longitude, y = latitude, ``has_coords``); conductor geometries go to
the lines' ``geometry_wkt`` (WGS84 WKT) and are listed in ``ReconcileReport.line_geometry_wkt``. The input model is
never modified: ``reconcile`` builds a new one, and raises before changing anything on a bad override.

Matching is greedy by distance (no scipy here for an optimal assignment); with candidates pre-filtered
by an STR-tree to a radius of a few tens of metres, greedy and optimal differ only among near-ties,
which the confidence already marks as ambiguous.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml
from pyproj import CRS

from gridtwin.errors import ErrorDetail, InputError, Report
from gridtwin.grid.model import TABLES, FeederModel
from gridtwin.grid.twins import twin_id
from gridtwin.ingest.gis.elements import ASSET_TABLES, Candidates, build_candidates, bus_name
from gridtwin.ingest.gis.read import WGS84, GisLayers

__all__ = ["MATCH_COLUMNS", "MatchSettings", "ReconcileReport", "load_overrides", "reconcile"]

IGNORE = "ignore"
MATCH_COLUMNS: dict[str, str] = {
    "ref": "str",
    "layer": "str",
    "fid": "int64",  # row in its layer
    "gis_id": "str",
    "asset": "str",
    "twin_id": "str",  # "" when unmatched
    "method": "str",  # override | id | proximity | ignored | unmatched | conflict
    "confidence": "float64",
    "distance_m": "float64",  # NaN when either side has no location
    "applied": "bool",  # whether the match moved coordinates / geometry into the model
}
# Which matched asset places a bus when several do (lower wins): a pole is surveyed where the bus is.
# A transformer point places its other windings' buses only when nothing else does (a secondary bus is
# often drawn a span away, where the service conductor starts).
_BUS_PRIORITY = {"pole": 0, "transformer": 1, "capacitor": 2, "meter": 3, "conductor": 4, "secondary": 5}


@dataclass(frozen=True)
class MatchSettings:
    max_distance_m: float = 30.0  # proximity radius (Hausdorff distance for conductors)
    conflict_distance_m: float = 100.0  # an id match farther than this is a conflict, not applied
    rating_tolerance: float = 0.02  # relative kVA/kvar difference still counted as agreeing
    model_crs: str = WGS84  # CRS of the model's bus x/y


@dataclass
class ReconcileReport(Report):
    conflicts: list[ErrorDetail] = field(default_factory=list)
    matches: pd.DataFrame = field(default_factory=lambda: _frame([]))
    line_geometry_wkt: dict[str, str] = field(default_factory=dict)  # line name -> WGS84 WKT

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["conflicts"] = [c.to_dict() for c in self.conflicts]
        # strict JSON: no NaN (a distance is unknown where either side has no location)
        matches = self.matches.astype(object).where(self.matches.notna(), None)
        out["matches"] = matches.to_dict(orient="records")
        out["line_geometry_wkt"] = dict(self.line_geometry_wkt)
        return out

    def overrides_template(self) -> pd.DataFrame:
        """Unmatched and conflicting features with the best guess, to edit into an override table."""
        todo = self.matches[self.matches["method"].isin(["unmatched", "conflict"])]
        return pd.DataFrame(
            {
                "gis_id": todo["gis_id"].where(todo["gis_id"] != "", todo["ref"]),
                "twin_id": todo["twin_id"],
                "reason": todo["method"],
            }
        )


def load_overrides(path: Path | str) -> dict[str, str]:
    """An override table: CSV with columns ``gis_id,twin_id`` or YAML ``{gis_id: twin_id}``; a twin id
    of "ignore" drops the feature. Rows name their line in errors."""
    path = Path(path)
    out: dict[str, str] = {}
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames is None or not {"gis_id", "twin_id"} <= set(reader.fieldnames):
                    raise InputError(
                        "override table needs columns gis_id, twin_id",
                        [ErrorDetail(f"{path}:1", f"columns: {reader.fieldnames}")],
                    )
                for line, row in enumerate(reader, start=2):
                    gid, tid = (row.get("gis_id") or "").strip(), (row.get("twin_id") or "").strip()
                    if not gid or not tid:
                        raise InputError(
                            "empty override", [ErrorDetail(f"{path}:{line}", "gis_id and twin_id needed")]
                        )
                    out[gid] = tid
        else:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
                raise InputError(
                    "override YAML must map gis_id -> twin id", [ErrorDetail(str(path), "not a mapping")]
                )
            out = {str(k): v.strip() for k, v in raw.items()}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError("cannot read override table", [ErrorDetail(str(path), str(exc))]) from exc
    return out


def reconcile(
    model: FeederModel,
    layers: GisLayers,
    overrides: Mapping[str, str] | Path | str | None = None,
    settings: MatchSettings | None = None,
) -> tuple[FeederModel, ReconcileReport]:
    """Match ``layers`` to ``model``; a new model with coordinates attached, and the report."""
    cfg = settings or MatchSettings()
    table = load_overrides(overrides) if isinstance(overrides, (str, Path)) else dict(overrides or {})
    report = ReconcileReport(source=", ".join(sorted(layers.layers)) or "gis")
    report.warnings.extend(layers.issues)
    feats = layers.features
    mine = _own_feeder(feats, model)
    report.counts["features"] = len(feats)
    report.counts["other_feeder"] = int((~mine).sum())
    feats = feats[mine].reset_index(drop=True)

    cands = build_candidates(model)
    metric = _metric_crs(feats)
    cand_m = {a: _project(c.geoms, cfg.model_crs, metric) for a, c in cands.items()}
    feat_m = feats.geometry.to_crs(metric).to_numpy() if len(feats) else np.array([], dtype=object)
    if not _model_coords_plausible(model, cfg.model_crs):
        report.warnings.append(
            ErrorDetail(
                model.feeder_id, "model bus coordinates are not in model_crs; proximity matching off", "crs"
            )
        )
        cand_m = {a: np.full(len(c.names), None, dtype=object) for a, c in cands.items()}

    rows: list[dict[str, Any]] = [
        {"ref": r, "layer": lay, "fid": int(f), "gis_id": g, "asset": a, "twin_id": "", "method": "unmatched",
         "confidence": 0.0, "distance_m": np.nan, "applied": False}
        for r, lay, f, g, a in zip(feats["ref"], feats["layer"], feats["fid"], feats["gis_id"], feats["asset"], strict=True)
    ]  # fmt: skip
    claimed: dict[tuple[str, int], int] = {}  # (asset, candidate) -> feature row
    ctx = _Ctx(feats, feat_m, cands, cand_m, cfg, rows, claimed, report, model.feeder_id)
    ctx.apply_overrides(table)
    ctx.match_ids()
    ctx.match_proximity()

    matches = _frame(rows)
    report.matches = matches
    for method in ("override", "id", "proximity", "ignored", "unmatched", "conflict"):
        report.counts[f"matched_by_{method}" if method in ("override", "id", "proximity") else method] = int(
            (matches["method"] == method).sum()
        )
    for row in rows:
        if row["method"] == "unmatched":
            report.unmapped.append(
                ErrorDetail(row["ref"], f"no {row['asset']} element matched", "unmatched_feature")
            )
    for asset in sorted(set(feats["asset"])):
        c = cands[asset]
        taken = {k for (a, k) in claimed if a == asset}
        missing = [
            twin_id(model.feeder_id, c.tables[k], c.names[k]) for k in range(len(c.names)) if k not in taken
        ]
        report.counts[f"{asset}_twins_without_feature"] = len(missing)
        if asset != "pole":  # most buses have no pole in a layer; counting them is enough
            report.unmapped.extend(
                ErrorDetail(t, f"no GIS {asset} feature", "unmatched_twin") for t in missing
            )
    new_model = _apply(model, feats, matches, cands, report)
    return new_model, report


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(
            {c: pd.Series(dtype=object if t == "str" else t) for c, t in MATCH_COLUMNS.items()}
        )
    return pd.DataFrame(rows, columns=list(MATCH_COLUMNS)).astype({"confidence": float, "distance_m": float})


def _own_feeder(feats: gpd.GeoDataFrame, model: FeederModel) -> np.ndarray[Any, np.dtype[np.bool_]]:
    ours = {model.feeder_id.lower(), str(model.circuit.get("name", "")).lower()} - {""}
    feeder = feats["feeder"].astype(str).str.lower()
    return np.asarray((feeder == "") | feeder.isin(ours), dtype=bool)


def _metric_crs(feats: gpd.GeoDataFrame) -> CRS:
    if len(feats) == 0:
        return CRS.from_user_input("EPSG:3857")
    crs = feats.estimate_utm_crs()
    return crs if crs is not None else CRS.from_user_input("EPSG:3857")


def _project(geoms: np.ndarray[Any, Any], src: str, dst: CRS) -> np.ndarray[Any, Any]:
    out = np.full(len(geoms), None, dtype=object)
    have = np.array([g is not None for g in geoms], dtype=bool)
    if have.any():
        out[have] = gpd.GeoSeries(list(geoms[have]), crs=src).to_crs(dst).to_numpy()
    return out


def _model_coords_plausible(model: FeederModel, crs: str) -> bool:
    b = model.table("buses")
    b = b[b["has_coords"].fillna(False).astype(bool)]
    if len(b) == 0 or not CRS.from_user_input(crs).is_geographic:
        return True
    return bool(b["x"].between(-180, 180).all() and b["y"].between(-90, 90).all())


@dataclass
class _Ctx:
    feats: gpd.GeoDataFrame
    feat_m: np.ndarray[Any, Any]
    cands: dict[str, Candidates]
    cand_m: dict[str, np.ndarray[Any, Any]]
    cfg: MatchSettings
    rows: list[dict[str, Any]]
    claimed: dict[tuple[str, int], int]
    report: ReconcileReport
    feeder: str

    def _tid(self, asset: str, k: int) -> str:
        c = self.cands[asset]
        return twin_id(self.feeder, c.tables[k], c.names[k])

    def _distance(self, i: int, asset: str, k: int) -> float:
        a, b = self.feat_m[i], self.cand_m[asset][k]
        if a is None or b is None:
            return float("nan")
        if asset == "conductor" and a.geom_type != "Point" and b.geom_type != "Point":
            return float(shapely.hausdorff_distance(a, b))
        return float(shapely.distance(a, b))

    def _agreement(self, i: int, asset: str, k: int, *, by_id: bool = False) -> tuple[float, list[str]]:
        """A factor in (0, 1] for phase and rating agreement, and what disagrees. Missing phase data
        costs a proximity match a little (less evidence) but not an id match."""
        c, f = self.cands[asset], self.feats.iloc[i]
        factor, notes = 1.0, list[str]()
        fl, el = str(f["phases"]), c.letters[k]
        fn, en = int(f["nphases"]), c.counts[k]
        if fl and el:
            if fl != el:
                factor, notes = factor * 0.3, [*notes, f"phases {fl} in GIS, {el} in the model"]
        elif fn and en and asset != "pole":
            if fn != en:
                factor, notes = factor * 0.3, [*notes, f"{fn} phases in GIS, {en} in the model"]
        elif asset != "pole" and not by_id:
            factor *= 0.9  # no phase evidence either way
        g = float(f["kvar"] if asset == "capacitor" else f["kva"])
        e = float(c.rating[k])
        if np.isfinite(g) and np.isfinite(e) and e > 0 and abs(g - e) > self.cfg.rating_tolerance * e:
            factor, notes = factor * 0.7, [*notes, f"rating {g:g} in GIS, {e:g} in the model"]
        return factor, notes

    def _set(self, i: int, asset: str, k: int, method: str, conf: float, dist: float, applied: bool) -> None:
        self.rows[i].update(
            twin_id=self._tid(asset, k),
            method=method,
            confidence=round(conf, 3),
            distance_m=dist,
            applied=applied,
        )
        if applied:
            self.claimed[(asset, k)] = i

    def apply_overrides(self, table: dict[str, str]) -> None:
        if not table:
            return
        by_key: dict[str, list[int]] = {}
        for i, row in enumerate(self.rows):
            for key in {str(row["gis_id"]).lower(), str(row["ref"]).lower()} - {""}:
                by_key.setdefault(key, []).append(i)  # ids compare case-insensitively, as for matching
        errors: list[ErrorDetail] = []
        plan: list[tuple[int, str, int | None]] = []
        for gid, target in table.items():
            for i in by_key.get(gid.lower(), []):
                asset = self.rows[i]["asset"]
                if target.lower() == IGNORE:
                    plan.append((i, asset, None))
                    continue
                feeder, _, rest = target.partition(".")
                if feeder != self.feeder:
                    continue  # an override for another feeder's import
                tbl, _, name = rest.partition(".")
                c = self.cands[asset]
                hits = [
                    k
                    for k in range(len(c.names))
                    if c.tables[k] == tbl and c.names[k].lower() == name.lower()
                ]
                if tbl not in ASSET_TABLES[asset]:
                    errors.append(ErrorDetail(f"overrides:{gid}", f"a {asset} cannot map to table {tbl!r}"))
                elif not hits:
                    errors.append(ErrorDetail(f"overrides:{gid}", f"no twin {target} in the model"))
                else:
                    plan.append((i, asset, hits[0]))
        if errors:
            raise InputError("override table does not fit the model", errors)  # before anything changed
        for i, asset, k in plan:
            if k is None:
                self.rows[i].update(method="ignored", confidence=1.0)
            else:
                self._set(i, asset, k, "override", 1.0, self._distance(i, asset, k), True)

    def match_ids(self) -> None:
        index = {a: c.index() for a, c in self.cands.items()}
        for i, row in enumerate(self.rows):
            gid = str(row["gis_id"]).lower()
            if row["method"] != "unmatched" or not gid:
                continue
            asset = row["asset"]
            prefix = f"{self.feeder.lower()}."
            k = index[asset].get(gid.removeprefix(prefix))
            if k is None:
                continue
            if (asset, k) in self.claimed:
                other = self.rows[self.claimed[(asset, k)]]["ref"]
                row.update(method="conflict", twin_id=self._tid(asset, k))
                self.report.conflicts.append(
                    ErrorDetail(row["ref"], f"same element {self._tid(asset, k)} as {other}", "duplicate_id")
                )
                continue
            dist = self._distance(i, asset, k)
            factor, notes = self._agreement(i, asset, k, by_id=True)
            if np.isfinite(dist) and dist > self.cfg.conflict_distance_m:
                row.update(method="conflict", twin_id=self._tid(asset, k), distance_m=dist,
                           confidence=round(0.3 * factor, 3))  # fmt: skip
                self.report.conflicts.append(
                    ErrorDetail(
                        row["ref"], f"id matches {self._tid(asset, k)} but it is {dist:.0f} m away", "far"
                    )
                )
                continue
            for note in notes:
                self.report.conflicts.append(
                    ErrorDetail(row["ref"], f"{self._tid(asset, k)}: {note}", "attribute")
                )
            self._set(i, asset, k, "id", factor, dist, True)

    def match_proximity(self) -> None:
        r = self.cfg.max_distance_m
        for asset, c in self.cands.items():
            todo = [
                i for i, row in enumerate(self.rows) if row["asset"] == asset and row["method"] == "unmatched"
            ]
            free = [
                k
                for k in range(len(c.names))
                if (asset, k) not in self.claimed and self.cand_m[asset][k] is not None
            ]
            if not todo or not free:
                continue
            tree = shapely.STRtree(self.cand_m[asset][free])
            pairs: list[tuple[float, float, int, int]] = []  # (distance, -factor, feature, candidate)
            nearest: dict[int, list[float]] = {}
            for i in todo:
                g = self.feat_m[i]
                if g is None:
                    continue
                for j in tree.query(g, predicate="dwithin", distance=r):
                    k = free[int(j)]
                    d = self._distance(i, asset, k)
                    if d <= r:
                        factor, _ = self._agreement(i, asset, k)
                        pairs.append((d, -factor, i, k))
                        nearest.setdefault(i, []).append(d)
            # Best evidence first: phase/rating agreement dominates, distance breaks ties within it.
            pairs.sort(key=lambda p: (round(p[1], 2), p[0]))
            used: set[int] = set()
            for d, neg_factor, i, k in pairs:
                if i in used or (asset, k) in self.claimed:
                    continue
                ds = sorted(nearest[i])
                second = ds[1] if len(ds) > 1 else r
                separation = min(1.0, 0.5 + 0.5 * (second - d) / max(second, 1e-9))
                closeness = 1.0 - d / r
                conf = 0.95 * (0.5 + 0.5 * closeness) * separation * -neg_factor
                used.add(i)
                self._set(i, asset, k, "proximity", conf, d, True)


def _apply(
    model: FeederModel, feats: gpd.GeoDataFrame, matches: pd.DataFrame, cands: dict[str, Candidates],
    report: ReconcileReport,
) -> FeederModel:  # fmt: skip
    tables = {name: df.copy(deep=True) for name, df in model.tables.items()}
    placed: dict[str, tuple[int, float, float, float]] = {}  # bus -> (priority, -confidence, lon, lat)

    def place(bus: str, asset: str, conf: float, pt: Any) -> None:
        key = (_BUS_PRIORITY[asset], -conf, float(pt.x), float(pt.y))
        if bus not in placed or key[:2] < placed[bus][:2]:
            placed[bus] = key

    lines = model.table("lines")
    line_ends = {
        str(n): (bus_name(str(a)), bus_name(str(b)))
        for n, a, b in zip(lines["name"], lines["bus1"], lines["bus2"], strict=True)
    }
    load_bus = {
        str(n): bus_name(str(b))
        for n, b in zip(model.table("loads")["name"], model.table("loads")["bus1"], strict=True)
    }
    cap_bus = {
        str(n): bus_name(str(b))
        for n, b in zip(model.table("capacitors")["name"], model.table("capacitors")["bus1"], strict=True)
    }
    tx = model.table("transformers")
    tx_buses: dict[str, list[str]] = {
        str(n): [bus_name(str(t)) for t in bs] for n, bs in zip(tx["name"], tx["buses"], strict=True)
    }
    pending_lines: list[tuple[str, Any, float]] = []
    m: dict[Any, Any]
    for i, m in enumerate(matches.to_dict(orient="records")):
        if not m["applied"]:
            continue
        geom = feats.geometry.iloc[i]
        table, name = str(m["twin_id"]).split(".", 2)[1:]
        conf, asset = float(m["confidence"]), str(m["asset"])
        if asset == "conductor" or (asset == "switch" and geom.geom_type != "Point"):
            pending_lines.append((name if table == "lines" else "", geom, conf))
            continue
        pt = geom.geoms[0] if geom.geom_type == "MultiPoint" else geom
        if asset == "pole":
            place(name, "pole", conf, pt)
        elif asset == "meter":
            place(load_bus[name], "meter", conf, pt)
        elif asset == "capacitor":
            place(cap_bus[name], "capacitor", conf, pt)
        elif asset == "transformer":
            for w, bus in enumerate(tx_buses[name]):
                place(bus, "transformer" if w == 0 else "secondary", conf, pt)
    wkt: dict[str, str] = {}
    for name, geom, conf in pending_lines:
        if not name or name not in line_ends:
            continue
        if geom.geom_type == "MultiLineString":  # file geodatabases store every line as multi-part
            merged = shapely.line_merge(geom)
            geom = merged if merged.geom_type == "LineString" else geom
        wkt[name] = shapely.to_wkt(geom, rounding_precision=8)
        ends = shapely.get_coordinates(geom)
        b1, b2 = line_ends[name]
        first, last = shapely.Point(ends[0]), shapely.Point(ends[-1])
        known = placed.get(b1)
        if known is not None and shapely.Point(known[2], known[3]).distance(last) < shapely.Point(
            known[2], known[3]
        ).distance(first):
            first, last = last, first  # the GIS line is drawn bus2 -> bus1
        place(b1, "conductor", conf, first)
        place(b2, "conductor", conf, last)
    report.line_geometry_wkt = wkt
    if placed and "buses" in tables:
        buses = tables["buses"]
        lower = buses["name"].astype(str).str.lower()
        for col, pos in (("x", 2), ("y", 3)):
            buses[col] = [
                placed[n][pos] if n in placed else v for n, v in zip(lower, buses[col], strict=True)
            ]
        buses["has_coords"] = [
            n in placed or bool(v) for n, v in zip(lower, buses["has_coords"], strict=True)
        ]
    if wkt and "geometry_wkt" in TABLES["lines"].column_names() and "lines" in tables:
        lines = tables["lines"]
        lines["geometry_wkt"] = [  # lines this import did not draw keep what they had
            wkt.get(str(n), old if isinstance(old, str) else "")
            for n, old in zip(lines["name"], lines["geometry_wkt"], strict=True)
        ]
    report.counts["buses_located"] = len(placed)
    report.counts["lines_with_geometry"] = len(wkt)
    return FeederModel(model.feeder_id, model.site, dict(model.circuit), tables, model.version)
