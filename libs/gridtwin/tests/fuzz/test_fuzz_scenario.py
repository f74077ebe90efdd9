"""Fuzzing the scenario parser (``parse_scenario``) on the example scenario with values replaced, keys dropped, list items doubled and nesting 3,000 deep, as YAML or JSON and then mutated; hostile YAML (alias bombs, tags, huge integers); raw bytes.

Property: the reader returns, or refuses with the project's own ``GridTwinError`` naming where (file,
line, field or member); nothing else escapes, no example runs past the worker's time limit, and no file
is written outside the reader's own temporary folders (``fuzz_targets.run_case``).
"""

from __future__ import annotations

from fuzz_inputs import STRATEGIES, Files
from fuzz_support import Worker, assert_clean, fuzz_settings
from hypothesis import event, given
from hypothesis import strategies as st


@fuzz_settings(examples=150, deadline_ms=10000)
@given(st.one_of(*STRATEGIES["scenario"]))
def test_scenario_reader_only_refuses_with_located_errors(fuzz_worker: Worker, files: Files) -> None:
    outcome = fuzz_worker.run("scenario", files)
    event(outcome.kind)
    assert_clean(outcome, "scenario", files)
