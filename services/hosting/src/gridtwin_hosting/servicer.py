"""HostingCapacity servicer: per-bus studies on this process's OpenDSS engine, connection checks from
stored results (recomputed when the feeder changed), and stochastic jobs on Dask.

Thin: ``gridtwin.hosting`` computes, ``gridtwin.store.hosting`` stores, ``gridtwin.compute`` runs jobs.
"""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from gridtwin.compute import JobEvents, JobRunner, make_client
from gridtwin.compute.hosting_task import (
    STOCHASTIC_KIND,
    stochastic_kind,
    stochastic_spec_from_json,
    stochastic_spec_to_json,
)
from gridtwin.config import Settings
from gridtwin.errors import ErrorDetail, InputError, NotFoundError
from gridtwin.grid.dss_writer import write_dss
from gridtwin.grid.model import FeederModel
from gridtwin.hosting.connection import check_connection
from gridtwin.hosting.criteria import Criteria
from gridtwin.hosting.perbus import exact_hosting_capacity
from gridtwin.hosting.placement import default_steps_pct
from gridtwin.hosting.sensitivity import fast_hosting_capacity
from gridtwin.hosting.stochastic import StochasticSpec
from gridtwin.powerflow import get_engine
from gridtwin.powerflow.engine import Engine
from gridtwin.rpc.errors import error_from_rpc_error
from gridtwin.rpc.jobs import job_to_proto
from gridtwin.rpc.selection import select_feeders
from gridtwin.rpc.v1 import hosting_pb2, powerflow_pb2, twin_registry_pb2
from gridtwin.store.hosting import HostingStore
from gridtwin.store.jobs import JobStore
from gridtwin.store.redis import make_redis
from gridtwin.twin.records import FEEDER_RE

__all__ = ["HostingServicer", "criteria_from_proto"]

log = logging.getLogger(__name__)
REGISTRY_TIMEOUT_S = 300.0
METHODS = ("fast", "exact")
KIND_DER = {"pv": ("pv", "pv"), "storage": ("pv", "pv"), "ev_load": ("load", "load")}


def criteria_from_proto(msg: Any) -> Criteria:
    """Criteria with the request's set fields over the defaults."""
    base = Criteria()
    changes = {f.name: getattr(msg, f.name) for f in msg.DESCRIPTOR.fields if msg.HasField(f.name)}
    return Criteria(**{**{k: getattr(base, k) for k in base.__dataclass_fields__}, **changes})


def _table(frame: pd.DataFrame, total: int, level: str) -> Any:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return powerflow_pb2.ResultTable(arrow_ipc=sink.getvalue().to_pybytes(), total=total, level=level)


def _summary(frame: pd.DataFrame, seconds: float) -> dict[str, Any]:
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


class HostingServicer:
    def __init__(
        self,
        registry: Any,
        engine: sa.Engine,
        settings: Settings,
        dss_engine: Callable[[], Engine] = get_engine,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._registry = registry
        self._settings = settings
        self._dss = dss_engine
        self.store = HostingStore(engine, settings.data_dir / "results")
        self.jobs = JobStore(engine)
        self._client_factory = client_factory or (lambda: make_client(settings))
        self._runner: JobRunner | None = None
        self._lock = threading.Lock()
        self._study_lock = threading.Lock()  # one OpenDSS circuit per process

    # -- plumbing -----------------------------------------------------------------------------------

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._registry, method)(request, timeout=REGISTRY_TIMEOUT_S)
        except grpc.RpcError as err:
            raise error_from_rpc_error(err) from err

    def _model(self, feeder: str) -> FeederModel:
        if not FEEDER_RE.fullmatch(feeder):
            raise InputError(
                "bad feeder id", [ErrorDetail(where="feeder", message="must match [A-Za-z0-9_-]{1,64}")]
            )
        reply = self._call("ExportFeeder", twin_registry_pb2.ExportFeederRequest(feeder=feeder))
        model = FeederModel.from_ipc(bytes(reply.feeder_model_ipc))
        model.version = str(reply.version)
        return model

    def _version(self, feeder: str) -> str:
        reply = self._call(
            "ExportFeeder", twin_registry_pb2.ExportFeederRequest(feeder=feeder, known_version="?")
        )
        return str(reply.version)

    def _export(self, feeder: str) -> bytes:
        return self._model(feeder).to_ipc()

    def runner(self) -> JobRunner:
        from gridtwin.store.results import QstsResultStore

        with self._lock:
            if self._runner is None:
                self._runner = JobRunner(
                    self.jobs,
                    QstsResultStore(self.store._engine, self._settings.data_dir / "results"),
                    JobEvents(make_redis(self._settings.redis_url)),
                    self._client_factory,
                    self._export,
                    self._settings.data_dir / "profiles",
                    retries=self._settings.task_retries,
                )
            return self._runner

    def resume_in_background(self) -> None:
        def resume() -> None:
            try:
                for record in self.jobs.unfinished():
                    if record.kind != STOCHASTIC_KIND:
                        continue
                    spec = stochastic_spec_from_json(dict(record.params.get("spec") or {}))
                    feeders = [str(f) for f in record.params.get("feeders", [])]
                    self.runner().submit_job(
                        stochastic_kind(spec, self.store), feeders, dict(record.params), site=record.site,
                        job_id=record.id,
                    )  # fmt: skip
            except Exception:  # a broken job must not take the service down; it stays listed
                log.exception("resuming stochastic hosting jobs failed")

        threading.Thread(target=resume, name="hosting-resume", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()

    # -- per bus ------------------------------------------------------------------------------------

    def _study(self, model: FeederModel, buses: list[str] | None, method: str, der: str, inverter: str,
               pf: float, max_kw: float, criteria: Criteria) -> pd.DataFrame:  # fmt: skip
        engine = self._dss()
        with self._study_lock:
            engine.mark_changed()  # an earlier study left test DER in the circuit: compile afresh
            engine.load_script(model.feeder_id, model.version, write_dss(model))
            run = fast_hosting_capacity if method == "fast" else exact_hosting_capacity
            try:
                return run(engine, buses, criteria, der=der, inverter=inverter, pf=pf, max_kw=max_kw)
            finally:
                engine.mark_changed()

    def PerBus(self, request: Any, context: grpc.ServicerContext) -> Any:
        feeder = str(request.feeder)
        method = str(request.method) or "fast"
        if method not in METHODS:
            raise InputError("bad method", [ErrorDetail(where="method", message="fast or exact")])
        der, inverter = str(request.der) or "pv", str(request.inverter) or "none"
        max_kw = float(request.max_kw) or 10_000.0
        pf = float(request.pf) or 1.0
        criteria = criteria_from_proto(request.criteria)
        model = self._model(feeder)
        t0 = time.perf_counter()
        frame = self._study(model, list(request.buses) or None, method, der, inverter, pf, max_kw, criteria)
        seconds = time.perf_counter() - t0
        self.store.replace_bus_results(feeder, der, inverter, model.version, frame)
        summary = {"method": method, **_summary(frame, seconds)}
        if inverter != "none":
            frame, summary["gain"] = self._gain(feeder, der, model.version, frame)
        return hosting_pb2.PerBusResponse(
            feeder=feeder,
            version=model.version,
            summary_json=json.dumps(summary),
            table=_table(frame, len(frame), "buses"),
        )

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

    def GetPerBus(self, request: Any, context: grpc.ServicerContext) -> Any:
        der, inverter = str(request.der) or "pv", str(request.inverter) or "none"
        if str(request.format) == "csv":
            frame = self.store.all_bus_results(str(request.feeder), der, inverter)
            return powerflow_pb2.ResultTable(
                arrow_ipc=self.store.to_csv(frame), total=len(frame), level="csv"
            )
        frame, total = self.store.bus_results(
            str(request.feeder), der, inverter, order_by=str(request.order_by) or "capacity_kw",
            descending=bool(request.descending), limit=int(request.limit) or 100, offset=int(request.offset),
        )  # fmt: skip
        return _table(frame, total, "buses")

    def CheckConnection(self, request: Any, context: grpc.ServicerContext) -> Any:
        feeder, kind = str(request.feeder), str(request.kind) or "pv"
        if kind not in KIND_DER:
            raise InputError("bad kind", [ErrorDetail(where="kind", message="pv, storage or ev_load")])
        if not request.kw > 0:
            raise InputError("bad size", [ErrorDetail(where="kw", message="must be > 0")])
        der, _ = KIND_DER[kind]
        inverter = str(request.inverter) or "none"
        stored = self.store.bus_version(feeder, der, inverter)
        per_bus: pd.DataFrame | None = None
        name = str(request.bus).lower()
        if stored is not None and name:
            # The answer at once: the registry only confirms the stored study's version (no export).
            reply = self._call(
                "ExportFeeder", twin_registry_pb2.ExportFeederRequest(feeder=feeder, known_version=stored)
            )
            if reply.unchanged:
                per_bus = self.store.all_bus_results(feeder, der, inverter)
                if name not in set(per_bus["bus"]):
                    per_bus = None  # a meter name, or a bus not studied: needs the model below
        recomputed = False
        if per_bus is not None:
            bus, version = name, str(stored)
        else:
            model = self._model(feeder)
            bus, version = self._bus_of(model, name), model.version
            if stored == version:
                per_bus = self.store.all_bus_results(feeder, der, inverter)
                if bus not in set(per_bus["bus"]):
                    per_bus = None
            if per_bus is None:  # stale, missing, or this bus not studied: study it now (fast + verified)
                frame = self._study(model, [bus], "fast", der, inverter, 1.0, 10_000.0, Criteria())
                if stored == version:
                    merged = pd.concat(
                        [self.store.all_bus_results(feeder, der, inverter), frame], ignore_index=True
                    )
                    frame = merged.drop_duplicates("bus", keep="last")
                self.store.replace_bus_results(feeder, der, inverter, version, frame)
                per_bus, recomputed = self.store.all_bus_results(feeder, der, inverter), True
        per_bus = per_bus.assign(der=der, inverter=inverter)
        per_bus.attrs["version"] = version
        answer = check_connection(per_bus, bus, float(request.kw), kind, version=version)
        return hosting_pb2.ConnectionReply(
            ok=answer.ok, margin_kw=answer.margin_kw, capacity_kw=answer.capacity_kw,
            limiting_criterion=answer.limiting_criterion, limiting_element=answer.limiting_element,
            bus=bus, recomputed=recomputed, version=version,
        )  # fmt: skip

    @staticmethod
    def _bus_of(model: FeederModel, name: str) -> str:
        """A bus name, or a meter/load's bus."""
        key = name.lower()
        if not key:
            raise InputError("bus is required", [ErrorDetail(where="bus", message="empty")])
        buses = {str(b).lower() for b in model.table("buses")["name"]}
        if key in buses:
            return key
        loads = model.table("loads")
        hit = loads[loads["name"].str.lower() == key]
        if len(hit):
            return str(hit["bus1"].iloc[0]).split(".")[0].lower()
        raise NotFoundError(
            "no such bus or meter",
            [ErrorDetail(where=f"bus={name}", message=f"not in feeder {model.feeder_id}")],
        )

    # -- stochastic ---------------------------------------------------------------------------------

    def _select(self, request: Any) -> list[str]:
        return select_feeders(
            lambda site: self._call("ListFeeders", twin_registry_pb2.ListFeedersRequest(site=site)),
            request.feeders,
            str(request.site),
            str(request.feeder_glob),
        )

    def RunStochastic(self, request: Any, context: grpc.ServicerContext) -> Any:
        spec = StochasticSpec(
            samples=int(request.samples) or 10,
            placement=str(request.placement) or "random",
            steps_pct=tuple(float(s) for s in request.steps_pct) or default_steps_pct(),
            seed=int(request.seed),
            full_curve=bool(request.full_curve),
            inverter=str(request.inverter) or "none",
            criteria=criteria_from_proto(request.criteria),
        )
        spec.check()
        if spec.samples > 10_000:
            raise InputError("too many samples", [ErrorDetail(where="samples", message="at most 10000")])
        feeders = self._select(request)
        job = self.runner().submit_job(
            stochastic_kind(spec, self.store), feeders, {"spec": stochastic_spec_to_json(spec)},
            site=str(request.site), job_id=str(request.job_id) or None,
        )  # fmt: skip
        return job_to_proto(job, [])

    def GetStochastic(self, request: Any, context: grpc.ServicerContext) -> Any:
        job = self.jobs.get(str(request.job_id))
        if job.kind != STOCHASTIC_KIND:
            raise InputError(
                "not a stochastic job", [ErrorDetail(where="job_id", message=f"kind {job.kind}")]
            )
        return hosting_pb2.StochasticReply(
            job_id=job.id, feeders_json=json.dumps(self.store.stochastic(job.id))
        )
