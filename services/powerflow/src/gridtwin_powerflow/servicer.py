"""PowerFlow servicer: protobuf <-> the core's snapshot path, QSTS jobs and scenarios, nothing more.

``gridtwin.powerflow.feeders`` solves a feeder from the registry (the engine keeps each version's
script); ``gridtwin.compute.qsts_jobs`` and ``scenario_jobs`` run, page and compare jobs. Every call passes
its verified caller (``current_principal()``) to the core, which filters jobs, results, scenarios and
sweeps by its sites; feeders come from the registry as that caller (``service_channel``).
"""

from __future__ import annotations

import json
from typing import Any

import grpc
import numpy as np
import pandas as pd
from gridtwin.compute.qsts_jobs import FeederSelection, QstsJobs, job_eta_s, qsts_spec
from gridtwin.compute.scenario_jobs import ScenarioJobs, SweepView, scenario_summary
from gridtwin.grid.source import FeederSource
from gridtwin.ingest.gis.baseline import compare_baseline_upload
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.feeders import snapshot_feeder
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.results import SnapshotResult
from gridtwin.powerflow.solver import SolverSettings
from gridtwin.rpc.auth import current_principal
from gridtwin.rpc.jobs import job_to_proto
from gridtwin.rpc.solver import solver_from_proto, solver_to_proto
from gridtwin.rpc.tables import table_to_proto
from gridtwin.rpc.v1 import powerflow_pb2 as pb
from gridtwin.scenarios.schema import Scenario
from gridtwin.store.scenarios import ScenarioRecord

__all__ = ["PowerFlowServicer", "snapshot_to_proto"]


def _selection(request: Any) -> FeederSelection:
    return FeederSelection(list(request.feeders), str(request.site), str(request.feeder_glob))


def _scenario_doc(record: ScenarioRecord, scenario: Scenario | None = None, *, body: bool = True) -> Any:
    sc = scenario or Scenario.model_validate(record.body)
    return pb.ScenarioDoc(
        id=record.id, name=record.name, schema_version=record.schema_version, revision=record.revision,
        body_json=json.dumps(record.body, sort_keys=True) if body else "",
        created_at=record.created_at.isoformat(), updated_at=record.updated_at.isoformat(),
        summary_json=json.dumps(scenario_summary(sc)), site=record.site,
    )  # fmt: skip


def _sweep_info(view: SweepView) -> Any:
    sweep = view.sweep
    samples = [
        pb.SweepSample(
            sample=int(s["sample"]),
            values_json=json.dumps(s["values"], sort_keys=True),
            job_id=str(s["job_id"]),
            status=view.statuses[str(s["job_id"])],
        )
        for s in sweep.samples
    ]
    return pb.SweepInfo(
        id=sweep.id, scenario_id=sweep.scenario_id, method=sweep.method,
        spec_json=json.dumps(sweep.spec, sort_keys=True), samples=samples,
        table=table_to_proto(view.table, len(view.table), "sweep"),
    )  # fmt: skip


class PowerFlowServicer:
    def __init__(
        self,
        feeders: FeederSource,
        engine: Engine,
        limits: ViolationLimits,
        qsts: QstsJobs,
        scenarios: ScenarioJobs,
        solver: SolverSettings | None = None,
    ) -> None:
        self._feeders = feeders
        self._engine = engine
        self._limits = limits
        self._qsts = qsts
        self._scenarios = scenarios
        self._solver = solver or SolverSettings()  # the installation's defaults (GRIDTWIN_MAX_*)

    def _solver_of(self, request: Any) -> SolverSettings:
        return solver_from_proto(request.solver, self._solver)

    # -- snapshot ---------------------------------------------------------------------------------------

    def Snapshot(self, request: Any, context: grpc.ServicerContext) -> Any:
        solver = self._solver_of(request)
        solved = snapshot_feeder(
            self._engine, self._feeders, str(request.feeder), self._limits, solver=solver
        )
        return snapshot_to_proto(solved.result, solved.version, solved.recompiled)

    def ValidateAgainst(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Our snapshot against another tool's results table (a validation baseline)."""
        solved = snapshot_feeder(
            self._engine, self._feeders, str(request.feeder), self._limits, solver=self._solver
        )
        report = compare_baseline_upload(solved.result, str(request.filename), bytes(request.table))
        return pb.ValidateAgainstResponse(
            report_json=json.dumps(report.to_dict(), allow_nan=False, default=str)
        )

    # -- QSTS jobs --------------------------------------------------------------------------------------

    def RunQSTS(self, request: Any, context: grpc.ServicerContext) -> Any:
        ambient = float(request.ambient_c) if request.HasField("ambient_c") else None
        p = request.period
        spec = qsts_spec(
            p.hours, p.start_hour, p.step_minutes, ambient, self._limits, solver=self._solver_of(request)
        )
        job = self._qsts.run(
            _selection(request), spec, job_id=str(request.job_id), principal=current_principal()
        )
        return job_to_proto(job, [])

    def GetJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        job, tasks = self._qsts.get(
            str(request.job_id), all_tasks=request.with_tasks, principal=current_principal()
        )
        return job_to_proto(job, tasks, job_eta_s(job))

    def ListJobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        jobs, total = self._qsts.list(
            status=str(request.status),
            kind=str(request.kind),
            limit=int(request.limit),
            offset=int(request.offset),
            principal=current_principal(),
        )
        return pb.ListJobsResponse(jobs=[job_to_proto(j, [], job_eta_s(j)) for j in jobs], total=total)

    def CancelJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        return job_to_proto(self._qsts.cancel(str(request.job_id), principal=current_principal()), [])

    def GetQstsResults(self, request: Any, context: grpc.ServicerContext) -> Any:
        level = str(request.level) or "feeders"
        frame, total = self._qsts.table(
            str(request.job_id), level, feeder=str(request.feeder), kind=str(request.kind),
            order_by=str(request.order_by), descending=not request.ascending, limit=int(request.limit),
            offset=int(request.offset), principal=current_principal(),
        )  # fmt: skip
        return table_to_proto(frame, total, level)

    def CompareJobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        level = str(request.level) or "feeders"
        frame, total = self._qsts.compare(
            str(request.job_id), str(request.base_job_id), level, order_by=str(request.order_by),
            limit=int(request.limit), offset=int(request.offset), principal=current_principal(),
        )  # fmt: skip
        return table_to_proto(frame, total, level)

    # -- scenarios --------------------------------------------------------------------------------------

    def ValidateScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        scenario, _ = self._scenarios.scenario("", str(request.text), str(request.format))
        return pb.ScenarioDoc(
            id=str(request.id), name=scenario.name, schema_version=scenario.schema_version,
            body_json=json.dumps(scenario.model_dump(mode="json"), sort_keys=True),
            summary_json=json.dumps(scenario_summary(scenario)),
        )  # fmt: skip

    def CreateScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        created = self._scenarios.create(
            str(request.text), str(request.format), str(request.id), site=str(request.site),
            principal=current_principal(),
        )  # fmt: skip
        return _scenario_doc(*created)

    def UpdateScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        revision = int(request.expected_revision) or None
        record, scenario = self._scenarios.update(
            str(request.id), str(request.text), str(request.format), revision, site=str(request.site),
            principal=current_principal(),
        )  # fmt: skip
        return _scenario_doc(record, scenario)

    def GetScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _scenario_doc(self._scenarios.get(str(request.id), principal=current_principal()))

    def ListScenarios(self, request: Any, context: grpc.ServicerContext) -> Any:
        records, total = self._scenarios.list(
            limit=int(request.limit) or 50, offset=int(request.offset), principal=current_principal()
        )
        return pb.ListScenariosResponse(
            scenarios=[_scenario_doc(r, body=False) for r in records], total=total
        )

    def DeleteScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _scenario_doc(
            self._scenarios.delete(str(request.id), principal=current_principal()), body=False
        )

    def RunScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        inline = request.scenario if request.HasField("scenario") else None
        principal = current_principal()
        scenario, scenario_id = self._scenarios.scenario(
            str(request.scenario_id), str(inline.text) if inline else "", str(inline.format) if inline else "",
            principal=principal,
        )  # fmt: skip
        p = request.period
        spec = qsts_spec(
            p.hours, p.start_hour, p.step_minutes, None, self._limits, solver=self._solver_of(request)
        )
        job = self._scenarios.run(
            scenario, scenario_id, spec, _selection(request), str(request.job_id), principal=principal
        )
        return job_to_proto(job, [])

    def RunSweep(self, request: Any, context: grpc.ServicerContext) -> Any:
        p = request.period
        spec = qsts_spec(
            p.hours, p.start_hour, p.step_minutes, None, self._limits, solver=self._solver_of(request)
        )
        view = self._scenarios.sweep(
            str(request.scenario_id), str(request.sweep_json), spec, _selection(request),
            principal=current_principal(),
        )  # fmt: skip
        return _sweep_info(view)

    def GetSweep(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _sweep_info(self._scenarios.sweep_view(str(request.id), principal=current_principal()))

    def DiffJobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        level = str(request.level) or "feeders"
        diff = self._scenarios.diff(
            str(request.base_job_id), [str(j) for j in request.job_ids], level, new_only=request.new_only,
            limit=int(request.limit), offset=int(request.offset), principal=current_principal(),
        )  # fmt: skip
        return pb.DiffJobsResponse(
            totals_json=json.dumps(diff.totals), table=table_to_proto(diff.page, diff.total, level)
        )


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values; absent columns read as 0 / ""."""
    data: dict[str, list[Any]] = {}
    for col in columns:
        if col in frame.columns:
            values = frame[col].to_numpy()
            if values.dtype.kind == "f":
                values = np.nan_to_num(values.astype(np.float64), nan=0.0)
            data[col] = values.tolist()
        else:
            data[col] = [0] * len(frame)
    return [dict(zip(columns, row, strict=True)) for row in zip(*data.values(), strict=True)]


_VOLTAGE_FIELDS = ["bus", "node", "pu", "kv", "angle_deg", "base_kv"]
_ELEMENT_FIELDS = [
    "name",
    "current_a",
    "loading_pct",
    "loading_emerg_pct",
    "losses_kw",
    "losses_kvar",
    "p_kw",
    "q_kvar",
]
_VIOLATION_FIELDS = ["kind", "element", "value", "limit"]


def snapshot_to_proto(result: SnapshotResult, version: str, recompiled: bool) -> Any:
    return pb.SnapshotResponse(
        feeder=result.feeder,
        version=version,
        converged=result.converged,
        iterations=result.iterations,
        losses_kw=result.losses_kw,
        losses_kvar=result.losses_kvar,
        line_losses_kw=result.line_losses_kw,
        transformer_losses_kw=result.transformer_losses_kw,
        source_kw=result.source_kw,
        source_kvar=result.source_kvar,
        voltages=[pb.BusVoltage(**r) for r in _rows(result.voltages, _VOLTAGE_FIELDS)],
        elements=[pb.ElementResult(**r) for r in _rows(result.elements, _ELEMENT_FIELDS)],
        violations=[pb.Violation(**r) for r in _rows(result.violations, _VIOLATION_FIELDS)],
        solve_ms=result.solve_ms,
        recompiled=recompiled,
        message=result.message,
        solver=solver_to_proto(result.solver),
    )
