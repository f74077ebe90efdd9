"""Hosting-capacity studies as a planner runs them on stored feeders: per-bus studies (stored with the
feeder version, summarised, compared with the plain-inverter study), and connection checks answered
from stored results, recomputed for a bus whenever the feeder changed since its study.

The HostingCapacity service turns protobuf into these calls; the engine is the process's OpenDSS
engine (the whole study holds it), feeders come from a ``FeederSource``.

Sites: ``per_bus`` and ``check`` take the caller's ``principal`` (None: a trusted caller); a feeder of a
site it does not see is not found (``HostingStore.feeder_visible``), before anything is read or run.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gridtwin.access.principal import Principal
from gridtwin.errors import ErrorDetail, InputError, NotFoundError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.source import FeederSource, check_feeder_id
from gridtwin.hosting.connection import check_connection
from gridtwin.hosting.criteria import Criteria
from gridtwin.hosting.perbus import EXACT_REL_TOL_PCT, EXACT_TOL_KW, exact_hosting_capacity
from gridtwin.hosting.sensitivity import fast_hosting_capacity
from gridtwin.hosting.types import ConnectionAnswer
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.solver import SolverSettings
from gridtwin.store.hosting import HostingStore

__all__ = ["CONNECTION_DER", "METHODS", "ConnectionCheck", "HostingStudies", "PerBusStudy", "perbus_summary"]

METHODS = ("fast", "exact")
# A connection's kind -> which per-bus study answers it (storage discharging is judged like PV).
CONNECTION_DER = {"pv": "pv", "storage": "pv", "ev_load": "load"}


def perbus_summary(frame: pd.DataFrame, seconds: float) -> dict[str, Any]:
    """What a per-bus study found: capacity range, buses already violated, which limits bind."""
    caps = pd.to_numeric(frame["capacity_kw"], errors="coerce").dropna()
    limits = Counter(str(c) for c in frame["limiting_criterion"] if c)
    out: dict[str, Any] = {
        "buses": len(frame),
        "min_kw": float(caps.min()) if len(caps) else None,
        "median_kw": float(statistics.median(caps)) if len(caps) else None,
        "max_kw": float(caps.max()) if len(caps) else None,
        "base_violated_buses": int((~frame["base_ok"].astype(bool)).sum()),
        "limiting": dict(limits.most_common()),
        "seconds": round(seconds, 3),
    }
    if "verified" in frame:
        out["corrected_buses"] = int((pd.to_numeric(frame["corrections"], errors="coerce") > 0).sum())
    return out


@dataclass(frozen=True)
class PerBusStudy:
    version: str
    frame: pd.DataFrame
    summary: dict[str, Any]


@dataclass(frozen=True)
class ConnectionCheck:
    answer: ConnectionAnswer
    bus: str
    version: str
    recomputed: bool  # the stored study was stale or lacked this bus: studied now


def bus_of(model: FeederModel, name: str) -> str:
    """A bus name, or the bus of a meter/load of that name."""
    key = name.lower()
    if not key:
        raise InputError("bus is required", [ErrorDetail(where="bus", message="empty")])
    if key in {str(b).lower() for b in model.table("buses")["name"]}:
        return key
    loads = model.table("loads")
    hit = loads[loads["name"].str.lower() == key]
    if len(hit):
        return str(hit["bus1"].iloc[0]).split(".")[0].lower()
    raise NotFoundError(
        "no such bus or meter", [ErrorDetail(where=f"bus={name}", message=f"not in feeder {model.feeder_id}")]
    )


class HostingStudies:
    def __init__(self, engine: Engine, feeders: FeederSource, store: HostingStore) -> None:
        self.engine = engine
        self.feeders = feeders
        self.store = store

    def check_visible(self, feeder: str, principal: Principal | None) -> None:
        """``NotFoundError``, as for a feeder without twins, when ``principal`` does not see ``feeder``."""
        if not self.store.feeder_visible(check_feeder_id(feeder), principal):
            raise NotFoundError(
                "feeder not found", [ErrorDetail(feeder, "no twins in this feeder", "not_found")]
            )

    def study(
        self,
        model: FeederModel,
        buses: Sequence[str] | None,
        method: str,
        der: str,
        inverter: str,
        pf: float,
        max_kw: float,
        criteria: Criteria,
        *,
        tol_kw: float | None = None,
        rel_tol_pct: float | None = None,
        solver: SolverSettings | None = None,
    ) -> pd.DataFrame:
        """One per-bus study of ``model`` on the engine, held for the whole study. ``tol_kw`` and
        ``rel_tol_pct`` are the exact method's stopping tolerance (None: ``EXACT_TOL_KW``,
        ``EXACT_REL_TOL_PCT``); the fast method stops at its own accuracy and ignores them.
        ``solver``: the power flows' iteration caps and tolerance (None: the built-in defaults)."""
        if method not in METHODS:
            raise InputError("bad method", [ErrorDetail(where="method", message="fast or exact")])
        with self.engine.hold():
            self.engine.mark_changed()  # an earlier study left test DER in the circuit: compile afresh
            self.engine.load_model(model)
            try:
                if method == "fast":
                    return fast_hosting_capacity(
                        self.engine,
                        buses,
                        criteria,
                        der=der,
                        inverter=inverter,
                        pf=pf,
                        max_kw=max_kw,
                        solver=solver,
                    )
                return exact_hosting_capacity(
                    self.engine,
                    buses,
                    criteria,
                    der=der,
                    inverter=inverter,
                    pf=pf,
                    max_kw=max_kw,
                    tol_kw=EXACT_TOL_KW if tol_kw is None else tol_kw,
                    rel_tol_pct=EXACT_REL_TOL_PCT if rel_tol_pct is None else rel_tol_pct,
                    solver=solver,
                )
            finally:
                self.engine.mark_changed()

    def per_bus(
        self,
        feeder: str,
        *,
        method: str = "fast",
        der: str = "pv",
        inverter: str = "none",
        pf: float = 1.0,
        max_kw: float = 10_000.0,
        criteria: Criteria | None = None,
        buses: Sequence[str] | None = None,
        tol_kw: float | None = None,
        rel_tol_pct: float | None = None,
        solver: SolverSettings | None = None,
        principal: Principal | None = None,
    ) -> PerBusStudy:
        """Study ``feeder`` as stored now, keep the results with its version, and summarise them; a
        smart-inverter study also reports the capacity gained against the plain study of that version.

        ``tol_kw``, ``rel_tol_pct``: the exact method's stopping tolerance, bisection until the bracket
        is no wider than ``max(tol_kw, rel_tol_pct % of its upper end)`` (None: 0.1 kW and 0.1 %,
        ``perbus.EXACT_TOL_KW`` / ``EXACT_REL_TOL_PCT``); ignored by the fast method. The exact
        summary reports the tolerance used. ``solver``: the power flows' iteration caps and tolerance
        (``gridtwin.powerflow.solver``; None: the built-in defaults)."""
        if method not in METHODS:
            raise InputError("bad method", [ErrorDetail(where="method", message="fast or exact")])
        tol = EXACT_TOL_KW if tol_kw is None else float(tol_kw)
        rel = EXACT_REL_TOL_PCT if rel_tol_pct is None else float(rel_tol_pct)
        self.check_visible(feeder, principal)
        model = self.feeders.feeder_model(check_feeder_id(feeder))
        t0 = time.perf_counter()
        frame = self.study(
            model,
            buses or None,
            method,
            der,
            inverter,
            pf,
            max_kw,
            criteria or Criteria(),
            tol_kw=tol,
            rel_tol_pct=rel,
            solver=solver,
        )
        seconds = time.perf_counter() - t0
        self.store.replace_bus_results(feeder, der, inverter, model.version, frame)
        summary = {"method": method, **perbus_summary(frame, seconds)}
        if method == "exact":
            summary["tol_kw"], summary["rel_tol_pct"] = tol, rel
        if inverter != "none":
            frame, summary["gain"] = self._gain(feeder, der, model.version, frame)
        return PerBusStudy(model.version, frame, summary)

    def _gain(self, feeder: str, der: str, version: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, Any]:
        """Capacity gained by the smart inverter against the stored plain-inverter study of the same
        feeder version (per bus ``gain_kw``; None when there is no such study yet)."""
        if self.store.bus_version(feeder, der, "none") != version:
            return frame.assign(gain_kw=float("nan")), None
        plain = self.store.all_bus_results(feeder, der, "none").set_index("bus")["capacity_kw"]
        gain = pd.to_numeric(frame["capacity_kw"]) - frame["bus"].map(plain)
        both = gain.dropna()
        return frame.assign(gain_kw=gain), {
            "against": "inverter none",
            "buses": len(both),
            "median_kw": float(both.median()) if len(both) else None,
            "buses_gaining": int((both > 0.5).sum()),
            "buses_losing": int((both < -0.5).sum()),
        }

    def check(
        self,
        feeder: str,
        bus: str,
        kw: float,
        kind: str = "pv",
        inverter: str = "none",
        *,
        solver: SolverSettings | None = None,
        principal: Principal | None = None,
    ) -> ConnectionCheck:
        """Whether ``kw`` of ``kind`` fits at ``bus`` (a bus or a meter/load name).

        Answered at once from the stored study when it is of the feeder's current version and holds
        the bus (only the version is asked, no export); otherwise the bus is studied now (fast method,
        verified) and merged into the stored study of this version.
        """
        if kind not in CONNECTION_DER:
            raise InputError("bad kind", [ErrorDetail(where="kind", message="pv, storage or ev_load")])
        if not kw > 0:
            raise InputError("bad size", [ErrorDetail(where="kw", message="must be > 0")])
        der = CONNECTION_DER[kind]
        check_feeder_id(feeder)
        self.check_visible(feeder, principal)
        stored = self.store.bus_version(feeder, der, inverter)
        name = bus.lower()
        per_bus: pd.DataFrame | None = None
        if stored is not None and name and self.feeders.feeder_version(feeder) == stored:
            per_bus = self.store.all_bus_results(feeder, der, inverter)
            if name not in set(per_bus["bus"]):
                per_bus = None  # a meter name, or a bus not studied: needs the model below
        recomputed = False
        if per_bus is not None:
            at, version = name, str(stored)
        else:
            model = self.feeders.feeder_model(feeder)
            at, version = bus_of(model, name), model.version
            if stored == version:
                per_bus = self.store.all_bus_results(feeder, der, inverter)
                if at not in set(per_bus["bus"]):
                    per_bus = None
            if per_bus is None:  # stale, missing, or this bus not studied: study it now (fast + verified)
                frame = self.study(
                    model, [at], "fast", der, inverter, 1.0, 10_000.0, Criteria(), solver=solver
                )
                if stored == version:
                    merged = pd.concat(
                        [self.store.all_bus_results(feeder, der, inverter), frame], ignore_index=True
                    )
                    frame = merged.drop_duplicates("bus", keep="last")
                self.store.replace_bus_results(feeder, der, inverter, version, frame)
                per_bus, recomputed = self.store.all_bus_results(feeder, der, inverter), True
        per_bus = per_bus.assign(der=der, inverter=inverter)
        per_bus.attrs["version"] = version
        answer = check_connection(per_bus, at, float(kw), kind, version=version)
        return ConnectionCheck(answer, at, version, recomputed)
