"""Users (admins) and API keys (everyone their own; admins everyone's).

An API key's role and sites are at most its creator's (403 otherwise); it acts with no more than its
owner holds at the time of each request. The secret is shown once, in the answer that creates it. The
last enabled admin cannot be demoted, disabled or removed (409): the installation would be locked out.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from gridtwin.access.passwords import MAX_LENGTH, generate_password, hash_password
from gridtwin.access.principal import Principal
from gridtwin.access.roles import Role, parse_role
from gridtwin.errors import ConflictError, ErrorDetail
from gridtwin.store.accounts import USERNAME_RE, check_sites
from pydantic import BaseModel, Field

from gridtwin_gateway.auth import Gate, current_principal, forbidden, role_within, sites_within
from gridtwin_gateway.context import request_info
from gridtwin_gateway.errors import ApiError, ErrorBody

router = APIRouter(prefix="/api/v1", tags=["users"])

USERNAME = Path(description="user name", pattern=f"^{USERNAME_RE.pattern}$")
KEY_ID = Path(description="API key id", pattern=r"^[0-9a-f]{1,32}$")
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad role, sites, user name or password"},
    404: {"model": ErrorBody, "description": "no such user or key"},
    409: {"model": ErrorBody, "description": "the user exists, or the change would leave no admin"},
}
Sites = list[Annotated[str, Field(max_length=128)]]


class UserOut(BaseModel):
    username: str
    role: str
    sites: list[str]
    disabled: bool
    locked_until: str | None
    oidc: bool = Field(description="logs in through the identity provider")
    created_at: str
    updated_at: str


class NewUserOut(UserOut):
    password: str | None = Field(default=None, description="the generated password, shown once")


class UserList(BaseModel):
    users: list[UserOut]


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str | None = Field(
        default=None, max_length=MAX_LENGTH, description="default: generated, shown once"
    )
    role: str = Field(max_length=16)
    sites: Sites = Field(
        default_factory=list, max_length=1000, description='site names, or ["*"] for every site'
    )


class UserPatch(BaseModel):
    role: str | None = Field(default=None, max_length=16)
    sites: Sites | None = Field(default=None, max_length=1000)
    disabled: bool | None = None
    password: str | None = Field(default=None, max_length=MAX_LENGTH)


class KeyOut(BaseModel):
    id: str
    name: str
    owner: str
    role: str
    sites: list[str]
    created_at: str | None
    expires_at: str | None
    last_used_at: str | None
    revoked: bool


class NewKeyOut(KeyOut):
    secret: str = Field(description="the key itself (gtk_...), shown once: send it as X-API-Key")


class KeyList(BaseModel):
    keys: list[KeyOut]


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str | None = Field(default=None, max_length=16, description="default: yours; at most yours")
    sites: Sites | None = Field(default=None, max_length=1000, description="default: yours; at most yours")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


def _gate(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


async def _enabled_admins(gate: Gate) -> list[str]:
    users = await asyncio.to_thread(gate.store.users)
    return [u.username for u in users if u.role == Role.ADMIN and not u.disabled]


async def _keep_an_admin(gate: Gate, username: str) -> None:
    if await _enabled_admins(gate) == [username]:
        raise ConflictError(
            "the last admin",
            [
                ErrorDetail(
                    where="username", message=f"{username} is the only enabled admin", code="last_admin"
                )
            ],
        )


# -- users ----------------------------------------------------------------------------------------


@router.get("/users", response_model=UserList, summary="Every user")
async def list_users(request: Request) -> dict[str, Any]:
    users = await asyncio.to_thread(_gate(request).store.users)
    return {"users": [u.to_dict() for u in users]}


@router.post("/users", status_code=201, response_model=NewUserOut, responses=ERRORS, summary="Create a user")
async def create_user(request: Request, body: UserIn) -> dict[str, Any]:
    gate = _gate(request)
    role = parse_role(body.role)
    sites = check_sites(body.sites)
    password = body.password or generate_password()
    hashed = await asyncio.to_thread(hash_password, password)
    user = await asyncio.to_thread(partial(gate.store.create_user, body.username, hashed, role, sites))
    request_info(request).detail.update(user=user.username, role=role.value, sites=sorted(sites))
    return {**user.to_dict(), "password": None if body.password else password}


@router.get("/users/{username}", response_model=UserOut, responses=ERRORS, summary="A user")
async def get_user(request: Request, username: Annotated[str, USERNAME]) -> dict[str, Any]:
    user = await asyncio.to_thread(_gate(request).store.user, username)
    return user.to_dict()


@router.patch(
    "/users/{username}",
    response_model=UserOut,
    responses=ERRORS,
    summary="Change a user's role, sites, password or disable them (their sessions end when disabled or on a new password)",
)
async def patch_user(request: Request, username: Annotated[str, USERNAME], body: UserPatch) -> dict[str, Any]:
    gate = _gate(request)
    user = await asyncio.to_thread(gate.store.user, username)
    role = parse_role(body.role) if body.role is not None else None
    sites = check_sites(body.sites) if body.sites is not None else None
    demoted = role is not None and role != Role.ADMIN
    if user.role == Role.ADMIN and not user.disabled and (demoted or body.disabled):
        await _keep_an_admin(gate, username)
    hashed = await asyncio.to_thread(hash_password, body.password) if body.password else None
    updated = await asyncio.to_thread(
        partial(
            gate.store.update_user,
            username,
            role=role,
            sites=sites,
            disabled=body.disabled,
            password_hash=hashed,
        )
    )
    gate.forget_user(username)
    request_info(request).detail.update(
        user=username,
        **{
            k: v
            for k, v in {"role": body.role, "sites": body.sites, "disabled": body.disabled}.items()
            if v is not None
        },
        password_changed=bool(body.password),
    )
    return updated.to_dict()


@router.delete(
    "/users/{username}",
    status_code=204,
    responses=ERRORS,
    summary="Remove a user (their sessions and keys end)",
)
async def delete_user(request: Request, username: Annotated[str, USERNAME]) -> Response:
    gate = _gate(request)
    user = await asyncio.to_thread(gate.store.user, username)
    if user.role == Role.ADMIN and not user.disabled:
        await _keep_an_admin(gate, username)
    await asyncio.to_thread(gate.store.delete_user, username)
    gate.forget_user(username)
    return Response(status_code=204)


# -- API keys -------------------------------------------------------------------------------------


def _owner_of(principal: Principal) -> str:
    if principal.via == "api_key":
        raise forbidden(
            "API keys are managed with a user's own login, not with a key", "authorization", "api_key"
        )
    return principal.subject


@router.get("/keys", response_model=KeyList, responses=ERRORS, summary="API keys: your own (admins: ?owner=)")
async def list_keys(
    request: Request,
    principal: Annotated[Principal, Depends(current_principal)],
    owner: Annotated[str, Query(max_length=64, description="admins: another user's keys; * for all")] = "",
) -> dict[str, Any]:
    me = _owner_of(principal)
    if owner and owner != me:
        principal.require("users.admin")
    chosen = None if owner == "*" else (owner or me)
    keys = await asyncio.to_thread(_gate(request).store.api_keys, chosen)
    return {"keys": [k.to_dict() for k in keys]}


@router.post(
    "/keys",
    status_code=201,
    response_model=NewKeyOut,
    responses={**ERRORS, 403: {"model": ErrorBody, "description": "a role or sites above your own"}},
    summary="Create an API key (role and sites at most your own); the secret is shown once",
)
async def create_key(
    request: Request, body: KeyIn, principal: Annotated[Principal, Depends(current_principal)]
) -> dict[str, Any]:
    gate = _gate(request)
    owner = _owner_of(principal)
    role = parse_role(body.role) if body.role is not None else principal.role
    sites = check_sites(body.sites) if body.sites is not None else principal.sites
    if not role_within(role, principal.role):
        raise forbidden(
            f"role {role.value} is above your own ({principal.role.value})", "body.role", "above_own"
        )
    if not sites_within(sites, principal.sites):
        raise forbidden("sites beyond your own", "body.sites", "above_own")
    expires = datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    record, secret = await asyncio.to_thread(
        partial(gate.store.create_api_key, owner, body.name, role, sites, expires_at=expires)
    )
    request_info(request).detail.update(key=record.id, role=role.value, sites=sorted(sites))
    return {**record.to_dict(), "secret": secret}


@router.delete(
    "/keys/{key_id}", status_code=204, responses=ERRORS, summary="Revoke an API key (yours; admins: any)"
)
async def revoke_key(
    request: Request,
    key_id: Annotated[str, KEY_ID],
    principal: Annotated[Principal, Depends(current_principal)],
) -> Response:
    gate = _gate(request)
    record = await asyncio.to_thread(gate.store.api_key, key_id)
    if record.owner != principal.subject and not principal.allows("users.admin"):
        raise ApiError(
            404, "NOT_FOUND", "no such API key", [{"where": "key", "message": key_id, "code": "not_found"}]
        )
    await asyncio.to_thread(gate.store.revoke_api_key, key_id)
    gate.forget_key(key_id)
    request_info(request).detail.update(key=key_id, owner=record.owner)
    return Response(status_code=204)


__all__ = ["router"]
