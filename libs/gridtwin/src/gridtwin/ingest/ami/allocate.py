"""Measured load into the feeder model: every group of loads under one service transformer shares the
transformer's measured hourly shape, each load scaled to its own measured energy.

A group is the loads fed by one service transformer (``gridtwin.grid.topology.service_index``); a load with none is a
group of its own. The group's shape is its measured kW / its peak (one profile
``loadshape/ami-{feeder}/{group}``); a load's ``p_kw`` = group peak x its share of the group's energy, so
the loads' kW summed over the group is the measured kW hour by hour. Meters with a ``load`` in the
directory measure that load; the others measure their transformer, their energy spread over its loads
without own meters by base ``p_kw``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridtwin.grid.model import FeederModel
from gridtwin.grid.topology import service_index
from gridtwin.ingest.ami.aggregate import FeederAggregate

__all__ = ["Allocation", "allocate_loads"]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class Allocation:
    model: FeederModel  # a new model; the input is never changed
    profiles: dict[str, np.ndarray] = field(default_factory=dict)  # ref -> hourly values (peak 1.0)
    report: dict[str, Any] = field(default_factory=dict)


def _shape_of(
    loads: pd.DataFrame, shapes: pd.DataFrame, profiles: Mapping[str, np.ndarray] | None, hours: int
) -> dict[str, np.ndarray | None]:
    """load name -> its current yearly multipliers (hours long) when resolvable, else None."""
    by_name = {str(n).lower(): r for n, r in zip(shapes["name"], shapes.to_dict("records"), strict=True)}
    out: dict[str, np.ndarray | None] = {}
    for name, yearly in zip(loads["name"], loads["yearly"], strict=True):
        row = by_name.get(str(yearly or "").lower())
        values: np.ndarray | None = None
        if row is not None:
            mult = row.get("mult")
            ref = str(row.get("profile") or "")
            if mult is not None and len(mult):
                values = np.asarray(mult, dtype=np.float64)
            elif ref and profiles is not None and ref in profiles:
                values = np.asarray(profiles[ref], dtype=np.float64)
        if values is not None and len(values) == 24:
            values = np.tile(values, math.ceil(hours / 24))
        out[str(name)] = values[:hours] if values is not None and len(values) >= hours else None
    return out


def allocate_loads(
    model: FeederModel,
    agg: FeederAggregate,
    directory: pd.DataFrame,
    *,
    min_coverage: float = 0.9,
    profiles: Mapping[str, np.ndarray] | None = None,
) -> Allocation:
    """See the module docstring. ``profiles`` (ref -> values) lets missing hours be filled from a load's
    previous shape; without it they are filled from the meter's own mean for that hour of the week."""
    hours = agg.hours
    ix = service_index(model)
    loads = model.table("loads")
    names = [str(n) for n in loads["name"]]
    group_of = {n: (ix.load_of[n]["transformer"] or n) for n in names}
    old = _shape_of(loads, model.table("loadshapes"), profiles, hours)
    p_old = dict(zip(names, loads["p_kw"].astype(float), strict=True))
    notes: list[str] = []
    cover = dict(zip(agg.meter_stats["meter_id"], agg.meter_stats["coverage"], strict=True))
    d = directory[directory["feeder"] == agg.feeder].set_index("meter_id")
    row_of = {m: i for i, m in enumerate(agg.meter_ids)}
    how = np.arange(hours) % 168  # hour of the week, for fills without a previous shape

    def ref_kw(load_names: list[str]) -> np.ndarray | None:
        vals = [old[n] for n in load_names]
        if any(v is None for v in vals):
            return None
        total: np.ndarray = np.sum(
            [p_old[n] * v for n, v in zip(load_names, vals, strict=True) if v is not None], axis=0
        )
        return total

    def filled(kw: np.ndarray, ref: np.ndarray | None) -> tuple[np.ndarray, int]:
        miss = ~np.isfinite(kw)
        n = int(miss.sum())
        if not n:
            return kw, 0
        out = kw.copy()
        if ref is not None and np.nansum(ref[~miss]) > 0:
            out[miss] = ref[miss] * (np.nansum(kw[~miss]) / np.sum(ref[~miss]))
        else:  # mean of the same hour of the week where measured
            s = pd.Series(kw).groupby(how).mean()
            out[miss] = s.reindex(how[miss]).fillna(np.nanmean(kw)).to_numpy()
        return out, n

    # measured kW per load (own meters) and per group (meters without a load)
    own: dict[str, np.ndarray] = {}
    pool: dict[str, np.ndarray] = {}
    low_cov: list[str] = []
    skipped_loads: set[str] = set()
    filled_hours = 0
    for m, i in row_of.items():
        if m not in d.index:
            continue
        load = str(d.at[m, "load"] or "") if "load" in d else ""
        xf = str(d.at[m, "transformer"] or "")
        target = load if load in group_of else ""
        if cover.get(m, 0.0) < min_coverage:
            low_cov.append(m)
            if target:
                skipped_loads.add(target)
            continue
        kw = agg.meter_kw[i].astype(np.float64)
        if target:
            kw, n_fill = filled(kw, ref_kw([target]))
            own[target] = own.get(target, 0.0) + kw
        elif xf and any(group_of[n] == xf for n in names):
            kw, n_fill = filled(kw, ref_kw([x for x in names if group_of[x] == xf]))
            pool[xf] = pool.get(xf, 0.0) + kw
        else:
            continue
        filled_hours += n_fill
    if filled_hours:
        notes.append(
            f"{filled_hours} meter-hours without reads filled from the loads' previous shapes"
            if profiles is not None
            else f"{filled_hours} meter-hours without reads filled from the meter's hour-of-week mean"
        )
    if low_cov:
        notes.append(f"{len(low_cov)} meters below {min_coverage:.0%} coverage left out")

    new_loads = loads.copy()
    pos = dict(zip(names, new_loads.index, strict=True))
    new_shapes = [model.table("loadshapes")]
    out_profiles: dict[str, np.ndarray] = {}
    allocated: set[str] = set()
    groups = sorted(set(group_of.values()))
    no_meter = 0
    part = _SAFE.sub("_", f"ami-{agg.feeder}")
    energy_before = energy_after = 0.0
    for g in groups:
        members = [n for n in names if group_of[n] == g and n not in skipped_loads]
        metered = [n for n in members if n in own]
        if not metered and g not in pool:
            no_meter += 1
            continue
        energy = {n: float(own[n].sum()) for n in metered}
        kw = np.sum([own[n] for n in metered], axis=0) if metered else np.zeros(hours)
        if g in pool:
            rest = [n for n in members if n not in own] or members
            weights = np.array([max(p_old[n], 0.0) for n in rest])
            weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(rest), 1.0 / len(rest))
            e_pool = float(pool[g].sum())
            for n, w in zip(rest, weights, strict=True):
                energy[n] = energy.get(n, 0.0) + w * e_pool
            kw = kw + pool[g]
        peak = float(np.max(kw))
        total = float(np.sum(kw))
        if peak <= 0 or total <= 0:
            no_meter += 1
            notes.append(f"group {g}: measured load is zero, shapes kept")
            continue
        shape_name = _SAFE.sub("_", f"ami_{g}")
        ref = f"loadshape/{part}/{_SAFE.sub('_', g)}"
        values = (kw / peak).astype(np.float32).astype(np.float64)  # as the profile store returns them
        out_profiles[ref] = values
        new_shapes.append(
            pd.DataFrame(
                [{"name": shape_name, "npts": hours, "interval_h": 1.0, "mult": [], "qmult": [], "hours": [],
                  "use_actual": False, "profile": ref, "dss_extra_json": ""}]
            )
        )  # fmt: skip
        for n in energy:
            if energy[n] <= 0 and n not in metered:
                continue
            p_new = peak * energy[n] / total
            row = pos[n]
            p0, q0 = float(p_old[n]), float(loads.at[row, "q_kvar"])  # type: ignore[arg-type]
            v = old[n]
            energy_before += p0 * float(v.sum()) if v is not None else p0 * hours
            new_loads.at[row, "p_kw"] = p_new
            new_loads.at[row, "q_kvar"] = q0 * p_new / p0 if p0 else 0.0  # keep the power factor
            new_loads.at[row, "yearly"] = shape_name
            energy_after += p_new * float(values.sum())
            allocated.add(n)
    shapes = pd.concat(new_shapes, ignore_index=True) if len(new_shapes) > 1 else new_shapes[0].copy()
    tables = {k: v.copy() for k, v in model.tables.items()}
    tables["loads"] = new_loads
    tables["loadshapes"] = shapes
    new = FeederModel(
        feeder_id=model.feeder_id, site=model.site, circuit=dict(model.circuit), tables=tables, version=""
    )
    report = {
        "feeder": agg.feeder,
        "year": agg.year,
        "loads": len(names),
        "loads_allocated": len(allocated),
        "loads_kept": len(names) - len(allocated),
        "groups": len(groups),
        "groups_allocated": len(out_profiles),
        "groups_without_meters": no_meter,
        "meters_low_coverage": len(low_cov),
        "filled_meter_hours": filled_hours,
        "energy_before_kwh": energy_before,  # of the allocated loads, under their previous shapes
        "energy_after_kwh": energy_after,
        "notes": notes,
    }
    return Allocation(model=new, profiles=out_profiles, report=report)
