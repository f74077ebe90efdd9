"""TwinRegistry servicer: protobuf <-> ``gridtwin.twin.registry.TwinRegistry`` calls, nothing more.

JSON payloads travel as strings (their shape is the DTDL interfaces'); a payload that is not JSON is an
``InputError`` naming the request field. Every twin, relationship and feeder call passes the call's
verified caller (``current_principal()``, set by the server's ``AuthInterceptor``) to the registry, which
filters by its sites; the ontology is site-less (uploads need ``models.write``: admins).
"""

from __future__ import annotations

import json
from typing import Any

import grpc
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.source import RegistryFeeders
from gridtwin.rpc.auth import current_principal
from gridtwin.rpc.v1 import twin_registry_pb2 as pb
from gridtwin.twin.records import FeederInfo, ModelInfo, RelationshipRecord, TwinRecord
from gridtwin.twin.registry import TwinRegistry

__all__ = ["TwinRegistryServicer"]

DEFAULT_PAGE_SIZE = 100
_REL_HEADER = ("$relationshipId", "$sourceId", "$relationshipName", "$targetId", "$etag")


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError) as exc:
        raise InputError(
            "not valid JSON", [ErrorDetail(where=where, message=str(exc), code="invalid_json")]
        ) from exc


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _twin(rec: TwinRecord) -> Any:
    return pb.Twin(
        id=rec.id,
        model=rec.model,
        site=rec.site or "",
        feeder=rec.feeder or "",
        etag=rec.etag,
        json=_dumps(rec.doc),
    )


def _relationship(rec: RelationshipRecord) -> Any:
    return pb.Relationship(
        id=rec.id,
        source_id=rec.source_id,
        name=rec.name,
        target_id=rec.target_id,
        etag=rec.etag,
        properties_json=_dumps(rec.properties),
    )


def _relationship_doc(msg: Any, where: str) -> dict[str, Any]:
    props = _json(msg.properties_json, f"{where}.properties_json") if msg.properties_json else {}
    if not isinstance(props, dict):
        raise InputError(
            "bad relationship", [ErrorDetail(where=f"{where}.properties_json", message="not an object")]
        )
    doc = {k: v for k, v in props.items() if k not in _REL_HEADER}
    doc.update(
        {
            "$relationshipId": msg.id,
            "$sourceId": msg.source_id,
            "$relationshipName": msg.name,
            "$targetId": msg.target_id,
        }
    )
    return doc


def _model(info: ModelInfo) -> Any:
    return pb.ModelInfo(
        id=info.id, extends=info.extends, display_name=info.display_name, json=_dumps(info.doc)
    )


def _feeder(info: FeederInfo) -> Any:
    return pb.FeederInfo(id=info.id, site=info.site or "", twin_count=info.twin_count, version=info.version)


class TwinRegistryServicer:
    def __init__(self, registry: TwinRegistry) -> None:
        self._registry = registry

    # -- models

    def UploadModels(self, request: Any, context: grpc.ServicerContext) -> Any:
        docs = [_json(text, f"models_json[{i}]") for i, text in enumerate(request.models_json)]
        return pb.UploadModelsResponse(ids=self._registry.upload_models(docs))

    def ListModels(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.ListModelsResponse(models=[_model(m) for m in self._registry.list_models()])

    # -- twins

    def GetTwin(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _twin(self._registry.get(request.id, principal=current_principal()))

    def CreateTwin(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _twin(self._registry.create(_json(request.json, "json"), principal=current_principal()))

    def ReplaceTwin(self, request: Any, context: grpc.ServicerContext) -> Any:
        doc = _json(request.json, "json")
        return _twin(
            self._registry.replace(request.id, doc, request.if_match or None, principal=current_principal())
        )

    def PatchTwin(self, request: Any, context: grpc.ServicerContext) -> Any:
        ops = _json(request.json_patch, "json_patch")
        if not isinstance(ops, list):
            raise InputError(
                "bad JSON patch", [ErrorDetail(where="json_patch", message="must be a JSON array")]
            )
        return _twin(
            self._registry.patch(request.id, ops, request.if_match or None, principal=current_principal())
        )

    def DeleteTwin(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._registry.delete(request.id, request.if_match or None, principal=current_principal())
        return pb.DeleteTwinResponse(deleted=1)

    def BulkUpsert(self, request: Any, context: grpc.ServicerContext) -> Any:
        twins = [_json(text, f"twins_json[{i}]") for i, text in enumerate(request.twins_json)]
        rels = [_relationship_doc(r, f"relationships[{i}]") for i, r in enumerate(request.relationships)]
        # replace_feeder: the feeder's twins missing from the batch go in the same transaction.
        n_twins, n_rels = self._registry.bulk_upsert(
            twins, rels, replace_feeder=request.replace_feeder or None, principal=current_principal()
        )
        return pb.BulkUpsertResponse(twins=n_twins, relationships=n_rels)

    # -- relationships

    def CreateRelationship(self, request: Any, context: grpc.ServicerContext) -> Any:
        doc = _relationship_doc(request.relationship, "relationship")
        return _relationship(self._registry.create_relationship(doc, principal=current_principal()))

    def GetRelationship(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _relationship(
            self._registry.get_relationship(request.source_id, request.id, principal=current_principal())
        )

    def DeleteRelationship(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._registry.delete_relationship(
            request.source_id, request.id, request.if_match or None, principal=current_principal()
        )
        return pb.DeleteRelationshipResponse()

    def ListRelationships(self, request: Any, context: grpc.ServicerContext) -> Any:
        recs = self._registry.list_relationships(
            request.source_id, request.name or None, request.incoming, principal=current_principal()
        )
        return pb.ListRelationshipsResponse(relationships=[_relationship(r) for r in recs])

    # -- queries

    def QueryTwins(self, request: Any, context: grpc.ServicerContext) -> Any:
        filters = [
            (f.path, f.op, _json(f.value_json, f"filters[{i}].value_json"))
            for i, f in enumerate(request.filters)
        ]
        records, token = self._registry.query(
            model=request.model or None,
            site=request.site or None,
            feeder=request.feeder or None,
            filters=filters,
            exact_model=request.exact_model,
            page_size=request.page.page_size or DEFAULT_PAGE_SIZE,
            page_token=request.page.page_token or None,
            principal=current_principal(),
        )
        return pb.QueryTwinsResponse(twins=[_twin(r) for r in records], next_page_token=token or "")

    def Traverse(self, request: Any, context: grpc.ServicerContext) -> Any:
        records = self._registry.traverse(
            request.start_id,
            list(request.relationship_names),
            request.max_hops or 1,
            request.direction or "out",
            principal=current_principal(),
        )
        return pb.QueryTwinsResponse(twins=[_twin(r) for r in records])

    # -- feeders

    def ListFeeders(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.ListFeedersResponse(
            feeders=[
                _feeder(f)
                for f in self._registry.list_feeders(request.site or None, principal=current_principal())
            ]
        )

    def ExportFeeder(self, request: Any, context: grpc.ServicerContext) -> Any:
        feeder = str(request.feeder)
        feeders = RegistryFeeders(self._registry, current_principal())
        if request.version_only or request.known_version:
            version = feeders.feeder_version(feeder)
            if request.version_only or version == request.known_version:
                return pb.ExportFeederResponse(
                    feeder=feeder, version=version, unchanged=not request.version_only
                )
        model = feeders.feeder_model(feeder)
        return pb.ExportFeederResponse(feeder=feeder, version=model.version, feeder_model_ipc=model.to_ipc())

    def DeleteFeeder(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.DeleteTwinResponse(
            deleted=self._registry.delete_feeder(request.feeder, principal=current_principal())
        )
