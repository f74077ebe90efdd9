"""The Ingestion service's ``SERVICE`` spec (entry point ``gridtwin.services``: ``ingestion``)."""

from __future__ import annotations

import threading

import grpc
from gridtwin.config import Settings
from gridtwin.rpc.client import channel
from gridtwin.rpc.server import ServiceSpec
from gridtwin.rpc.stubs import add_servicer, registry_stub
from gridtwin.rpc.v1 import ingestion_pb2_grpc

from gridtwin_ingestion.servicer import IngestionServicer

__all__ = ["SERVICE", "add_to_server"]

_channels: list[grpc.Channel] = []
_channels_lock = threading.Lock()


def add_to_server(server: grpc.Server, settings: Settings) -> None:
    ch = channel(settings.twin_registry_addr, settings)
    with _channels_lock:
        _channels.append(ch)
    servicer = IngestionServicer(registry_stub(ch), settings)
    add_servicer(ingestion_pb2_grpc.add_IngestionServicer_to_server, servicer, server)


def close() -> None:
    """Close the registry channels opened by ``add_to_server``."""
    with _channels_lock:
        while _channels:
            _channels.pop().close()


SERVICE = ServiceSpec(
    name="ingestion",
    default_port=50052,
    add_to_server=add_to_server,
    grpc_services=("gridtwin.v1.Ingestion",),
    on_stop=close,
)
