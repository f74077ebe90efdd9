from gridtwin.rpc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Twin(_message.Message):
    __slots__ = ("id", "model", "site", "feeder", "etag", "json")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    site: str
    feeder: str
    etag: str
    json: str
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., site: _Optional[str] = ..., feeder: _Optional[str] = ..., etag: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...

class Relationship(_message.Message):
    __slots__ = ("id", "source_id", "name", "target_id", "etag", "properties_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    source_id: str
    name: str
    target_id: str
    etag: str
    properties_json: str
    def __init__(self, id: _Optional[str] = ..., source_id: _Optional[str] = ..., name: _Optional[str] = ..., target_id: _Optional[str] = ..., etag: _Optional[str] = ..., properties_json: _Optional[str] = ...) -> None: ...

class UploadModelsRequest(_message.Message):
    __slots__ = ("models_json",)
    MODELS_JSON_FIELD_NUMBER: _ClassVar[int]
    models_json: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models_json: _Optional[_Iterable[str]] = ...) -> None: ...

class UploadModelsResponse(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("id", "extends", "display_name", "json")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXTENDS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    extends: _containers.RepeatedScalarFieldContainer[str]
    display_name: str
    json: str
    def __init__(self, id: _Optional[str] = ..., extends: _Optional[_Iterable[str]] = ..., display_name: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...

class GetTwinRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CreateTwinRequest(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class ReplaceTwinRequest(_message.Message):
    __slots__ = ("id", "json", "if_match")
    ID_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    IF_MATCH_FIELD_NUMBER: _ClassVar[int]
    id: str
    json: str
    if_match: str
    def __init__(self, id: _Optional[str] = ..., json: _Optional[str] = ..., if_match: _Optional[str] = ...) -> None: ...

class PatchTwinRequest(_message.Message):
    __slots__ = ("id", "json_patch", "if_match")
    ID_FIELD_NUMBER: _ClassVar[int]
    JSON_PATCH_FIELD_NUMBER: _ClassVar[int]
    IF_MATCH_FIELD_NUMBER: _ClassVar[int]
    id: str
    json_patch: str
    if_match: str
    def __init__(self, id: _Optional[str] = ..., json_patch: _Optional[str] = ..., if_match: _Optional[str] = ...) -> None: ...

class DeleteTwinRequest(_message.Message):
    __slots__ = ("id", "if_match")
    ID_FIELD_NUMBER: _ClassVar[int]
    IF_MATCH_FIELD_NUMBER: _ClassVar[int]
    id: str
    if_match: str
    def __init__(self, id: _Optional[str] = ..., if_match: _Optional[str] = ...) -> None: ...

class DeleteTwinResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class BulkUpsertRequest(_message.Message):
    __slots__ = ("twins_json", "relationships", "replace_feeder")
    TWINS_JSON_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FEEDER_FIELD_NUMBER: _ClassVar[int]
    twins_json: _containers.RepeatedScalarFieldContainer[str]
    relationships: _containers.RepeatedCompositeFieldContainer[Relationship]
    replace_feeder: str
    def __init__(self, twins_json: _Optional[_Iterable[str]] = ..., relationships: _Optional[_Iterable[_Union[Relationship, _Mapping]]] = ..., replace_feeder: _Optional[str] = ...) -> None: ...

class BulkUpsertResponse(_message.Message):
    __slots__ = ("twins", "relationships")
    TWINS_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    twins: int
    relationships: int
    def __init__(self, twins: _Optional[int] = ..., relationships: _Optional[int] = ...) -> None: ...

class CreateRelationshipRequest(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: Relationship
    def __init__(self, relationship: _Optional[_Union[Relationship, _Mapping]] = ...) -> None: ...

class GetRelationshipRequest(_message.Message):
    __slots__ = ("source_id", "id")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    id: str
    def __init__(self, source_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class DeleteRelationshipRequest(_message.Message):
    __slots__ = ("source_id", "id", "if_match")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    IF_MATCH_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    id: str
    if_match: str
    def __init__(self, source_id: _Optional[str] = ..., id: _Optional[str] = ..., if_match: _Optional[str] = ...) -> None: ...

class DeleteRelationshipResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRelationshipsRequest(_message.Message):
    __slots__ = ("source_id", "name", "incoming")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INCOMING_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    name: str
    incoming: bool
    def __init__(self, source_id: _Optional[str] = ..., name: _Optional[str] = ..., incoming: _Optional[bool] = ...) -> None: ...

class ListRelationshipsResponse(_message.Message):
    __slots__ = ("relationships",)
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[Relationship]
    def __init__(self, relationships: _Optional[_Iterable[_Union[Relationship, _Mapping]]] = ...) -> None: ...

class PropertyFilter(_message.Message):
    __slots__ = ("path", "op", "value_json")
    PATH_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    path: str
    op: str
    value_json: str
    def __init__(self, path: _Optional[str] = ..., op: _Optional[str] = ..., value_json: _Optional[str] = ...) -> None: ...

class QueryTwinsRequest(_message.Message):
    __slots__ = ("model", "site", "feeder", "filters", "page", "exact_model")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    EXACT_MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    site: str
    feeder: str
    filters: _containers.RepeatedCompositeFieldContainer[PropertyFilter]
    page: _common_pb2.PageRequest
    exact_model: bool
    def __init__(self, model: _Optional[str] = ..., site: _Optional[str] = ..., feeder: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[PropertyFilter, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., exact_model: _Optional[bool] = ...) -> None: ...

class QueryTwinsResponse(_message.Message):
    __slots__ = ("twins", "next_page_token")
    TWINS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    twins: _containers.RepeatedCompositeFieldContainer[Twin]
    next_page_token: str
    def __init__(self, twins: _Optional[_Iterable[_Union[Twin, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class TraverseRequest(_message.Message):
    __slots__ = ("start_id", "relationship_names", "max_hops", "direction")
    START_ID_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_NAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_HOPS_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    start_id: str
    relationship_names: _containers.RepeatedScalarFieldContainer[str]
    max_hops: int
    direction: str
    def __init__(self, start_id: _Optional[str] = ..., relationship_names: _Optional[_Iterable[str]] = ..., max_hops: _Optional[int] = ..., direction: _Optional[str] = ...) -> None: ...

class ListFeedersRequest(_message.Message):
    __slots__ = ("site",)
    SITE_FIELD_NUMBER: _ClassVar[int]
    site: str
    def __init__(self, site: _Optional[str] = ...) -> None: ...

class FeederInfo(_message.Message):
    __slots__ = ("id", "site", "twin_count", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    TWIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    site: str
    twin_count: int
    version: str
    def __init__(self, id: _Optional[str] = ..., site: _Optional[str] = ..., twin_count: _Optional[int] = ..., version: _Optional[str] = ...) -> None: ...

class ListFeedersResponse(_message.Message):
    __slots__ = ("feeders",)
    FEEDERS_FIELD_NUMBER: _ClassVar[int]
    feeders: _containers.RepeatedCompositeFieldContainer[FeederInfo]
    def __init__(self, feeders: _Optional[_Iterable[_Union[FeederInfo, _Mapping]]] = ...) -> None: ...

class ExportFeederRequest(_message.Message):
    __slots__ = ("feeder", "known_version", "version_only")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    KNOWN_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_ONLY_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    known_version: str
    version_only: bool
    def __init__(self, feeder: _Optional[str] = ..., known_version: _Optional[str] = ..., version_only: _Optional[bool] = ...) -> None: ...

class ExportFeederResponse(_message.Message):
    __slots__ = ("feeder", "version", "feeder_model_ipc", "unchanged")
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FEEDER_MODEL_IPC_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    version: str
    feeder_model_ipc: bytes
    unchanged: bool
    def __init__(self, feeder: _Optional[str] = ..., version: _Optional[str] = ..., feeder_model_ipc: _Optional[bytes] = ..., unchanged: _Optional[bool] = ...) -> None: ...

class DeleteFeederRequest(_message.Message):
    __slots__ = ("feeder",)
    FEEDER_FIELD_NUMBER: _ClassVar[int]
    feeder: str
    def __init__(self, feeder: _Optional[str] = ...) -> None: ...
