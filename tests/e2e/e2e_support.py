"""Shared helpers of the end-to-end tests (a module with a unique name: ``conftest`` is not importable
reliably when several test folders have one)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import grpc
from gridtwin.config import Settings
from gridtwin.rpc.client import channel
from gridtwin.rpc.runner import RunningService

SHARED_DATA = Path(
    os.environ.get("GRIDTWIN_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
IEEE13_DIR = SHARED_DATA / "opendss" / "IEEETestCases" / "13Bus"
IEEE13 = IEEE13_DIR / "IEEE13Nodeckt.dss"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    def __init__(self, running: list[RunningService], settings: Settings) -> None:
        self.running = running
        self.settings = settings
        self.addr = {svc.spec.name: svc.address for svc in running}

    def channel(self, name: str) -> grpc.Channel:
        return channel(self.addr[name], self.settings)
