"""Fuzzing the GIS reader (``read_gis``) on generated GeoJSON layers and CSV layers (lon/lat, x/y or WKT) with an optional mapping, mutated, or raw bytes.

Property: the reader returns, or refuses with the project's own ``GridTwinError`` naming where (file,
line, field or member); nothing else escapes, no example runs past the worker's time limit, and no file
is written outside the reader's own temporary folders (``fuzz_targets.run_case``).
"""

from __future__ import annotations

from fuzz_inputs import STRATEGIES, Files
from fuzz_support import Worker, assert_clean, fuzz_settings
from hypothesis import event, given
from hypothesis import strategies as st


@fuzz_settings(examples=120, deadline_ms=10000)
@given(st.one_of(*STRATEGIES["gis"]))
def test_gis_reader_only_refuses_with_located_errors(fuzz_worker: Worker, files: Files) -> None:
    outcome = fuzz_worker.run("gis", files)
    event(outcome.kind)
    assert_clean(outcome, "gis", files)
