from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScenarioText(_message.Message):
    __slots__ = ("id", "text", "format", "expected_revision", "site")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    format: str
    expected_revision: int
    site: str
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., format: _Optional[str] = ..., expected_revision: _Optional[int] = ..., site: _Optional[str] = ...) -> None: ...

class ScenarioDoc(_message.Message):
    __slots__ = ("id", "name", "schema_version", "revision", "body_json", "created_at", "updated_at", "summary_json", "site")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    schema_version: int
    revision: int
    body_json: str
    created_at: str
    updated_at: str
    summary_json: str
    site: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., schema_version: _Optional[int] = ..., revision: _Optional[int] = ..., body_json: _Optional[str] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., summary_json: _Optional[str] = ..., site: _Optional[str] = ...) -> None: ...

class ScenarioRef(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListScenariosRequest(_message.Message):
    __slots__ = ("limit", "offset")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    limit: int
    offset: int
    def __init__(self, limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ListScenariosResponse(_message.Message):
    __slots__ = ("scenarios", "total")
    SCENARIOS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    scenarios: _containers.RepeatedCompositeFieldContainer[ScenarioDoc]
    total: int
    def __init__(self, scenarios: _Optional[_Iterable[_Union[ScenarioDoc, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class RunScenarioRequest(_message.Message):
    __slots__ = ("scenario_id", "scenario", "period", "feeders", "site", "feeder_glob", "job_id", "solver")
    SCENARIO_ID_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    FEEDERS_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    FEEDER_GLOB_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    scenario_id: str
    scenario: ScenarioText
    period: QstsPeriod
    feeders: _containers.RepeatedScalarFieldContainer[str]
    site: str
    feeder_glob: str
    job_id: str
    solver: SolverOptions
    def __init__(self, scenario_id: _Optional[str] = ..., scenario: _Optional[_Union[ScenarioText, _Mapping]] = ..., period: _Optional[_Union[QstsPeriod, _Mapping]] = ..., feeders: _Optional[_Iterable[str]] = ..., site: _Optional[str] = ..., feeder_glob: _Optional[str] = ..., job_id: _Optional[str] = ..., solver: _Optional[_Union[SolverOptions, _Mapping]] = ...) -> None: ...

class RunSweepRequest(_message.Message):
    __slots__ = ("scenario_id", "period", "sweep_json", "feeders", "site", "feeder_glob", "solver")
    SCENARIO_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    SWEEP_JSON_FIELD_NUMBER: _ClassVar[int]
    FEEDERS_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    FEEDER_GLOB_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    scenario_id: str
    period: QstsPeriod
    sweep_json: str
    feeders: _containers.RepeatedScalarFieldContainer[str]
    site: str
    feeder_glob: str
    solver: SolverOptions
    def __init__(self, scenario_id: _Optional[str] = ..., period: _Optional[_Union[QstsPeriod, _Mapping]] = ..., sweep_json: _Optional[str] = ..., feeders: _Optional[_Iterable[str]] = ..., site: _Optional[str] = ..., feeder_glob: _Optional[str] = ..., solver: _Optional[_Union[SolverOptions, _Mapping]] = ...) -> None: ...

class SweepRef(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class SweepSample(_message.Message):
    __slots__ = ("sample", "values_json", "job_id", "status")
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    VALUES_JSON_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    sample: int
    values_json: str
    job_id: str
    status: str
    def __init__(self, sample: _Optional[int] = ..., values_json: _Optional[str] = ..., job_id: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class SweepInfo(_message.Message):
    __slots__ = ("id", "scenario_id", "method", "spec_json", "samples", "table")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    scenario_id: str
    method: str
    spec_json: str
    samples: _containers.RepeatedCompositeFieldContainer[SweepSample]
    table: ResultTable
    def __init__(self, id: _Optional[str] = ..., scenario_id: _Optional[str] = ..., method: _Optional[str] = ..., spec_json: _Optional[str] = ..., samples: _Optional[_Iterable[_Union[SweepSample, _Mapping]]] = ..., table: _Optional[_Union[ResultTable, _Mapping]] = ...) -> None: ...

class DiffJobsRequest(_message.Message):
    __slots__ = ("base_job_id", "job_ids", "level", "new_only", "limit", "offset")
    BASE_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    NEW_ONLY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    base_job_id: str
    job_ids: _containers.RepeatedScalarFieldContainer[str]
    level: str
    new_only: bool
    limit: int
    offset: int
    def __init__(self, base_job_id: _Optional[str] = ..., job_ids: _Optional[_Iterable[str]] = ..., level: _Optional[str] = ..., new_only: _Optional[bool] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class DiffJobsResponse(_message.Message):
    __slots__ = ("totals_json", "table")
    TOTALS_JSON_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    totals_json: str
    table: ResultTable
    def __init__(self, totals_json: _Optional[str] = ..., table: _Optional[_Union[ResultTable, _Mapping]] = ...) -> None: ...

class ValidateAgainstRequest(_message.Message):
    __slots__ = ("feeder", "table", "filename")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    table: bytes
    filename: str
    def __init__(self, feeder: _Optional[str] = ..., table: _Optional[bytes] = ..., filename: _Optional[str] = ...) -> None: ...

class ValidateAgainstResponse(_message.Message):
    __slots__ = ("report_json",)
    REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    report_json: str
    def __init__(self, report_json: _Optional[str] = ...) -> None: ...

class SolverOptions(_message.Message):
    __slots__ = ("max_iterations", "max_control_iterations", "tolerance")
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTROL_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    TOLERANCE_FIELD_NUMBER: _ClassVar[int]
    max_iterations: int
    max_control_iterations: int
    tolerance: float
    def __init__(self, max_iterations: _Optional[int] = ..., max_control_iterations: _Optional[int] = ..., tolerance: _Optional[float] = ...) -> None: ...

class QstsPeriod(_message.Message):
    __slots__ = ("hours", "start_hour", "step_minutes")
    HOURS_FIELD_NUMBER: _ClassVar[int]
    START_HOUR_FIELD_NUMBER: _ClassVar[int]
    STEP_MINUTES_FIELD_NUMBER: _ClassVar[int]
    hours: int
    start_hour: int
    step_minutes: int
    def __init__(self, hours: _Optional[int] = ..., start_hour: _Optional[int] = ..., step_minutes: _Optional[int] = ...) -> None: ...

class RunQstsRequest(_message.Message):
    __slots__ = ("feeders", "site", "feeder_glob", "period", "job_id", "ambient_c", "solver")
    FEEDERS_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    FEEDER_GLOB_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    AMBIENT_C_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    feeders: _containers.RepeatedScalarFieldContainer[str]
    site: str
    feeder_glob: str
    period: QstsPeriod
    job_id: str
    ambient_c: float
    solver: SolverOptions
    def __init__(self, feeders: _Optional[_Iterable[str]] = ..., site: _Optional[str] = ..., feeder_glob: _Optional[str] = ..., period: _Optional[_Union[QstsPeriod, _Mapping]] = ..., job_id: _Optional[str] = ..., ambient_c: _Optional[float] = ..., solver: _Optional[_Union[SolverOptions, _Mapping]] = ...) -> None: ...

class JobTask(_message.Message):
    __slots__ = ("feeder", "status", "attempts", "error_json", "duration_s", "worker")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_JSON_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    status: str
    attempts: int
    error_json: str
    duration_s: float
    worker: str
    def __init__(self, feeder: _Optional[str] = ..., status: _Optional[str] = ..., attempts: _Optional[int] = ..., error_json: _Optional[str] = ..., duration_s: _Optional[float] = ..., worker: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "kind", "status", "site", "params_json", "created_at", "started_at", "finished_at", "total_tasks", "done_tasks", "failed_tasks", "message", "eta_s", "tasks")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TASKS_FIELD_NUMBER: _ClassVar[int]
    DONE_TASKS_FIELD_NUMBER: _ClassVar[int]
    FAILED_TASKS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ETA_S_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    status: str
    site: str
    params_json: str
    created_at: str
    started_at: str
    finished_at: str
    total_tasks: int
    done_tasks: int
    failed_tasks: int
    message: str
    eta_s: float
    tasks: _containers.RepeatedCompositeFieldContainer[JobTask]
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., site: _Optional[str] = ..., params_json: _Optional[str] = ..., created_at: _Optional[str] = ..., started_at: _Optional[str] = ..., finished_at: _Optional[str] = ..., total_tasks: _Optional[int] = ..., done_tasks: _Optional[int] = ..., failed_tasks: _Optional[int] = ..., message: _Optional[str] = ..., eta_s: _Optional[float] = ..., tasks: _Optional[_Iterable[_Union[JobTask, _Mapping]]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id", "with_tasks")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    WITH_TASKS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    with_tasks: bool
    def __init__(self, job_id: _Optional[str] = ..., with_tasks: _Optional[bool] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("status", "kind", "limit", "offset")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    status: str
    kind: str
    limit: int
    offset: int
    def __init__(self, status: _Optional[str] = ..., kind: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "total")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    total: int
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class QstsResultsRequest(_message.Message):
    __slots__ = ("job_id", "level", "feeder", "kind", "order_by", "ascending", "limit", "offset")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    ASCENDING_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    level: str
    feeder: str
    kind: str
    order_by: str
    ascending: bool
    limit: int
    offset: int
    def __init__(self, job_id: _Optional[str] = ..., level: _Optional[str] = ..., feeder: _Optional[str] = ..., kind: _Optional[str] = ..., order_by: _Optional[str] = ..., ascending: _Optional[bool] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ResultTable(_message.Message):
    __slots__ = ("arrow_ipc", "total", "level")
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    arrow_ipc: bytes
    total: int
    level: str
    def __init__(self, arrow_ipc: _Optional[bytes] = ..., total: _Optional[int] = ..., level: _Optional[str] = ...) -> None: ...

class CompareJobsRequest(_message.Message):
    __slots__ = ("job_id", "base_job_id", "level", "order_by", "limit", "offset")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    BASE_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    base_job_id: str
    level: str
    order_by: str
    limit: int
    offset: int
    def __init__(self, job_id: _Optional[str] = ..., base_job_id: _Optional[str] = ..., level: _Optional[str] = ..., order_by: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class SnapshotRequest(_message.Message):
    __slots__ = ("feeder", "solver")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    solver: SolverOptions
    def __init__(self, feeder: _Optional[str] = ..., solver: _Optional[_Union[SolverOptions, _Mapping]] = ...) -> None: ...

class BusVoltage(_message.Message):
    __slots__ = ("bus", "node", "pu", "kv", "angle_deg", "base_kv")
    BUS_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    PU_FIELD_NUMBER: _ClassVar[int]
    KV_FIELD_NUMBER: _ClassVar[int]
    ANGLE_DEG_FIELD_NUMBER: _ClassVar[int]
    BASE_KV_FIELD_NUMBER: _ClassVar[int]
    bus: str
    node: int
    pu: float
    kv: float
    angle_deg: float
    base_kv: float
    def __init__(self, bus: _Optional[str] = ..., node: _Optional[int] = ..., pu: _Optional[float] = ..., kv: _Optional[float] = ..., angle_deg: _Optional[float] = ..., base_kv: _Optional[float] = ...) -> None: ...

class ElementResult(_message.Message):
    __slots__ = ("name", "current_a", "loading_pct", "loading_emerg_pct", "losses_kw", "losses_kvar", "p_kw", "q_kvar")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_A_FIELD_NUMBER: _ClassVar[int]
    LOADING_PCT_FIELD_NUMBER: _ClassVar[int]
    LOADING_EMERG_PCT_FIELD_NUMBER: _ClassVar[int]
    LOSSES_KW_FIELD_NUMBER: _ClassVar[int]
    LOSSES_KVAR_FIELD_NUMBER: _ClassVar[int]
    P_KW_FIELD_NUMBER: _ClassVar[int]
    Q_KVAR_FIELD_NUMBER: _ClassVar[int]
    name: str
    current_a: float
    loading_pct: float
    loading_emerg_pct: float
    losses_kw: float
    losses_kvar: float
    p_kw: float
    q_kvar: float
    def __init__(self, name: _Optional[str] = ..., current_a: _Optional[float] = ..., loading_pct: _Optional[float] = ..., loading_emerg_pct: _Optional[float] = ..., losses_kw: _Optional[float] = ..., losses_kvar: _Optional[float] = ..., p_kw: _Optional[float] = ..., q_kvar: _Optional[float] = ...) -> None: ...

class Violation(_message.Message):
    __slots__ = ("kind", "element", "value", "limit")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    element: str
    value: float
    limit: float
    def __init__(self, kind: _Optional[str] = ..., element: _Optional[str] = ..., value: _Optional[float] = ..., limit: _Optional[float] = ...) -> None: ...

class SnapshotResponse(_message.Message):
    __slots__ = ("feeder", "version", "converged", "iterations", "losses_kw", "losses_kvar", "line_losses_kw", "transformer_losses_kw", "source_kw", "source_kvar", "voltages", "elements", "violations", "solve_ms", "recompiled", "message", "solver")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CONVERGED_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    LOSSES_KW_FIELD_NUMBER: _ClassVar[int]
    LOSSES_KVAR_FIELD_NUMBER: _ClassVar[int]
    LINE_LOSSES_KW_FIELD_NUMBER: _ClassVar[int]
    TRANSFORMER_LOSSES_KW_FIELD_NUMBER: _ClassVar[int]
    SOURCE_KW_FIELD_NUMBER: _ClassVar[int]
    SOURCE_KVAR_FIELD_NUMBER: _ClassVar[int]
    VOLTAGES_FIELD_NUMBER: _ClassVar[int]
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    SOLVE_MS_FIELD_NUMBER: _ClassVar[int]
    RECOMPILED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    version: str
    converged: bool
    iterations: int
    losses_kw: float
    losses_kvar: float
    line_losses_kw: float
    transformer_losses_kw: float
    source_kw: float
    source_kvar: float
    voltages: _containers.RepeatedCompositeFieldContainer[BusVoltage]
    elements: _containers.RepeatedCompositeFieldContainer[ElementResult]
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    solve_ms: float
    recompiled: bool
    message: str
    solver: SolverOptions
    def __init__(self, feeder: _Optional[str] = ..., version: _Optional[str] = ..., converged: _Optional[bool] = ..., iterations: _Optional[int] = ..., losses_kw: _Optional[float] = ..., losses_kvar: _Optional[float] = ..., line_losses_kw: _Optional[float] = ..., transformer_losses_kw: _Optional[float] = ..., source_kw: _Optional[float] = ..., source_kvar: _Optional[float] = ..., voltages: _Optional[_Iterable[_Union[BusVoltage, _Mapping]]] = ..., elements: _Optional[_Iterable[_Union[ElementResult, _Mapping]]] = ..., violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ..., solve_ms: _Optional[float] = ..., recompiled: _Optional[bool] = ..., message: _Optional[str] = ..., solver: _Optional[_Union[SolverOptions, _Mapping]] = ...) -> None: ...
