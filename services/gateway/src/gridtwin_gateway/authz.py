"""Which permission every route needs: ONE table, (method, path template) -> a permission of
``gridtwin.access.roles.MATRIX``, or None for the few public routes.

The gateway's guard (``auth.guard``, a dependency of every route) looks the matched route up here and
refuses what the caller's role does not hold; a route missing from the table is refused to everyone
(and a test fails on it). WebSockets are keyed ``WS``. ``docs/SECURITY.md`` prints the matrix and this
table from the same code (``security_markdown``; a test keeps the file equal to it)::

    uv run --frozen python -m gridtwin_gateway.security_doc > docs/SECURITY.md
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from gridtwin.access.roles import MATRIX, ROLES, matrix_markdown

__all__ = [
    "LONG_ROUTES",
    "PUBLIC_PATHS",
    "ROUTE_PERMISSIONS",
    "UPLOAD_ROUTES",
    "iter_app_routes",
    "permission_for",
    "route_table_markdown",
    "security_markdown",
]

API = "/api/v1"

# (method, path template) -> permission (None: public). Keep it grouped by area.
ROUTE_PERMISSIONS: Final[dict[tuple[str, str], str | None]] = {
    # probes and docs
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/openapi.json"): None,
    ("GET", "/docs"): None,
    ("GET", "/docs/oauth2-redirect"): None,
    ("GET", "/redoc"): None,
    ("GET", "/static-offline-docs"): None,
    # logging in
    ("POST", f"{API}/auth/token"): None,
    ("POST", f"{API}/auth/refresh"): None,
    ("POST", f"{API}/auth/session"): None,
    ("PUT", f"{API}/auth/session"): None,  # renews a cookie session (refresh cookie + CSRF header)
    ("DELETE", f"{API}/auth/session"): None,  # ends a cookie session (refresh cookie + CSRF header)
    ("GET", f"{API}/auth/oidc/login"): None,
    ("GET", f"{API}/auth/oidc/callback"): None,
    ("GET", f"{API}/auth/me"): "account.self",
    ("POST", f"{API}/auth/logout"): "account.self",
    ("POST", f"{API}/auth/password"): "account.self",
    # users, keys, audit
    ("GET", f"{API}/users"): "users.admin",
    ("POST", f"{API}/users"): "users.admin",
    ("GET", f"{API}/users/{{username}}"): "users.admin",
    ("PATCH", f"{API}/users/{{username}}"): "users.admin",
    ("DELETE", f"{API}/users/{{username}}"): "users.admin",
    ("GET", f"{API}/keys"): "account.self",  # one's own; ?owner= needs users.admin too
    ("POST", f"{API}/keys"): "account.self",
    ("DELETE", f"{API}/keys/{{key_id}}"): "account.self",  # one's own; others' need users.admin
    ("GET", f"{API}/audit"): "audit.read",
    # feeders
    ("GET", f"{API}/feeders"): "feeders.read",
    ("DELETE", f"{API}/feeders/{{feeder}}"): "feeders.delete",
    ("POST", f"{API}/feeders/import"): "feeders.import",
    ("POST", f"{API}/feeders/import-path"): "feeders.import",
    ("POST", f"{API}/feeders/import-cyme"): "feeders.import",
    ("POST", f"{API}/feeders/import-cyme-path"): "feeders.import",
    ("POST", f"{API}/feeders/synthetic"): "feeders.import",
    ("POST", f"{API}/feeders/{{feeder}}/gis"): "feeders.import",
    ("POST", f"{API}/feeders/{{feeder}}/gis-path"): "feeders.import",
    ("POST", f"{API}/gis"): "feeders.import",
    ("GET", f"{API}/feeders/{{feeder}}/snapshot"): "powerflow.run",
    ("POST", f"{API}/feeders/{{feeder}}/snapshot"): "powerflow.run",
    ("POST", f"{API}/feeders/{{feeder}}/validate"): "powerflow.run",
    # twins and the ontology
    ("GET", f"{API}/twins"): "twins.read",
    ("POST", f"{API}/twins"): "twins.write",
    ("GET", f"{API}/twins/{{twin_id}}"): "twins.read",
    ("PUT", f"{API}/twins/{{twin_id}}"): "twins.write",
    ("PATCH", f"{API}/twins/{{twin_id}}"): "twins.write",
    ("DELETE", f"{API}/twins/{{twin_id}}"): "twins.write",
    ("GET", f"{API}/twins/{{twin_id}}/relationships"): "twins.read",
    ("GET", f"{API}/twins/{{twin_id}}/traverse"): "twins.read",
    ("GET", f"{API}/models"): "models.read",
    ("POST", f"{API}/models"): "models.write",
    # jobs
    ("GET", f"{API}/jobs"): "jobs.read",
    ("POST", f"{API}/jobs"): "jobs.run",
    ("GET", f"{API}/jobs/{{job_id}}"): "jobs.read",
    ("POST", f"{API}/jobs/{{job_id}}/cancel"): "jobs.cancel",
    ("GET", f"{API}/jobs/{{job_id}}/results"): "jobs.read",
    ("GET", f"{API}/jobs/{{job_id}}/worst"): "jobs.read",
    ("GET", f"{API}/jobs/{{job_id}}/compare/{{base_job_id}}"): "jobs.read",
    ("WS", f"{API}/jobs/{{job_id}}/events"): "jobs.read",
    ("GET", f"{API}/diff"): "jobs.read",
    # scenarios
    ("POST", f"{API}/scenarios/validate"): "scenarios.write",
    ("GET", f"{API}/scenarios"): "scenarios.read",
    ("POST", f"{API}/scenarios"): "scenarios.write",
    ("GET", f"{API}/scenarios/{{scenario_id}}"): "scenarios.read",
    ("PUT", f"{API}/scenarios/{{scenario_id}}"): "scenarios.write",
    ("DELETE", f"{API}/scenarios/{{scenario_id}}"): "scenarios.write",
    ("POST", f"{API}/scenarios/{{scenario_id}}/run"): "scenarios.run",
    ("POST", f"{API}/scenarios/{{scenario_id}}/sweep"): "scenarios.run",
    ("GET", f"{API}/sweeps/{{sweep_id}}"): "scenarios.read",
    # hosting capacity
    ("GET", f"{API}/feeders/{{feeder}}/hosting-capacity"): "hosting.read",
    ("POST", f"{API}/feeders/{{feeder}}/hosting-capacity"): "hosting.run",
    ("POST", f"{API}/feeders/{{feeder}}/hosting-capacity/check"): "hosting.run",
    ("POST", f"{API}/hosting/stochastic"): "hosting.run",
    ("GET", f"{API}/hosting/stochastic/{{job_id}}"): "hosting.read",
    # measurements
    ("POST", f"{API}/uploads"): "measurements.import",
    ("POST", f"{API}/imports/meters"): "measurements.import",
    ("POST", f"{API}/imports/ami"): "measurements.import",
    ("POST", f"{API}/imports/oms"): "measurements.import",
    ("POST", f"{API}/imports/weather"): "measurements.import",
    ("GET", f"{API}/imports"): "measurements.read",
    ("GET", f"{API}/imports/{{import_id}}"): "measurements.read",
    ("POST", f"{API}/ami/allocate"): "measurements.import",
    ("GET", f"{API}/feeders/{{feeder}}/load-summary"): "measurements.read",
    ("GET", f"{API}/reliability"): "measurements.read",
}

# Bodies that are files, not JSON: limited by their own upload limits (max_upload_bytes,
# max_ami_upload_bytes), not by max_json_bytes.
UPLOAD_ROUTES: Final = frozenset(
    {
        ("POST", f"{API}/feeders/import"),
        ("POST", f"{API}/feeders/import-cyme"),
        ("POST", f"{API}/feeders/{{feeder}}/gis"),
        ("POST", f"{API}/gis"),
        ("POST", f"{API}/uploads"),
    }
)

# Routes whose back-end call has a long deadline of its own (imports of a utility's AMI year, large
# uploads, synthetic utilities, exact hosting studies): the request time limit is then the larger of
# request_timeout_s and LONG_ROUTE_S (their own deadlines still apply).
LONG_ROUTE_S: Final = 6 * 3600.0
LONG_ROUTES: Final = UPLOAD_ROUTES | frozenset(
    {
        ("POST", f"{API}/feeders/synthetic"),
        ("POST", f"{API}/feeders/{{feeder}}/hosting-capacity"),
        ("POST", f"{API}/feeders/{{feeder}}/hosting-capacity/check"),
        ("POST", f"{API}/feeders/import-path"),
        ("POST", f"{API}/feeders/import-cyme-path"),
        ("POST", f"{API}/feeders/{{feeder}}/gis-path"),
        ("POST", f"{API}/imports/meters"),
        ("POST", f"{API}/imports/ami"),
        ("POST", f"{API}/imports/oms"),
        ("POST", f"{API}/imports/weather"),
        ("POST", f"{API}/ami/allocate"),
    }
)

# Paths answered without credentials whatever the method (the docs' static assets among them).
PUBLIC_PATHS: Final = frozenset(path for (_, path), perm in ROUTE_PERMISSIONS.items() if perm is None)


def permission_for(method: str, template: str) -> str | None:
    """The permission a route needs (None: public); ``KeyError`` for a route with no entry."""
    key = ("GET" if method == "HEAD" else method, template)
    return ROUTE_PERMISSIONS[key]


def iter_app_routes(app: Any) -> Iterator[tuple[str, str]]:
    """Every (method, path template) the app serves, WebSockets as ``WS`` and mounts as ``GET``
    (walks FastAPI's included routers, whatever their wrapper)."""

    def walk(routes: Any, prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:  # an included router
                context = getattr(route, "include_context", None)
                yield from walk(original.routes, prefix + str(getattr(context, "prefix", "") or ""))
                continue
            path = prefix + str(getattr(route, "path", ""))
            methods = getattr(route, "methods", None)
            if methods:
                yield from ((m, path) for m in sorted(methods) if m != "HEAD")
            elif type(route).__name__.endswith("WebSocketRoute"):
                yield ("WS", path)
            elif hasattr(route, "routes") or hasattr(route, "app"):  # a mount (static files)
                yield ("GET", path)

    yield from walk(app.router.routes, "")


def route_table_markdown() -> str:
    """The route table as Markdown: every route, its permission and the roles holding it."""
    head = "| method | route | permission | " + " | ".join(ROLES) + " |\n|---|---|---|" + "---|" * len(ROLES)
    rows = []
    for (method, path), perm in ROUTE_PERMISSIONS.items():
        if perm is None:
            marks = ["public"] * len(ROLES)
            shown = "— (public)"
        else:
            roles = MATRIX[perm][0]
            marks = ["yes" if r in roles else "" for r in ROLES]
            shown = f"`{perm}`"
        rows.append(f"| {method} | `{path}` | {shown} | " + " | ".join(marks) + " |")
    return head + "\n" + "\n".join(rows) + "\n"


SECURITY_INTRO = """# Security

Generated from the code (`gridtwin.access.roles.MATRIX` and `gridtwin_gateway.authz.ROUTE_PERMISSIONS`);
a test keeps this file equal to what they print. Regenerate it with
`uv run --frozen python -m gridtwin_gateway.security_doc > docs/SECURITY.md`.

## Who may call

Every route but the public ones needs credentials, one of:

- `Authorization: Bearer <access token>`: a short-lived JWT from `POST /api/v1/auth/token` (OAuth2
  password grant; form fields `username`, `password`, `grant_type=password`). It comes with a refresh token
  for `POST /api/v1/auth/refresh` (`{"refresh_token"}`; each use returns a new pair and spends the old one;
  a spent one used again ends the whole session family). `POST /api/v1/auth/logout` (`{"refresh_token"}`)
  ends the session: its access tokens are refused at once.
- `Authorization: Bearer gtk_...` or `X-API-Key: gtk_...`: an API key (`POST /api/v1/keys`), with a role
  and sites at most its creator's (and never more than its owner holds now).
- A browser session: `POST /api/v1/auth/session` (same form) sets the httpOnly SameSite=Strict cookies
  `gridtwin_access` and `gridtwin_refresh` and a readable `gridtwin_csrf`; every unsafe request
  (POST, PUT, PATCH, DELETE) made with the cookie must send the header `X-CSRF-Token` equal to it.
  `PUT /api/v1/auth/session` renews the session, `DELETE /api/v1/auth/session` ends it.
- OIDC (when `GRIDTWIN_OIDC_ISSUER` is set): `GET /api/v1/auth/oidc/login?next=/path` sends the browser to
  the identity provider (authorization code with PKCE, state and nonce checked, ID token verified against
  the provider's keys); the callback starts a browser session for the user matched by `issuer|sub`, or
  creates one with the role and sites of the `GRIDTWIN_OIDC_ROLE_CLAIM` / `GRIDTWIN_OIDC_SITES_CLAIM`
  claims.

Answers: 401 (with `WWW-Authenticate: Bearer`) without valid credentials, for an expired or forged token,
a disabled or removed user, or a session that was logged out; 403 when the role does not hold the route's
permission (or a cookie request lacks its CSRF header); 423 (with `Retry-After`) for a login to an account
locked after `GRIDTWIN_LOGIN_MAX_FAILURES` failed logins in a row, for `GRIDTWIN_LOGIN_LOCK_S` seconds; 429
(with `Retry-After`) when the caller's or the address's request budget is spent. Another site's resources
answer 404, as if they did not exist.

## Limits

Per user and per address, token buckets in Redis (`GRIDTWIN_RATE_LIMIT_PER_S` / `_BURST`,
`GRIDTWIN_RATE_LIMIT_IP_PER_S` / `_IP_BURST`); JSON bodies up to `GRIDTWIN_MAX_JSON_BYTES` (413 beyond),
uploads up to their own limits; a request may take `GRIDTWIN_REQUEST_TIMEOUT_S` (504 beyond; imports,
uploads, synthetic utilities and exact hosting studies up to 6 hours); queued or running jobs per site
up to `GRIDTWIN_SITE_MAX_RUNNING_JOBS`. Browser origins are allowed only when listed in
`GRIDTWIN_CORS_ORIGINS`. Every answer carries `X-Content-Type-Options: nosniff`, `Referrer-Policy:
no-referrer`, `X-Frame-Options: DENY` and a Content-Security-Policy (`default-src 'none'` for the API; the
docs pages may load their own scripts and styles), and `Strict-Transport-Security` when served over TLS
(`GRIDTWIN_TLS_CERT` / `GRIDTWIN_TLS_KEY`).

## Audit

Every login (ok, failed, locked), every refusal (401, 403, 429) and every write (any method but GET) is a
row of the append-only audit log: actor, how they authenticated, `METHOD /route/template`, the path, the
site when known, outcome, status, address, request id and trace id. Admins read it at `GET /api/v1/audit`;
no route edits or deletes it (the database refuses it too).

## Behind the gateway

The gateway signs a short-lived internal token (`GRIDTWIN_INTERNAL_SECRET`) for the caller on every gRPC
call; each service verifies it, checks the RPC's permission (`gridtwin.rpc.authz.RPC_PERMISSIONS`) and
filters every read and write by the caller's sites.

## Roles and permissions
"""


def security_markdown() -> str:
    """The whole of ``docs/SECURITY.md``."""
    return (
        SECURITY_INTRO
        + "\n"
        + matrix_markdown()
        + "\n## Routes\n\nWebSockets are listed as `WS`.\n\n"
        + route_table_markdown()
    )
