"""Shared helpers of the end-to-end tests (a module with a unique name: ``conftest`` is not importable
reliably when several test folders have one).

The services accept only authenticated callers: a test signs internal tokens with the test settings'
internal secret, as the gateway does for the user it verified (``Stack.channel(name, principal)``; by
default an admin of every site)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import grpc
from gridtwin.access import ALL_SITES, Principal, Role
from gridtwin.access.tokens import new_secret
from gridtwin.config import Settings
from gridtwin.rpc.client import channel
from gridtwin.rpc.runner import RunningService

SHARED_DATA = Path(
    os.environ.get("GRIDTWIN_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
IEEE13_DIR = SHARED_DATA / "opendss" / "IEEETestCases" / "13Bus"
IEEE13 = IEEE13_DIR / "IEEE13Nodeckt.dss"

# The internal secret of this test run's services (a process of its own: nothing else holds it).
INTERNAL_SECRET = new_secret()
# Who a test acts as unless it says otherwise: an admin of every site.
ADMIN = Principal("e2e-admin", Role.ADMIN, frozenset({ALL_SITES}), via="password")


def user(name: str, role: Role | str, *sites: str) -> Principal:
    """A user as the gateway would have verified it."""
    return Principal(name, Role(role), frozenset(sites), via="password")


def signed_channel(addr: str, settings: Settings, principal: Principal | None = ADMIN) -> grpc.Channel:
    """A channel whose calls carry an internal token for ``principal`` (None: no token at all)."""
    return channel(addr, settings, principal=principal)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    def __init__(self, running: list[RunningService], settings: Settings) -> None:
        self.running = running
        self.settings = settings
        self.addr = {svc.spec.name: svc.address for svc in running}

    def channel(self, name: str, principal: Principal | None = ADMIN) -> grpc.Channel:
        """A channel to service ``name`` acting for ``principal`` (None: calls carry no token)."""
        return signed_channel(self.addr[name], self.settings, principal)
