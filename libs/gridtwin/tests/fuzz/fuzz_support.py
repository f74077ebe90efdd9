"""Running fuzz cases in a worker process with a hard time limit, and the hypothesis settings.

Every case runs in one long-lived spawned worker (``Worker``): a reader that hangs (the OpenDSS
engine cannot be interrupted in-process, nor can a C loop in pyarrow or GDAL) is killed at
``timeout_s`` and reported as a ``timeout`` outcome, and the worker is started again. The worker's
$HOME, $TMPDIR and working folder are a private sandbox that ``fuzz_targets.run_case`` checks after
every case (nothing written outside the reader's own temporary folders, nothing left behind).

CI is reproducible: ``derandomize=True`` (hypothesis derives its seed from the test's name) and no
example database. ``GRIDTWIN_FUZZ_SCALE`` multiplies every test's number of examples (the drill's
hypothesis fallback uses it; CI leaves it at 1).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from fuzz_targets import TARGETS, Files, Outcome
from hypothesis import HealthCheck, settings

HERE = Path(__file__).resolve().parent
TIMEOUT_S = float(os.environ.get("GRIDTWIN_FUZZ_TIMEOUT_S", "20"))
SCALE = float(os.environ.get("GRIDTWIN_FUZZ_SCALE", "1"))


def fuzz_settings(examples: int, deadline_ms: int) -> settings:
    """Bounded, reproducible: ``examples`` (times ``GRIDTWIN_FUZZ_SCALE``). ``deadline_ms`` is what a
    case should take; hypothesis's own deadline stays off (a loaded two-core CI machine would turn it
    into flaky failures): hangs are caught by the worker's hard limit, ``TIMEOUT_S``."""
    del deadline_ms
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    )


def _serve(conn: Connection, sandbox: str, paths: list[str]) -> None:
    from fuzz_targets import make_sandbox

    sys.path[:0] = [p for p in paths if p not in sys.path]
    root = make_sandbox(Path(sandbox))
    import gridtwin._dsslib  # noqa: F401  (pins the C environ before OpenDSS loads)
    from fuzz_targets import run_case

    os.chdir(root / "cwd")
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        name, files = msg
        conn.send(run_case(TARGETS[name], files, root))


class Worker:
    """One spawned process running cases one at a time; killed and restarted after a timeout."""

    def __init__(self, timeout_s: float = TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._root = Path(tempfile.mkdtemp(prefix="gridtwin-fuzz-"))
        self._proc: Any = None
        self._conn: Connection | None = None
        self._warm = False  # the worker has answered once (its imports are done)
        self.restarts = 0

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        sandbox = self._root / f"sandbox-{self.restarts}"
        self._proc = ctx.Process(
            target=_serve, args=(child, str(sandbox), [str(HERE)]), name="gridtwin-fuzz", daemon=True
        )
        self._proc.start()
        child.close()
        self._conn = parent
        self._warm = False

    def _stop(self) -> None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn = None, None

    def run(self, target: str, files: Files, timeout_s: float | None = None) -> Outcome:
        if self._proc is None or not self._proc.is_alive():
            self._start()
        assert self._conn is not None
        self._conn.send((target, files))
        limit = timeout_s or self.timeout_s
        # The first case also pays for the worker's imports (pandas, pyarrow, GDAL, OpenDSS).
        if self._conn.poll(limit if self._warm else limit + 60.0):
            try:
                outcome: Outcome = self._conn.recv()
                self._warm = True
                return outcome
            except EOFError:
                code = self._proc.exitcode if self._proc is not None else None
                self._stop()
                self.restarts += 1
                return Outcome("escaped", f"the worker died (exit code {code}): a crash in native code")
        self._stop()
        self.restarts += 1
        return Outcome("timeout", f"no answer within {limit:g} s")

    def close(self) -> None:
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
                self._proc.join(5)
            except (OSError, ValueError):
                pass
        self._stop()
        shutil.rmtree(self._root, ignore_errors=True)


def assert_clean(outcome: Outcome, target: str, files: Files) -> None:
    """Fail (so hypothesis shrinks) unless the reader returned or refused the input with located details."""
    if outcome.clean:
        return
    shown = {
        k: (v[:400] + (f"... ({len(v)} bytes)".encode() if len(v) > 400 else b"")) for k, v in files.items()
    }
    raise AssertionError(f"{target}: {outcome.kind}: {outcome.text}\ninput: {shown!r}")
