"""One fuzz worker process for the whole folder (``fuzz_support.Worker``): started on first use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fuzz_support import Worker


@pytest.fixture(scope="session")
def fuzz_worker() -> Iterator[Worker]:
    worker = Worker()
    yield worker
    worker.close()
