"""Twins: get (with ETag), create, replace and patch (If-Match), delete, query, relationships, traverse."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response
from fastapi.responses import JSONResponse
from gridtwin.rpc.v1 import common_pb2, twin_registry_pb2

from gridtwin_gateway.clients import Backends
from gridtwin_gateway.deps import get_backends
from gridtwin_gateway.errors import ApiError, ErrorBody
from gridtwin_gateway.schemas import RelationshipList, TwinDocument, TwinPage

router = APIRouter(prefix="/api/v1", tags=["twins"])

TIMEOUT_S = 60.0
FILTER_OPS = ("eq", "ne", "lt", "le", "gt", "ge")
TWIN_ID = Path(description="twin id, e.g. ieee13.loads.671")

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input; details say where"},
    404: {"model": ErrorBody, "description": "no such twin"},
    503: {"model": ErrorBody, "description": "the twin registry is unreachable"},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"model": ErrorBody, "description": "the twin changed (no If-Match sent) or already exists"},
    412: {"model": ErrorBody, "description": "If-Match does not match the twin's current ETag"},
}
IF_MATCH_DOC = "the ETag from a previous GET; the write fails with 412 if the twin changed since"


def etag_header(etag: str) -> str:
    """The registry's etag as an HTTP entity tag (quoted, RFC 9110)."""
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


def etag_from_header(value: str | None) -> str:
    """The registry's etag from an If-Match header ("" when absent; ``*`` passes through)."""
    if value is None:
        return ""
    text = value.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    return text


def _twin_response(twin: twin_registry_pb2.Twin, status: int = 200) -> Response:
    # The registry already holds the document as JSON text: pass it through unparsed.
    return Response(
        content=twin.json,
        status_code=status,
        media_type="application/json",
        headers={"ETag": etag_header(twin.etag)},
    )


def _page_response(reply: twin_registry_pb2.QueryTwinsResponse) -> Response:
    body = '{"twins":[' + ",".join(t.json for t in reply.twins) + '],"next_page_token":'
    body += json.dumps(reply.next_page_token) + "}"
    return Response(content=body, media_type="application/json")


def parse_filter(text: str, index: int) -> twin_registry_pb2.PropertyFilter:
    """``prop:op:value`` -> a PropertyFilter. The value is JSON when it parses as JSON, else a string."""
    where = f"query.filter[{index}]"
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            "bad filter",
            [{"where": where, "message": f"{text!r} is not prop:op:value (e.g. kw:gt:100)"}],
        )
    prop, op, raw = parts
    if op not in FILTER_OPS:
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            "bad filter",
            [{"where": where, "message": f"operator {op!r} not one of {', '.join(FILTER_OPS)}"}],
        )
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if isinstance(value, dict | list):
        raise ApiError(
            400, "INVALID_ARGUMENT", "bad filter", [{"where": where, "message": "the value must be a scalar"}]
        )
    return twin_registry_pb2.PropertyFilter(path=prop, op=op, value_json=json.dumps(value))


@router.get(
    "/twins/{twin_id}",
    response_model=TwinDocument,
    responses=ERRORS,
    summary="Get one twin",
    description="The twin document; its ETag header is what If-Match takes on writes.",
)
async def get_twin(
    twin_id: Annotated[str, TWIN_ID], backends: Annotated[Backends, Depends(get_backends)]
) -> Response:
    twin = await backends.registry_stub.GetTwin(
        twin_registry_pb2.GetTwinRequest(id=twin_id), timeout=TIMEOUT_S
    )
    return _twin_response(twin)


@router.post(
    "/twins",
    status_code=201,
    response_model=TwinDocument,
    responses=WRITE_ERRORS,
    summary="Create a twin",
    description="Body: a twin document with $dtId and $metadata.$model; validated against its DTDL interface.",
)
async def create_twin(
    doc: Annotated[TwinDocument, Body(description="the twin document")],
    backends: Annotated[Backends, Depends(get_backends)],
) -> Response:
    twin = await backends.registry_stub.CreateTwin(
        twin_registry_pb2.CreateTwinRequest(json=json.dumps(doc)), timeout=TIMEOUT_S
    )
    response = _twin_response(twin, status=201)
    response.headers["Location"] = f"/api/v1/twins/{twin.id}"
    return response


@router.put("/twins/{twin_id}", response_model=TwinDocument, responses=WRITE_ERRORS, summary="Replace a twin")
async def replace_twin(
    twin_id: Annotated[str, TWIN_ID],
    doc: Annotated[TwinDocument, Body(description="the whole new twin document")],
    backends: Annotated[Backends, Depends(get_backends)],
    if_match: Annotated[str | None, Header(description=IF_MATCH_DOC)] = None,
) -> Response:
    twin = await backends.registry_stub.ReplaceTwin(
        twin_registry_pb2.ReplaceTwinRequest(
            id=twin_id, json=json.dumps(doc), if_match=etag_from_header(if_match)
        ),
        timeout=TIMEOUT_S,
    )
    return _twin_response(twin)


@router.patch(
    "/twins/{twin_id}",
    response_model=TwinDocument,
    responses=WRITE_ERRORS,
    summary="Patch a twin (RFC 6902 JSON Patch)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json-patch+json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            },
        }
    },
)
async def patch_twin(
    twin_id: Annotated[str, TWIN_ID],
    ops: Annotated[list[dict[str, Any]], Body(description="JSON Patch operations")],
    backends: Annotated[Backends, Depends(get_backends)],
    if_match: Annotated[str | None, Header(description=IF_MATCH_DOC)] = None,
) -> Response:
    twin = await backends.registry_stub.PatchTwin(
        twin_registry_pb2.PatchTwinRequest(
            id=twin_id, json_patch=json.dumps(ops), if_match=etag_from_header(if_match)
        ),
        timeout=TIMEOUT_S,
    )
    return _twin_response(twin)


@router.delete("/twins/{twin_id}", status_code=204, responses=WRITE_ERRORS, summary="Delete a twin")
async def delete_twin(
    twin_id: Annotated[str, TWIN_ID],
    backends: Annotated[Backends, Depends(get_backends)],
    if_match: Annotated[str | None, Header(description=IF_MATCH_DOC)] = None,
) -> Response:
    await backends.registry_stub.DeleteTwin(
        twin_registry_pb2.DeleteTwinRequest(id=twin_id, if_match=etag_from_header(if_match)),
        timeout=TIMEOUT_S,
    )
    return Response(status_code=204)


@router.get(
    "/twins",
    response_model=TwinPage,
    responses=ERRORS,
    summary="Query twins",
    description="By model (subtypes included unless exact_model), site, feeder and property filters "
    "`prop:op:value` (op one of eq ne lt le gt ge; value a JSON scalar, or else a string). Paged.",
)
async def query_twins(
    backends: Annotated[Backends, Depends(get_backends)],
    model: Annotated[str, Query(description="DTMI, e.g. dtmi:gridtwin:Load;1")] = "",
    site: str = "",
    feeder: str = "",
    filter: Annotated[
        list[str] | None, Query(description="prop:op:value, repeatable (all must hold)")
    ] = None,
    exact_model: Annotated[bool, Query(description="exclude subtypes of model")] = False,
    page_size: Annotated[int, Query(ge=1, le=10000, description="twins per page")] = 100,
    page_token: Annotated[str, Query(description="next_page_token of the previous page")] = "",
) -> Response:
    filters = [parse_filter(f, i) for i, f in enumerate(filter or [])]
    req = twin_registry_pb2.QueryTwinsRequest(
        model=model,
        site=site,
        feeder=feeder,
        filters=filters,
        exact_model=exact_model,
        page=common_pb2.PageRequest(page_size=page_size, page_token=page_token),
    )
    return _page_response(await backends.registry_stub.QueryTwins(req, timeout=TIMEOUT_S))


def relationship_to_dict(rel: twin_registry_pb2.Relationship) -> dict[str, Any]:
    props = json.loads(rel.properties_json) if rel.properties_json else {}
    return {
        "$relationshipId": rel.id,
        "$sourceId": rel.source_id,
        "$relationshipName": rel.name,
        "$targetId": rel.target_id,
        "$etag": rel.etag,
        **(props if isinstance(props, dict) else {}),
    }


@router.get(
    "/twins/{twin_id}/relationships",
    response_model=RelationshipList,
    responses=ERRORS,
    summary="Relationships of a twin",
)
async def list_relationships(
    twin_id: Annotated[str, TWIN_ID],
    backends: Annotated[Backends, Depends(get_backends)],
    name: Annotated[str, Query(description="only relationships of this name")] = "",
    incoming: Annotated[bool, Query(description="relationships that point at the twin instead")] = False,
) -> JSONResponse:
    reply = await backends.registry_stub.ListRelationships(
        twin_registry_pb2.ListRelationshipsRequest(source_id=twin_id, name=name, incoming=incoming),
        timeout=TIMEOUT_S,
    )
    return JSONResponse({"relationships": [relationship_to_dict(r) for r in reply.relationships]})


@router.get(
    "/twins/{twin_id}/traverse",
    response_model=TwinPage,
    responses=ERRORS,
    summary="Twins reachable from a twin",
    description="Breadth-first over relationships, up to `hops` away.",
)
async def traverse(
    twin_id: Annotated[str, TWIN_ID],
    backends: Annotated[Backends, Depends(get_backends)],
    hops: Annotated[int, Query(ge=0, le=1000, description="maximum relationship hops")] = 1,
    names: Annotated[
        list[str] | None,
        Query(description="relationship names to follow (repeat, or comma-separated); none = all"),
    ] = None,
    direction: Annotated[
        Literal["out", "in", "both"], Query(description="follow relationships out, in or both")
    ] = "out",
) -> Response:
    wanted = [n.strip() for item in names or [] for n in item.split(",") if n.strip()]
    req = twin_registry_pb2.TraverseRequest(
        start_id=twin_id, relationship_names=wanted, max_hops=hops, direction=direction
    )
    return _page_response(await backends.registry_stub.Traverse(req, timeout=TIMEOUT_S))


__all__ = ["etag_from_header", "etag_header", "parse_filter", "router"]
