"""The Ingestion service's ``SERVICE`` spec (entry point ``gridtwin.services``: ``ingestion``).

The process serves two gRPC services: ``Ingestion`` (feeder models in) and ``Measurements`` (AMI reads,
meters, outages, weather in). At start it migrates the database and rolls forward an AMI commit that a
crash interrupted.
"""

from __future__ import annotations

import threading

import grpc
from gridtwin.config import Settings
from gridtwin.rpc.client import ChannelPool
from gridtwin.rpc.server import ServiceSpec
from gridtwin.rpc.stubs import add_servicer, registry_stub
from gridtwin.rpc.v1 import ingestion_pb2_grpc, measurements_pb2_grpc
from gridtwin.store.db import make_engine, migrate
from sqlalchemy import Engine

from gridtwin_ingestion.measurements import MeasurementsServicer
from gridtwin_ingestion.servicer import IngestionServicer

__all__ = ["SERVICE", "add_to_server"]

_peers = ChannelPool()  # the channel to the registry, closed on stop
_engines: list[Engine] = []
_lock = threading.Lock()


def add_to_server(server: grpc.Server, settings: Settings) -> None:
    registry = registry_stub(_peers.open(settings.twin_registry_addr, settings))
    add_servicer(
        ingestion_pb2_grpc.add_IngestionServicer_to_server, IngestionServicer(registry, settings), server
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url(), mysql_local_infile=settings.mysql_local_infile)
    migrate(engine)
    with _lock:
        _engines.append(engine)
    measurements = MeasurementsServicer(registry, engine, settings)
    add_servicer(measurements_pb2_grpc.add_MeasurementsServicer_to_server, measurements, server)


def close() -> None:
    with _lock:
        engines = list(_engines)
        _engines.clear()
    for engine in engines:
        engine.dispose()
    _peers.close()


SERVICE = ServiceSpec(
    name="ingestion",
    default_port=50052,
    add_to_server=add_to_server,
    grpc_services=("gridtwin.v1.Ingestion", "gridtwin.v1.Measurements"),
    on_stop=close,
)
