"""The PowerFlow service's ``SERVICE`` spec (entry point ``gridtwin.services``: ``powerflow``)."""

from __future__ import annotations

import grpc
from gridtwin.config import Settings
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.rpc.client import ChannelPool
from gridtwin.rpc.server import ServiceSpec
from gridtwin.rpc.stubs import add_servicer, registry_stub
from gridtwin.rpc.v1 import powerflow_pb2_grpc

from gridtwin_powerflow.servicer import PowerFlowServicer

__all__ = ["SERVICE", "add_to_server"]

_peers = ChannelPool()  # the channel to the registry, closed on stop


def add_to_server(server: grpc.Server, settings: Settings) -> None:
    ch = _peers.open(settings.twin_registry_addr, settings)
    servicer = PowerFlowServicer(registry_stub(ch), ViolationLimits.from_settings(settings))
    add_servicer(powerflow_pb2_grpc.add_PowerFlowServicer_to_server, servicer, server)


SERVICE = ServiceSpec(
    name="powerflow",
    default_port=50053,
    add_to_server=add_to_server,
    grpc_services=("gridtwin.v1.PowerFlow",),
    on_stop=_peers.close,
)
