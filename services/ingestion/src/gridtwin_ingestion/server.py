"""The Ingestion service's ``SERVICE`` spec (entry point ``gridtwin.services``: ``ingestion``).

The process serves two gRPC services: ``Ingestion`` (feeder models in) and ``Measurements`` (AMI reads,
meters, outages, weather in). At start it migrates the database and rolls forward an AMI commit that a
crash interrupted.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from gridtwin.config import Settings
from gridtwin.rpc.registry_client import open_registry
from gridtwin.rpc.server import ServiceSpec
from gridtwin.rpc.stubs import add_servicer
from gridtwin.rpc.v1 import ingestion_pb2_grpc, measurements_pb2_grpc
from gridtwin.store.db import make_engine, migrate

from gridtwin_ingestion.measurements import MeasurementsServicer
from gridtwin_ingestion.servicer import IngestionServicer

__all__ = ["SERVICE", "add_to_server"]


def add_to_server(server: grpc.Server, settings: Settings) -> Callable[[], None]:
    registry, close_registry = open_registry(
        settings, "ingestion"
    )  # this mount's own channel to the registry
    add_servicer(
        ingestion_pb2_grpc.add_IngestionServicer_to_server, IngestionServicer(registry, settings), server
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url(), mysql_local_infile=settings.mysql_local_infile)
    migrate(engine)
    measurements = MeasurementsServicer(registry, engine, settings)
    add_servicer(measurements_pb2_grpc.add_MeasurementsServicer_to_server, measurements, server)

    def close() -> None:
        engine.dispose()
        close_registry()

    return close


SERVICE = ServiceSpec(
    name="ingestion",
    default_port=50052,
    add_to_server=add_to_server,
    grpc_services=("gridtwin.v1.Ingestion", "gridtwin.v1.Measurements"),
)
