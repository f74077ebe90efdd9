"""A composed scenario state as what QSTS runs: the feeder model with the scenario's overlay rows,
the profiles its shapes reference, the hourly ambient temperature, and the overlay as twins.

The base model is never changed: ``compose_feeder`` returns a new ``FeederModel`` whose
loads/loadshapes/pvsystems/invcontrols tables carry the scenario on top of the base. New and changed
shapes become profile-backed load shapes (refs ``scenario/<tag>/<name>``) whose values travel in
``profiles``, so nothing is formatted as text. Added chargers, heat pumps and PV systems are also
listed as twins of the scenario's overlay (EVCharger, Load, PVSystem interfaces), kept apart from the
registry so the base twins stay as they are.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from gridtwin.errors import ErrorDetail
from gridtwin.grid.model import TABLES, FeederModel
from gridtwin.scenarios.base import FLAT
from gridtwin.scenarios.compose import compose_state
from gridtwin.scenarios.schema import Scenario
from gridtwin.scenarios.state import FloatArray, ScenarioState, WeatherYear

__all__ = ["ADDED_CLASS", "OVERLAY_TWIN_COLUMNS", "ComposedFeeder", "compose_feeder", "to_model"]

# OpenDSS load class numbers of added loads (base customers are 1 res, 2 com, 3 ind).
ADDED_CLASS = {"ev": 4, "heat_pump": 5, "induction": 6}
OVERLAY_TWIN_COLUMNS = ("twin_id", "interface", "layer", "element", "properties_json")
# PV written so OpenDSS's output is exactly pmpp * shape (pvlib already applied temperature and
# inverter losses): full irradiance, no cut-in/cut-out dead band.
_PV_EXTRA = json.dumps({"%cutin": "0.001", "%cutout": "0.001"})


@dataclass
class ComposedFeeder:
    model: FeederModel
    profiles: dict[str, FloatArray]  # every profile ref the model's load shapes use
    ambient_c: FloatArray  # hourly, the scenario's temperature (transformer aging follows it)
    ledger: pd.DataFrame  # LEDGER_COLUMNS
    notes: list[ErrorDetail]
    overlay_twins: pd.DataFrame  # OVERLAY_TWIN_COLUMNS
    counts: dict[str, float] = field(default_factory=dict)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], df.to_dict("records"))


def _frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = TABLES[table].column_names()
    return pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)


def _concat(base: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    if not len(extra):
        return base
    if not len(base):
        return extra.reset_index(drop=True)
    return pd.concat([base, extra[base.columns]], ignore_index=True)


def _q_kvar(kw: float, pf: float) -> float:
    pf = min(max(abs(pf), 1e-6), 1.0)
    return kw * math.tan(math.acos(pf))


def to_model(
    base: FeederModel, state: ScenarioState, profile_tag: str, base_profiles: Mapping[str, np.ndarray]
) -> ComposedFeeder:
    """The QSTS inputs for a composed state. ``profile_tag`` names the refs of new shapes
    (``scenario/<profile_tag>/<name>``); ``base_profiles`` supplies the base shapes still used."""
    shapes_tbl = base.table("loadshapes")
    base_names = {str(n).lower() for n in shapes_tbl["name"]}
    new_names: dict[str, str] = {}
    profiles: dict[str, FloatArray] = {}

    def shape_name(key: str) -> str:
        if key in base_names:
            return key
        if key not in new_names:
            new_names[key] = f"scn{len(new_names):05d}"
        return new_names[key]

    loads = base.table("loads").copy()
    cust = state.customers
    changed = 0
    if len(loads):
        lower = loads["name"].str.lower()
        for i, name in enumerate(lower):
            if name not in cust.index:
                continue
            key = str(cust.at[name, "shape"])
            old = str(loads.iloc[i]["yearly"] or "").lower()
            if key == (old if old in state.shapes else FLAT):
                continue
            loads.loc[loads.index[i], "yearly"] = shape_name(key)
            changed += 1
    template = _records(loads.iloc[:1])[0] if len(loads) else {}
    added_rows = []
    for r in _records(state.loads_added):
        row = dict(template)
        row.update(
            name=r["name"], bus1=r["bus1"], phases=int(r["phases"]), conn="wye", model=1, kv=float(r["kv"]),
            p_kw=float(r["kw"]), q_kvar=_q_kvar(float(r["kw"]), float(r["pf"])), zipv=[], yearly=shape_name(str(r["shape"])),
            daily="", duty="", customer_class=ADDED_CLASS.get(str(r["kind"]), 4), num_customers=0,
            status="variable", cvr_watts=1.0, cvr_vars=2.0, enabled=True, dss_extra_json="",
        )  # fmt: skip
        added_rows.append(row)
    loads = _concat(loads, _frame("loads", added_rows))

    pv_rows: list[dict[str, Any]] = []
    inv_groups: dict[tuple[tuple[float, ...], tuple[float, ...]], list[str]] = {}
    for r in _records(state.pv):
        mode = str(r["inverter_mode"])
        pv_rows.append(
            {
                "name": r["name"], "bus1": r["bus1"], "phases": int(r["phases"]), "kv": float(r["kv"]),
                "pmpp_kw": float(r["pmpp_kw"]), "kva": float(r["kva"]), "irradiance_kw_per_m2": 1.0,
                "pf": float(r["pf"]) if mode == "fixed_pf" else 1.0, "conn": "wye",
                "yearly": shape_name(str(r["shape"])), "daily": "", "dss_extra_json": _PV_EXTRA,
            }
        )  # fmt: skip
        if mode == "volt_var":
            curve = (tuple(float(v) for v in r["curve_v_pu"]), tuple(float(q) for q in r["curve_q_pu"]))
            inv_groups.setdefault(curve, []).append(f"pvsystem.{r['name']}")
    pvsystems = _concat(base.table("pvsystems"), _frame("pvsystems", pv_rows))
    inv_rows = [
        {
            "name": f"scn_vv{i}", "der_list": ders, "mode": "voltvar", "curve_v_pu": list(v),
            "curve_q_pu": list(q), "voltage_curvex_ref": "rated", "ref_reactive_power": "varaval",
            "enabled": True, "dss_extra_json": "",
        }
        for i, ((v, q), ders) in enumerate(sorted(inv_groups.items()))
    ]  # fmt: skip
    invcontrols = _concat(base.table("invcontrols"), _frame("invcontrols", inv_rows))

    npts = state.ctx.hours
    shape_rows = []
    for key, name in new_names.items():
        ref = f"scenario/{profile_tag}/{name}"
        profiles[ref] = state.shapes[key]
        shape_rows.append(
            {"name": name, "npts": npts, "interval_h": 1.0, "mult": [], "qmult": [], "hours": [],
             "use_actual": False, "profile": ref, "dss_extra_json": ""}
        )  # fmt: skip
    loadshapes = _concat(shapes_tbl, _frame("loadshapes", shape_rows))
    for ref in (str(p) for p in shapes_tbl.get("profile", pd.Series(dtype=str)).dropna() if str(p)):
        if ref in base_profiles:
            profiles[ref] = np.asarray(base_profiles[ref], dtype=np.float64)

    tables = dict(base.tables)
    tables.update(loads=loads, loadshapes=loadshapes)
    if len(pvsystems):
        tables["pvsystems"] = pvsystems
    if len(invcontrols):
        tables["invcontrols"] = invcontrols
    model = FeederModel(base.feeder_id, base.site, dict(base.circuit), tables, base.version)
    model.circuit["scenario"] = profile_tag
    twins = _overlay_twins(base, state, profile_tag, shape_name)
    counts = {
        "customers": float(len(cust)),
        "customers_reshaped": float(changed),
        "ev_chargers": float((state.loads_added["kind"] == "ev").sum()) if len(state.loads_added) else 0.0,
        "ev_kw": float(state.loads_added.loc[state.loads_added["kind"] == "ev", "kw"].sum())
        if len(state.loads_added)
        else 0.0,
        "added_loads": float(len(state.loads_added)),
        "pv_systems": float(len(state.pv)),
        "pv_kw_dc": float(state.pv["pmpp_kw"].sum()) if len(state.pv) else 0.0,
        "new_shapes": float(len(new_names)),
    }
    return ComposedFeeder(
        model=model,
        profiles=profiles,
        ambient_c=np.asarray(state.weather.temp_c, dtype=np.float64).copy(),
        ledger=state.ledger_frame(),
        notes=list(state.notes),
        overlay_twins=twins,
        counts=counts,
    )


def _overlay_twins(base: FeederModel, state: ScenarioState, tag: str, shape_name: Any) -> pd.DataFrame:
    rows = []
    fid, site = base.feeder_id, base.site

    def twin(interface: str, layer: str, element: str, props: dict[str, Any]) -> None:
        props = {"name": element, "site": site, "feeder": fid, **props}
        rows.append(
            {
                "twin_id": f"scn:{tag}:{fid}:{element}",
                "interface": f"dtmi:gridtwin:{interface};1",
                "layer": layer,
                "element": element,
                "properties_json": json.dumps(props, sort_keys=True),
            }
        )

    for r in _records(state.loads_added):
        ref = f"scenario/{tag}/{shape_name(str(r['shape']))}"
        if r["kind"] == "ev":
            twin("EVCharger", str(r["layer"]), str(r["name"]), {
                "bus1": r["bus1"], "phases": int(r["phases"]), "kv": float(r["kv"]), "rated_kw": float(r["kw"]),
                "level": str(r["level"] or "level2"), "num_ports": 1, "profile": ref,
            })  # fmt: skip
        else:
            twin("Load", str(r["layer"]), str(r["name"]), {
                "bus1": r["bus1"], "phases": int(r["phases"]), "kv": float(r["kv"]), "p_kw": float(r["kw"]),
                "customer_class": ADDED_CLASS.get(str(r["kind"]), 4), "yearly": shape_name(str(r["shape"])),
            })  # fmt: skip
    for r in _records(state.pv):
        twin("PVSystem", str(r["layer"]), str(r["name"]), {
            "bus1": r["bus1"], "phases": int(r["phases"]), "kv": float(r["kv"]), "pmpp_kw": float(r["pmpp_kw"]),
            "kva": float(r["kva"]), "irradiance_kw_per_m2": 1.0, "yearly": shape_name(str(r["shape"])),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(OVERLAY_TWIN_COLUMNS))


def compose_feeder(
    model: FeederModel,
    scenario: Scenario,
    profiles: Mapping[str, np.ndarray],
    *,
    profile_tag: str,
    base_weather: WeatherYear | None = None,
) -> ComposedFeeder:
    """Compose ``scenario`` on ``model`` (its base profiles in ``profiles``) into QSTS inputs."""
    state = compose_state(model, scenario, profiles, base_weather)
    return to_model(model, state, profile_tag, profiles)
