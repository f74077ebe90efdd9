"""Fuzzing the AMI reader (``gridtwin.ingest.ami.read.iter_chunks``) on generated CSV (three header spellings, two delimiters) and Parquet files (string, naive, aware, integer and dictionary columns; cut short or with a byte flipped), with drawn options, or raw bytes.

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
@given(st.one_of(*STRATEGIES["ami"]))
def test_ami_reader_only_refuses_with_located_errors(fuzz_worker: Worker, files: Files) -> None:
    outcome = fuzz_worker.run("ami", files)
    event(outcome.kind)
    assert_clean(outcome, "ami", files)
