"""GIS layers built from the synthetic utility's feeder 0 (WGS84 bus coordinates), the way a utility's GIS
would hold them: UTM 16N, renamed columns, positions moved a few metres, some ids missing, extra and
conflicting features. ``Truth`` records what each feature really is so tests can score the matching."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from gridtwin.grid.model import FeederModel

UTM = "EPSG:32616"
SEED = 7


@dataclass
class Gis:
    layers: dict[str, gpd.GeoDataFrame]  # layer name -> frame in UTM
    truth: dict[str, str] = field(default_factory=dict)  # "layer:row" -> true twin id ("" = extra)
    dropped: set[str] = field(default_factory=set)  # "layer:row" whose id was blanked


def _letters(term: str) -> str:
    return "".join(sorted({"ABC"[int(p) - 1] for p in term.split(".")[1:] if p in ("1", "2", "3")}))


def build_gis(model: FeederModel, seed: int = SEED) -> Gis:
    rng = np.random.default_rng(seed)
    fid = model.feeder_id
    b = model.table("buses")
    at = {str(n): (float(x), float(y)) for n, x, y in zip(b["name"], b["x"], b["y"], strict=True)}

    def utm(points: list[tuple[float, float]]) -> np.ndarray[Any, Any]:
        s = gpd.GeoSeries([shapely.Point(p) for p in points], crs="EPSG:4326").to_crs(UTM)
        out: np.ndarray[Any, Any] = np.column_stack([s.x.to_numpy(), s.y.to_numpy()])
        return out

    def jitter(xy: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        out: np.ndarray[Any, Any] = xy + rng.normal(0.0, 2.0, xy.shape)
        return out  # a few metres of survey/drafting error

    gis = Gis(layers={})
    tx = model.table("transformers").iloc[1:]  # the substation transformer is not a GIS point
    xy = jitter(utm([at[str(bs[0]).split(".")[0]] for bs in tx["buses"]]))
    frame = pd.DataFrame(
        {
            "FACILITYID": [str(n).upper() for n in tx["name"]],
            "PHASEDESIGNATION": [_letters(str(bs[0])) for bs in tx["buses"]],
            "RATEDKVA": [float(k[0]) for k in tx["kvas_kva"]],
            "FEEDERID": fid,
        }
    )
    truth = [f"{fid}.transformers.{n}" for n in tx["name"]]
    # extras: two with no id far from anything, one that another feeder owns
    far = xy[:3] + np.array([3000.0, 3000.0])
    frame = pd.concat(
        [
            frame,
            pd.DataFrame(
                {
                    "FACILITYID": ["", "", "OTHER-TX"],
                    "PHASEDESIGNATION": ["A", "B", "C"],
                    "RATEDKVA": [25.0, 25.0, 25.0],
                    "FEEDERID": [fid, fid, "some-other-feeder"],
                }
            ),
        ],
        ignore_index=True,
    )
    xy = np.vstack([xy, far])
    truth += ["", "", ""]
    # conflicts: a second feature claiming the id of the first, and one named after the 5th but 2 km away
    dup = {"FACILITYID": frame.at[0, "FACILITYID"], "PHASEDESIGNATION": frame.at[0, "PHASEDESIGNATION"]}
    frame = pd.concat([frame, pd.DataFrame([{**dup, "RATEDKVA": 0.0, "FEEDERID": fid}])], ignore_index=True)
    xy = np.vstack([xy, xy[0] + 1.0])
    truth.append("")
    frame.at[2, "RATEDKVA"] = 999.0  # rating disagrees with the model: matched, but a conflict line
    moved = 4
    xy[moved] += np.array([2000.0, 0.0])
    truth[moved] = ""
    _drop(frame, "FACILITYID", truth, range(10, 20), "transformers", gis)
    gis.layers["transformers"] = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM
    )
    gis.truth.update({f"transformers:{k}": t for k, t in enumerate(truth)})

    loads = model.table("loads")
    xy = jitter(utm([at[str(t).split(".")[0]] for t in loads["bus1"]]))
    frame = pd.DataFrame({"ASSETID": list(loads["name"]), "FEEDERID": fid})
    truth = [f"{fid}.loads.{n}" for n in loads["name"]]
    _drop(frame, "ASSETID", truth, range(0, len(loads), 25), "meters", gis)
    gis.layers["meters"] = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM)
    gis.truth.update({f"meters:{k}": t for k, t in enumerate(truth)})

    caps = model.table("capacitors")
    xy = jitter(utm([at[str(t).split(".")[0]] for t in caps["bus1"]]))
    frame = pd.DataFrame(
        {"FACILITYID": list(caps["name"]), "KVAR": [float(sum(k)) for k in caps["kvars_kvar"]]}
    )
    truth = [f"{fid}.capacitors.{n}" for n in caps["name"]]
    _drop(frame, "FACILITYID", truth, [1], "capacitors", gis)
    gis.layers["capacitors"] = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM
    )
    gis.truth.update({f"capacitors:{k}": t for k, t in enumerate(truth)})

    lines = model.table("lines")
    ends1 = jitter(utm([at[str(t).split(".")[0]] for t in lines["bus1"]]))
    ends2 = jitter(utm([at[str(t).split(".")[0]] for t in lines["bus2"]]))
    mids = jitter((ends1 + ends2) / 2)
    geoms = [shapely.LineString([a, m, c]) for a, m, c in zip(ends1, mids, ends2, strict=True)]
    frame = pd.DataFrame(
        {"FACILITYID": list(lines["name"]), "PHASES": lines["phases"].astype("int32"), "FEEDERID": fid}
    )
    truth = [f"{fid}.lines.{n}" for n in lines["name"]]
    _drop(frame, "FACILITYID", truth, range(3, len(lines), 30), "conductors", gis)
    gis.layers["conductors"] = gpd.GeoDataFrame(frame, geometry=geoms, crs=UTM)
    gis.truth.update({f"conductors:{k}": t for k, t in enumerate(truth)})
    return gis


def _drop(frame: pd.DataFrame, col: str, truth: list[str], rows: Any, layer: str, gis: Gis) -> None:
    for k in rows:
        if truth[k]:
            frame.at[k, col] = ""
            gis.dropped.add(f"{layer}:{k}")


# Shapefile field names stop at 10 characters, so that format needs the mapping to name the phase column.
SHP_MAPPING: dict[str, object] = {
    "layers": {"transformers": {"asset": "transformer", "columns": {"phases": "PHASEDESIG"}}}
}


def write_gis(gis: Gis, tmp: Path, fmt: str) -> tuple[list[Path], dict[str, object] | None]:
    """Write the layers in ``fmt``; the paths to read and the mapping that format needs."""
    if fmt == "gdb":
        path = tmp / "utility.gdb"
        for name, frame in gis.layers.items():
            pyogrio.write_dataframe(frame, path, layer=name, driver="OpenFileGDB")
        return [path], None
    if fmt == "gpkg":
        path = tmp / "utility.gpkg"
        for name, frame in gis.layers.items():
            pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG")
        return [path], None
    paths: list[Path] = []
    for name, frame in gis.layers.items():
        if fmt == "csv":
            path = tmp / f"{name}.csv"
            out = pd.DataFrame(frame.drop(columns="geometry"))
            if name == "conductors":
                out["WKT"] = frame.geometry.to_wkt()
            else:
                out["EASTING"], out["NORTHING"] = frame.geometry.x, frame.geometry.y
            out.to_csv(path, index=False)
        else:
            path = tmp / f"{name}.{fmt}"
            if fmt == "shp":  # dBase field names stop at 10 characters
                frame = frame.rename(columns={"PHASEDESIGNATION": "PHASEDESIG"})
            pyogrio.write_dataframe(frame, path, driver={"shp": "ESRI Shapefile", "geojson": "GeoJSON"}[fmt])
        paths.append(path)
    if fmt == "shp":
        return paths, SHP_MAPPING
    if fmt == "csv":
        return paths, {"crs": UTM}
    return paths, None
