"""Jobs on Dask: one task per feeder, checkpointed per feeder, progress on Redis pub/sub.

Modules: ``cluster`` (the process's Dask cluster for GRIDTWIN_DASK), ``kube`` (the DaskCluster
resource), ``kinds`` (what a job kind is), ``tasks`` (what a task returns), ``runner`` (JobRunner, which
knows no kind), ``qsts_task`` and ``hosting_task`` (the QSTS and stochastic-hosting kinds), ``events``
(progress), ``specs`` (QstsSpec as JSON), ``manifest`` (run.json). ``runner`` is imported lazily
through this package's ``__getattr__`` so that workers importing a kind do not load SQL code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridtwin.compute.cluster import (
    ClusterHandle,
    ClusterLease,
    close_client,
    lease_cluster,
    make_client,
    make_cluster,
)
from gridtwin.compute.events import JobEvents, JobSubscription
from gridtwin.compute.kinds import JobKind
from gridtwin.compute.kube import make_kube_cluster_spec
from gridtwin.compute.qsts_task import QSTS_KIND, FeederTask, qsts_job_params, qsts_kind, run_feeder_qsts
from gridtwin.compute.specs import qsts_params, spec_from_json, spec_to_json
from gridtwin.compute.tasks import TaskOutcome

if TYPE_CHECKING:
    from gridtwin.compute.runner import JobRunner

__all__ = [
    "QSTS_KIND",
    "ClusterHandle",
    "ClusterLease",
    "FeederTask",
    "JobEvents",
    "JobKind",
    "JobRunner",
    "JobSubscription",
    "TaskOutcome",
    "close_client",
    "lease_cluster",
    "make_client",
    "make_cluster",
    "make_kube_cluster_spec",
    "qsts_job_params",
    "qsts_kind",
    "qsts_params",
    "run_feeder_qsts",
    "spec_from_json",
    "spec_to_json",
]


def __getattr__(name: str) -> Any:
    if name == "JobRunner":
        from gridtwin.compute.runner import JobRunner

        return JobRunner
    raise AttributeError(name)
