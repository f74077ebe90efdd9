"""The HostingCapacity service's ``SERVICE`` spec (entry point ``gridtwin.services``: ``hosting``).

At start it migrates the database, registers the stochastic job kind on the process's compute host and
resumes stochastic jobs a restart left unfinished; the Dask cluster starts with the first job.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from gridtwin.compute.host import acquire_host
from gridtwin.compute.hosting_task import STOCHASTIC_KIND, stochastic_kind
from gridtwin.config import Settings
from gridtwin.hosting.studies import HostingStudies
from gridtwin.powerflow.engine import get_engine
from gridtwin.powerflow.solver import SolverSettings
from gridtwin.rpc.registry_client import open_registry
from gridtwin.rpc.server import ServiceSpec
from gridtwin.rpc.stubs import add_servicer
from gridtwin.rpc.v1 import hosting_pb2_grpc
from gridtwin.store.db import make_engine, migrate
from gridtwin.store.hosting import HostingStore

from gridtwin_hosting.servicer import HostingServicer

__all__ = ["SERVICE", "add_to_server"]


def add_to_server(server: grpc.Server, settings: Settings) -> Callable[[], None]:
    feeders, close_feeders = open_registry(settings, "hosting")  # this mount's own channel to the registry
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sql = make_engine(settings.resolved_database_url(), mysql_local_infile=settings.mysql_local_infile)
    migrate(sql)
    host = acquire_host(settings, lambda: open_registry(settings, "compute"))
    store = HostingStore(sql, settings.data_dir / "results")
    host.runner.register(stochastic_kind(store))
    servicer = HostingServicer(
        HostingStudies(get_engine(), feeders, store), host.runner, SolverSettings.from_settings(settings)
    )
    add_servicer(hosting_pb2_grpc.add_HostingCapacityServicer_to_server, servicer, server)
    host.resume_in_background([STOCHASTIC_KIND])

    def close() -> None:
        """Give back this mount's share of the compute host (the last one stops its runner and
        cluster), its SQL engine and its registry channel."""
        host.release()
        sql.dispose()
        close_feeders()

    return close


SERVICE = ServiceSpec(
    name="hosting",
    default_port=50054,
    add_to_server=add_to_server,
    grpc_services=("gridtwin.v1.HostingCapacity",),
)
