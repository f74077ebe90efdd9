"""Fixtures for the power-flow tests: real OpenDSS on the shared test feeders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from gridtwin.powerflow import Engine


def shared_data() -> Path:
    """``GRIDTWIN_SHARED_DATA`` or ``../shared/data`` next to the repository."""
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4].parent / "shared" / "data"


OPENDSS = shared_data() / "opendss"
IEEE13 = OPENDSS / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"
IEEE123 = OPENDSS / "IEEETestCases" / "123Bus" / "IEEE123Master.dss"
CKT5 = OPENDSS / "EPRITestCircuits" / "ckt5" / "Master_ckt5.dss"


@pytest.fixture
def ieee13_path() -> Path:
    return IEEE13


@pytest.fixture
def ieee123_path() -> Path:
    return IEEE123


@pytest.fixture
def ckt5_path() -> Path:
    return CKT5


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine()
    yield eng
    eng.close()


@pytest.fixture
def ieee13(engine: Engine) -> Engine:
    engine.compile_file(IEEE13)
    return engine


@pytest.fixture
def ieee123(engine: Engine) -> Engine:
    engine.compile_file(IEEE123)
    return engine
