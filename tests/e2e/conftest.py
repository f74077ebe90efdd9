"""The three back-end services in this process on free ports, over a temporary SQLite file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_support import SHARED_DATA, Stack, free_port
from gridtwin.config import Settings
from gridtwin.rpc.runner import discover_services, start_grpc_services, stop_grpc_services
from gridtwin.rpc.telemetry import setup_telemetry


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    setup_telemetry("gridtwin-e2e", "memory")
    data_dir = tmp_path_factory.mktemp("gridtwin-data")
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'e2e.db'}",
        twin_registry_addr=f"127.0.0.1:{free_port()}",
        ingestion_addr=f"127.0.0.1:{free_port()}",
        powerflow_addr=f"127.0.0.1:{free_port()}",
        import_roots=[SHARED_DATA],
    )
    found = discover_services()
    wanted = [s for s in found.specs if s.name in ("twin_registry", "ingestion", "powerflow")]
    assert sorted(s.name for s in wanted) == ["ingestion", "powerflow", "twin_registry"], found.failed
    running = start_grpc_services(wanted, settings)
    yield Stack(running, settings)
    stop_grpc_services(running, grace_s=1)
