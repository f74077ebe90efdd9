"""Logging in and out: the OAuth2 password grant, refresh-token rotation, logout, one's own account,
browser sessions (cookies + CSRF) and OIDC login.

A locked account answers **423** (``code: LOCKED``, ``Retry-After``: the seconds left), a wrong user name
or password **401** with the same message either way. Unknown user names lock like real ones.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from gridtwin.access.passwords import MAX_LENGTH, check_password, hash_password, verify_password
from gridtwin.access.principal import Principal
from gridtwin.access.roles import Role, parse_role
from gridtwin.config import Settings
from gridtwin.errors import GridTwinError
from gridtwin.store.accounts import AuditEntry, UserRecord
from pydantic import BaseModel, Field

from gridtwin_gateway.auth import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    REFRESH_COOKIE,
    Gate,
    Session,
    current_principal,
    forbidden,
    unauthenticated,
)
from gridtwin_gateway.context import request_info
from gridtwin_gateway.deps import get_settings_dep
from gridtwin_gateway.errors import ApiError, ErrorBody
from gridtwin_gateway.oidc import FLOW_COOKIE, FLOW_TTL_S, OidcClient

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

REFRESH_PATH = "/api/v1/auth"
OIDC_PATH = "/api/v1/auth/oidc"
LOGIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "wrong user name or password (the same answer for both)"},
    423: {"model": ErrorBody, "description": "account locked after repeated failures; Retry-After: seconds"},
}
REFRESH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "unknown, expired, revoked or reused refresh token"},
}


class TokenOut(BaseModel):
    access_token: str
    token_type: str = Field(default="bearer")
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_token: str = Field(description="spend it at /api/v1/auth/refresh for a new pair (once)")
    username: str
    role: str
    sites: list[str]


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class MeOut(BaseModel):
    username: str = Field(description="the user, or key:<id> for an API key")
    role: str
    sites: list[str]
    via: str = Field(description="password | refresh | api_key | oidc")


class SessionOut(BaseModel):
    username: str
    role: str
    sites: list[str]
    via: str
    expires_in: int = Field(description="seconds the session's access cookie is valid")
    csrf_token: str = Field(description="send it as X-CSRF-Token on every unsafe request (also a cookie)")


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = Field(min_length=1, max_length=MAX_LENGTH)


def _gate(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


def _set_session_cookies(response: Response, gate: Gate, session: Session, csrf: str) -> None:
    secure = gate.settings.cookie_secure
    refresh_age = gate.settings.refresh_token_ttl_s
    response.set_cookie(
        ACCESS_COOKIE, session.access_token, max_age=session.expires_in, path="/",
        httponly=True, secure=secure, samesite="strict",
    )  # fmt: skip
    response.set_cookie(
        REFRESH_COOKIE, session.refresh_token, max_age=refresh_age, path=REFRESH_PATH,
        httponly=True, secure=secure, samesite="strict",
    )  # fmt: skip
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=refresh_age, path="/", httponly=False, secure=secure, samesite="strict"
    )


def _session_response(gate: Gate, session: Session) -> JSONResponse:
    csrf = gate.csrf_token(session.family)
    response = JSONResponse(_session_body(session, csrf))
    _set_session_cookies(response, gate, session, csrf)
    return response


def _clear_session_cookies(response: Response, gate: Gate) -> None:
    secure = gate.settings.cookie_secure
    for name, path, httponly in (
        (ACCESS_COOKIE, "/", True),
        (REFRESH_COOKIE, REFRESH_PATH, True),
        (CSRF_COOKIE, "/", False),
    ):
        response.delete_cookie(name, path=path, secure=secure, httponly=httponly, samesite="strict")


def _session_body(session: Session, csrf: str) -> dict[str, Any]:
    return {
        "username": session.user.username,
        "role": session.user.role.value,
        "sites": sorted(session.user.sites),
        "via": session.via,
        "expires_in": session.expires_in,
        "csrf_token": csrf,
    }


Username = Annotated[str, Form(max_length=256, description="user name")]
Password = Annotated[
    str, Form(max_length=MAX_LENGTH, description="password", json_schema_extra={"format": "password"})
]
GrantType = Annotated[str, Form(pattern="^password$", description="OAuth2: the fixed string password")]


@router.post(
    "/token",
    response_model=TokenOut,
    responses=LOGIN_ERRORS,
    summary="Log in (OAuth2 password grant): an access token and a refresh token",
)
async def token(
    request: Request, username: Username, password: Password, grant_type: GrantType = "password"
) -> dict[str, Any]:
    session = await _gate(request).login(username, password, request_info(request))
    return session.token_body()


@router.post(
    "/refresh",
    response_model=TokenOut,
    responses=REFRESH_ERRORS,
    summary="A new token pair for a refresh token",
)
async def refresh(request: Request, body: RefreshIn) -> dict[str, Any]:
    session = await _gate(request).refresh(body.refresh_token, request_info(request))
    return session.token_body()


@router.post("/logout", status_code=204, summary="End the session a refresh token belongs to")
async def logout(request: Request, body: RefreshIn) -> Response:
    info = request_info(request)
    username = await _gate(request).logout(body.refresh_token)
    info.detail["session_found"] = username is not None
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, summary="Who the credentials belong to")
async def me(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
    return {
        "username": principal.subject,
        "role": principal.role.value,
        "sites": sorted(principal.sites),
        "via": principal.via,
    }


@router.post(
    "/password",
    status_code=204,
    responses={
        400: {"model": ErrorBody, "description": "wrong current password, or a new one outside the policy"}
    },
    summary="Change one's own password (every session of the user ends)",
)
async def change_password(
    request: Request, body: PasswordIn, principal: Annotated[Principal, Depends(current_principal)]
) -> Response:
    gate = _gate(request)
    if principal.via == "api_key":
        raise forbidden("an API key cannot change a password", "authorization", "api_key")
    user = await gate.user(principal.subject, fresh=True)
    if user is None:
        raise unauthenticated("the account is disabled or removed", code="account")
    if not await asyncio.to_thread(verify_password, user.password_hash, body.current_password):
        s = gate.settings
        await asyncio.to_thread(
            partial(
                gate.store.login_failed,
                user.username,
                max_failures=s.login_max_failures,
                lock_for=timedelta(seconds=s.login_lock_s),
            )
        )
        raise ApiError(
            400, "INVALID_ARGUMENT", "wrong current password",
            [{"where": "body.current_password", "message": "does not match", "code": "wrong_password"}],
        )  # fmt: skip
    check_password(body.new_password, "body.new_password")
    new_hash = await asyncio.to_thread(hash_password, body.new_password)
    await asyncio.to_thread(partial(gate.store.update_user, user.username, password_hash=new_hash))
    gate.forget_user(user.username)
    return Response(status_code=204)


# -- browser sessions -----------------------------------------------------------------------------


@router.post(
    "/session",
    response_model=SessionOut,
    responses=LOGIN_ERRORS,
    summary="Log in a browser: httpOnly session cookies and a CSRF token",
)
async def session_login(
    request: Request, username: Username, password: Password, grant_type: GrantType = "password"
) -> JSONResponse:
    gate = _gate(request)
    session = await gate.login(username, password, request_info(request))
    return _session_response(gate, session)


@router.put(
    "/session",
    response_model=SessionOut,
    responses={**REFRESH_ERRORS, 403: {"model": ErrorBody, "description": "no or wrong X-CSRF-Token"}},
    summary="Renew a browser session (the refresh cookie and X-CSRF-Token)",
)
async def session_renew(request: Request) -> JSONResponse:
    gate = _gate(request)
    info = request_info(request)
    token_ = request.cookies.get(REFRESH_COOKIE, "")
    if not token_:
        raise unauthenticated("no session cookie", REFRESH_COOKIE, "missing")
    gate.check_csrf(request, None)
    session = await gate.refresh(token_, info)
    if not gate.csrf_matches(request.headers.get("x-csrf-token", ""), session.family):
        await gate.logout(session.refresh_token)  # a CSRF token of another session: end this one
        info.outcome = "denied"
        raise forbidden("the CSRF token belongs to another session", "x-csrf-token", "csrf")
    return _session_response(gate, session)


@router.delete(
    "/session",
    status_code=204,
    responses={403: {"model": ErrorBody, "description": "no or wrong X-CSRF-Token"}},
    summary="Log a browser out (its session ends, its cookies are cleared)",
)
async def session_logout(request: Request) -> Response:
    gate = _gate(request)
    info = request_info(request)
    token_ = request.cookies.get(REFRESH_COOKIE, "")
    if token_:
        gate.check_csrf(request, None)
        info.actor = await gate.logout(token_) or "-"
    response = Response(status_code=204)
    _clear_session_cookies(response, gate)
    return response


# -- OIDC -----------------------------------------------------------------------------------------


def _oidc(gate: Gate) -> OidcClient:
    if gate.oidc is None:
        raise ApiError(
            404, "NOT_FOUND", "OIDC login is not configured",
            [{"where": "GRIDTWIN_OIDC_ISSUER", "message": "not set on this gateway", "code": "not_configured"}],
        )  # fmt: skip
    return gate.oidc


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


@router.get(
    "/oidc/login",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "to the identity provider"},
        404: {"model": ErrorBody, "description": "OIDC not configured"},
    },
    summary="Log in with the identity provider (OIDC, authorization code + PKCE)",
)
async def oidc_login(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings_dep)],
    next: Annotated[str, Query(max_length=2048, description="a local path to return to")] = "/docs",
) -> RedirectResponse:
    client = _oidc(_gate(request))
    url, flow = await client.begin(_callback_url(request), next)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        FLOW_COOKIE, flow, max_age=FLOW_TTL_S, path=OIDC_PATH, httponly=True,
        secure=settings.cookie_secure, samesite="lax",  # the provider's redirect back is a top-level GET
    )  # fmt: skip
    return response


@router.get(
    "/oidc/callback",
    name="oidc_callback",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "logged in: session cookies set, to the `next` path"},
        401: {"model": ErrorBody, "description": "bad state, code, nonce or ID token"},
        404: {"model": ErrorBody, "description": "OIDC not configured"},
    },
    summary="The identity provider's redirect back (starts a browser session)",
)
async def oidc_callback(
    request: Request,
    code: Annotated[str, Query(max_length=4096)] = "",
    state: Annotated[str, Query(max_length=512)] = "",
    error: Annotated[str, Query(max_length=256)] = "",
) -> RedirectResponse:
    gate = _gate(request)
    client = _oidc(gate)
    info = request_info(request)
    info.audit, info.via, info.actor = True, "oidc", "-"
    if error:
        info.outcome = "failed"
        raise unauthenticated(f"the identity provider answered {error}", "error", "oidc")
    try:
        claims, next_path = await client.finish(
            code, state, request.cookies.get(FLOW_COOKIE, ""), _callback_url(request)
        )
    except Exception:
        info.outcome = "failed"
        raise
    user = await _oidc_user(gate, client, claims)
    info.actor = user.username
    if user.disabled:
        info.outcome = "failed"
        info.detail["reason"] = "disabled"
        raise unauthenticated("the account is disabled", "username", "account")
    session = await gate.start_session(user, "oidc")
    info.outcome = "ok"
    response = RedirectResponse(next_path, status_code=302)
    _set_session_cookies(response, gate, session, gate.csrf_token(session.family))
    response.delete_cookie(FLOW_COOKIE, path=OIDC_PATH, secure=gate.settings.cookie_secure, httponly=True)
    return response


async def _oidc_user(gate: Gate, client: OidcClient, claims: dict[str, Any]) -> UserRecord:
    """The user of an ID token: matched by ``issuer|sub``, else created from the role and sites claims;
    an existing user's role and sites follow the claims when the token carries them."""
    subject = f"{claims['iss']}|{claims['sub']}"
    role_claim = claims.get(client.role_claim)
    sites_claim = claims.get(client.sites_claim)
    role: Role | None = None
    if isinstance(role_claim, str):
        try:
            role = parse_role(role_claim)
        except GridTwinError:
            role = None
    sites: list[str] | None = None
    if isinstance(sites_claim, list):
        sites = [str(s) for s in sites_claim]
    elif isinstance(sites_claim, str):
        sites = [s for s in re.split(r"[\s,]+", sites_claim) if s]
    store = gate.store
    user = await asyncio.to_thread(store.user_by_oidc, subject)
    if user is None:
        base = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])
        base = re.sub(r"[^A-Za-z0-9_.@-]", "_", base)[:56] or "oidc"
        name = base
        for i in range(2, 100):
            if await asyncio.to_thread(store.find_user, name) is None:
                break
            name = f"{base}-{i}"
        user = await asyncio.to_thread(
            partial(store.create_user, name, "", role or Role.VIEWER, sites or [], oidc_subject=subject)
        )
        await gate.audit(
            AuditEntry(actor=name, via="oidc", action="users.create_oidc", outcome="ok", resource=name,
                       detail={"role": user.role.value, "sites": sorted(user.sites)})
        )  # fmt: skip
    elif (role is not None and role != user.role) or (sites is not None and frozenset(sites) != user.sites):
        user = await asyncio.to_thread(partial(store.update_user, user.username, role=role, sites=sites))
        gate.forget_user(user.username)
    return user


__all__ = ["router"]
