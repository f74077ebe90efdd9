"""The Ingestion service's ``SERVICE`` spec (entry point ``gridtwin.services``: ``ingestion``)."""

from __future__ import annotations

import grpc
from gridtwin.config import Settings
from gridtwin.rpc.client import ChannelPool
from gridtwin.rpc.server import ServiceSpec
from gridtwin.rpc.stubs import add_servicer, registry_stub
from gridtwin.rpc.v1 import ingestion_pb2_grpc

from gridtwin_ingestion.servicer import IngestionServicer

__all__ = ["SERVICE", "add_to_server"]

_peers = ChannelPool()  # the channel to the registry, closed on stop


def add_to_server(server: grpc.Server, settings: Settings) -> None:
    ch = _peers.open(settings.twin_registry_addr, settings)
    servicer = IngestionServicer(registry_stub(ch), settings)
    add_servicer(ingestion_pb2_grpc.add_IngestionServicer_to_server, servicer, server)


SERVICE = ServiceSpec(
    name="ingestion",
    default_port=50052,
    add_to_server=add_to_server,
    grpc_services=("gridtwin.v1.Ingestion",),
    on_stop=_peers.close,
)
