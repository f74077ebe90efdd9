"""A Dask ``distributed.Client`` for the configured cluster: local, Kubernetes or an existing scheduler.

``GRIDTWIN_DASK=local`` starts a LocalCluster of single-threaded worker *processes* (one per core;
OpenDSS contexts are not thread-safe and the engine is one per process), ``kubernetes`` asks the
dask-kubernetes operator for a ``DaskCluster`` (``kube.make_kube_cluster_spec``), and
``tcp://host:port`` connects to a running scheduler. Worker processes are spawned, never forked:
a forked child would inherit the parent's OpenDSS library state and threads.

One cluster per process: every service in a process (the all-in-one runs them all in one) leases the
same client (``lease_cluster``), started with the first job and closed when the last lease is
released, so the all-in-one never runs more workers than the machine has cores.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any

import dask
import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from gridtwin.config.settings import Settings
from gridtwin.errors import ErrorDetail, InputError

__all__ = [
    "ClusterHandle",
    "ClusterLease",
    "WarmEngine",
    "close_client",
    "lease_cluster",
    "make_client",
    "make_cluster",
    "worker_count",
]

log = logging.getLogger(__name__)
# Dask sets its loggers to INFO when it is imported (just above): its start-up and scheduling chatter
# would fill the user's output and the services' logs. Warnings and errors still show.
for _name in ("distributed", "dask"):
    logging.getLogger(_name).setLevel(logging.WARNING)

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


class _Shared:
    """One process-wide client for one cluster setting, and how many leases hold it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: distributed.Client | None = None
        self.leases = 0
        self.lock = threading.Lock()


_shared: dict[tuple[str, int | None], _Shared] = {}
_shared_lock = threading.Lock()


class ClusterLease:
    """A service's share of the process's Dask cluster: ``client()`` starts it on first use,
    ``release()`` gives the share back (the last one closes the cluster). Idempotent release."""

    def __init__(self, shared: _Shared, key: tuple[str, int | None]) -> None:
        self._shared = shared
        self._key = key
        self._released = False

    def client(self) -> distributed.Client:
        with self._shared.lock:
            if self._shared.client is None:
                self._shared.client = make_client(self._shared.settings)
            return self._shared.client

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        with _shared_lock:
            self._shared.leases -= 1
            last = self._shared.leases <= 0
            if last:
                _shared.pop(self._key, None)
        if last:
            with self._shared.lock:
                client, self._shared.client = self._shared.client, None
            if client is not None:
                close_client(client)


def lease_cluster(settings: Settings) -> ClusterLease:
    """A lease on this process's cluster for ``settings.dask`` (one per setting and worker count)."""
    key = (settings.dask.strip(), settings.dask_workers)
    with _shared_lock:
        shared = _shared.get(key)
        if shared is None:
            shared = _shared[key] = _Shared(settings)
        shared.leases += 1
    return ClusterLease(shared, key)
