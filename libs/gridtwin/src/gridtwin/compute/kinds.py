"""What a job kind is, for the runner: kept apart from the runner (which loads SQL and Dask client
code) so that a worker unpickling a task imports only its kind's module and this one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gridtwin.compute.tasks import TaskOutcome

__all__ = ["JobKind", "ManifestStore", "TaskFactory"]


class ManifestStore(Protocol):
    """Where a kind keeps its jobs' run manifests (``run.json``)."""

    def read_manifest(self, job_id: str) -> dict[str, Any]: ...

    def write_manifest(self, job_id: str, manifest: dict[str, Any]) -> Any: ...


# (feeder, its model as Arrow IPC) -> the picklable task object a worker gets.
TaskFactory = Callable[[str, bytes], Any]


@dataclass(frozen=True)
class JobKind:
    """One kind of feeder job.

    ``prepare(job_id, params)`` checks a job's stored params (``InputError`` naming the field) and
    returns the ``TaskFactory`` for its feeders; ``task_fn(task)`` runs on a worker and returns a
    ``TaskOutcome``; ``rows_writer(job_id, outcome)`` is what a done feeder writes in the checkpoint
    transaction (``JobStore.task_done``); ``manifests`` keeps the run manifest.
    """

    name: str
    prepare: Callable[[str, Mapping[str, Any]], TaskFactory]
    task_fn: Callable[[Any], TaskOutcome]
    rows_writer: Callable[[str, TaskOutcome], Callable[[Any], None]]
    manifests: ManifestStore
