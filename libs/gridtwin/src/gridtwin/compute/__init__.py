"""Jobs on Dask: one task per feeder, checkpointed per feeder, progress on Redis pub/sub.

Modules: ``cluster`` (the Dask client for GRIDTWIN_DASK), ``kube`` (the DaskCluster resource),
``qsts_task`` (what runs on a worker), ``runner`` (JobRunner), ``events`` (progress), ``specs``
(QstsSpec as JSON), ``manifest`` (run.json). ``runner`` imports the stores lazily through this
package's ``__getattr__`` so that workers importing ``qsts_task`` do not load SQL code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridtwin.compute.cluster import ClusterHandle, close_client, make_client, make_cluster
from gridtwin.compute.events import JobEvents, JobSubscription
from gridtwin.compute.kube import make_kube_cluster_spec
from gridtwin.compute.qsts_task import FeederTask, TaskOutcome, run_feeder_qsts
from gridtwin.compute.specs import qsts_params, spec_from_json, spec_to_json

if TYPE_CHECKING:
    from gridtwin.compute.runner import JobRunner

__all__ = [
    "ClusterHandle",
    "FeederTask",
    "JobEvents",
    "JobRunner",
    "JobSubscription",
    "TaskOutcome",
    "close_client",
    "make_client",
    "make_cluster",
    "make_kube_cluster_spec",
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
