"""Typed doors to the generated gRPC stubs.

``grpc_tools`` writes ``*_pb2_grpc.py`` without annotations, so strict mypy rejects every call into
them; these helpers make those calls in one place (through ``cast``) so callers stay fully typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import grpc

from gridtwin.rpc.v1 import (
    hosting_pb2_grpc,
    ingestion_pb2_grpc,
    measurements_pb2_grpc,
    powerflow_pb2_grpc,
    twin_registry_pb2_grpc,
)

__all__ = [
    "add_servicer",
    "hosting_stub",
    "ingestion_stub",
    "measurements_stub",
    "powerflow_stub",
    "registry_stub",
]


def _call(fn: object, *args: Any) -> Any:
    return cast(Callable[..., Any], fn)(*args)


def registry_stub(ch: grpc.Channel) -> Any:
    """A ``TwinRegistryStub`` on ``ch``."""
    return _call(twin_registry_pb2_grpc.TwinRegistryStub, ch)


def ingestion_stub(ch: grpc.Channel) -> Any:
    """An ``IngestionStub`` on ``ch``."""
    return _call(ingestion_pb2_grpc.IngestionStub, ch)


def measurements_stub(ch: grpc.Channel) -> Any:
    """A ``MeasurementsStub`` on ``ch`` (served by the ingestion process)."""
    return _call(measurements_pb2_grpc.MeasurementsStub, ch)


def powerflow_stub(ch: grpc.Channel) -> Any:
    """A ``PowerFlowStub`` on ``ch``."""
    return _call(powerflow_pb2_grpc.PowerFlowStub, ch)


def hosting_stub(ch: grpc.Channel) -> Any:
    """A ``HostingCapacityStub`` on ``ch``."""
    return _call(hosting_pb2_grpc.HostingCapacityStub, ch)


def add_servicer(adder: object, servicer: object, server: grpc.Server) -> None:
    """``add_XServicer_to_server(servicer, server)`` for a generated adder."""
    _call(adder, servicer, server)
