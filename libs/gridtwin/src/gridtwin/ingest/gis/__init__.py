"""GIS layers into the feeder model (issue 4, items 4-6).

- ``read_gis(paths, mapping=None) -> GisLayers``: shapefile, GeoJSON, GeoPackage, file geodatabase
  (GDAL OpenFileGDB) and CSV with coordinates, any CRS, out as WGS84 features.
- ``load_mapping(path_or_dict) -> GisMapping``: the YAML mapping (layers/columns -> assets/properties).
- ``reconcile(model, layers, overrides=None) -> (FeederModel, ReconcileReport)``: ids, then proximity
  plus type/phase/rating; a new model with bus coordinates; ``load_overrides`` reads the override table.
- ``compare_baseline(result, table) -> BaselineReport``: another tool's voltages/loadings vs our snapshot.
"""

from gridtwin.ingest.gis.baseline import BaselineReport, compare_baseline, excel_supported, read_baseline
from gridtwin.ingest.gis.mapping import GisMapping, LayerMapping, load_mapping
from gridtwin.ingest.gis.read import FEATURE_COLUMNS, GisLayers, read_gis
from gridtwin.ingest.gis.reconcile import (
    MATCH_COLUMNS,
    MatchSettings,
    ReconcileReport,
    load_overrides,
    reconcile,
)

__all__ = [
    "FEATURE_COLUMNS",
    "MATCH_COLUMNS",
    "BaselineReport",
    "GisLayers",
    "GisMapping",
    "LayerMapping",
    "MatchSettings",
    "ReconcileReport",
    "compare_baseline",
    "excel_supported",
    "load_mapping",
    "load_overrides",
    "read_baseline",
    "read_gis",
    "reconcile",
]
