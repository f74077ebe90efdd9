"""Fixtures for the GIS tests; the layer builders live in ``gis_fixtures``."""

from __future__ import annotations

import pytest
from gridtwin.grid.model import FeederModel
from gridtwin.grid.synth import synth_feeder


@pytest.fixture(scope="session")
def model() -> FeederModel:
    return synth_feeder(0, 42).model
