"""Reconciliation of GIS layers (every format) with the synthetic feeder: ids, proximity, conflicts, overrides."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from gis_fixtures import UTM, build_gis, write_gis
from gridtwin.errors import InputError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.twins import feeder_to_twins
from gridtwin.ingest.gis import read_gis, reconcile
from gridtwin.ingest.gis.reconcile import ReconcileReport
from pyproj import Geod

FORMATS = ["shp", "geojson", "gpkg", "gdb", "csv"]
GEOD = Geod(ellps="WGS84")


def _run(
    model: FeederModel, tmp_path: Path, fmt: str, overrides: object = None
) -> tuple[FeederModel, ReconcileReport]:
    gis = build_gis(model)
    paths, mapping = write_gis(gis, tmp_path, fmt)
    return reconcile(model, read_gis(paths, mapping), overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_matches_the_synthetic_feeder(model: FeederModel, tmp_path: Path, fmt: str) -> None:
    before = model.table("buses").copy(deep=True)
    gis = build_gis(model)
    paths, mapping = write_gis(gis, tmp_path, fmt)
    layers = read_gis(paths, mapping)
    assert layers.issues == []
    new, report = reconcile(model, layers)
    m = report.matches
    load_bus = {
        str(n): str(b).split(".")[0]
        for n, b in zip(model.table("loads")["name"], model.table("loads")["bus1"], strict=True)
    }

    wrong = []
    for row in m.to_dict(orient="records"):
        truth = gis.truth[f"{row['layer']}:{row['fid']}"]
        got = str(row["twin_id"])
        if row["method"] in ("id", "proximity"):
            same = got == truth or (
                row["asset"] == "meter"
                and load_bus[got.rsplit(".", 1)[1]] == load_bus[truth.rsplit(".", 1)[1]]
            )
            if not same:
                wrong.append((row["ref"], got, truth))
    assert wrong == []
    # every feature whose id was blanked is found again by proximity
    by_key = {f"{r.layer}:{r.fid}": r for r in m.itertuples(index=False)}
    assert {by_key[k].method for k in gis.dropped} == {"proximity"}
    assert report.counts["matched_by_proximity"] == len(gis.dropped)
    assert report.counts["other_feeder"] == 1
    assert report.counts["unmatched"] == 2  # the two far extras
    assert report.counts["conflict"] == 2
    codes = sorted(c.code for c in report.conflicts)
    assert codes == ["attribute", "duplicate_id", "far"]
    assert all("transformers" in c.where for c in report.conflicts)

    ids = m[m["method"] == "id"]
    assert (ids["confidence"] >= 0.7).all() and (ids["confidence"] == 1.0).mean() > 0.99
    prox = m[m["method"] == "proximity"]
    assert prox["confidence"].between(0.5, 0.95).all()
    assert prox["distance_m"].max() < 15.0

    # the input model is untouched; the new one has every bus placed within metres of the truth
    pd.testing.assert_frame_equal(model.table("buses"), before)
    buses = new.table("buses")
    assert buses["has_coords"].all()
    _, _, err_m = GEOD.inv(
        before["x"].to_numpy(), before["y"].to_numpy(), buses["x"].to_numpy(), buses["y"].to_numpy()
    )
    located = buses["name"].isin(["sourcebus"]) == False  # noqa: E712 -- sourcebus has no GIS feature
    assert np.nanmax(np.abs(err_m[located.to_numpy()])) < 15.0
    assert report.counts["buses_located"] == len(buses) - 1
    assert len(report.line_geometry_wkt) == len(model.table("lines"))
    routes = new.table("lines")["geometry_wkt"]
    assert routes.str.startswith("LINESTRING").all()  # every line drawn on the map, in WGS84
    twins, _ = feeder_to_twins(new)  # the placed model is still a valid twin graph, routes included
    assert sum(1 for t in twins if str(t.get("geometry_wkt", "")).startswith("LINESTRING")) == len(routes)
    json.dumps(report.to_dict(), allow_nan=False)


def test_overrides_are_respected_on_the_next_import(model: FeederModel, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    _, first = _run(model, tmp_path / "a", "gdb")
    template = first.overrides_template()
    assert set(template["reason"]) == {"unmatched", "conflict"}
    far = template[template["gis_id"] == "TX0005"]
    assert far["twin_id"].tolist() == [f"{model.feeder_id}.transformers.tx0005"]
    unmatched = template[template["reason"] == "unmatched"]["gis_id"].tolist()
    table = pd.DataFrame(
        {
            "gis_id": ["TX0005", *unmatched, "OTHER-FEEDER-ID"],
            "twin_id": [f"{model.feeder_id}.transformers.tx0005", "ignore", "ignore", "other-feeder.loads.x"],
        }
    )
    csv_path = tmp_path / "overrides.csv"
    table.to_csv(csv_path, index=False)
    (tmp_path / "b").mkdir()
    _, again = _run(model, tmp_path / "b", "gdb", csv_path)
    assert again.counts["matched_by_override"] == 1
    assert again.counts["ignored"] == 2
    assert again.counts["unmatched"] == 0
    row = again.matches[again.matches["method"] == "override"].iloc[0]
    assert row["confidence"] == 1.0 and row["distance_m"] > 1900

    yaml_path = tmp_path / "overrides.yaml"
    yaml_path.write_text("TX0005: ignore\n")
    (tmp_path / "c").mkdir()
    _, third = _run(model, tmp_path / "c", "gdb", yaml_path)
    assert third.counts["ignored"] == 1 and third.counts["conflict"] == 1  # the duplicate stays


def test_bad_override_raises_before_anything_changes(model: FeederModel, tmp_path: Path) -> None:
    before = model.table("buses").copy(deep=True)
    bad = {
        "TX0003": f"{model.feeder_id}.transformers.nope",
        "M000002": f"{model.feeder_id}.transformers.tx0003",
    }
    with pytest.raises(InputError) as err:
        _run(model, tmp_path, "geojson", bad)
    wheres = sorted(d.where for d in err.value.details)
    assert wheres == ["overrides:M000002", "overrides:TX0003"]
    pd.testing.assert_frame_equal(model.table("buses"), before)
    bad_csv = tmp_path / "o.csv"
    bad_csv.write_text("gis,target\nA,B\n")
    with pytest.raises(InputError, match="gis_id, twin_id"):
        _run(model, tmp_path, "geojson", bad_csv)


def test_model_without_coordinates_is_placed_from_ids(model: FeederModel, tmp_path: Path) -> None:
    tables = dict(model.tables)
    buses = model.table("buses").copy()
    buses["has_coords"] = False
    buses["x"] = 0.0
    buses["y"] = 0.0
    tables["buses"] = buses
    bare = FeederModel(model.feeder_id, model.site, model.circuit, tables)
    paths, mapping = write_gis(build_gis(model), tmp_path, "geojson")  # GIS drawn from the placed feeder
    new, report = reconcile(bare, read_gis(paths, mapping))
    assert report.counts["matched_by_proximity"] == 0  # nothing to be near
    assert report.counts["matched_by_id"] > 1300
    assert new.table("buses")["has_coords"].sum() > 400


def test_poles_and_switches_match_by_proximity(model: FeederModel, tmp_path: Path) -> None:
    buses = model.table("buses")
    primary = buses[(buses["base_kv"] >= 1.0) & (buses["name"] != "sourcebus")]
    rng = np.random.default_rng(11)
    poles = gpd.GeoDataFrame(
        {"POLE_NO": [""] * len(primary)},
        geometry=gpd.points_from_xy(primary["x"], primary["y"], crs="EPSG:4326").to_crs(UTM),
    )
    poles.geometry = poles.geometry.translate(*rng.normal(0.0, 1.0, 2))
    tables = dict(model.tables)
    lines = model.table("lines").copy()
    lines.loc[lines["name"] == "tr002", "is_switch"] = True
    tables["lines"] = lines
    switched = FeederModel(model.feeder_id, model.site, model.circuit, tables)
    ends = buses.set_index("name").loc[["t001", "t002"], ["x", "y"]].mean()
    switch = gpd.GeoDataFrame(
        {"ASSETID": ["SW-17"], "PHASES": ["ABC"]},
        geometry=gpd.points_from_xy([ends["x"]], [ends["y"]], crs="EPSG:4326").to_crs(UTM),
    )
    pyogrio.write_dataframe(poles, tmp_path / "poles.gpkg", layer="poles", driver="GPKG")
    pyogrio.write_dataframe(switch, tmp_path / "switches.geojson", driver="GeoJSON")
    _, report = reconcile(switched, read_gis([tmp_path / "poles.gpkg", tmp_path / "switches.geojson"]))
    m = report.matches
    pole_rows = m[m["asset"] == "pole"]
    truth = [f"{model.feeder_id}.buses.{n}" for n in primary["name"]]
    assert (pole_rows["twin_id"].to_numpy() == np.array(truth)).mean() > 0.95
    sw = m[m["asset"] == "switch"].iloc[0]
    assert (sw["twin_id"], sw["method"]) == (f"{model.feeder_id}.lines.tr002", "proximity")
    assert sw["confidence"] > 0.8
