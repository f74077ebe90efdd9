"""Imports by server path: a path that does not exist says so (inside the import roots; outside them
the answer stays "not allowed", which reveals nothing about the host's files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gridtwin.config import Settings
from gridtwin.errors import AccessDeniedError, NotFoundError
from gridtwin_ingestion.servicer import allowed_path


def test_missing_path_under_the_roots_does_not_exist(tmp_path: Path) -> None:
    settings = Settings(import_roots=[tmp_path])
    assert allowed_path(str(tmp_path), settings) == tmp_path.resolve()
    with pytest.raises(NotFoundError) as info:
        allowed_path(str(tmp_path / "13Bus"), settings)
    assert info.value.message == "path does not exist"
    assert info.value.details[0].message == f"{tmp_path / '13Bus'} does not exist"


def test_outside_the_roots_is_not_allowed_whether_or_not_it_exists(tmp_path: Path) -> None:
    settings = Settings(import_roots=[tmp_path / "models"])
    for path in (tmp_path, tmp_path / "nope"):
        with pytest.raises(AccessDeniedError):
            allowed_path(str(path), settings)
