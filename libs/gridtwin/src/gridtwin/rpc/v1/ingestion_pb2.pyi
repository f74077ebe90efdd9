from gridtwin.rpc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GenerateSyntheticRequest(_message.Message):
    __slots__ = ("feeders", "seed", "site")
    FEEDERS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    feeders: int
    seed: int
    site: str
    def __init__(self, feeders: _Optional[int] = ..., seed: _Optional[int] = ..., site: _Optional[str] = ...) -> None: ...

class SyntheticProgress(_message.Message):
    __slots__ = ("done", "total", "feeder", "twins", "elapsed_s")
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    TWINS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    done: int
    total: int
    feeder: str
    twins: int
    elapsed_s: float
    def __init__(self, done: _Optional[int] = ..., total: _Optional[int] = ..., feeder: _Optional[str] = ..., twins: _Optional[int] = ..., elapsed_s: _Optional[float] = ...) -> None: ...

class ImportOpenDssRequest(_message.Message):
    __slots__ = ("feeder", "site", "path", "zip", "master", "replace")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ZIP_FIELD_NUMBER: _ClassVar[int]
    MASTER_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    site: str
    path: str
    zip: bytes
    master: str
    replace: bool
    def __init__(self, feeder: _Optional[str] = ..., site: _Optional[str] = ..., path: _Optional[str] = ..., zip: _Optional[bytes] = ..., master: _Optional[str] = ..., replace: _Optional[bool] = ...) -> None: ...

class ImportCymeRequest(_message.Message):
    __slots__ = ("feeder", "site", "path", "zip", "replace", "regulators")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ZIP_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    REGULATORS_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    site: str
    path: str
    zip: bytes
    replace: bool
    regulators: str
    def __init__(self, feeder: _Optional[str] = ..., site: _Optional[str] = ..., path: _Optional[str] = ..., zip: _Optional[bytes] = ..., replace: _Optional[bool] = ..., regulators: _Optional[str] = ...) -> None: ...

class ImportGisRequest(_message.Message):
    __slots__ = ("feeder", "path", "zip", "mapping_yaml", "overrides", "dry_run")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ZIP_FIELD_NUMBER: _ClassVar[int]
    MAPPING_YAML_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    path: str
    zip: bytes
    mapping_yaml: str
    overrides: str
    dry_run: bool
    def __init__(self, feeder: _Optional[str] = ..., path: _Optional[str] = ..., zip: _Optional[bytes] = ..., mapping_yaml: _Optional[str] = ..., overrides: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ImportGisResponse(_message.Message):
    __slots__ = ("feeder", "twins", "matched", "unmatched", "conflicts", "applied", "report_json", "feeders")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    TWINS_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_FIELD_NUMBER: _ClassVar[int]
    CONFLICTS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    FEEDERS_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    twins: int
    matched: int
    unmatched: int
    conflicts: int
    applied: bool
    report_json: str
    feeders: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, feeder: _Optional[str] = ..., twins: _Optional[int] = ..., matched: _Optional[int] = ..., unmatched: _Optional[int] = ..., conflicts: _Optional[int] = ..., applied: _Optional[bool] = ..., report_json: _Optional[str] = ..., feeders: _Optional[_Iterable[str]] = ...) -> None: ...

class ImportOpenDssResponse(_message.Message):
    __slots__ = ("feeder", "twins", "relationships", "report")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    TWINS_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    twins: int
    relationships: int
    report: _common_pb2.ImportReport
    def __init__(self, feeder: _Optional[str] = ..., twins: _Optional[int] = ..., relationships: _Optional[int] = ..., report: _Optional[_Union[_common_pb2.ImportReport, _Mapping]] = ...) -> None: ...
