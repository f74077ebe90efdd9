"""The roles and the permission matrix (the REMHART split: admin, operator, analyst, viewer).

One table, ``MATRIX``: permission -> the roles that hold it. The gateway maps every route, WebSocket and
upload to one permission (a test fails on a route without one), the services check the same permission
per RPC, and the docs' table is printed from here (``matrix_markdown``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from gridtwin.errors import ErrorDetail, InputError

__all__ = ["MATRIX", "PERMISSIONS", "ROLES", "Role", "allows", "matrix_markdown", "parse_role"]


class Role(StrEnum):
    ADMIN = "admin"  # everything, including users, keys, the ontology and the audit log
    OPERATOR = "operator"  # brings data in and changes the twin graph; runs studies
    ANALYST = "analyst"  # runs studies and scenarios on what is there; changes no twin
    VIEWER = "viewer"  # reads
    SERVICE = "service"  # the platform's own processes (gateway -> services, jobs): never a user's role


ROLES: Final = (Role.ADMIN, Role.OPERATOR, Role.ANALYST, Role.VIEWER)
_READ = frozenset(ROLES)
_RUN = frozenset({Role.ADMIN, Role.OPERATOR, Role.ANALYST})
_WRITE = frozenset({Role.ADMIN, Role.OPERATOR})
_ADMIN = frozenset({Role.ADMIN})

# permission -> roles holding it, and what it covers (the docs' table).
MATRIX: Final[dict[str, tuple[frozenset[Role], str]]] = {
    "twins.read": (_READ, "read twins, relationships, queries and traversals"),
    "twins.write": (_WRITE, "create, replace, patch and delete twins"),
    "models.read": (_READ, "read the DTDL ontology"),
    "models.write": (_ADMIN, "upload DTDL models"),
    "feeders.read": (_READ, "list feeders"),
    "feeders.import": (_WRITE, "import OpenDSS, CYME and GIS data; generate synthetic feeders"),
    "feeders.delete": (_WRITE, "delete a feeder and its twins"),
    "powerflow.run": (_RUN, "snapshot power flow, validation against another tool"),
    "jobs.read": (_READ, "jobs, their progress events and results, comparisons and diffs"),
    "jobs.run": (_RUN, "start QSTS jobs"),
    "jobs.cancel": (_RUN, "cancel jobs"),
    "scenarios.read": (_READ, "read scenarios and sweeps"),
    "scenarios.write": (_RUN, "create, update, delete and validate scenarios"),
    "scenarios.run": (_RUN, "run scenarios and sweeps"),
    "hosting.read": (_READ, "stored hosting-capacity results"),
    "hosting.run": (_RUN, "per-bus studies, connection checks, stochastic jobs"),
    "measurements.read": (_READ, "imports, load summaries, reliability"),
    "measurements.import": (_WRITE, "upload files; import meters, AMI, OMS, weather; allocate load"),
    "account.self": (_READ, "one's own account: password, API keys, logout"),
    "users.admin": (_ADMIN, "users, their roles and sites, everyone's API keys"),
    "audit.read": (_ADMIN, "query the audit log"),
}
PERMISSIONS: Final = tuple(MATRIX)


def allows(role: Role | str, permission: str) -> bool:
    """Whether ``role`` holds ``permission`` (the platform's own service role holds every one)."""
    if permission not in MATRIX:
        raise KeyError(f"unknown permission {permission!r}")
    if role == Role.SERVICE:
        return True
    return Role(role) in MATRIX[permission][0]


def parse_role(text: str) -> Role:
    """A user's role by name (``service`` is not a user's role)."""
    name = text.strip().lower()
    if name not in {r.value for r in ROLES}:
        names = ", ".join(ROLES)
        raise InputError("unknown role", [ErrorDetail(where="role", message=f"{text!r}: one of {names}")])
    return Role(name)


def matrix_markdown() -> str:
    """The matrix as a Markdown table (docs are printed from the same table the code enforces)."""
    head = "| permission | " + " | ".join(ROLES) + " | covers |\n|---|" + "---|" * len(ROLES) + "---|\n"
    rows = [
        f"| `{name}` | " + " | ".join("yes" if r in roles else "" for r in ROLES) + f" | {what} |"
        for name, (roles, what) in MATRIX.items()
    ]
    return head + "\n".join(rows) + "\n"
