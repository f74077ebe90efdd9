"""Hostile uploads are refused with an UnsafeArchiveError naming the member; good ones extract."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from gridtwin.config import Settings
from gridtwin.errors import InputError, UnsafeArchiveError
from gridtwin.ingest.archive import ArchiveLimits, extract_zip, extracted_zip, find_master

LIMITS = ArchiveLimits(
    max_upload_bytes=1024 * 1024, max_unzipped_bytes=8 * 1024 * 1024, max_members=50, max_ratio=100.0
)


def _zip(
    members: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _refused(data: bytes, tmp_path: Path, member: str, code: str) -> UnsafeArchiveError:
    with pytest.raises(UnsafeArchiveError) as info:
        extract_zip(data, tmp_path, LIMITS)
    detail = info.value.details[0]
    assert detail.where == member
    assert detail.code == code
    assert list(tmp_path.iterdir()) == []  # nothing written before the check failed
    return info.value


def test_good_archive_extracts_folders(tmp_path: Path) -> None:
    data = _zip([("model/Master.dss", b"clear\n"), ("model/lines/l.dss", b"new line.a\n"), ("model/", b"")])
    written = extract_zip(data, tmp_path, LIMITS)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "model/Master.dss",
        "model/lines/l.dss",
    ]
    assert find_master(tmp_path) == tmp_path / "model" / "Master.dss"


@pytest.mark.parametrize("name", ["../evil.dss", "a/../../evil.dss", "..\\evil.dss", "a/..\\..\\b.dss"])
def test_path_traversal(tmp_path: Path, name: str) -> None:
    _refused(_zip([("ok.dss", b"x"), (name, b"x")]), tmp_path, name, "path_traversal")


@pytest.mark.parametrize("name", ["/etc/passwd", "\\windows\\x.dss", "C:/x.dss"])
def test_absolute_paths(tmp_path: Path, name: str) -> None:
    _refused(_zip([(name, b"x")]), tmp_path, name, "path_traversal")


def test_symlink(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("link.dss")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    _refused(_zip([(link, b"/etc/passwd")]), tmp_path, "link.dss", "symlink")


def test_zip_bomb_ratio(tmp_path: Path) -> None:
    data = _zip([("bomb.dss", b"\0" * (4 * 1024 * 1024))])
    assert len(data) < 64 * 1024
    _refused(data, tmp_path, "bomb.dss", "zip_bomb")


def test_zip_bomb_total_size(tmp_path: Path) -> None:
    # Stored (no compression) so the ratio is 1: only the total expanded size trips.
    limits = ArchiveLimits(
        max_upload_bytes=10**9, max_unzipped_bytes=3 * 1024 * 1024, max_members=50, max_ratio=100
    )
    chunk = bytes(range(256)) * 4096  # 1 MiB
    data = _zip([(f"part{i}.dss", chunk) for i in range(4)], compression=zipfile.ZIP_STORED)
    with pytest.raises(UnsafeArchiveError) as info:
        extract_zip(data, tmp_path, limits)
    assert info.value.details[0].code == "zip_bomb"
    assert "expands to" in info.value.details[0].message


def test_lying_sizes_are_caught_while_streaming(tmp_path: Path) -> None:
    # A central directory that declares a tiny size for a big member: the stream check must stop it.
    data = bytearray(_zip([("liar.dss", b"A" * 200_000)], compression=zipfile.ZIP_STORED))
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")  # uncompressed size in the central directory
    with pytest.raises(UnsafeArchiveError) as info:
        extract_zip(bytes(data), tmp_path, LIMITS)
    assert info.value.details[0].where == "liar.dss"


def test_too_many_members(tmp_path: Path) -> None:
    _refused(_zip([(f"f{i}.dss", b"x") for i in range(51)]), tmp_path, "<upload>", "too_many")


def test_oversize_upload(tmp_path: Path) -> None:
    data = _zip([("big.bin", bytes(range(256)) * 8192)], compression=zipfile.ZIP_STORED)
    assert len(data) > LIMITS.max_upload_bytes
    _refused(data, tmp_path, "<upload>", "too_large")


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04garbage"])
def test_not_a_zip(tmp_path: Path, data: bytes) -> None:
    _refused(data, tmp_path, "<upload>", "not_zip")


def test_encrypted_member(tmp_path: Path) -> None:
    # zipfile cannot write encrypted members: set the flag bit in the central directory header.
    data = bytearray(_zip([("secret.dss", b"x")]))
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 8] |= 0x1
    _refused(bytes(data), tmp_path, "secret.dss", "encrypted")


def test_duplicate_member(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("a.dss", b"1")
        zf.writestr("a.dss", b"2")
    _refused(buf.getvalue(), tmp_path, "a.dss", "duplicate")


def test_extracted_zip_cleans_up() -> None:
    data = _zip([("x/master.dss", b"clear\n")])
    with extracted_zip(data, Settings()) as root:
        assert (root / "x" / "master.dss").read_bytes() == b"clear\n"
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert not root.exists()


def test_find_master_rules(tmp_path: Path) -> None:
    (tmp_path / "a.dss").write_text("x")
    (tmp_path / "b.dss").write_text("x")
    with pytest.raises(InputError) as info:
        find_master(tmp_path)
    assert "a.dss" in info.value.details[0].message and "b.dss" in info.value.details[0].message
    assert find_master(tmp_path, "b.dss") == tmp_path / "b.dss"
    with pytest.raises(InputError):
        find_master(tmp_path, "c.dss")
    (tmp_path / "MasterFeeder.dss").write_text("x")
    assert find_master(tmp_path) == tmp_path / "MasterFeeder.dss"
    assert find_master(tmp_path / "a.dss") == tmp_path / "a.dss"
