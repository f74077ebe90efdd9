"""Site scoping shared by the stores and the core: the SQL clause that limits rows to a caller's sites,
the check every write makes, and the site an import lands in when its request names none.

The rules (docs/CONTRACTS.md, "Site isolation"):

- A resource of another site does not exist for the caller: reads and writes of it answer
  ``NotFoundError`` exactly as for a missing one, and lists never hold it.
- Creating, importing or moving something into a site the caller does not hold is refused (403,
  ``SitesDenied``).
- An item without a site ("" or None: the DTDL ontology, a twin created without one, a scenario saved
  for everyone) is shared: every caller with the read permission sees it, but only a principal holding
  every site (``ALL_SITES``: admins, the platform's own processes) may create, change or delete one, so
  a caller of one site cannot write what another site reads.
- ``principal=None`` in a core call means a trusted caller inside the process (a job thread, a test of
  the core): nothing is filtered. Services always pass the call's verified principal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from gridtwin.access.principal import Principal, SitesDenied
from gridtwin.errors import ErrorDetail

__all__ = ["check_writable", "landing_site", "site_clause", "site_filter"]


def site_filter(principal: Principal | None) -> frozenset[str] | None:
    """The sites a query is limited to (None: every site; also for a trusted caller)."""
    return None if principal is None else principal.site_filter()


def site_clause(column: Any, sites: frozenset[str] | None) -> sa.ColumnElement[bool] | None:
    """Rows of ``sites`` and shared (site-less) rows; None when nothing is to be filtered."""
    if sites is None:
        return None
    clauses: list[sa.ColumnElement[bool]] = [column.is_(None), column == ""]
    if sites:
        clauses.append(column.in_(sorted(sites)))
    return sa.or_(*clauses)


def check_writable(principal: Principal | None, sites: Iterable[str | None], where: str = "site") -> None:
    """A write touching items of ``sites``: each must be one of the caller's sites (``SitesDenied``,
    403, naming the missing ones), and a shared (site-less) item needs a principal of every site."""
    if principal is None or principal.all_sites:
        return
    given = list(sites)
    principal.may_create_in([s for s in given if s], where)
    if any(not s for s in given):
        raise SitesDenied(
            "site required",
            [
                ErrorDetail(
                    where=where,
                    message="name one of your sites (items without a site are shared by every site: "
                    "only a user of every site may write them)",
                    code="site",
                )
            ],
        )


def landing_site(principal: Principal | None, given: str, fallback: str) -> str:
    """The site a write lands in: the one the request names; else the caller's site when it holds
    exactly one; else ``fallback`` (checked like any other by ``check_writable`` afterwards)."""
    if given:
        return given
    if principal is not None and not principal.all_sites and len(principal.sites) == 1:
        return next(iter(principal.sites))
    return fallback
