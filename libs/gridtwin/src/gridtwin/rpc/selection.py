"""Which feeders a job request means: explicit ids, or a site and/or an fnmatch pattern over the
registry's feeders. Shared by every service that runs feeder jobs, so the rules and errors match."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.twin.records import FEEDER_RE

__all__ = ["MAX_FEEDERS", "select_feeders"]

MAX_FEEDERS = 20_000


def select_feeders(
    list_feeders: Callable[[str], Any], feeders: Sequence[str], site: str, glob: str
) -> list[str]:
    """``list_feeders(site)`` returns the registry's ``ListFeedersResponse``; feeders without twins are
    skipped. Errors name the field: bad or duplicate ids, both ways at once, nothing selected."""
    explicit = [str(f) for f in feeders]
    bad = [f for f in explicit if not FEEDER_RE.fullmatch(f)]
    if bad:
        raise InputError(
            "bad feeder id",
            [ErrorDetail(where="feeders", message=f"{f!r} must match [A-Za-z0-9_-]{{1,64}}") for f in bad],
        )
    if explicit and (site or glob):
        raise InputError(
            "choose feeders one way",
            [ErrorDetail(where="feeders", message="give feeder ids, or a site and/or feeder_glob, not both")],
        )
    if explicit:
        if len(set(explicit)) != len(explicit):
            raise InputError("duplicate feeder ids", [ErrorDetail(where="feeders", message="listed twice")])
        chosen = explicit
    elif site or glob:
        listed = list_feeders(site)
        chosen = sorted(
            f.id for f in listed.feeders if f.twin_count > 0 and (not glob or fnmatch.fnmatchcase(f.id, glob))
        )
        if not chosen:
            where = "feeder_glob" if glob else "site"
            raise InputError("no feeders selected", [ErrorDetail(where=where, message="matches no feeder")])
    else:
        raise InputError(
            "no feeders selected", [ErrorDetail(where="feeders", message="give feeders, site or feeder_glob")]
        )
    if len(chosen) > MAX_FEEDERS:
        raise InputError(
            "too many feeders", [ErrorDetail(where="feeders", message=f"at most {MAX_FEEDERS} per job")]
        )
    return chosen
