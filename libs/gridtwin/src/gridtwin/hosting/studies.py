"""Hosting-capacity studies as a planner runs them on stored feeders: per-bus studies (stored with the
feeder version, summarised, compared with the plain-inverter study), and connection checks answered
from stored results, recomputed for a bus whenever the feeder changed since its study.

The HostingCapacity service turns protobuf into these calls; the engine is the process's OpenDSS
engine (the whole study holds it), feeders come from a ``FeederSource``.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gridtwin.errors import ErrorDetail, InputError, NotFoundError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.source import FeederSource, check_feeder_id
from gridtwin.hosting.connection import check_connection
from gridtwin.hosting.criteria import Criteria
from gridtwin.hosting.perbus import exact_hosting_capacity
from gridtwin.hosting.sensitivity import fast_hosting_capacity
from gridtwin.hosting.types import ConnectionAnswer
from gridtwin.powerflow.engine import Engine
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
    ) -> pd.DataFrame:
        """One per-bus study of ``model`` on the engine, held for the whole study."""
        if method not in METHODS:
            raise InputError("bad method", [ErrorDetail(where="method", message="fast or exact")])
        run = fast_hosting_capacity if method == "fast" else exact_hosting_capacity
        with self.engine.hold():
            self.engine.mark_changed()  # an earlier study left test DER in the circuit: compile afresh
            self.engine.load_model(model)
            try:
                return run(self.engine, buses, criteria, der=der, inverter=inverter, pf=pf, max_kw=max_kw)
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
    ) -> PerBusStudy:
        """Study ``feeder`` as stored now, keep the results with its version, and summarise them; a
        smart-inverter study also reports the capacity gained against the plain study of that version."""
        if method not in METHODS:
            raise InputError("bad method", [ErrorDetail(where="method", message="fast or exact")])
        model = self.feeders.feeder_model(check_feeder_id(feeder))
        t0 = time.perf_counter()
        frame = self.study(model, buses or None, method, der, inverter, pf, max_kw, criteria or Criteria())
        seconds = time.perf_counter() - t0
        self.store.replace_bus_results(feeder, der, inverter, model.version, frame)
        summary = {"method": method, **perbus_summary(frame, seconds)}
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
        self, feeder: str, bus: str, kw: float, kind: str = "pv", inverter: str = "none"
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
                frame = self.study(model, [at], "fast", der, inverter, 1.0, 10_000.0, Criteria())
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
