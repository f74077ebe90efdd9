"""HostingCapacity servicer: protobuf <-> ``gridtwin.hosting.studies`` (per-bus studies, connection
checks) and stochastic jobs on the process's job runner, nothing more. Every call passes its verified
caller (``current_principal()``) to the core: another site's feeders, results and jobs are not found,
stochastic jobs over them are refused, and the per-site job quota applies."""

from __future__ import annotations

import json
from typing import Any

import grpc
from gridtwin.compute.hosting_task import STOCHASTIC_KIND, stochastic_params
from gridtwin.compute.runner import JobRunner
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.source import select_feeders
from gridtwin.hosting.criteria import Criteria
from gridtwin.hosting.placement import default_steps_pct
from gridtwin.hosting.stochastic import StochasticSpec
from gridtwin.hosting.studies import HostingStudies
from gridtwin.powerflow.solver import SolverSettings
from gridtwin.rpc.auth import current_principal
from gridtwin.rpc.jobs import job_to_proto
from gridtwin.rpc.solver import solver_from_proto
from gridtwin.rpc.tables import table_to_proto
from gridtwin.rpc.v1 import hosting_pb2, powerflow_pb2
from gridtwin.twin.records import FEEDER_RE

__all__ = ["MAX_SAMPLES", "HostingServicer", "criteria_from_proto"]

MAX_SAMPLES = 10_000


def criteria_from_proto(msg: Any) -> Criteria:
    """Criteria with the request's set fields over the defaults."""
    base = Criteria()
    changes = {f.name: getattr(msg, f.name) for f in msg.DESCRIPTOR.fields if msg.HasField(f.name)}
    return Criteria(**{**{k: getattr(base, k) for k in base.__dataclass_fields__}, **changes})


class HostingServicer:
    def __init__(
        self, studies: HostingStudies, runner: JobRunner, solver: SolverSettings | None = None
    ) -> None:
        self._studies = studies
        self._runner = runner
        self._solver = solver or SolverSettings()  # the installation's defaults (GRIDTWIN_MAX_*)

    def PerBus(self, request: Any, context: grpc.ServicerContext) -> Any:
        study = self._studies.per_bus(
            str(request.feeder), method=str(request.method) or "fast", der=str(request.der) or "pv",
            inverter=str(request.inverter) or "none", pf=float(request.pf) or 1.0,
            max_kw=float(request.max_kw) or 10_000.0, criteria=criteria_from_proto(request.criteria),
            buses=list(request.buses) or None,
            tol_kw=float(request.tol_kw) if request.HasField("tol_kw") else None,
            rel_tol_pct=float(request.rel_tol_pct) if request.HasField("rel_tol_pct") else None,
            solver=solver_from_proto(request.solver, self._solver), principal=current_principal(),
        )  # fmt: skip
        return hosting_pb2.PerBusResponse(
            feeder=str(request.feeder), version=study.version, summary_json=json.dumps(study.summary),
            table=table_to_proto(study.frame, len(study.frame), "buses"),
        )  # fmt: skip

    def GetPerBus(self, request: Any, context: grpc.ServicerContext) -> Any:
        store = self._studies.store
        der, inverter = str(request.der) or "pv", str(request.inverter) or "none"
        principal = current_principal()
        if str(request.format) == "csv":
            frame = store.all_bus_results(str(request.feeder), der, inverter, principal=principal)
            return powerflow_pb2.ResultTable(arrow_ipc=store.to_csv(frame), total=len(frame), level="csv")
        frame, total = store.bus_results(
            str(request.feeder), der, inverter, order_by=str(request.order_by) or "capacity_kw",
            descending=bool(request.descending), limit=int(request.limit) or 100, offset=int(request.offset),
            principal=principal,
        )  # fmt: skip
        return table_to_proto(frame, total, "buses")

    def CheckConnection(self, request: Any, context: grpc.ServicerContext) -> Any:
        check = self._studies.check(
            str(request.feeder), str(request.bus), float(request.kw), str(request.kind) or "pv",
            str(request.inverter) or "none", solver=solver_from_proto(request.solver, self._solver),
            principal=current_principal(),
        )  # fmt: skip
        a = check.answer
        return hosting_pb2.ConnectionReply(
            ok=a.ok, margin_kw=a.margin_kw, capacity_kw=a.capacity_kw, limiting_criterion=a.limiting_criterion,
            limiting_element=a.limiting_element, bus=check.bus, recomputed=check.recomputed, version=check.version,
        )  # fmt: skip

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
        solver = solver_from_proto(request.solver, self._solver)
        if spec.samples > MAX_SAMPLES:
            raise InputError(
                "too many samples", [ErrorDetail(where="samples", message=f"at most {MAX_SAMPLES}")]
            )
        job_id = str(request.job_id) or None
        if job_id is not None and not FEEDER_RE.fullmatch(job_id):
            raise InputError(
                "bad job id", [ErrorDetail(where="job_id", message="must match [A-Za-z0-9_-]{1,64}")]
            )
        feeders = select_feeders(
            self._studies.feeders, request.feeders, str(request.site), str(request.feeder_glob)
        )
        job = self._runner.submit(
            STOCHASTIC_KIND,
            feeders,
            stochastic_params(spec, solver),
            job_id=job_id,
            principal=current_principal(),
        )
        return job_to_proto(job, [])

    def GetStochastic(self, request: Any, context: grpc.ServicerContext) -> Any:
        job = self._runner.jobs.get(str(request.job_id), principal=current_principal())
        if job.kind != STOCHASTIC_KIND:
            raise InputError(
                "not a stochastic job", [ErrorDetail(where="job_id", message=f"kind {job.kind}")]
            )
        return hosting_pb2.StochasticReply(
            job_id=job.id, feeders_json=json.dumps(self._studies.store.stochastic(job.id))
        )
