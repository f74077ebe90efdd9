"""Where a synthetic feeder lies: substations on a loose grid over the US Midwest, four feeders per
substation leaving north, east, south and west along main roads, side streets at right angles.

Positions are built in local metres (``a`` along the main road, ``b`` across it) and turned into
WGS84 with an equirectangular approximation (good to centimetres over a feeder's ~10 km). Feeder
``i``'s place depends only on (seed, i), never on how many feeders are made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["FEEDERS_PER_SUBSTATION", "Frame", "feeder_frame"]

FEEDERS_PER_SUBSTATION = 4
_COLUMNS = 40  # substations per row of the grid
_LON0, _LAT0 = -95.0, 37.5  # south-west corner (Kansas/Missouri) growing north-east
_DLON, _DLAT = 0.25, 0.18  # grid pitch (~21 km x 20 km)
_SUBSTATION_STREAM = 1_000_002
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQ = 111_320.0


@dataclass(frozen=True)
class Frame:
    """A feeder's local street frame: origin (substation) and unit vectors of the main road (u) and
    side streets (v), east/north components."""

    lon0: float
    lat0: float
    u: tuple[float, float]
    v: tuple[float, float]

    def lonlat(self, a_m: float, b_m: float) -> tuple[float, float]:
        east = a_m * self.u[0] + b_m * self.v[0]
        north = a_m * self.u[1] + b_m * self.v[1]
        lat = self.lat0 + north / _M_PER_DEG_LAT
        lon = self.lon0 + east / (_M_PER_DEG_LON_EQ * math.cos(math.radians(self.lat0)))
        return round(lon, 7), round(lat, 7)


def feeder_frame(index: int, seed: int) -> Frame:
    station = index // FEEDERS_PER_SUBSTATION
    rng = np.random.default_rng([seed, _SUBSTATION_STREAM, station])
    col, row = station % _COLUMNS, station // _COLUMNS
    lon0 = _LON0 + col * _DLON + float(rng.uniform(-0.06, 0.06))
    lat0 = _LAT0 + row * _DLAT + float(rng.uniform(-0.045, 0.045))
    # Headings east, north, west, south; side streets to the left of the road.
    heading = index % FEEDERS_PER_SUBSTATION
    u = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[heading]
    v = (-u[1], u[0])
    return Frame(round(lon0, 7), round(lat0, 7), u, v)
