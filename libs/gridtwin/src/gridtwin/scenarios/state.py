"""What scenario layers work on: one feeder's customers, their shapes, the DER and loads the layers
add, the weather, and an exact energy ledger.

Customers are the base model's loads (one row each, indexed by load name). A customer's load is
``p_kw * shapes[shape]`` (kW per hour); shapes are shared (the synthetic utility's 32-member pools),
so a layer that changes some customers' shapes goes through ``transform_shapes``, which copies a
shape on write and leaves customers outside the selection untouched.

Added loads (EV chargers, heat pumps, induction cooking) and PV systems are rows of their own with a
shape each: load kW = ``kw * shapes[shape]``; PV AC output kW = ``pmpp_kw * shapes[shape]`` (the
shape is AC output per kW of DC, from pvlib). Everything is hourly, ``ctx.hours`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridtwin.errors import ErrorDetail

__all__ = [
    "ADDED_LOAD_COLUMNS",
    "CUSTOMER_COLUMNS",
    "LEDGER_COLUMNS",
    "PV_COLUMNS",
    "ScenarioContext",
    "ScenarioState",
    "WeatherYear",
]

FloatArray = npt.NDArray[np.float64]

# customers (index: load name)
CUSTOMER_COLUMNS = (
    "bus1",  # str, with node suffix
    "phases",  # int
    "kv",  # float, the load's rated kV
    "class_name",  # res | com | ind
    "p_kw",  # float, peak kW (the shape is pu of it)
    "shape",  # key into ScenarioState.shapes
    "transformer",  # service transformer name ("" when none found)
    "x",  # float, bus coordinate (NaN when none)
    "y",
    "distance_m",  # float, path length from the source bus along lines (NaN when unknown)
)

ADDED_LOAD_COLUMNS = (
    "name",  # element name, unique in the feeder (e.g. "ev_ev_l2_0001")
    "layer",  # layer id
    "kind",  # ev | heat_pump | induction
    "customer",  # the customer (load name) it sits at
    "bus1",
    "phases",
    "kv",
    "kw",  # rated kW (the shape is pu of it)
    "pf",
    "shape",
    "level",  # EV: level1 | level2 | dcfast; else ""
)

PV_COLUMNS = (
    "name",
    "layer",
    "customer",
    "bus1",
    "phases",
    "kv",
    "pmpp_kw",  # DC rating
    "kva",  # inverter AC rating = pmpp_kw / ilr
    "tilt_deg",
    "azimuth_deg",
    "shape",  # AC kW per kW DC, hourly
    "inverter_mode",  # none | fixed_pf | volt_var
    "pf",
    "curve_v_pu",  # list[float] (volt_var)
    "curve_q_pu",  # list[float]
)

LEDGER_COLUMNS = (
    "layer",  # layer id
    "type",  # layer type
    "component",  # ev | pv | heat_pump | induction | load_shift | weather_response | pv_clip | ...
    "elements",  # int, elements added or changed
    "energy_kwh",  # float, energy added (+) or removed (-) over the year (PV: generation, positive)
    "peak_kw",  # float, the component's own peak (sum over elements, coincident); NaN if n/a
    "note",
)


@dataclass
class WeatherYear:
    """Hourly weather (UTC, ``hours`` values each). Irradiance components may be absent (None):
    the solar layer then decomposes GHI (pvlib's Erbs model)."""

    temp_c: FloatArray
    ghi_w_per_m2: FloatArray
    dni_w_per_m2: FloatArray | None = None
    dhi_w_per_m2: FloatArray | None = None
    wind_m_per_s: FloatArray | None = None
    humidity_pct: FloatArray | None = None
    source: str = ""  # e.g. "feeder profile weather/s42/temp_c", "file x.json", "synthetic seed 42"

    def copy(self) -> WeatherYear:
        def c(a: FloatArray | None) -> FloatArray | None:
            return None if a is None else a.copy()

        return WeatherYear(
            self.temp_c.copy(),
            self.ghi_w_per_m2.copy(),
            c(self.dni_w_per_m2),
            c(self.dhi_w_per_m2),
            c(self.wind_m_per_s),
            c(self.humidity_pct),
            self.source,
        )


@dataclass(frozen=True)
class ScenarioContext:
    """Read-only facts about the feeder and the calendar."""

    feeder: str
    scenario_seed: int
    feeder_index: int  # stable per feeder id (crc32), for seeding
    start_utc: datetime
    timezone: str
    hours: int
    latitude_deg: float
    longitude_deg: float
    local_hour: npt.NDArray[np.int64]  # per hour of the run, local clock hour 0..23
    weekday: npt.NDArray[np.int64]  # 0 = Monday, local
    month: npt.NDArray[np.int64]  # 1..12, local
    day_index: npt.NDArray[np.int64]  # local calendar day number from the first hour (0, 0, ..., 1, ...)
    times_utc: pd.DatetimeIndex  # tz-aware UTC

    def rng(self, layer_index: int, stream: int = 0) -> np.random.Generator:
        """The random stream of one layer on this feeder: same seed -> same draws."""
        return np.random.default_rng([self.scenario_seed, self.feeder_index, layer_index, stream])


@dataclass
class ScenarioState:
    ctx: ScenarioContext
    customers: pd.DataFrame  # CUSTOMER_COLUMNS, index = load name
    shapes: dict[str, FloatArray]
    base_weather: WeatherYear
    weather: WeatherYear  # current (after weather layers)
    loads_added: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(ADDED_LOAD_COLUMNS)))
    pv: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(PV_COLUMNS)))
    ledger: list[dict[str, object]] = field(default_factory=list)
    notes: list[ErrorDetail] = field(default_factory=list)  # conflicts resolved, assumptions
    # Interconnection rules in force for PV added later (set by an interconnection layer).
    rules: dict[str, float] = field(default_factory=dict)

    # -- shapes --------------------------------------------------------------------------------------

    def add_shape(self, key: str, values: FloatArray) -> str:
        """Store a new shape (must be ``ctx.hours`` finite values); returns its key (made unique)."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (self.ctx.hours,):
            raise ValueError(f"shape {key!r} has {arr.size} values, expected {self.ctx.hours}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"shape {key!r} has NaN or infinite values")
        unique, n = key, 1
        while unique in self.shapes:
            n += 1
            unique = f"{key}#{n}"
        self.shapes[unique] = arr
        return unique

    def transform_shapes(
        self, mask: pd.Series | npt.NDArray[np.bool_], fn: Callable[[str, FloatArray], FloatArray], tag: str
    ) -> int:
        """Apply ``fn(shape_key, values) -> new values`` to the shapes of the selected customers.
        Each distinct shape is transformed once; customers outside ``mask`` keep the old one.
        Returns the number of customers changed."""
        sel = np.asarray(mask, dtype=bool)
        if not sel.any():
            return 0
        keys = self.customers["shape"].to_numpy()
        new_keys = keys.copy()
        for key in sorted(set(keys[sel])):
            new_key = self.add_shape(f"{key}|{tag}", fn(str(key), self.shapes[str(key)]))
            new_keys[sel & (keys == key)] = new_key
        self.customers["shape"] = new_keys
        return int(sel.sum())

    def transform_added_shapes(
        self, mask: pd.Series | npt.NDArray[np.bool_], fn: Callable[[str, FloatArray], FloatArray], tag: str
    ) -> int:
        """``transform_shapes`` for added loads (e.g. TOU on EV charging)."""
        sel = np.asarray(mask, dtype=bool)
        if not sel.any():
            return 0
        keys = self.loads_added["shape"].to_numpy()
        new_keys = keys.copy()
        for key in sorted(set(keys[sel])):
            new_key = self.add_shape(f"{key}|{tag}", fn(str(key), self.shapes[str(key)]))
            new_keys[sel & (keys == key)] = new_key
        self.loads_added["shape"] = new_keys
        return int(sel.sum())

    # -- energy --------------------------------------------------------------------------------------

    def customer_kw(self, mask: pd.Series | npt.NDArray[np.bool_] | None = None) -> FloatArray:
        """Coincident hourly kW of the (selected) customers' base loads."""
        df = self.customers if mask is None else self.customers[np.asarray(mask, dtype=bool)]
        out = np.zeros(self.ctx.hours)
        for key, kw in df.groupby("shape")["p_kw"].sum().items():
            out += float(kw) * self.shapes[str(key)]
        return out

    def added_kw(self, mask: pd.Series | npt.NDArray[np.bool_] | None = None) -> FloatArray:
        df = self.loads_added if mask is None else self.loads_added[np.asarray(mask, dtype=bool)]
        out = np.zeros(self.ctx.hours)
        for key, kw in df.groupby("shape")["kw"].sum().items():
            out += float(kw) * self.shapes[str(key)]
        return out

    def pv_kw(self, mask: pd.Series | npt.NDArray[np.bool_] | None = None) -> FloatArray:
        df = self.pv if mask is None else self.pv[np.asarray(mask, dtype=bool)]
        out = np.zeros(self.ctx.hours)
        for key, kw in df.groupby("shape")["pmpp_kw"].sum().items():
            out += float(kw) * self.shapes[str(key)]
        return out

    def record(
        self,
        layer: str,
        type_: str,
        component: str,
        elements: int,
        energy_kwh: float,
        peak_kw: float = float("nan"),
        note: str = "",
    ) -> None:
        self.ledger.append(
            {
                "layer": layer,
                "type": type_,
                "component": component,
                "elements": int(elements),
                "energy_kwh": float(energy_kwh),
                "peak_kw": float(peak_kw),
                "note": note,
            }
        )

    def note(self, where: str, message: str, code: str = "note") -> None:
        self.notes.append(ErrorDetail(where=where, message=message, code=code))

    def ledger_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.ledger, columns=list(LEDGER_COLUMNS))
