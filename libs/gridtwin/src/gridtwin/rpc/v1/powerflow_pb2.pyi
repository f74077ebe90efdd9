from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SnapshotRequest(_message.Message):
    __slots__ = ("feeder",)
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    def __init__(self, feeder: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("feeder", "version", "converged", "iterations", "losses_kw", "losses_kvar", "line_losses_kw", "transformer_losses_kw", "source_kw", "source_kvar", "voltages", "elements", "violations", "solve_ms", "recompiled")
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
    def __init__(self, feeder: _Optional[str] = ..., version: _Optional[str] = ..., converged: _Optional[bool] = ..., iterations: _Optional[int] = ..., losses_kw: _Optional[float] = ..., losses_kvar: _Optional[float] = ..., line_losses_kw: _Optional[float] = ..., transformer_losses_kw: _Optional[float] = ..., source_kw: _Optional[float] = ..., source_kvar: _Optional[float] = ..., voltages: _Optional[_Iterable[_Union[BusVoltage, _Mapping]]] = ..., elements: _Optional[_Iterable[_Union[ElementResult, _Mapping]]] = ..., violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ..., solve_ms: _Optional[float] = ..., recompiled: _Optional[bool] = ...) -> None: ...
