"""The twin registry's typed client: ``FeederSource`` and ``TwinSink`` over gRPC.

Every service that needs feeders or writes twins holds one of these instead of a raw stub: one place for
the timeouts, the error mapping (gRPC status -> the ``GridTwinError`` it came from), the Arrow IPC of
feeder models and the JSON of twin documents.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc

from gridtwin.config import Settings
from gridtwin.grid.model import FeederModel
from gridtwin.grid.source import check_feeder_id
from gridtwin.rpc.client import service_channel
from gridtwin.rpc.errors import error_from_rpc_error
from gridtwin.rpc.stubs import registry_stub
from gridtwin.rpc.v1 import twin_registry_pb2 as pb
from gridtwin.twin.records import FeederInfo, TwinRecord

__all__ = ["RegistryClient", "bulk_upsert_request", "open_registry"]

# An export of a large feeder or a bulk write of one takes seconds; a whole synthetic utility minutes.
DEFAULT_TIMEOUT_S = 600.0
_REL_HEADER = ("$relationshipId", "$sourceId", "$relationshipName", "$targetId", "$etag")


def _relationship(doc: dict[str, Any]) -> Any:
    props = {k: v for k, v in doc.items() if k not in _REL_HEADER}
    return pb.Relationship(
        id=doc["$relationshipId"],
        source_id=doc["$sourceId"],
        name=doc["$relationshipName"],
        target_id=doc["$targetId"],
        properties_json=json.dumps(props, separators=(",", ":"), allow_nan=False) if props else "",
    )


def bulk_upsert_request(
    twins: Sequence[Any], relationships: Sequence[Any] = (), replace_feeder: str | None = None
) -> Any:
    """One all-or-nothing ``BulkUpsertRequest`` of twin documents and relationship documents."""
    return pb.BulkUpsertRequest(
        twins_json=[json.dumps(t, separators=(",", ":"), allow_nan=False) for t in twins],
        relationships=[_relationship(r) for r in relationships],
        replace_feeder=replace_feeder or "",
    )


class RegistryClient:
    """The registry service at the other end of ``channel`` (a ``FeederSource`` and a ``TwinSink``).

    Sites are the registry's to enforce: the channel carries the caller's internal token, so another
    site's feeders and twins are not found and writes into it are refused there, whoever calls."""

    def __init__(self, channel: grpc.Channel, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.stub = registry_stub(channel)
        self.timeout_s = timeout_s

    def call(self, method: str, request: Any) -> Any:
        """``method`` of the registry; a failed call raises the ``GridTwinError`` the service raised."""
        try:
            return getattr(self.stub, method)(request, timeout=self.timeout_s)
        except grpc.RpcError as err:
            raise error_from_rpc_error(err) from err

    # -- FeederSource ----------------------------------------------------------------------------

    def feeder_model(self, feeder: str) -> FeederModel:
        check_feeder_id(feeder)
        reply = self.call("ExportFeeder", pb.ExportFeederRequest(feeder=feeder))
        model = FeederModel.from_ipc(bytes(reply.feeder_model_ipc))
        model.version = str(reply.version)
        return model

    def feeder_ipc(self, feeder: str) -> bytes:
        """As it travels (a job ships it to a worker unopened); its header carries the version."""
        check_feeder_id(feeder)
        return bytes(self.call("ExportFeeder", pb.ExportFeederRequest(feeder=feeder)).feeder_model_ipc)

    def feeder_version(self, feeder: str) -> str:
        check_feeder_id(feeder)
        return str(
            self.call("ExportFeeder", pb.ExportFeederRequest(feeder=feeder, version_only=True)).version
        )

    def list_feeders(self, site: str | None = None) -> list[FeederInfo]:
        reply = self.call("ListFeeders", pb.ListFeedersRequest(site=site or ""))
        return [FeederInfo(f.id, f.site or None, int(f.twin_count), str(f.version)) for f in reply.feeders]

    # -- TwinSink and twins ----------------------------------------------------------------------

    def bulk_upsert(
        self,
        twin_docs: Sequence[Any],
        relationship_docs: Sequence[Any] = (),
        replace_feeder: str | None = None,
    ) -> tuple[int, int]:
        reply = self.call("BulkUpsert", bulk_upsert_request(twin_docs, relationship_docs, replace_feeder))
        return int(reply.twins), int(reply.relationships)

    def twin_exists(self, twin_id: str) -> bool:
        from gridtwin.errors import NotFoundError

        try:
            self.call("GetTwin", pb.GetTwinRequest(id=twin_id))
        except NotFoundError:
            return False
        return True

    def get(self, twin_id: str) -> TwinRecord:
        """One twin, as ``TwinRegistry.get`` gives it (``NotFoundError`` when there is none)."""
        return _record(self.call("GetTwin", pb.GetTwinRequest(id=twin_id)))

    def patch(
        self, twin_id: str, ops: Sequence[Mapping[str, Any]], if_match: str | None = None
    ) -> TwinRecord:
        """An RFC 6902 JSON Patch applied to one twin, as ``TwinRegistry.patch`` does it."""
        request = pb.PatchTwinRequest(id=twin_id, json_patch=json.dumps(list(ops)), if_match=if_match or "")
        return _record(self.call("PatchTwin", request))


def _record(twin: Any) -> TwinRecord:
    return TwinRecord(
        twin.id, twin.model, twin.site or None, twin.feeder or None, twin.etag, json.loads(twin.json)
    )


def open_registry(settings: Settings, service: str) -> tuple[RegistryClient, Callable[[], None]]:
    """A client on a channel of its own to ``settings.twin_registry_addr``, and how to close it.

    Its calls act for the caller of the request being served when there is one (the registry then
    filters by that caller's sites too), else for ``service`` itself (job threads, start-up)."""

    ch = service_channel(settings.twin_registry_addr, settings, service)
    return RegistryClient(ch), ch.close
