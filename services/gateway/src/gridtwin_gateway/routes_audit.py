"""The audit log, for admins: newest first, filtered and paged. No route edits or deletes it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from gridtwin.store.accounts import AUDIT_PAGE_MAX
from pydantic import BaseModel, Field

from gridtwin_gateway.auth import Gate
from gridtwin_gateway.errors import ErrorBody

router = APIRouter(prefix="/api/v1", tags=["audit"])


class AuditRow(BaseModel):
    id: int
    ts: str = Field(description="UTC, ISO 8601")
    actor: str = Field(description="user name, key:<id> for an API key, - when unknown")
    via: str = Field(description="password | refresh | api_key | oidc | bootstrap")
    action: str = Field(description='"METHOD /route/template", or auth.lockout, users.bootstrap ...')
    resource: str
    site: str
    outcome: str = Field(description="ok | denied | failed | error")
    status: int
    ip: str
    request_id: str
    trace_id: str
    detail: dict[str, Any]


class AuditPage(BaseModel):
    entries: list[AuditRow]
    total: int = Field(description="rows matching the filters")


@router.get(
    "/audit",
    response_model=AuditPage,
    responses={400: {"model": ErrorBody, "description": "bad filter or page"}},
    summary="Query the audit log (newest first)",
)
async def audit(
    request: Request,
    actor: Annotated[str, Query(max_length=128)] = "",
    action: Annotated[str, Query(max_length=128, description="prefix, e.g. POST or POST /api/v1/jobs")] = "",
    outcome: Annotated[str, Query(max_length=16)] = "",
    since: Annotated[datetime | None, Query(description="ISO 8601; naive means UTC")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=AUDIT_PAGE_MAX)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    gate: Gate = request.app.state.gate
    entries, total = await asyncio.to_thread(
        partial(
            gate.store.audit_entries,
            actor=actor or None,
            action=action or None,
            outcome=outcome or None,
            since=_utc(since),
            until=_utc(until),
            limit=limit,
            offset=offset,
        )
    )
    return {"entries": entries, "total": total}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


__all__ = ["router"]
