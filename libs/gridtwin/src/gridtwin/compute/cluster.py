"""A Dask ``distributed.Client`` for the configured cluster: local, Kubernetes or an existing scheduler.

``GRIDTWIN_DASK=local`` starts a LocalCluster of single-threaded worker *processes* (one per core;
OpenDSS contexts are not thread-safe and the engine is one per process), ``kubernetes`` asks the
dask-kubernetes operator for a ``DaskCluster`` (``kube.make_kube_cluster_spec``), and
``tcp://host:port`` connects to a running scheduler. Worker processes are spawned, never forked:
a forked child would inherit the parent's OpenDSS library state and threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import dask
import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from gridtwin.config.settings import Settings
from gridtwin.errors import ErrorDetail, InputError

__all__ = ["ClusterHandle", "WarmEngine", "close_client", "make_client", "make_cluster", "worker_count"]

log = logging.getLogger(__name__)

SPAWN = {"distributed.worker.multiprocessing-method": "spawn"}


class WarmEngine(WorkerPlugin):
    """Loads OpenDSS (through ``gridtwin._dsslib``) and creates the process's engine at worker start,
    so the first feeder task does not pay for it; the engine then stays warm between tasks."""

    name = "gridtwin-warm-engine"

    def setup(self, worker: distributed.Worker) -> None:
        from gridtwin.powerflow.engine import get_engine

        get_engine()


class ClusterHandle:
    """A client and the cluster it was made for; ``close()`` closes both (idempotent)."""

    def __init__(self, client: distributed.Client) -> None:
        self.client = client

    def close(self) -> None:
        close_client(self.client)

    def __enter__(self) -> ClusterHandle:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def close_client(client: distributed.Client) -> None:
    """Close ``client`` and the cluster object it was created with (LocalCluster or KubeCluster)."""
    cluster = getattr(client, "cluster", None)
    with contextlib.suppress(Exception):  # closing anyway; a dead scheduler must not block shutdown
        client.close(timeout=10)  # type: ignore[no-untyped-call]
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close(timeout=10)


def _local_client(settings: Settings) -> distributed.Client:
    n_workers = settings.dask_workers or os.cpu_count() or 1
    with dask.config.set(SPAWN):
        cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: a second cluster (or anything on 8787) must not clash
            silence_logs=logging.WARNING,
            # Workers must not sit in the service's working directory (spill files, OpenDSS output).
            local_directory=None,
        )
        return distributed.Client(cluster, set_as_default=False)  # type: ignore[no-untyped-call]


def _kube_client(settings: Settings) -> distributed.Client:
    from dask_kubernetes.operator import KubeCluster  # only needed (and importable) in Kubernetes mode

    from gridtwin.compute.kube import make_kube_cluster_spec

    cluster: Any = KubeCluster(
        custom_cluster_spec=make_kube_cluster_spec(settings),
        namespace=settings.dask_namespace,
        shutdown_on_close=True,
        quiet=True,
    )
    return distributed.Client(cluster, set_as_default=False)  # type: ignore[no-untyped-call]


def make_client(settings: Settings, *, warm: bool = True) -> distributed.Client:
    """A client for ``settings.dask``; close it with ``close_client`` (or use ``make_cluster``)."""
    mode = settings.dask.strip()
    if mode == "local":
        client = _local_client(settings)
    elif mode == "kubernetes":
        client = _kube_client(settings)
    elif mode.startswith(("tcp://", "tls://")):
        client = distributed.Client(mode, set_as_default=False, timeout=30)  # type: ignore[no-untyped-call]
    else:
        raise InputError(
            "unknown Dask cluster mode",
            [
                ErrorDetail(
                    where="GRIDTWIN_DASK", message=f"{mode!r}: use local, kubernetes or tcp://host:port"
                )
            ],
        )
    if warm:
        client.register_plugin(WarmEngine())
    return client


def make_cluster(settings: Settings, *, warm: bool = True) -> ClusterHandle:
    return ClusterHandle(make_client(settings, warm=warm))


def worker_count(client: distributed.Client) -> int:
    """Workers connected now (at least 1, for sizing the number of tasks in flight)."""
    info = client.scheduler_info(n_workers=-1)
    return max(1, len(info.get("workers", {})))
