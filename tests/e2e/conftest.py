"""The three back-end services in this process on free ports, over a temporary SQLite file, accepting
callers that sign with this run's internal secret (``e2e_support.INTERNAL_SECRET``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_support import INTERNAL_SECRET, SHARED_DATA, Stack, free_port
from fake_open_meteo import FakeOpenMeteo
from gridtwin.config import Settings
from gridtwin.rpc.runner import discover_services, start_grpc_services, stop_grpc_services
from gridtwin.rpc.telemetry import setup_telemetry


@pytest.fixture(scope="session")
def open_meteo() -> Iterator[FakeOpenMeteo]:
    fake = FakeOpenMeteo()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, open_meteo: FakeOpenMeteo) -> Iterator[Stack]:
    setup_telemetry("gridtwin-e2e", "memory")
    data_dir = tmp_path_factory.mktemp("gridtwin-data")
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'e2e.db'}",
        twin_registry_addr=f"127.0.0.1:{free_port()}",
        ingestion_addr=f"127.0.0.1:{free_port()}",
        powerflow_addr=f"127.0.0.1:{free_port()}",
        import_roots=[SHARED_DATA],
        open_meteo_archive_url=open_meteo.archive_url,
        open_meteo_forecast_url=f"{open_meteo.url}/v1/forecast",
        weather_min_interval_s=0.0,
        weather_retries=1,
        internal_secret=INTERNAL_SECRET,
        site_max_running_jobs=50,  # tests of one session share sites; the quota has its own test
    )
    found = discover_services()
    wanted = [s for s in found.specs if s.name in ("twin_registry", "ingestion", "powerflow")]
    assert sorted(s.name for s in wanted) == ["ingestion", "powerflow", "twin_registry"], found.failed
    running = start_grpc_services(wanted, settings)
    yield Stack(running, settings)
    stop_grpc_services(running, grace_s=1)
