"""The PowerFlow service's ``SERVICE`` spec (entry point ``gridtwin.services``: ``powerflow``).

At start it migrates the database, registers the QSTS job kind on the process's compute host and
resumes QSTS jobs a restart left unfinished; the Dask cluster itself starts with the first job.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from gridtwin.compute.host import acquire_host
from gridtwin.compute.qsts_jobs import QstsJobs
from gridtwin.compute.qsts_task import QSTS_KIND
from gridtwin.compute.scenario_jobs import ScenarioJobs
from gridtwin.config import Settings
from gridtwin.powerflow.engine import get_engine
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.solver import SolverSettings
from gridtwin.rpc.registry_client import open_registry
from gridtwin.rpc.server import ServiceSpec
from gridtwin.rpc.stubs import add_servicer
from gridtwin.rpc.v1 import powerflow_pb2_grpc
from gridtwin.store.db import make_engine, migrate
from gridtwin.store.results import QstsResultStore
from gridtwin.store.scenarios import ScenarioStore

from gridtwin_powerflow.servicer import PowerFlowServicer

__all__ = ["SERVICE", "add_to_server"]


def add_to_server(server: grpc.Server, settings: Settings) -> Callable[[], None]:
    feeders, close_feeders = open_registry(settings, "powerflow")  # this mount's own channel to the registry
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sql = make_engine(settings.resolved_database_url(), mysql_local_infile=settings.mysql_local_infile)
    migrate(sql)
    host = acquire_host(settings, lambda: open_registry(settings, "compute"))
    qsts = QstsJobs(
        host.runner, QstsResultStore(sql, settings.data_dir / "results"), settings.data_dir / "profiles"
    )
    servicer = PowerFlowServicer(
        feeders,
        get_engine(),
        ViolationLimits.from_settings(settings),
        qsts,
        ScenarioJobs(qsts, ScenarioStore(sql)),
        SolverSettings.from_settings(settings),
    )
    add_servicer(powerflow_pb2_grpc.add_PowerFlowServicer_to_server, servicer, server)
    host.resume_in_background([QSTS_KIND])

    def close() -> None:
        """Give back this mount's share of the compute host (the last one stops its runner and
        cluster), its SQL engine and its registry channel."""
        host.release()
        sql.dispose()
        close_feeders()

    return close


SERVICE = ServiceSpec(
    name="powerflow",
    default_port=50053,
    add_to_server=add_to_server,
    grpc_services=("gridtwin.v1.PowerFlow",),
)
