"""The exception tree. Every error GridTwin raises on purpose is a ``GridTwinError``::

    GridTwinError
    ├── InputError                 bad input from a user: file, line or field named in ``where``
    │   ├── DssInputError          an OpenDSS script that does not compile or cannot be mapped
    │   ├── DtdlError              a DTDL model set that breaks the language's rules
    │   ├── TwinValidationError    a twin (or batch) that does not match its interface
    │   └── UnsafeArchiveError     zip bombs, path traversal, symlinks, oversize uploads
    ├── AccessDeniedError          the caller may not do this (e.g. read a server path outside the allowed roots)
    ├── NotAuthenticatedError      no, or no valid, credentials: a missing, expired or forged token or key
    ├── RateLimitedError           too many requests or jobs: try again after ``retry_after_s``
    ├── NotFoundError              a twin, model, feeder or job that does not exist
    ├── ConflictError              an etag mismatch or an id that already exists
    ├── EngineError                OpenDSS failed at run time
    │   └── NotConvergedError      the power flow did not converge
    └── UpstreamError              an outside service (e.g. the weather API) timed out or failed

Services map these to gRPC status codes only at their boundary (``gridtwin.rpc.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ErrorDetail:
    """One problem, located: ``where`` is a file:line, a twin id, a JSON path or a field name."""

    where: str
    message: str
    code: str = "invalid"

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message, "code": self.code}


class GridTwinError(Exception):
    def __init__(self, message: str, details: list[ErrorDetail] | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[ErrorDetail] = list(details or [])
        self.context: dict[str, Any] = dict(context)

    def __str__(self) -> str:
        if not self.details:
            return self.message
        shown = "; ".join(f"{d.where}: {d.message}" for d in self.details[:20])
        more = f" (+{len(self.details) - 20} more)" if len(self.details) > 20 else ""
        return f"{self.message}: {shown}{more}"


class InputError(GridTwinError):
    pass


class DssInputError(InputError):
    pass


class DtdlError(InputError):
    pass


class TwinValidationError(InputError):
    pass


class UnsafeArchiveError(InputError):
    pass


class AccessDeniedError(GridTwinError):
    pass


class NotAuthenticatedError(GridTwinError):
    pass


class RateLimitedError(GridTwinError):
    """A quota or rate limit was hit; ``retry_after_s`` says when to try again."""

    def __init__(
        self, message: str, details: list[ErrorDetail] | None = None, retry_after_s: float = 1.0
    ) -> None:
        super().__init__(message, details)
        self.retry_after_s = retry_after_s


class NotFoundError(GridTwinError):
    pass


class ConflictError(GridTwinError):
    pass


class EngineError(GridTwinError):
    pass


class NotConvergedError(EngineError):
    pass


class UpstreamError(GridTwinError):
    pass


@dataclass
class Report:
    """An import or validation report: what was mapped, what was skipped and why."""

    source: str
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[ErrorDetail] = field(default_factory=list)
    unmapped: list[ErrorDetail] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "counts": dict(self.counts),
            "warnings": [w.to_dict() for w in self.warnings],
            "unmapped": [u.to_dict() for u in self.unmapped],
        }
