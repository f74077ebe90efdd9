"""A local twin registry for the ingest tests: the real ontology on a SQLite file per test, so the
imports run over ``RegistryFeeders`` (the in-core ``FeederSource``) and the registry itself (the
``TwinSink``) exactly as the services run them over gRPC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from gridtwin.grid.ontology import build_interfaces
from gridtwin.grid.source import RegistryFeeders
from gridtwin.store.db import make_engine, migrate
from gridtwin.twin.registry import TwinRegistry


@pytest.fixture
def sql_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gridtwin.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def twin_registry(sql_engine: sa.Engine) -> TwinRegistry:
    registry = TwinRegistry(sql_engine)
    registry.upload_models(list(build_interfaces().values()))
    return registry


@pytest.fixture
def feeders(twin_registry: TwinRegistry) -> RegistryFeeders:
    return RegistryFeeders(twin_registry)
