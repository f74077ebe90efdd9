"""Import errors say what is wrong: a path that does not exist says so; an upload that is no zip is
"not a zip archive" (not "unsafe archive")."""

from __future__ import annotations

from pathlib import Path

import pytest
from gridtwin.errors import NotFoundError, UnsafeArchiveError
from gridtwin.ingest.archive import ArchiveLimits, existing_path, extract_zip, find_master

LIMITS = ArchiveLimits(max_upload_bytes=1 << 20, max_unzipped_bytes=1 << 23, max_members=50, max_ratio=100.0)


def test_existing_path(tmp_path: Path) -> None:
    assert existing_path(tmp_path) == tmp_path
    with pytest.raises(NotFoundError) as info:
        existing_path(tmp_path / "nope" / "13Bus", "nope/13Bus")
    assert info.value.message == "path does not exist"
    detail = info.value.details[0]
    assert detail.where == "path"
    assert detail.message == f"nope/13Bus does not exist (resolved to {tmp_path / 'nope' / '13Bus'})"


def test_find_master_of_a_missing_path_says_it_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as info:
        find_master(tmp_path / "missing")
    assert "does not exist" in str(info.value)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "the upload is empty"),
        (b"OUTAGE_ID,START\n1,2025-01-01\n", "the upload is not a zip archive"),
        (b"PK\x03\x04garbage", "the upload is not a zip archive"),
    ],
)
def test_not_a_zip_is_said_so(tmp_path: Path, data: bytes, says: str) -> None:
    with pytest.raises(UnsafeArchiveError) as info:
        extract_zip(data, tmp_path, LIMITS)
    assert info.value.message == "not a zip archive"
    assert "unsafe" not in str(info.value)
    assert info.value.details[0].message.startswith(says)
    assert info.value.details[0].code == "not_zip"
