"""Connection check: "can I connect X kW at bus B?" answered from stored per-bus results.

Generation (``pv``, and ``storage`` discharging, judged like unity-power-factor PV at the minimum
daytime load) reads the rows with ``der == "pv"``; ``ev_load`` (EV or storage charging) reads the
load-side rows (``der == "load"``, from the exact or fast method run with ``der="load"``). With
several rows for a bus (e.g. inverter modes), ``inverter`` picks one; without it the smallest
capacity answers (conservative). ``stale`` says the results were computed for another feeder
version than ``version`` (the frame's ``attrs["version"]``, set by the per-bus methods).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.hosting.types import CONNECTION_KINDS, PERBUS_COLUMNS, ConnectionAnswer

__all__ = ["check_connection"]

_DER_OF_KIND = {"pv": "pv", "storage": "pv", "ev_load": "load"}


def check_connection(
    per_bus: pd.DataFrame,
    bus: str,
    kw: float,
    kind: str = "pv",
    *,
    inverter: str | None = None,
    version: str | None = None,
) -> ConnectionAnswer:
    """Whether ``kw`` of ``kind`` fits at ``bus``, with the margin and the limiting criterion."""
    problems: list[ErrorDetail] = []
    if kind not in CONNECTION_KINDS:
        problems.append(ErrorDetail(where="kind", message=f"{kind!r} not in {CONNECTION_KINDS}"))
    if not (isinstance(kw, int | float) and math.isfinite(kw) and kw >= 0):
        problems.append(ErrorDetail(where="kw", message=f"must be a size >= 0, got {kw!r}"))
    missing = [c for c in PERBUS_COLUMNS if c not in per_bus.columns]
    if missing:
        problems.append(ErrorDetail(where="per_bus", message=f"missing columns {missing}"))
    if problems:
        raise InputError("invalid connection request", problems)
    der = _DER_OF_KIND[kind]
    rows = per_bus[per_bus["der"] == der]
    if not len(rows):
        raise InputError(
            "no per-bus results for this kind of connection",
            [ErrorDetail(where="per_bus", message=f"{kind} needs per-bus results computed with der={der!r}")],
        )
    name = bus.strip().lower().partition(".")[0]
    rows = rows[rows["bus"].astype(str).str.lower() == name]
    if inverter is not None:
        rows = rows[rows["inverter"] == inverter]
    if not len(rows):
        raise InputError(
            "bus not in the per-bus results",
            [
                ErrorDetail(
                    where=f"bus {bus}",
                    message=f"no {der} row" + (f" for inverter {inverter}" if inverter else ""),
                )
            ],
        )
    row = rows.iloc[int(np.argmin(rows["capacity_kw"].to_numpy(dtype=np.float64)))]
    capacity = float(row["capacity_kw"])
    base_ok = bool(row["base_ok"])
    margin = capacity - float(kw)
    stored = str(per_bus.attrs.get("version", ""))
    return ConnectionAnswer(
        ok=base_ok and margin >= 0,
        margin_kw=margin,
        limiting_criterion=str(row["limiting_criterion"]),
        limiting_element=str(row["limiting_element"]),
        stale=version is not None and stored != version,
        capacity_kw=capacity,
        bus=name,
        kind=kind,
    )
