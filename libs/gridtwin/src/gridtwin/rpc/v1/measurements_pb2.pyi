from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FileChunk(_message.Message):
    __slots__ = ("filename", "data")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    filename: str
    data: bytes
    def __init__(self, filename: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class UploadedFile(_message.Message):
    __slots__ = ("upload_id", "filename", "size_bytes", "sha256")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    filename: str
    size_bytes: int
    sha256: str
    def __init__(self, upload_id: _Optional[str] = ..., filename: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class ImportMetersRequest(_message.Message):
    __slots__ = ("site", "path", "upload_id", "overrides_csv", "from_twins", "dry_run")
    SITE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_CSV_FIELD_NUMBER: _ClassVar[int]
    FROM_TWINS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    site: str
    path: str
    upload_id: str
    overrides_csv: str
    from_twins: bool
    dry_run: bool
    def __init__(self, site: _Optional[str] = ..., path: _Optional[str] = ..., upload_id: _Optional[str] = ..., overrides_csv: _Optional[str] = ..., from_twins: _Optional[bool] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ImportAmiRequest(_message.Message):
    __slots__ = ("site", "paths", "upload_ids", "options_json", "import_id", "allocate", "year")
    SITE_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_IDS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_JSON_FIELD_NUMBER: _ClassVar[int]
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOCATE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    site: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    upload_ids: _containers.RepeatedScalarFieldContainer[str]
    options_json: str
    import_id: str
    allocate: bool
    year: int
    def __init__(self, site: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ..., upload_ids: _Optional[_Iterable[str]] = ..., options_json: _Optional[str] = ..., import_id: _Optional[str] = ..., allocate: _Optional[bool] = ..., year: _Optional[int] = ...) -> None: ...

class ImportReply(_message.Message):
    __slots__ = ("import_id", "kind", "status", "site", "report_json", "created_at", "finished_at", "source")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    kind: str
    status: str
    site: str
    report_json: str
    created_at: str
    finished_at: str
    source: str
    def __init__(self, import_id: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., site: _Optional[str] = ..., report_json: _Optional[str] = ..., created_at: _Optional[str] = ..., finished_at: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class AllocateLoadsRequest(_message.Message):
    __slots__ = ("site", "feeders", "year", "min_coverage")
    SITE_FIELD_NUMBER: _ClassVar[int]
    FEEDERS_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MIN_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    site: str
    feeders: _containers.RepeatedScalarFieldContainer[str]
    year: int
    min_coverage: float
    def __init__(self, site: _Optional[str] = ..., feeders: _Optional[_Iterable[str]] = ..., year: _Optional[int] = ..., min_coverage: _Optional[float] = ...) -> None: ...

class AllocateLoadsReply(_message.Message):
    __slots__ = ("feeders", "report_json")
    FEEDERS_FIELD_NUMBER: _ClassVar[int]
    REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    feeders: _containers.RepeatedScalarFieldContainer[str]
    report_json: str
    def __init__(self, feeders: _Optional[_Iterable[str]] = ..., report_json: _Optional[str] = ...) -> None: ...

class GetLoadSummaryRequest(_message.Message):
    __slots__ = ("feeder", "year", "transformers")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    TRANSFORMERS_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    year: int
    transformers: bool
    def __init__(self, feeder: _Optional[str] = ..., year: _Optional[int] = ..., transformers: _Optional[bool] = ...) -> None: ...

class LoadSummaryReply(_message.Message):
    __slots__ = ("summary_json", "transformers_json")
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    TRANSFORMERS_JSON_FIELD_NUMBER: _ClassVar[int]
    summary_json: str
    transformers_json: str
    def __init__(self, summary_json: _Optional[str] = ..., transformers_json: _Optional[str] = ...) -> None: ...

class ImportOmsRequest(_message.Message):
    __slots__ = ("site", "path", "upload_id", "mapping_yaml", "timezone", "skip_invalid")
    SITE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    MAPPING_YAML_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    SKIP_INVALID_FIELD_NUMBER: _ClassVar[int]
    site: str
    path: str
    upload_id: str
    mapping_yaml: str
    timezone: str
    skip_invalid: bool
    def __init__(self, site: _Optional[str] = ..., path: _Optional[str] = ..., upload_id: _Optional[str] = ..., mapping_yaml: _Optional[str] = ..., timezone: _Optional[str] = ..., skip_invalid: _Optional[bool] = ...) -> None: ...

class GetReliabilityRequest(_message.Message):
    __slots__ = ("site", "feeders", "years", "beta", "timezone")
    SITE_FIELD_NUMBER: _ClassVar[int]
    FEEDERS_FIELD_NUMBER: _ClassVar[int]
    YEARS_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    site: str
    feeders: _containers.RepeatedScalarFieldContainer[str]
    years: _containers.RepeatedScalarFieldContainer[int]
    beta: float
    timezone: str
    def __init__(self, site: _Optional[str] = ..., feeders: _Optional[_Iterable[str]] = ..., years: _Optional[_Iterable[int]] = ..., beta: _Optional[float] = ..., timezone: _Optional[str] = ...) -> None: ...

class ReliabilityReply(_message.Message):
    __slots__ = ("report_json",)
    REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    report_json: str
    def __init__(self, report_json: _Optional[str] = ...) -> None: ...

class ImportWeatherRequest(_message.Message):
    __slots__ = ("site", "feeders", "has_location", "lat", "lon", "year", "forecast", "forecast_days", "attach", "offline")
    SITE_FIELD_NUMBER: _ClassVar[int]
    FEEDERS_FIELD_NUMBER: _ClassVar[int]
    HAS_LOCATION_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    FORECAST_DAYS_FIELD_NUMBER: _ClassVar[int]
    ATTACH_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    site: str
    feeders: _containers.RepeatedScalarFieldContainer[str]
    has_location: bool
    lat: float
    lon: float
    year: int
    forecast: bool
    forecast_days: int
    attach: bool
    offline: bool
    def __init__(self, site: _Optional[str] = ..., feeders: _Optional[_Iterable[str]] = ..., has_location: _Optional[bool] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., year: _Optional[int] = ..., forecast: _Optional[bool] = ..., forecast_days: _Optional[int] = ..., attach: _Optional[bool] = ..., offline: _Optional[bool] = ...) -> None: ...

class GetImportRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class ListImportsRequest(_message.Message):
    __slots__ = ("kind", "limit")
    KIND_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    limit: int
    def __init__(self, kind: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListImportsReply(_message.Message):
    __slots__ = ("imports",)
    IMPORTS_FIELD_NUMBER: _ClassVar[int]
    imports: _containers.RepeatedCompositeFieldContainer[ImportReply]
    def __init__(self, imports: _Optional[_Iterable[_Union[ImportReply, _Mapping]]] = ...) -> None: ...
