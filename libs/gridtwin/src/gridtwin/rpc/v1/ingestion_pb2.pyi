from gridtwin.rpc.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
