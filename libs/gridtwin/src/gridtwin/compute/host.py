"""The compute host: one per process and database, shared by every service in the process.

It holds the process's ``JobRunner`` (each service registers its job kinds on it) over the process's
one Dask cluster (``cluster.lease_cluster``). In the all-in-one every service shares it, so one cluster
with one worker per core runs QSTS, scenario and stochastic-hosting tasks alike, and any service can
cancel any job; split into pods, each process has its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from gridtwin.compute.cluster import ClusterLease, lease_cluster
from gridtwin.compute.events import JobEvents
from gridtwin.compute.runner import JobRunner
from gridtwin.config.settings import Settings
from gridtwin.grid.source import FeederSource
from gridtwin.store.db import make_engine
from gridtwin.store.jobs import JobStore
from gridtwin.store.redis import make_redis

__all__ = ["ComputeHost", "acquire_host"]

log = logging.getLogger(__name__)


class ComputeHost:
    """A runner and its cluster lease; ``release()`` by each service that acquired it. The host owns
    what it runs on (its SQL engine, its feeder source), so no one service's shutdown pulls them away
    from the others."""

    def __init__(
        self, key: str, runner: JobRunner, lease: ClusterLease, closers: list[Callable[[], None]]
    ) -> None:
        self.key = key
        self.runner = runner
        self.lease = lease
        self.users = 0
        self._closers = closers

    def resume_in_background(self, kinds: Iterable[str]) -> threading.Thread:
        """Resume jobs of ``kinds`` a restart left unfinished, off the start-up path (the cluster then
        starts); a broken job must not take the service down: it stays listed."""
        wanted = list(kinds)

        def resume() -> None:
            try:
                if any(r.kind in wanted for r in self.runner.jobs.unfinished()):
                    self.runner.resume_unfinished(wanted)
            except Exception:
                log.exception("resuming unfinished jobs failed", extra={"kinds": wanted})

        thread = threading.Thread(target=resume, name="gridtwin-resume", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        with _lock:
            self.users -= 1
            last = self.users <= 0
            if last:
                _hosts.pop(self.key, None)
        if last:
            self.runner.close()
            self.lease.release()
            for close in self._closers:
                close()


_hosts: dict[str, ComputeHost] = {}
_lock = threading.Lock()


def acquire_host(
    settings: Settings, open_feeders: Callable[[], tuple[FeederSource, Callable[[], None]]]
) -> ComputeHost:
    """This process's host for ``settings``' database (created by the first service that asks).
    ``open_feeders()`` gives the host its own feeder source and how to close it (called once)."""
    key = settings.resolved_database_url()
    with _lock:
        host = _hosts.get(key)
        if host is None:
            sql = make_engine(key, mysql_local_infile=settings.mysql_local_infile)
            feeders, close_feeders = open_feeders()
            events = JobEvents(make_redis(settings.redis_url), instance=settings.resolved_instance_id())
            lease = lease_cluster(settings)
            runner = JobRunner(
                JobStore(sql),
                events,
                lease.client,
                feeders,
                retries=settings.task_retries,
                max_in_flight=settings.dask_max_in_flight,
                max_jobs_per_site=settings.site_max_running_jobs,
            )
            host = _hosts[key] = ComputeHost(key, runner, lease, [close_feeders, sql.dispose])
        host.users += 1
        return host
