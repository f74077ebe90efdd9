"""The solar layer: behind-the-meter PV on chosen customers, PVWatts-style output from pvlib.

Output per kW of DC (``pv_shape_per_kw_dc``): sun position at mid-hour (the weather is hourly means);
GHI split into DNI/DHI with Erbs when the weather has no components; plane-of-array irradiance with
Hay-Davies (circumsolar diffuse matters for tilted roofs) and the physical incidence-angle loss on
the beam; cell temperature with the SAPM open-rack glass/polymer model (residential racks stand off
the roof; the close-mount model runs ~10 degC hotter than PVWatts' roof-mount INOCT of 49 C); PVWatts
DC with ``gamma_pdc`` and flat system losses; PVWatts inverter with a DC input limit of
``1 / ilr`` per kW DC, so output clips at ``0.96 / ilr``.

Systems: adopters from ``adoption.pick_customers`` (customers that already have PV are excluded; a
customer has at most one system), DC size by class (normal, clipped), tilt normal clipped to
[0, 60] and binned to 5 degrees, azimuth drawn from the weighted compass classes. One shape per
(tilt bin, azimuth) actually used. Interconnection rules in force (``state.rules``) are applied to
the new rows by ``policy.apply_pv_rules`` before they join ``state.pv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.scenarios.schema import SolarLayer
from gridtwin.scenarios.state import PV_COLUMNS, FloatArray, ScenarioState, WeatherYear

__all__ = ["AZIMUTH_DEG", "TILT_BIN_DEG", "apply_solar_layer", "pv_shape_per_kw_dc"]

TILT_BIN_DEG = 5.0
TILT_MAX_DEG = 60.0
AZIMUTH_DEG = {"south": 180.0, "southeast": 135.0, "southwest": 225.0, "east": 90.0, "west": 270.0}
_DEFAULT_WIND_M_PER_S = 1.0
_ALBEDO = 0.2
_TEMP_PARAMS = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]


@dataclass(frozen=True)
class _Sky:
    """Everything that does not depend on the array's orientation, computed once per layer."""

    zenith: FloatArray
    azimuth: FloatArray
    ghi: FloatArray
    dni: FloatArray
    dhi: FloatArray
    dni_extra: FloatArray
    temp_c: FloatArray
    wind_m_per_s: FloatArray


def _sky(
    times_utc: pd.DatetimeIndex, latitude_deg: float, longitude_deg: float, weather: WeatherYear
) -> _Sky:
    mid = times_utc + pd.Timedelta(minutes=30)
    pos = pvlib.solarposition.get_solarposition(mid, latitude_deg, longitude_deg)
    doy = mid.day_of_year.to_numpy()  # pvlib reads DatetimeIndex.dayofyear, deprecated in pandas 3
    zenith = pos["apparent_zenith"].to_numpy(dtype=np.float64)
    ghi = np.clip(np.nan_to_num(np.asarray(weather.ghi_w_per_m2, dtype=np.float64)), 0.0, None)
    if weather.dni_w_per_m2 is not None and weather.dhi_w_per_m2 is not None:
        dni = np.asarray(weather.dni_w_per_m2, dtype=np.float64)
        dhi = np.asarray(weather.dhi_w_per_m2, dtype=np.float64)
    else:
        parts = pvlib.irradiance.erbs(ghi, zenith, doy)
        dni, dhi = np.asarray(parts["dni"], dtype=np.float64), np.asarray(parts["dhi"], dtype=np.float64)
    wind = weather.wind_m_per_s
    return _Sky(
        zenith=zenith,
        azimuth=pos["azimuth"].to_numpy(dtype=np.float64),
        ghi=ghi,
        dni=np.clip(np.nan_to_num(dni), 0.0, None),
        dhi=np.clip(np.nan_to_num(dhi), 0.0, None),
        dni_extra=np.asarray(pvlib.irradiance.get_extra_radiation(doy), dtype=np.float64),
        temp_c=np.asarray(weather.temp_c, dtype=np.float64),
        wind_m_per_s=np.full(len(times_utc), _DEFAULT_WIND_M_PER_S)
        if wind is None
        else np.asarray(wind, dtype=np.float64),
    )


def _shape(
    sky: _Sky, tilt_deg: float, azimuth_deg: float, ilr: float, gamma: float, losses_pct: float
) -> FloatArray:
    poa = pvlib.irradiance.get_total_irradiance(
        tilt_deg, azimuth_deg, sky.zenith, sky.azimuth, sky.dni, sky.ghi, sky.dhi,
        dni_extra=sky.dni_extra, albedo=_ALBEDO, model="haydavies",
    )  # fmt: skip
    aoi = pvlib.irradiance.aoi(tilt_deg, azimuth_deg, sky.zenith, sky.azimuth)
    beam = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=np.float64)) * pvlib.iam.physical(aoi)
    effective = np.clip(beam + np.nan_to_num(np.asarray(poa["poa_diffuse"], dtype=np.float64)), 0.0, None)
    cell_c = pvlib.temperature.sapm_cell(effective, sky.temp_c, sky.wind_m_per_s, **_TEMP_PARAMS)
    dc = pvlib.pvsystem.pvwatts_dc(effective, cell_c, 1.0, gamma) * (1.0 - losses_pct / 100.0)
    ac = pvlib.inverter.pvwatts(np.clip(dc, 0.0, None), 1.0 / ilr)
    return np.clip(np.nan_to_num(np.asarray(ac, dtype=np.float64)), 0.0, None)


def pv_shape_per_kw_dc(
    times_utc: pd.DatetimeIndex,
    latitude_deg: float,
    longitude_deg: float,
    weather: WeatherYear,
    tilt_deg: float,
    azimuth_deg: float,
    ilr: float = 1.2,
    gamma_pdc_per_c: float = -0.0037,
    system_losses_pct: float = 14.0,
) -> FloatArray:
    """Hourly AC kW per kW of DC rating (finite, >= 0) for one orientation (azimuth clockwise from
    north, S = 180)."""
    sky = _sky(times_utc, latitude_deg, longitude_deg, weather)
    return _shape(sky, tilt_deg, azimuth_deg, ilr, gamma_pdc_per_c, system_losses_pct)


def _sizes(
    state: ScenarioState, layer: SolarLayer, picked: np.ndarray, rng: np.random.Generator
) -> FloatArray:
    classes = state.customers["class_name"].to_numpy()[picked]
    out = np.empty(len(picked))
    for cls in sorted(set(classes.tolist())):
        size = layer.size[cls]
        sel = classes == cls
        out[sel] = np.clip(rng.normal(size.mean_kw, size.sd_kw, int(sel.sum())), size.min_kw, size.max_kw)
    return np.round(out, 3)


def _check(state: ScenarioState, layer: SolarLayer, where: str) -> None:
    present = set(state.customers["class_name"].astype(str))
    missing = [c for c in layer.allocation.customer_classes if c in present and c not in layer.size]
    if missing:
        raise InputError(
            "solar layer has no size for an eligible class",
            [
                ErrorDetail(where=f"{where}.size.{c}", message=f"{c} customers are eligible but have no size")
                for c in missing
            ],
        )
    if sum(layer.azimuth.model_dump().values()) <= 0.0:
        raise InputError(
            "no roof orientation", [ErrorDetail(where=f"{where}.azimuth", message="all weights are 0")]
        )


def apply_solar_layer(state: ScenarioState, layer: SolarLayer, index: int) -> None:
    from gridtwin.scenarios.adoption import pick_customers

    where = f"layers[{index}]"
    _check(state, layer, where)
    has_pv = state.customers.index.isin(state.pv["customer"].astype(str).tolist()) if len(state.pv) else None
    if has_pv is not None and has_pv.any():
        state.note(
            f"{where} ({layer.id})",
            f"{int(has_pv.sum())} customers already have PV and are not eligible",
            "conflict",
        )
    picked = pick_customers(state, layer.adoption, layer.allocation, state.ctx.rng(index, 0), exclude=has_pv)
    draw = state.ctx.rng(index, 1)  # attributes on their own stream: picks do not move with sizes
    pmpp = _sizes(state, layer, picked, draw)
    tilt = np.clip(draw.normal(layer.tilt.mean_deg, layer.tilt.sd_deg, len(picked)), 0.0, TILT_MAX_DEG)
    tilt = np.round(tilt / TILT_BIN_DEG) * TILT_BIN_DEG
    weights = layer.azimuth.model_dump()
    names = list(AZIMUTH_DEG)
    p = np.array([weights[n] for n in names], dtype=np.float64)
    azimuth = np.array([AZIMUTH_DEG[n] for n in names])[draw.choice(len(names), len(picked), p=p / p.sum())]

    sky = (
        _sky(state.ctx.times_utc, state.ctx.latitude_deg, state.ctx.longitude_deg, state.weather)
        if len(picked)
        else None
    )
    keys: dict[tuple[float, float], str] = {}
    for t, a in sorted(set(zip(tilt.tolist(), azimuth.tolist(), strict=True))):
        assert sky is not None
        values = _shape(sky, t, a, layer.ilr, layer.gamma_pdc_per_c, layer.system_losses_pct)
        keys[(t, a)] = state.add_shape(f"pv|{layer.id}|t{t:g}|a{a:g}", values)

    cust = state.customers.iloc[picked]
    inv = layer.inverter
    rows = pd.DataFrame(
        {
            "name": [f"pv_{layer.id}_{n:04d}" for n in range(1, len(picked) + 1)],
            "layer": layer.id,
            "customer": cust.index.astype(str),
            "bus1": cust["bus1"].to_numpy(),
            "phases": cust["phases"].to_numpy(),
            "kv": cust["kv"].to_numpy(),
            "pmpp_kw": pmpp,
            "kva": pmpp / layer.ilr,
            "tilt_deg": tilt,
            "azimuth_deg": azimuth,
            "shape": [keys[(t, a)] for t, a in zip(tilt.tolist(), azimuth.tolist(), strict=True)],
            "inverter_mode": inv.mode,
            "pf": inv.pf,
            "curve_v_pu": [list(inv.curve_v_pu) for _ in range(len(picked))],
            "curve_q_pu": [list(inv.curve_q_pu) for _ in range(len(picked))],
        },
        columns=list(PV_COLUMNS),
    )
    # Ledger: the systems as drawn; rules in force record their own change (``pv_rules``), so the
    # ledger's PV energy adds up to what is in ``state.pv``.
    output = np.zeros(state.ctx.hours)
    for key, kw in rows.groupby("shape")["pmpp_kw"].sum().items():
        output += float(kw) * state.shapes[str(key)]
    dc_kw = float(rows["pmpp_kw"].sum())
    state.record(
        layer.id,
        "solar",
        "pv",
        len(rows),
        float(output.sum()),
        float(output.max()),
        note=f"{dc_kw:.1f} kW DC, {len(keys)} orientations, "
        f"annual AC/DC capacity factor {output.sum() / max(dc_kw, 1e-9) / state.ctx.hours:.3f}",
    )
    if state.rules and len(rows):
        from gridtwin.scenarios.policy import apply_pv_rules

        rows = apply_pv_rules(state, rows, layer=layer.id)
    if len(rows):
        new = rows.reset_index(drop=True)
        state.pv = new if not len(state.pv) else pd.concat([state.pv, new], ignore_index=True)
