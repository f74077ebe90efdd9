"""One way to a feeder: the ``FeederSource`` interface every service and job gets feeder models from,
``TwinSink`` where feeders are written, and the in-core implementation over a ``TwinRegistry``.

Twins become a feeder model here, in the core (``RegistryFeeders``), not in a servicer: the registry
service serves this over gRPC and its typed client (``gridtwin.rpc.registry_client``) implements the
same interface on the other side, so core code (jobs, studies, imports) never knows which it has.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any, Protocol

import pyarrow as pa

from gridtwin.access.principal import Principal
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.twins import twins_to_feeder
from gridtwin.twin.records import FEEDER_RE, FeederInfo
from gridtwin.twin.registry import TwinRegistry

__all__ = ["MAX_FEEDERS", "FeederSource", "RegistryFeeders", "TwinSink", "check_feeder_id", "select_feeders"]

MAX_FEEDERS = 20_000


class FeederSource(Protocol):
    """Where feeder models come from (the registry, in this process or over gRPC)."""

    def feeder_model(self, feeder: str) -> FeederModel:
        """The feeder's model as stored now, ``version`` set; ``NotFoundError`` if it has no twins."""
        ...

    def feeder_ipc(self, feeder: str) -> bytes:
        """The same model as Arrow IPC (``FeederModel.to_ipc``), as a job ships it to a worker."""
        ...

    def feeder_version(self, feeder: str) -> str:
        """The feeder's current version (changes whenever any of its twins does), without an export."""
        ...

    def list_feeders(self, site: str | None = None) -> list[FeederInfo]:
        """Feeders that have twins, of one site or all, sorted by id."""
        ...


class TwinSink(Protocol):
    """Where feeders are written: a ``TwinRegistry``, or the registry's typed gRPC client."""

    def bulk_upsert(
        self,
        twin_docs: Sequence[Any],
        relationship_docs: Sequence[Any] = (),
        replace_feeder: str | None = None,
    ) -> tuple[int, int]: ...


def _version_of(table: pa.Table) -> str:
    meta = table.schema.metadata or {}
    return meta.get(b"feeder_version", b"").decode()


class RegistryFeeders:
    """``FeederSource`` over a local ``TwinRegistry``: one export (twins only) -> the feeder model.

    ``principal``: whose feeders these are (another site's feeders are not found, lists hold only the
    caller's sites); None for a trusted caller in the process."""

    def __init__(self, registry: TwinRegistry, principal: Principal | None = None) -> None:
        self.registry = registry
        self.principal = principal

    def feeder_model(self, feeder: str) -> FeederModel:
        check_feeder_id(feeder)
        # The feeder model is rebuilt from the twins' properties alone: skip the relationships.
        twins, rels = self.registry.export_feeder(feeder, with_relationships=False, principal=self.principal)
        model = twins_to_feeder(feeder, twins, rels)
        model.version = _version_of(twins)
        return model

    def feeder_ipc(self, feeder: str) -> bytes:
        return self.feeder_model(feeder).to_ipc()

    def feeder_version(self, feeder: str) -> str:
        check_feeder_id(feeder)
        return self.registry.feeder_version(feeder, principal=self.principal)

    def list_feeders(self, site: str | None = None) -> list[FeederInfo]:
        return self.registry.list_feeders(site or None, principal=self.principal)


def check_feeder_id(feeder: str, where: str = "feeder") -> str:
    """``feeder`` if it is a valid feeder id, else an ``InputError`` naming ``where``."""
    if not FEEDER_RE.fullmatch(feeder or ""):
        raise InputError(
            "bad feeder id" if feeder else "feeder is required",
            [ErrorDetail(where=where, message=f"{feeder!r} must match [A-Za-z0-9_-]{{1,64}}")],
        )
    return feeder


def select_feeders(source: FeederSource, feeders: Sequence[str], site: str, glob: str) -> list[str]:
    """Which feeders a job request means: explicit ids, or a site and/or an fnmatch pattern over the
    source's feeders. Errors name the field: bad or duplicate ids, both ways at once, nothing selected."""
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
        chosen = sorted(
            f.id
            for f in source.list_feeders(site or None)
            if f.twin_count > 0 and (not glob or fnmatch.fnmatchcase(f.id, glob))
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
