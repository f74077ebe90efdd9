"""Every CLI test runs with its own empty config folder and no GRIDTWIN_TOKEN: nothing of the user's own
login leaks in, and nothing a test saves leaks out."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    monkeypatch.delenv("GRIDTWIN_TOKEN", raising=False)
    monkeypatch.delenv("GRIDTWIN_URL", raising=False)
    return folder
