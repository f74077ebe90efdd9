"""The scenario file: a versioned pydantic schema (YAML or JSON on disk).

A scenario = base year + target feeders/sites + seed + an ordered list of layers. Layers are a
tagged union on ``type``; every numeric parameter can be swept (``gridtwin.scenarios.sweep``
addresses it by a dotted path such as ``layers.ev_l2.adoption.pct``, where ``ev_l2`` is the layer's
``id``). Unknown fields are errors (``extra="forbid"``), so a typo never silently does nothing.

Data a file points at (custom EV profiles, historical weather) is read when the scenario is loaded
(``gridtwin.scenarios.loader``) and kept inline in ``values``/``hourly`` fields, so a stored scenario
is self-contained and a worker needs nothing but the document.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "SCHEMA_VERSION",
    "Adoption",
    "Allocation",
    "Azimuths",
    "BaseWeather",
    "CustomProfile",
    "ElectrificationLayer",
    "EvLayer",
    "HourlyWeather",
    "InterconnectionLayer",
    "InverterSettings",
    "Layer",
    "PvSize",
    "Scenario",
    "SolarLayer",
    "Sweep",
    "SweepParameter",
    "Targets",
    "TiltDistribution",
    "TouLayer",
    "WeatherEvent",
    "WeatherLayer",
]

SCHEMA_VERSION = 1
CustomerClass = Literal["res", "com", "ind"]


def _res_only() -> list[CustomerClass]:
    return ["res"]


def _res_com() -> list[CustomerClass]:
    return ["res", "com"]


def _tou_targets() -> list[Literal["res", "com", "ind", "ev", "heat_pump"]]:
    return ["res", "ev"]


def _pv_sizes() -> dict[CustomerClass, PvSize]:
    return {
        "res": PvSize(mean_kw=7.0, sd_kw=2.0, min_kw=2.0, max_kw=15.0),
        "com": PvSize(mean_kw=50.0, sd_kw=20.0, min_kw=10.0, max_kw=250.0),
        "ind": PvSize(mean_kw=150.0, sd_kw=50.0, min_kw=25.0, max_kw=1000.0),
    }


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Targets(_Strict):
    """Which feeders the scenario runs on: fnmatch patterns over feeder ids, and/or sites."""

    feeders: list[str] = Field(default_factory=list)
    sites: list[str] = Field(default_factory=list)


class Adoption(_Strict):
    """How many customers adopt: a share (``pct`` of eligible customers), a ``count`` per feeder, or
    a ``curve`` (year -> pct, linear in between) read at the layer's ``year``. Exactly one form."""

    pct: float | None = Field(default=None, ge=0.0, le=100.0)
    count: int | None = Field(default=None, ge=0)
    curve: dict[int, Annotated[float, Field(ge=0.0, le=100.0)]] | None = None
    year: int | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Adoption:
        forms = [self.pct is not None, self.count is not None, self.curve is not None]
        if sum(forms) != 1:
            raise ValueError("give exactly one of pct, count, curve")
        if self.curve is not None:
            if not self.curve:
                raise ValueError("curve needs at least one year")
            if self.year is None:
                raise ValueError("a curve needs the year to read it at")
        return self


class Allocation(_Strict):
    """Which customers get the technology (spatial allocation).

    ``customer_classes`` limits the eligible customers; ``weighting`` picks them uniformly at random
    (with the scenario's seed) or weighted by customer size (peak kW, an income proxy);
    ``by_transformer`` picks service transformers first and fills their customers (clustered
    adoption); ``feeder_pct`` overrides the adoption share on feeders matching a pattern."""

    customer_classes: list[CustomerClass] = Field(default_factory=_res_only)
    weighting: Literal["uniform", "by_size"] = "uniform"
    by_transformer: bool = False
    feeder_pct: dict[str, Annotated[float, Field(ge=0.0, le=100.0)]] = Field(default_factory=dict)


class CustomProfile(_Strict):
    """A charging (or other) shape from a CSV: 24 hourly values (or 96 quarter-hours) for a typical
    day, or a full year (8760 hourly). ``csv`` is the path as written in the file (relative to it);
    ``values`` is filled by the loader. Values are per unit of the charger's kW (0..1)."""

    csv: str | None = None
    column: str | None = None
    values: list[float] | None = None


class EvLayer(_Strict):
    type: Literal["ev"]
    id: str
    profile: str = "level2_7_2kw_residential"  # a built-in name (gridtwin.scenarios.ev.BUILTIN_PROFILES)
    kw: float | None = Field(default=None, gt=0.0)  # charger kW; default: the profile's
    weekday_24h: list[float] | None = None  # override the profile's weekday shape (24 or 96 values)
    weekend_24h: list[float] | None = None
    seasonal_factors: dict[Literal["winter", "spring", "summer", "fall"], float] | None = None
    daily_kwh: float | None = Field(default=None, gt=0.0)  # override energy per charger per day
    custom_profile: CustomProfile | None = None
    adoption: Adoption
    allocation: Allocation = Field(default_factory=Allocation)
    power_factor: float = Field(default=0.98, gt=0.0, le=1.0)


class PvSize(_Strict):
    """DC size distribution for one customer class: normal, clipped to [min_kw, max_kw]."""

    mean_kw: float = Field(gt=0.0)
    sd_kw: float = Field(default=0.0, ge=0.0)
    min_kw: float = Field(default=0.5, gt=0.0)
    max_kw: float = Field(default=1000.0, gt=0.0)


class TiltDistribution(_Strict):
    mean_deg: float = Field(default=25.0, ge=0.0, le=90.0)
    sd_deg: float = Field(default=8.0, ge=0.0)


class Azimuths(_Strict):
    """Weights of roof orientations (normalised; degrees clockwise from north: S=180)."""

    south: float = Field(default=0.5, ge=0.0)
    southeast: float = Field(default=0.15, ge=0.0)
    southwest: float = Field(default=0.15, ge=0.0)
    east: float = Field(default=0.1, ge=0.0)
    west: float = Field(default=0.1, ge=0.0)


class InverterSettings(_Strict):
    """Smart-inverter mode passed to OpenDSS: none (unity PF), fixed power factor, or volt-var with
    the IEEE 1547-2018 Category B default curve (points overridable)."""

    mode: Literal["none", "fixed_pf", "volt_var"] = "none"
    pf: float = Field(default=1.0, ge=-1.0, le=1.0)  # fixed_pf: negative = absorbing
    curve_v_pu: list[float] = Field(default_factory=lambda: [0.5, 0.92, 0.98, 1.02, 1.08, 1.5])
    curve_q_pu: list[float] = Field(default_factory=lambda: [0.44, 0.44, 0.0, 0.0, -0.44, -0.44])

    @model_validator(mode="after")
    def _curve(self) -> InverterSettings:
        if len(self.curve_v_pu) != len(self.curve_q_pu) or len(self.curve_v_pu) < 2:
            raise ValueError("curve_v_pu and curve_q_pu need the same length (at least 2)")
        if any(b <= a for a, b in zip(self.curve_v_pu, self.curve_v_pu[1:], strict=False)):
            raise ValueError("curve_v_pu must increase")
        return self


class SolarLayer(_Strict):
    type: Literal["solar"]
    id: str
    adoption: Adoption
    allocation: Allocation = Field(default_factory=lambda: Allocation(customer_classes=_res_com()))
    size: dict[CustomerClass, PvSize] = Field(default_factory=_pv_sizes)
    tilt: TiltDistribution = Field(default_factory=TiltDistribution)
    azimuth: Azimuths = Field(default_factory=Azimuths)
    ilr: float = Field(default=1.2, gt=0.5, le=2.5)  # DC/AC inverter loading ratio
    gamma_pdc_per_c: float = Field(default=-0.0037, le=0.0, ge=-0.02)  # PVWatts temperature coefficient
    system_losses_pct: float = Field(default=14.0, ge=0.0, lt=100.0)
    inverter: InverterSettings = Field(default_factory=InverterSettings)


class WeatherEvent(_Strict):
    """A synthetic heat wave (+delta) or cold snap (-delta) of ``days`` days in ``month``, starting on
    ``start_day`` (default: the hottest / coldest window of the month), with a realistic diurnal shape
    (the change is larger in the afternoon for heat, at night for cold)."""

    kind: Literal["heat_wave", "cold_snap"]
    delta_c: float = Field(gt=0.0, le=25.0)
    days: int = Field(ge=1, le=31)
    month: int = Field(ge=1, le=12)
    start_day: int | None = Field(default=None, ge=1, le=31)


class HourlyWeather(_Strict):
    """An hourly weather year (UTC, 8760 values each), from a file (Open-Meteo-shaped JSON or CSV)."""

    file: str | None = None
    temp_c: list[float] | None = None
    ghi_w_per_m2: list[float] | None = None
    dni_w_per_m2: list[float] | None = None
    dhi_w_per_m2: list[float] | None = None
    wind_m_per_s: list[float] | None = None
    humidity_pct: list[float] | None = None


class WeatherLayer(_Strict):
    type: Literal["weather"]
    id: str
    year: HourlyWeather | None = None  # a historical year replacing the base weather
    events: list[WeatherEvent] = Field(default_factory=list)
    load_response: bool = True  # loads respond through the fitted temperature regression

    @model_validator(mode="after")
    def _something(self) -> WeatherLayer:
        if self.year is None and not self.events:
            raise ValueError("a weather layer needs a year (file) or at least one event")
        return self


class TouLayer(_Strict):
    """A time-of-use rate: ``shift_pct`` of the energy in the peak window (local hours
    [peak_start_h, peak_end_h)) moves into the rebound hours of the same day, spread by weight;
    energy is preserved day by day."""

    type: Literal["tou"]
    id: str
    peak_start_h: int = Field(default=16, ge=0, le=23)
    peak_end_h: int = Field(default=21, ge=1, le=24)
    shift_pct: float = Field(default=15.0, ge=0.0, le=100.0)
    rebound_hours: list[Annotated[int, Field(ge=0, le=23)]] = Field(default_factory=lambda: [21, 22, 23])
    weekdays_only: bool = True
    months: list[Annotated[int, Field(ge=1, le=12)]] = Field(default_factory=lambda: list(range(1, 13)))
    applies_to: list[Literal["res", "com", "ind", "ev", "heat_pump"]] = Field(default_factory=_tou_targets)

    @model_validator(mode="after")
    def _window(self) -> TouLayer:
        if self.peak_end_h <= self.peak_start_h:
            raise ValueError("peak_end_h must be after peak_start_h")
        inside = [h for h in self.rebound_hours if self.peak_start_h <= h < self.peak_end_h]
        if inside:
            raise ValueError(f"rebound hours {inside} fall inside the peak window")
        if not self.rebound_hours and self.shift_pct > 0:
            raise ValueError("a shift needs rebound hours")
        return self


class HeatPumps(_Strict):
    adoption: Adoption
    allocation: Allocation = Field(default_factory=Allocation)
    kw_per_home: float = Field(default=4.0, gt=0.0)  # electric input at the design temperature
    design_temp_c: float = -15.0
    balance_temp_c: float = 16.0  # no heating above this
    cooling: bool = False  # replaces existing AC (not modelled as added load)


class InductionCooking(_Strict):
    adoption: Adoption
    allocation: Allocation = Field(default_factory=Allocation)
    daily_kwh: float = Field(default=1.2, gt=0.0)
    kw: float = Field(default=3.0, gt=0.0)


class ElectrificationLayer(_Strict):
    type: Literal["electrification"]
    id: str
    heat_pumps: HeatPumps | None = None
    induction_cooking: InductionCooking | None = None
    power_factor: float = Field(default=0.95, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _something(self) -> ElectrificationLayer:
        if self.heat_pumps is None and self.induction_cooking is None:
            raise ValueError("an electrification layer needs heat_pumps and/or induction_cooking")
        return self


class InterconnectionLayer(_Strict):
    """Rules applied to the PV present when the layer runs and to PV added by later layers:
    a per-customer size cap, a per-feeder cap (later systems are refused once it is reached), and a
    per-customer export limit (output clipped to the customer's load plus the limit)."""

    type: Literal["interconnection"]
    id: str
    max_pv_kw_per_customer: float | None = Field(default=None, gt=0.0)
    max_pv_kw_per_feeder: float | None = Field(default=None, gt=0.0)
    max_pv_pct_of_feeder_peak: float | None = Field(default=None, gt=0.0)
    export_limit_kw: float | None = Field(default=None, ge=0.0)

    @model_validator(mode="after")
    def _something(self) -> InterconnectionLayer:
        if all(
            v is None
            for v in (
                self.max_pv_kw_per_customer,
                self.max_pv_kw_per_feeder,
                self.max_pv_pct_of_feeder_peak,
                self.export_limit_kw,
            )
        ):
            raise ValueError("an interconnection layer needs at least one rule")
        return self


Layer = Annotated[
    EvLayer | SolarLayer | WeatherLayer | TouLayer | ElectrificationLayer | InterconnectionLayer,
    Field(discriminator="type"),
]


class BaseWeather(_Strict):
    """Where the base weather comes from: the feeder's own weather profile (the synthetic utility
    has one), or a file; feeders without one fall back to the synthetic weather year (noted)."""

    source: Literal["feeder", "file"] = "feeder"
    year: HourlyWeather | None = None
    latitude_deg: float | None = Field(default=None, ge=-90.0, le=90.0)
    longitude_deg: float | None = Field(default=None, ge=-180.0, le=180.0)


class SweepParameter(_Strict):
    """One swept parameter, addressed by a dotted path into the scenario (``layers.<id>.<field>...``,
    list items by index, e.g. ``layers.ev_l2.adoption.pct``). ``values`` for a grid; ``low``/``high``
    for Latin Hypercube (or a grid of ``steps`` evenly spaced values)."""

    path: str = Field(min_length=1)
    values: list[float] | None = None
    low: float | None = None
    high: float | None = None
    steps: int | None = Field(default=None, ge=2, le=100)
    integer: bool = False

    @model_validator(mode="after")
    def _range(self) -> SweepParameter:
        if self.values is None and (self.low is None or self.high is None):
            raise ValueError("give values, or low and high")
        if self.values is not None and not self.values:
            raise ValueError("values is empty")
        if self.low is not None and self.high is not None and self.high < self.low:
            raise ValueError("high is below low")
        return self


class Sweep(_Strict):
    """A sensitivity sweep: a full grid over the parameters, or ``samples`` Latin Hypercube points
    (scipy.stats.qmc, seeded). Each point is one QSTS job."""

    method: Literal["grid", "lhs"] = "grid"
    parameters: list[SweepParameter] = Field(min_length=1, max_length=20)
    samples: int | None = Field(default=None, ge=1, le=1000)
    seed: int = Field(default=0, ge=0)
    max_jobs: int = Field(default=200, ge=1, le=5000)


class Scenario(_Strict):
    schema_version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    base_year: int = Field(default=2025, ge=1990, le=2100)
    seed: int = Field(default=0, ge=0)
    timezone: str = "America/Chicago"  # local clock of TOU windows and charging profiles
    targets: Targets = Field(default_factory=Targets)
    base_weather: BaseWeather = Field(default_factory=BaseWeather)
    layers: list[Layer] = Field(default_factory=list)
    sweep: Sweep | None = None  # used by `gridtwin scenario sweep`

    @field_validator("layers")
    @classmethod
    def _unique_ids(cls, layers: list[Layer]) -> list[Layer]:
        seen: set[str] = set()
        for layer in layers:
            if layer.id in seen:
                raise ValueError(f"layer id {layer.id!r} is used twice")
            seen.add(layer.id)
        return layers
