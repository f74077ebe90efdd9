"""Reading GIS sources: mapping, CRS, phases, and bad input (truncated files, bad geometry, bad mapping)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from gis_fixtures import UTM, build_gis, write_gis
from gridtwin.errors import InputError
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.gis import load_mapping, read_gis
from gridtwin.ingest.gis.read import normalise_phases


def _points(tmp_path: Path, name: str = "transformers", crs: str | None = UTM) -> Path:
    frame = gpd.GeoDataFrame(
        {"FACILITYID": ["T1", "T2"], "PHASEDESIG": [7, 4], "KVA": [50.0, 25.0]},
        geometry=[shapely.Point(370000.0, 4146000.0), shapely.Point(370010.0, 4146000.0)],
        crs=crs,
    )
    path = tmp_path / f"{name}.shp"
    pyogrio.write_dataframe(frame, path)
    return path


def test_guessed_columns_coded_phases_and_reprojection(tmp_path: Path) -> None:
    layers = read_gis(_points(tmp_path))  # no mapping: layer name and field names guessed
    f = layers.features
    assert f["asset"].tolist() == ["transformer", "transformer"]
    assert f["gis_id"].tolist() == ["T1", "T2"]
    assert f["phases"].tolist() == ["ABC", "A"]  # PHASEDESIGNATION is the ArcFM bit mask
    assert f["kva"].tolist() == [50.0, 25.0]
    assert f.crs.to_epsg() == 4326
    assert -88.5 < f.geometry.x.iloc[0] < -87.0 and 37.0 < f.geometry.y.iloc[0] < 38.0  # UTM 16N


def test_phase_spellings() -> None:
    letters, counts = normalise_phases(pd.Series(["ABC", "a-b", "CN", "3", None, "x"]))
    assert letters == ["ABC", "AB", "C", "", "", ""]
    assert counts == [3, 2, 1, 3, 0, 0]


def test_missing_crs_names_the_layer_unless_the_mapping_gives_one(tmp_path: Path) -> None:
    path = _points(tmp_path)
    path.with_suffix(".prj").unlink()
    with pytest.raises(InputError) as err:
        read_gis(path)
    assert err.value.details[0].where == "transformers.shp:transformers"
    assert "CRS" in err.value.details[0].message
    layers = read_gis(path, {"crs": UTM})
    assert len(layers.features) == 2


def test_wrong_crs_is_caught_by_the_coordinate_range(tmp_path: Path) -> None:
    path = _points(tmp_path)
    path.with_suffix(".prj").unlink()
    with pytest.raises(InputError, match="outside WGS84") as err:
        read_gis(path, {"crs": "EPSG:4326"})
    assert err.value.details[0].where == "transformers.shp:transformers"


def test_csv_lonlat_is_wgs84_and_xy_needs_a_crs(tmp_path: Path) -> None:
    lonlat = tmp_path / "meters.csv"
    pd.DataFrame({"ASSETID": ["m1"], "LON": [-88.0], "LAT": [37.4]}).to_csv(lonlat, index=False)
    assert read_gis(lonlat).features.geometry.x.iloc[0] == pytest.approx(-88.0)
    xy = tmp_path / "poles.csv"
    pd.DataFrame({"ID": ["p1"], "EASTING": [370000.0], "NORTHING": [4146000.0]}).to_csv(xy, index=False)
    with pytest.raises(InputError, match="coordinate reference system"):
        read_gis(xy)
    assert len(read_gis(xy, {"layers": {"poles": {"asset": "pole", "crs": UTM}}}).features) == 1


def test_mapping_errors_name_the_yaml_key(tmp_path: Path) -> None:
    bad = tmp_path / "map.yaml"
    bad.write_text("layers:\n  transformers:\n    asset: transformer\n    columns: {voltage_class: KV}\n")
    with pytest.raises(InputError) as err:
        load_mapping(bad)
    assert err.value.details[0].where == f"{bad}:layers.transformers.columns"
    bad.write_text("layers:\n  transformers:\n    asset: transformr\n")
    with pytest.raises(InputError) as err:
        load_mapping(bad)
    assert err.value.details[0].where == f"{bad}:layers.transformers.asset"
    bad.write_text("crs: EPSG:99999999\n")
    with pytest.raises(InputError) as err:
        load_mapping(bad)
    assert err.value.details[0].where == f"{bad}:crs"
    bad.write_text("layers: [\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_mapping(bad)


def test_mapping_column_the_layer_lacks(tmp_path: Path) -> None:
    path = _points(tmp_path)
    mapping = {"layers": {"transformers": {"asset": "transformer", "columns": {"id": "XFMR_NO"}}}}
    with pytest.raises(InputError) as err:
        read_gis(path, mapping)
    detail = err.value.details[0]
    assert detail.where == "mapping layers.transformers.columns.id"
    assert "transformers.shp:transformers" in detail.message and "XFMR_NO" in detail.message


@pytest.mark.parametrize("fmt", ["shp", "geojson"])
def test_truncated_files_fail_naming_the_file(model: FeederModel, tmp_path: Path, fmt: str) -> None:
    paths, mapping = write_gis(build_gis(model), tmp_path, fmt)
    target = next(p for p in paths if p.stem == "meters")
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        read_gis(paths, mapping)
    assert err.value.details[0].where.startswith("meters.")


def test_truncated_geodatabase_fails(model: FeederModel, tmp_path: Path) -> None:
    paths, _ = write_gis(build_gis(model), tmp_path, "gdb")
    biggest = max(paths[0].glob("*.gdbtable"), key=lambda f: f.stat().st_size)
    data = biggest.read_bytes()
    biggest.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        read_gis(paths)
    assert err.value.details[0].where.startswith("utility.gdb:")


def test_empty_and_invalid_geometries_are_reported_and_left_out(tmp_path: Path) -> None:
    def feature(fid: str, geom: object) -> dict[str, object]:
        return {"type": "Feature", "properties": {"FACILITYID": fid}, "geometry": geom}

    doc = {
        "type": "FeatureCollection",
        "features": [
            feature("ok", {"type": "LineString", "coordinates": [[-88.0, 37.4], [-88.001, 37.401]]}),
            feature("nogeom", None),
            feature("empty", {"type": "LineString", "coordinates": []}),
            feature("onepoint", {"type": "LineString", "coordinates": [[-88.0, 37.4], [-88.0, 37.4]]}),
            feature("kind", {"type": "Point", "coordinates": [-88.0, 37.4]}),
        ],
    }
    path = tmp_path / "conductors.geojson"
    path.write_text(json.dumps(doc))
    layers = read_gis(path)
    assert layers.features["gis_id"].tolist() == ["ok"]
    problems = {d.where.rsplit(":", 1)[1]: d.message for d in layers.issues}
    assert set(problems) == {"nogeom", "empty", "onepoint", "kind"}
    assert problems["nogeom"] == "no geometry"
    assert problems["empty"] == "empty geometry"
    assert problems["onepoint"].startswith("invalid geometry")
    assert "LineString" in problems["kind"]
    assert all(d.where.startswith("conductors.geojson:conductors:") for d in layers.issues)


def test_unlisted_layer_is_skipped_and_reported(tmp_path: Path) -> None:
    path = _points(tmp_path, name="streetlights")
    layers = read_gis(path)
    assert len(layers.features) == 0
    assert layers.layers == {"streetlights.shp:streetlights": "skipped"}
    assert layers.issues[0].code == "skipped"


def test_missing_and_unsupported_sources(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_gis(tmp_path / "nope.shp")
    other = tmp_path / "layer.dwg"
    other.write_bytes(b"x")
    with pytest.raises(InputError, match="unsupported"):
        read_gis(other)
