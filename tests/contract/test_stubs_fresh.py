"""The committed gRPC stubs match proto/ (regenerate with ``ci/gen-protos``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_stubs_are_up_to_date() -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "ci" / "gen-protos"), "--check"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr + done.stdout
