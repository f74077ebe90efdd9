"""PowerFlow servicer: export the feeder from the registry, compile it once per version, solve.

Thin: the registry export (gRPC), ``write_dss`` and the engine do the work. The OpenDSS script is
cached per feeder and version; each call first asks the registry whether the cached version is still
current (``ExportFeeder`` with ``known_version``: no export when unchanged), and the engine recompiles
only when the (feeder, version) it holds differs.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
from gridtwin.errors import ErrorDetail, GridTwinError, InputError
from gridtwin.grid.dss_writer import write_dss
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.gis.baseline import compare_baseline
from gridtwin.powerflow import get_engine
from gridtwin.powerflow.engine import Engine
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.results import SnapshotResult
from gridtwin.rpc.errors import error_from_rpc_error
from gridtwin.rpc.v1 import powerflow_pb2, twin_registry_pb2

from gridtwin_powerflow.jobs import QstsJobs
from gridtwin_powerflow.scenarios import ScenarioHandlers

__all__ = ["PowerFlowServicer", "snapshot_to_proto"]

BASELINE_SUFFIXES = (".csv", ".txt", ".xlsx", ".xls")
# Scripts kept in memory (a 3,000-bus feeder's script is ~1 MB).
SCRIPT_CACHE_SIZE = 32
REGISTRY_TIMEOUT_S = 120.0


class PowerFlowServicer:
    """``registry`` is a TwinRegistry stub; ``engine`` returns the process's OpenDSS engine."""

    def __init__(
        self,
        registry: Any,
        limits: ViolationLimits,
        engine: Callable[[], Engine] = get_engine,
        *,
        jobs: QstsJobs | None = None,
        scenarios: ScenarioHandlers | None = None,
    ) -> None:
        self._registry = registry
        self._jobs = jobs
        self._scenarios = scenarios
        self._limits = limits
        self._engine = engine
        self._scripts: OrderedDict[str, tuple[str, str]] = OrderedDict()  # feeder -> (version, script)
        self._cache_lock = threading.Lock()
        # One OpenDSS circuit per process: load + solve + read must not interleave across calls.
        self._solve_lock = threading.Lock()

    def _script(self, feeder: str) -> tuple[str, str]:
        with self._cache_lock:
            cached = self._scripts.get(feeder)
        request = twin_registry_pb2.ExportFeederRequest(
            feeder=feeder, known_version=cached[0] if cached else ""
        )
        try:
            reply = self._registry.ExportFeeder(request, timeout=REGISTRY_TIMEOUT_S)
        except grpc.RpcError as err:
            raise error_from_rpc_error(err) from err
        if reply.unchanged and cached is not None:
            version, script = cached
        else:
            model = FeederModel.from_ipc(reply.feeder_model_ipc)
            version, script = reply.version, write_dss(model)
        with self._cache_lock:
            self._scripts[feeder] = (version, script)
            self._scripts.move_to_end(feeder)
            while len(self._scripts) > SCRIPT_CACHE_SIZE:
                self._scripts.popitem(last=False)
        return version, script

    def Snapshot(self, request: Any, context: grpc.ServicerContext) -> Any:
        feeder = str(request.feeder)
        if not feeder:
            raise InputError("feeder is required", [ErrorDetail(where="feeder", message="empty")])
        version, script = self._script(feeder)
        engine = self._engine()
        with self._solve_lock:
            recompiled = engine.load_script(feeder, version, script)
            result = engine.snapshot(self._limits)
        return snapshot_to_proto(result, version, recompiled)

    def ValidateAgainst(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Our snapshot against another tool's results table (a validation baseline)."""
        feeder = str(request.feeder)
        if not feeder:
            raise InputError("feeder is required", [ErrorDetail(where="feeder", message="empty")])
        name = Path(str(request.filename) or "results.csv").name
        if Path(name).suffix.lower() not in BASELINE_SUFFIXES:
            raise InputError(
                "unsupported results file",
                [ErrorDetail(where="filename", message=f"{name}: expected {', '.join(BASELINE_SUFFIXES)}")],
            )
        if not request.table:
            raise InputError("empty results file", [ErrorDetail(where=name, message="no bytes")])
        version, script = self._script(feeder)
        engine = self._engine()
        with self._solve_lock:
            engine.load_script(feeder, version, script)
            result = engine.snapshot(self._limits)
        with tempfile.TemporaryDirectory(prefix="gridtwin-baseline-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(request.table)
            try:
                report = compare_baseline(result, path)
            except GridTwinError as exc:  # name the upload, not our temp folder
                exc.details = [
                    ErrorDetail(d.where.replace(str(path), name), d.message.replace(str(path), name), d.code)
                    for d in exc.details
                ]
                raise
        report.source = name
        return powerflow_pb2.ValidateAgainstResponse(
            report_json=json.dumps(report.to_dict(), allow_nan=False, default=str)
        )

    # -- QSTS jobs (gridtwin_powerflow.jobs) ------------------------------------------------

    def _qsts(self) -> QstsJobs:
        if self._jobs is None:
            raise InputError(
                "jobs are not enabled here", [ErrorDetail(where="powerflow", message="no job store")]
            )
        return self._jobs

    def RunQSTS(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._qsts().run(request)

    def GetJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._qsts().get(request)

    def ListJobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._qsts().list(request)

    def CancelJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._qsts().cancel(request)

    def GetQstsResults(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._qsts().results_table(request)

    def CompareJobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._qsts().compare(request)

    # -- scenarios (gridtwin_powerflow.scenarios) ---------------------------------------------

    def _sc(self) -> ScenarioHandlers:
        if self._scenarios is None:
            raise InputError(
                "scenarios are not enabled here", [ErrorDetail(where="powerflow", message="no store")]
            )
        return self._scenarios

    def ValidateScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._sc().validate(request)

    def CreateScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._sc().create(request)

    def UpdateScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._sc().update(request)

    def GetScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._sc().get(request)

    def ListScenarios(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._sc().list(request)

    def DeleteScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._sc().delete(request)

    def RunScenario(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._sc().run(request)

    def RunSweep(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._sc().run_sweep(request)

    def GetSweep(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._sc().get_sweep(request)

    def DiffJobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._sc().diff(request)


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
    return powerflow_pb2.SnapshotResponse(
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
        voltages=[powerflow_pb2.BusVoltage(**r) for r in _rows(result.voltages, _VOLTAGE_FIELDS)],
        elements=[powerflow_pb2.ElementResult(**r) for r in _rows(result.elements, _ELEMENT_FIELDS)],
        violations=[powerflow_pb2.Violation(**r) for r in _rows(result.violations, _VIOLATION_FIELDS)],
        solve_ms=result.solve_ms,
        recompiled=recompiled,
    )
