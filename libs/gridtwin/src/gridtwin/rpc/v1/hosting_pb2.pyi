from gridtwin.rpc.v1 import powerflow_pb2 as _powerflow_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HostingCriteria(_message.Message):
    __slots__ = ("overvoltage", "overvoltage_pu", "voltage_deviation", "deviation_primary_pct", "deviation_secondary_pct", "regulator_deviation", "thermal", "thermal_pct", "reverse_power", "undervoltage", "undervoltage_pu")
    OVERVOLTAGE_FIELD_NUMBER: _ClassVar[int]
    OVERVOLTAGE_PU_FIELD_NUMBER: _ClassVar[int]
    VOLTAGE_DEVIATION_FIELD_NUMBER: _ClassVar[int]
    DEVIATION_PRIMARY_PCT_FIELD_NUMBER: _ClassVar[int]
    DEVIATION_SECONDARY_PCT_FIELD_NUMBER: _ClassVar[int]
    REGULATOR_DEVIATION_FIELD_NUMBER: _ClassVar[int]
    THERMAL_FIELD_NUMBER: _ClassVar[int]
    THERMAL_PCT_FIELD_NUMBER: _ClassVar[int]
    REVERSE_POWER_FIELD_NUMBER: _ClassVar[int]
    UNDERVOLTAGE_FIELD_NUMBER: _ClassVar[int]
    UNDERVOLTAGE_PU_FIELD_NUMBER: _ClassVar[int]
    overvoltage: bool
    overvoltage_pu: float
    voltage_deviation: bool
    deviation_primary_pct: float
    deviation_secondary_pct: float
    regulator_deviation: bool
    thermal: bool
    thermal_pct: float
    reverse_power: bool
    undervoltage: bool
    undervoltage_pu: float
    def __init__(self, overvoltage: _Optional[bool] = ..., overvoltage_pu: _Optional[float] = ..., voltage_deviation: _Optional[bool] = ..., deviation_primary_pct: _Optional[float] = ..., deviation_secondary_pct: _Optional[float] = ..., regulator_deviation: _Optional[bool] = ..., thermal: _Optional[bool] = ..., thermal_pct: _Optional[float] = ..., reverse_power: _Optional[bool] = ..., undervoltage: _Optional[bool] = ..., undervoltage_pu: _Optional[float] = ...) -> None: ...

class PerBusRequest(_message.Message):
    __slots__ = ("feeder", "buses", "method", "der", "inverter", "pf", "max_kw", "criteria", "solver", "tol_kw", "rel_tol_pct")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    BUSES_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    DER_FIELD_NUMBER: _ClassVar[int]
    INVERTER_FIELD_NUMBER: _ClassVar[int]
    PF_FIELD_NUMBER: _ClassVar[int]
    MAX_KW_FIELD_NUMBER: _ClassVar[int]
    CRITERIA_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    TOL_KW_FIELD_NUMBER: _ClassVar[int]
    REL_TOL_PCT_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    buses: _containers.RepeatedScalarFieldContainer[str]
    method: str
    der: str
    inverter: str
    pf: float
    max_kw: float
    criteria: HostingCriteria
    solver: _powerflow_pb2.SolverOptions
    tol_kw: float
    rel_tol_pct: float
    def __init__(self, feeder: _Optional[str] = ..., buses: _Optional[_Iterable[str]] = ..., method: _Optional[str] = ..., der: _Optional[str] = ..., inverter: _Optional[str] = ..., pf: _Optional[float] = ..., max_kw: _Optional[float] = ..., criteria: _Optional[_Union[HostingCriteria, _Mapping]] = ..., solver: _Optional[_Union[_powerflow_pb2.SolverOptions, _Mapping]] = ..., tol_kw: _Optional[float] = ..., rel_tol_pct: _Optional[float] = ...) -> None: ...

class PerBusResponse(_message.Message):
    __slots__ = ("feeder", "version", "summary_json", "table")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    version: str
    summary_json: str
    table: _powerflow_pb2.ResultTable
    def __init__(self, feeder: _Optional[str] = ..., version: _Optional[str] = ..., summary_json: _Optional[str] = ..., table: _Optional[_Union[_powerflow_pb2.ResultTable, _Mapping]] = ...) -> None: ...

class PerBusQuery(_message.Message):
    __slots__ = ("feeder", "der", "inverter", "order_by", "descending", "limit", "offset", "format")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    DER_FIELD_NUMBER: _ClassVar[int]
    INVERTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    DESCENDING_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    der: str
    inverter: str
    order_by: str
    descending: bool
    limit: int
    offset: int
    format: str
    def __init__(self, feeder: _Optional[str] = ..., der: _Optional[str] = ..., inverter: _Optional[str] = ..., order_by: _Optional[str] = ..., descending: _Optional[bool] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., format: _Optional[str] = ...) -> None: ...

class ConnectionRequest(_message.Message):
    __slots__ = ("feeder", "bus", "kw", "kind", "inverter", "solver")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    BUS_FIELD_NUMBER: _ClassVar[int]
    KW_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INVERTER_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    bus: str
    kw: float
    kind: str
    inverter: str
    solver: _powerflow_pb2.SolverOptions
    def __init__(self, feeder: _Optional[str] = ..., bus: _Optional[str] = ..., kw: _Optional[float] = ..., kind: _Optional[str] = ..., inverter: _Optional[str] = ..., solver: _Optional[_Union[_powerflow_pb2.SolverOptions, _Mapping]] = ...) -> None: ...

class ConnectionReply(_message.Message):
    __slots__ = ("ok", "margin_kw", "capacity_kw", "limiting_criterion", "limiting_element", "bus", "recomputed", "version")
    OK_FIELD_NUMBER: _ClassVar[int]
    MARGIN_KW_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_KW_FIELD_NUMBER: _ClassVar[int]
    LIMITING_CRITERION_FIELD_NUMBER: _ClassVar[int]
    LIMITING_ELEMENT_FIELD_NUMBER: _ClassVar[int]
    BUS_FIELD_NUMBER: _ClassVar[int]
    RECOMPUTED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    margin_kw: float
    capacity_kw: float
    limiting_criterion: str
    limiting_element: str
    bus: str
    recomputed: bool
    version: str
    def __init__(self, ok: _Optional[bool] = ..., margin_kw: _Optional[float] = ..., capacity_kw: _Optional[float] = ..., limiting_criterion: _Optional[str] = ..., limiting_element: _Optional[str] = ..., bus: _Optional[str] = ..., recomputed: _Optional[bool] = ..., version: _Optional[str] = ...) -> None: ...

class StochasticRequest(_message.Message):
    __slots__ = ("feeders", "site", "feeder_glob", "samples", "placement", "steps_pct", "seed", "full_curve", "inverter", "criteria", "job_id", "solver")
    FEEDERS_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    FEEDER_GLOB_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    STEPS_PCT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    FULL_CURVE_FIELD_NUMBER: _ClassVar[int]
    INVERTER_FIELD_NUMBER: _ClassVar[int]
    CRITERIA_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    feeders: _containers.RepeatedScalarFieldContainer[str]
    site: str
    feeder_glob: str
    samples: int
    placement: str
    steps_pct: _containers.RepeatedScalarFieldContainer[float]
    seed: int
    full_curve: bool
    inverter: str
    criteria: HostingCriteria
    job_id: str
    solver: _powerflow_pb2.SolverOptions
    def __init__(self, feeders: _Optional[_Iterable[str]] = ..., site: _Optional[str] = ..., feeder_glob: _Optional[str] = ..., samples: _Optional[int] = ..., placement: _Optional[str] = ..., steps_pct: _Optional[_Iterable[float]] = ..., seed: _Optional[int] = ..., full_curve: _Optional[bool] = ..., inverter: _Optional[str] = ..., criteria: _Optional[_Union[HostingCriteria, _Mapping]] = ..., job_id: _Optional[str] = ..., solver: _Optional[_Union[_powerflow_pb2.SolverOptions, _Mapping]] = ...) -> None: ...

class StochasticQuery(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class StochasticReply(_message.Message):
    __slots__ = ("job_id", "feeders_json")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FEEDERS_JSON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    feeders_json: str
    def __init__(self, job_id: _Optional[str] = ..., feeders_json: _Optional[str] = ...) -> None: ...
