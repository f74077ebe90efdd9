"""The PowerFlow service's ``SERVICE`` spec (entry point ``gridtwin.services``: ``powerflow``).

At start it migrates the database (jobs and results tables) and resumes QSTS jobs a restart left
unfinished; the Dask cluster itself starts with the first job.
"""

from __future__ import annotations

import threading

import grpc
from gridtwin.config import Settings
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.rpc.client import ChannelPool
from gridtwin.rpc.server import ServiceSpec
from gridtwin.rpc.stubs import add_servicer, registry_stub
from gridtwin.rpc.v1 import powerflow_pb2_grpc
from gridtwin.store.db import make_engine, migrate
from sqlalchemy import Engine

from gridtwin_powerflow.jobs import QstsJobs
from gridtwin_powerflow.scenarios import ScenarioHandlers
from gridtwin_powerflow.servicer import PowerFlowServicer

__all__ = ["SERVICE", "add_to_server"]

_peers = ChannelPool()  # the channel to the registry, closed on stop
_open: list[tuple[QstsJobs, Engine]] = []
_open_lock = threading.Lock()


def add_to_server(server: grpc.Server, settings: Settings) -> None:
    ch = _peers.open(settings.twin_registry_addr, settings)
    registry = registry_stub(ch)
    limits = ViolationLimits.from_settings(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url(), mysql_local_infile=settings.mysql_local_infile)
    migrate(engine)
    jobs = QstsJobs(registry, engine, settings, limits)
    with _open_lock:
        _open.append((jobs, engine))
    servicer = PowerFlowServicer(registry, limits, jobs=jobs, scenarios=ScenarioHandlers(jobs, engine))
    add_servicer(powerflow_pb2_grpc.add_PowerFlowServicer_to_server, servicer, server)
    jobs.resume_in_background()


def close() -> None:
    """Stop the job runners (and their Dask clusters), the SQL engines and the registry channel."""
    with _open_lock:
        opened = list(_open)
        _open.clear()
    for jobs, engine in opened:
        jobs.close()
        engine.dispose()
    _peers.close()


SERVICE = ServiceSpec(
    name="powerflow",
    default_port=50053,
    add_to_server=add_to_server,
    grpc_services=("gridtwin.v1.PowerFlow",),
    on_stop=close,
)
