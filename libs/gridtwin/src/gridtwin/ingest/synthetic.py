"""The synthetic utility written into any ``TwinSink``, as the Ingestion service streams it: the
request's limits, and progress that carries how many twins have landed so far."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gridtwin.access.principal import Principal
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.source import TwinSink
from gridtwin.grid.synth import write_synthetic_utility
from gridtwin.store.profiles import ProfileStore
from gridtwin.store.sites import check_writable

__all__ = ["MAX_SYNTH_FEEDERS", "SYNTH_SITE", "CountingSink", "check_synthetic_request", "write_synthetic"]

SYNTH_SITE = "synth"
MAX_SYNTH_FEEDERS = 5000

# (feeders done, feeders in all, the feeder just written, twins written so far)
SyntheticProgress = Callable[[int, int, str, int], None]


class CountingSink:
    """A ``TwinSink`` that passes every write on and counts the twins that landed."""

    def __init__(self, sink: TwinSink) -> None:
        self.sink = sink
        self.twins = 0

    def bulk_upsert(
        self,
        twin_docs: Sequence[Any],
        relationship_docs: Sequence[Any] = (),
        replace_feeder: str | None = None,
    ) -> tuple[int, int]:
        n_twins, n_rels = self.sink.bulk_upsert(twin_docs, relationship_docs, replace_feeder)
        self.twins += int(n_twins)
        return n_twins, n_rels


def check_synthetic_request(feeders: int, seed: int, site: str) -> None:
    """An ``InputError`` naming every bad field of a synthetic utility request."""
    details = []
    if not 1 <= feeders <= MAX_SYNTH_FEEDERS:
        details.append(ErrorDetail(where="feeders", message=f"must be 1..{MAX_SYNTH_FEEDERS}, not {feeders}"))
    if seed < 0:
        details.append(ErrorDetail(where="seed", message="must be >= 0"))
    if not site.replace("-", "").replace("_", "").replace(".", "").isalnum() or len(site) > 128:
        details.append(ErrorDetail(where="site", message="must match [A-Za-z0-9_.-]{1,128}"))
    if details:
        raise InputError("bad synthetic utility request", details)


def write_synthetic(
    sink: TwinSink,
    profiles: ProfileStore,
    feeders: int,
    seed: int,
    *,
    site: str = SYNTH_SITE,
    progress: SyntheticProgress | None = None,
    principal: Principal | None = None,
) -> list[str]:
    """Check the request (``site`` must be ``principal``'s), then write the utility (profiles, then one
    all-or-nothing write per feeder); ``progress`` after each feeder. Returns the feeder ids."""
    check_synthetic_request(feeders, seed, site)
    check_writable(principal, [site])
    counting = CountingSink(sink)

    def each(done: int, total: int, feeder: str) -> None:
        if progress is not None:
            progress(done, total, feeder, counting.twins)

    return write_synthetic_utility(counting, profiles, feeders, seed, site=site, progress=each)
