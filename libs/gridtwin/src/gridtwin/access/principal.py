"""Who is calling: a ``Principal`` (a user, an API key, or one of the platform's own processes) with a
role and the sites it may see. Every store and service takes one and filters by its sites.

Another site's resources are answered as not found (their existence does not leak); creating something
in a site the caller does not have is refused (403). A principal with ``ALL_SITES`` sees every site.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gridtwin.access.roles import Role, allows
from gridtwin.errors import AccessDeniedError, ErrorDetail, NotFoundError

__all__ = ["ALL_SITES", "Principal", "SitesDenied", "system_principal"]

ALL_SITES: Final = "*"


class SitesDenied(AccessDeniedError):
    """The caller does not hold a site the request names."""


@dataclass(frozen=True)
class Principal:
    subject: str  # a user name, "key:<prefix>" for an API key, "service:<name>" for a process
    role: Role
    sites: frozenset[str] = field(default_factory=frozenset)  # ALL_SITES among them: every site
    via: str = "password"  # password | refresh | api_key | oidc | service
    request_id: str = ""

    @property
    def all_sites(self) -> bool:
        return ALL_SITES in self.sites

    def allows(self, permission: str) -> bool:
        return allows(self.role, permission)

    def require(self, permission: str) -> None:
        """``AccessDeniedError`` (403) unless the role holds ``permission``."""
        if not self.allows(permission):
            raise AccessDeniedError(
                "not allowed",
                [
                    ErrorDetail(
                        where=permission, message=f"role {self.role.value} may not do this", code="forbidden"
                    )
                ],
            )

    def sees(self, site: str | None) -> bool:
        """Whether a resource of ``site`` is visible (site-less ones, like the ontology, are)."""
        return not site or self.all_sites or site in self.sites

    def site_filter(self) -> frozenset[str] | None:
        """The sites a query must be limited to; None when every site is visible."""
        return None if self.all_sites else self.sites

    def visible(self, site: str | None, what: str) -> None:
        """``NotFoundError`` naming ``what`` when its ``site`` is not visible (reads and writes of an
        existing resource): to the caller it does not exist."""
        if not self.sees(site):
            raise NotFoundError(
                "not found", [ErrorDetail(where=what, message="no such item", code="not_found")]
            )

    def may_create_in(self, sites: Iterable[str], where: str = "site") -> None:
        """``SitesDenied`` (403) naming the sites the caller does not hold (creating or importing)."""
        missing = sorted({s for s in sites if not self.sees(s)})
        if missing:
            raise SitesDenied(
                "site not allowed",
                [
                    ErrorDetail(
                        where=where, message=f"not among your sites: {', '.join(missing)}", code="site"
                    )
                ],
            )

    def to_claims(self) -> dict[str, Any]:
        return {
            "sub": self.subject,
            "role": self.role.value,
            "sites": sorted(self.sites),
            "via": self.via,
            "rid": self.request_id,
        }

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        sites = claims.get("sites") or []
        return cls(
            subject=str(claims["sub"]),
            role=Role(str(claims["role"])),
            sites=frozenset(str(s) for s in sites),
            via=str(claims.get("via") or "password"),
            request_id=str(claims.get("rid") or ""),
        )


def system_principal(name: str) -> Principal:
    """One of the platform's own processes (a service calling another, a job loading feeders)."""
    return Principal(
        subject=f"service:{name}", role=Role.SERVICE, sites=frozenset({ALL_SITES}), via="service"
    )
