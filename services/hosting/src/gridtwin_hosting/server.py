"""The HostingCapacity service's ``SERVICE`` spec (entry point ``gridtwin.services``: ``hosting``).

At start it migrates the database and resumes stochastic jobs a restart left unfinished; the Dask
cluster starts with the first job.
"""

from __future__ import annotations

import threading

import grpc
from gridtwin.config import Settings
from gridtwin.rpc.client import ChannelPool
from gridtwin.rpc.server import ServiceSpec
from gridtwin.rpc.stubs import add_servicer, registry_stub
from gridtwin.rpc.v1 import hosting_pb2_grpc
from gridtwin.store.db import make_engine, migrate
from sqlalchemy import Engine

from gridtwin_hosting.servicer import HostingServicer

__all__ = ["SERVICE", "add_to_server"]

_peers = ChannelPool()
_open: list[tuple[HostingServicer, Engine]] = []
_open_lock = threading.Lock()


def add_to_server(server: grpc.Server, settings: Settings) -> None:
    registry = registry_stub(_peers.open(settings.twin_registry_addr, settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url(), mysql_local_infile=settings.mysql_local_infile)
    migrate(engine)
    servicer = HostingServicer(registry, engine, settings)
    with _open_lock:
        _open.append((servicer, engine))
    add_servicer(hosting_pb2_grpc.add_HostingCapacityServicer_to_server, servicer, server)
    servicer.resume_in_background()


def close() -> None:
    with _open_lock:
        opened = list(_open)
        _open.clear()
    for servicer, engine in opened:
        servicer.close()
        engine.dispose()
    _peers.close()


SERVICE = ServiceSpec(
    name="hosting",
    default_port=50054,
    add_to_server=add_to_server,
    grpc_services=("gridtwin.v1.HostingCapacity",),
    on_stop=close,
)
