"""Policy layers: time-of-use rates (load shifting), electrification mandates (heat pumps, induction
cooking) and PV interconnection rules.

TOU: on each selected local day, ``shift_pct`` of the energy in the peak window moves into the
rebound hours, spread in proportion to the shape's own values there (equally if they are all zero).
Rebound hours at or after the window's end are the same evening; rebound hours before its start
(e.g. 0, 1) are the following morning. Energy is conserved exactly over each peak day plus its
rebound hours, hence over the year; a day whose rebound hours fall outside the run (the next
morning of the last day) uses the same day's hours of that clock time, and a day with none of
them at all is left unshifted.

Electrification: a heat pump draws ``kw_per_home * clip((balance - T)/(balance - design), 0, 1) *
COP(design)/COP(T)`` with COP linear in outdoor temperature (about 2.0 at the design temperature,
3.6 at +8 degC, floor 1.0 = resistance backup), so cold hours cost more than the heat demand
alone; the rated kW is the input at the design temperature, and colder hours may exceed it. It
follows ``state.weather`` (a cold snap from an earlier weather layer raises it). Assumption (noted
in ``state.notes``): the home keeps its base shape, which already carries some resistance heat; we
do not remove it. Induction cooking is a meal-time day (breakfast, lunch, a dinner peak) scaled to
``daily_kwh``, diversified like EV charging (``gridtwin.scenarios.ev.member_pool``).

Interconnection: the rules go to ``state.rules`` for later solar layers (``apply_pv_rules``) and
apply to the PV present: a per-customer cap on the inverter AC rating (``kva``; ``pmpp_kw`` scaled
with it), a feeder cap on the sum of AC ratings (the most recently added systems are removed
first), and an export limit (a system's output clipped to its customer's own base load plus the
limit, hour by hour; added loads at the meter are not counted, which is conservative).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.scenarios.adoption import pick_customers
from gridtwin.scenarios.ev import POOL_MEMBERS, added_load_rows, append_added_loads, member_pool
from gridtwin.scenarios.schema import ElectrificationLayer, InterconnectionLayer, TouLayer
from gridtwin.scenarios.state import ScenarioState

__all__ = [
    "PV_RULES_COMPONENT",
    "RULE_KEYS",
    "apply_electrification_layer",
    "apply_interconnection_layer",
    "apply_pv_rules",
    "apply_tou_layer",
    "heat_pump_shape",
    "induction_day",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RULE_KEYS = ("max_pv_kw_per_customer", "max_pv_kw_per_feeder", "max_pv_pct_of_feeder_peak", "export_limit_kw")
PV_RULES_COMPONENT = "pv_rules"  # ledger component of rules applied to PV added after the layer
_COP_AT_DESIGN, _COP_PER_C, _COP_MIN, _COP_MAX = 2.0, 0.07, 1.0, 5.0
# Share of a day's cooking energy by local hour (breakfast, lunch, dinner peak); sums to 1.
_MEALS = {
    6: 0.04,
    7: 0.10,
    8: 0.06,
    11: 0.05,
    12: 0.12,
    13: 0.05,
    16: 0.05,
    17: 0.18,
    18: 0.22,
    19: 0.10,
    20: 0.03,
}
_TINY_KW = 1e-9


def _where(index: int, layer_id: str) -> str:
    return f"layers[{index}] ({layer_id})"


# -- TOU -------------------------------------------------------------------------------------------


class _TouPlan:
    """Which hours give energy (``movable``) and which receive it (``targets`` of day ``src``)."""

    def __init__(self, state: ScenarioState, layer: TouLayer) -> None:
        ctx = state.ctx
        day, hour = ctx.day_index, ctx.local_hour
        self.n_days = int(day.max()) + 1
        self.day = day
        self.shift = layer.shift_pct / 100.0
        selected_hour = np.isin(ctx.month, layer.months)
        if layer.weekdays_only:
            selected_hour &= ctx.weekday < 5
        selected_day = np.bincount(day, weights=selected_hour, minlength=self.n_days) > 0
        peak = selected_hour & (hour >= layer.peak_start_h) & (hour < layer.peak_end_h)
        rebound = np.isin(hour, layer.rebound_hours)
        src = np.where(hour < layer.peak_start_h, day - 1, day)  # before the window: next morning
        ok = rebound & (src >= 0) & selected_day[np.clip(src, 0, None)]
        targets, tsrc = np.flatnonzero(ok), src[ok]
        has_peak = np.bincount(day[peak], minlength=self.n_days) > 0
        lacking = has_peak & ~(np.bincount(tsrc, minlength=self.n_days) > 0)
        fallback = np.flatnonzero(rebound & lacking[day])  # the run's last day: same-day hours
        self.targets = np.concatenate([targets, fallback]).astype(np.int64)
        self.tsrc = np.concatenate([tsrc, day[fallback]]).astype(np.int64)
        self.n_targets = np.bincount(self.tsrc, minlength=self.n_days)
        self.movable = peak & (self.n_targets > 0)[day]

    def apply(self, values: FloatArray) -> tuple[FloatArray, float]:
        """The shifted shape and the amount moved (shape units x hours)."""
        moved = self.shift * np.bincount(
            self.day[self.movable], weights=values[self.movable], minlength=self.n_days
        )
        out = values.copy()
        out[self.movable] -= self.shift * values[self.movable]
        w = values[self.targets]
        weight_sum = np.bincount(self.tsrc, weights=w, minlength=self.n_days)
        ws = weight_sum[self.tsrc]
        with np.errstate(divide="ignore", invalid="ignore"):
            add = np.where(ws > 0.0, moved[self.tsrc] * w / ws, moved[self.tsrc] / self.n_targets[self.tsrc])
        np.add.at(out, self.targets, add)
        return np.maximum(out, 0.0), float(moved.sum())


def apply_tou_layer(state: ScenarioState, layer: TouLayer, index: int) -> None:
    plan = _TouPlan(state, layer)
    before = state.customer_kw() + state.added_kw()
    moved_pu: dict[str, float] = {}

    def shift(key: str, values: FloatArray) -> FloatArray:
        out, moved = plan.apply(values)
        moved_pu[key] = moved
        return out

    cust_mask = state.customers["class_name"].isin(layer.applies_to).to_numpy(dtype=bool)
    cust_kw = state.customers.loc[cust_mask].groupby("shape")["p_kw"].sum()
    added_mask = state.loads_added["kind"].isin(layer.applies_to).to_numpy(dtype=bool)
    added_kw = state.loads_added.loc[added_mask].groupby("shape")["kw"].sum()
    n = state.transform_shapes(cust_mask, shift, f"tou_{layer.id}")
    moved_kwh = sum(float(kw) * moved_pu[str(k)] for k, kw in cust_kw.items())
    moved_pu.clear()
    n += state.transform_added_shapes(added_mask, shift, f"tou_{layer.id}")
    moved_kwh += sum(float(kw) * moved_pu[str(k)] for k, kw in added_kw.items())
    after = state.customer_kw() + state.added_kw()
    energy = round(float(after.sum() - before.sum()), 6) + 0.0  # computed; rounding noise only
    state.record(
        layer.id,
        "tou",
        "load_shift",
        n,
        energy,
        float(after.max() - before.max()),
        note=f"{moved_kwh:.1f} kWh moved out of {layer.peak_start_h}:00-{layer.peak_end_h}:00",
    )


# -- electrification -------------------------------------------------------------------------------


def heat_pump_shape(temp_c: FloatArray, design_temp_c: float, balance_temp_c: float) -> FloatArray:
    """Electric input per unit of the input at the design temperature (see module doc)."""
    demand = np.clip((balance_temp_c - temp_c) / (balance_temp_c - design_temp_c), 0.0, 1.0)
    cop = np.clip(_COP_AT_DESIGN + _COP_PER_C * (temp_c - design_temp_c), _COP_MIN, _COP_MAX)
    return np.asarray(demand * _COP_AT_DESIGN / cop, dtype=np.float64)


def induction_day(daily_kwh: float, kw: float) -> FloatArray:
    """24 hourly values, per unit of the hob's kW, holding ``daily_kwh`` per day."""
    day = np.zeros(24)
    for hour, share in _MEALS.items():
        day[hour] = share
    return np.asarray(day / day.sum() * daily_kwh / kw, dtype=np.float64)


def _has(state: ScenarioState, kind: str) -> npt.NDArray[np.bool_]:
    added = state.loads_added
    owners = added.loc[added["kind"] == kind, "customer"]
    return np.asarray(state.customers.index.isin(owners), dtype=bool)


def _add_loads(
    state: ScenarioState,
    layer: ElectrificationLayer,
    picks: IntArray,
    kind: str,
    prefix: str,
    kw: float,
    shapes: list[str],
) -> None:
    cust = state.customers.iloc[picks]
    n = len(cust)
    rows = added_load_rows(
        layer.id, prefix, kind, cust, kw, layer.power_factor, [shapes[i % len(shapes)] for i in range(n)]
    )
    append_added_loads(state, rows)
    mine = (state.loads_added["layer"] == layer.id) & (state.loads_added["kind"] == kind)
    total = state.added_kw(mine.to_numpy(dtype=bool))
    state.record(layer.id, "electrification", kind, n, float(total.sum()), float(total.max(initial=0.0)))


def apply_electrification_layer(state: ScenarioState, layer: ElectrificationLayer, index: int) -> None:
    where = _where(index, layer.id)
    hp = layer.heat_pumps
    if hp is not None:
        if hp.balance_temp_c <= hp.design_temp_c:
            raise InputError(
                "heat pump balance temperature must be above the design temperature",
                [
                    ErrorDetail(
                        where=f"{where}.heat_pumps.balance_temp_c",
                        message=f"{hp.balance_temp_c} <= {hp.design_temp_c}",
                    )
                ],
            )
        had = _has(state, "heat_pump")
        picks = pick_customers(state, hp.adoption, hp.allocation, state.ctx.rng(index, 0), exclude=had)
        key = state.add_shape(
            f"hp_{layer.id}".lower(),
            heat_pump_shape(state.weather.temp_c, hp.design_temp_c, hp.balance_temp_c),
        )
        _add_loads(state, layer, picks, "heat_pump", "hp", hp.kw_per_home, [key])
        state.note(
            where, "heat pump homes keep their base shape (it may already hold resistance heat)", "assumption"
        )
        if hp.cooling:
            state.note(
                where, "heat pump cooling replaces existing air conditioning: no load added", "assumption"
            )
        if had.any():
            state.note(
                where, f"{int(had.sum())} customers already had a heat pump and were not eligible", "conflict"
            )
    ic = layer.induction_cooking
    if ic is not None:
        day = induction_day(ic.daily_kwh, ic.kw)
        if day.max() > 1.0:
            raise InputError(
                "induction cooking needs more than the hob's kW in an hour",
                [
                    ErrorDetail(
                        where=f"{where}.induction_cooking.daily_kwh",
                        message=f"{ic.daily_kwh} kWh/day at {ic.kw} kW",
                    )
                ],
            )
        had = _has(state, "induction")
        picks = pick_customers(state, ic.adoption, ic.allocation, state.ctx.rng(index, 2), exclude=had)
        used = min(int(picks.size), POOL_MEMBERS)
        keys: list[str] = []
        if used:
            avg = day[state.ctx.local_hour]
            pool = member_pool(avg, state.ctx.day_index, state.ctx.rng(index, 3), used)
            keys = [state.add_shape(f"ind_{layer.id}_m{k:02d}".lower(), pool[k]) for k in range(used)]
        _add_loads(state, layer, picks, "induction", "ind", ic.kw, keys)


# -- interconnection -------------------------------------------------------------------------------


def _pv_energy(state: ScenarioState, pv: pd.DataFrame) -> float:
    kw = pv["pmpp_kw"].to_numpy(dtype=np.float64)
    return float(sum(k * float(state.shapes[str(key)].sum()) for k, key in zip(kw, pv["shape"], strict=True)))


def _feeder_cap_kw(state: ScenarioState) -> float | None:
    caps = []
    if "max_pv_kw_per_feeder" in state.rules:
        caps.append(state.rules["max_pv_kw_per_feeder"])
    if "max_pv_pct_of_feeder_peak" in state.rules:
        caps.append(state.rules["max_pv_pct_of_feeder_peak"] / 100.0 * float(state.customer_kw().max()))
    return min(caps) if caps else None


def _cap_per_customer(
    pv: pd.DataFrame, cap_kw: float, existing_kva: pd.Series | None = None
) -> tuple[pd.DataFrame, set[str]]:
    """Scale each customer's systems so their AC ratings (plus ``existing_kva``) stay within the
    cap; returns the rows and the names of the systems reduced."""
    pv = pv.copy()
    total = pv.groupby("customer")["kva"].transform("sum").astype(float)
    already = pv["customer"].map(existing_kva).fillna(0.0).astype(float) if existing_kva is not None else 0.0
    room = np.maximum(cap_kw - already, 0.0)
    factor = np.where(total > room, room / total.where(total > 0, 1.0), 1.0)
    changed = set(pv.loc[factor < 1.0, "name"].astype(str))
    pv["kva"] = pv["kva"].astype(float) * factor
    pv["pmpp_kw"] = pv["pmpp_kw"].astype(float) * factor
    return pv, changed


def _rows_kw(state: ScenarioState, rows: pd.DataFrame) -> FloatArray:
    out = np.zeros(state.ctx.hours)
    for kw, key in zip(rows["pmpp_kw"].to_numpy(dtype=np.float64), rows["shape"], strict=True):
        out = out + kw * state.shapes[str(key)]
    return out


def _clip_exports(
    state: ScenarioState, pv: pd.DataFrame, limit_kw: float, other_pv: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, set[str]]:
    """Clip outputs so each customer's export (PV minus its base load) stays within the limit; the
    customer's systems in ``other_pv`` (kept as they are) use the headroom first."""
    pv = pv.reset_index(drop=True)
    shapes = pv["shape"].astype(str).tolist()
    clipped: set[str] = set()
    p_kw_of = dict(
        zip(state.customers.index, state.customers["p_kw"].to_numpy(dtype=np.float64), strict=True)
    )
    shape_of = dict(zip(state.customers.index, state.customers["shape"].astype(str), strict=True))
    for customer, rows in pv.groupby("customer", sort=False):
        headroom = np.full(state.ctx.hours, limit_kw)
        if customer in p_kw_of:
            headroom = headroom + p_kw_of[customer] * state.shapes[shape_of[customer]]
        if other_pv is not None and not other_pv.empty:
            headroom = np.maximum(headroom - _rows_kw(state, other_pv[other_pv["customer"] == customer]), 0.0)
        total = _rows_kw(state, rows)
        if not np.any(total > headroom + _TINY_KW):
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(total > headroom, headroom / total, 1.0)
        for pos in rows.index:
            shape = state.shapes[shapes[pos]]
            new = np.minimum(shape * ratio, shape)  # = min(pv_kw, load + limit) / pmpp_kw for one system
            shapes[pos] = state.add_shape(f"{shapes[pos]}|clip_{pv.at[pos, 'name']!s}", new)
            clipped.add(str(pv.at[pos, "name"]))
    pv["shape"] = shapes
    return pv, clipped


def apply_interconnection_layer(state: ScenarioState, layer: InterconnectionLayer, index: int) -> None:
    for key in RULE_KEYS:
        value = getattr(layer, key)
        if value is not None:
            state.rules[key] = float(value)
    rules = state.rules
    state.note(_where(index, layer.id), f"interconnection rules in force for later PV: {rules}", "rules")
    pv = state.pv
    if "max_pv_kw_per_customer" in rules:
        before = _pv_energy(state, pv)
        pv, capped = _cap_per_customer(pv, rules["max_pv_kw_per_customer"])
        n = len(capped)
        state.pv = pv
        state.record(layer.id, "interconnection", "pv_cap", n, _pv_energy(state, pv) - before)
    cap = _feeder_cap_kw(state)
    if cap is not None:
        kva = pv["kva"].astype(float).to_numpy()
        keep = len(pv)
        while keep > 0 and kva[:keep].sum() > cap + _TINY_KW:  # newest rows are last
            keep -= 1
        removed = pv.iloc[keep:]
        state.record(
            layer.id,
            "interconnection",
            "pv_removed",
            len(removed),
            0.0 - _pv_energy(state, removed),
            note=f"feeder cap {cap:.1f} kW AC",
        )
        pv = pv.iloc[:keep].reset_index(drop=True)
        state.pv = pv
    if "export_limit_kw" in rules:
        before = _pv_energy(state, pv)
        pv, clipped = _clip_exports(state, pv, rules["export_limit_kw"])
        n = len(clipped)
        state.pv = pv
        state.record(layer.id, "interconnection", "pv_clip", n, _pv_energy(state, pv) - before)


def apply_pv_rules(
    state: ScenarioState, new_rows: pd.DataFrame, layer: str = PV_RULES_COMPONENT
) -> pd.DataFrame:
    """The rules in ``state.rules`` applied to PV systems about to be added (rows of PV_COLUMNS, in
    the order they are added): per-customer cap (counting PV the customer already has), feeder cap
    (systems past it are refused), export clipping. Returns the rows to add; the change is recorded
    in the ledger as component ``pv_rules`` under ``layer`` (the calling solar layer's id)."""
    rules = state.rules
    if not rules or new_rows.empty:
        return new_rows
    rows = new_rows.reset_index(drop=True)
    before = _pv_energy(state, rows)
    capped: set[str] = set()
    clipped: set[str] = set()
    refused = 0
    if "max_pv_kw_per_customer" in rules:
        existing = state.pv.groupby("customer")["kva"].sum().astype(float) if not state.pv.empty else None
        rows, capped = _cap_per_customer(rows, rules["max_pv_kw_per_customer"], existing)
        rows = rows[rows["kva"].astype(float) > _TINY_KW].reset_index(drop=True)
    cap = _feeder_cap_kw(state)
    if cap is not None:
        present = float(state.pv["kva"].astype(float).sum()) if not state.pv.empty else 0.0
        fits = present + rows["kva"].astype(float).cumsum() <= cap + _TINY_KW
        refused = int((~fits).sum())
        rows = rows[fits.to_numpy(dtype=bool)].reset_index(drop=True)
    if "export_limit_kw" in rules:
        rows, clipped = _clip_exports(state, rows, rules["export_limit_kw"], state.pv)
    delta = _pv_energy(state, rows) - before
    note = f"{len(capped)} capped, {refused} refused (feeder cap), {len(clipped)} export-clipped"
    changed = len((capped | clipped) & set(rows["name"].astype(str))) + refused
    state.record(layer, "interconnection", PV_RULES_COMPONENT, changed, delta, note=note)
    return rows
