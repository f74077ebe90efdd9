"""Streamed uploads (size cap, hostile names, empty streams, nothing left behind) and the override table
text of ImportMeters (errors name the line)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gridtwin.config import Settings
from gridtwin.errors import AccessDeniedError, InputError, NotFoundError
from gridtwin_ingestion.measurements import _overrides_frame
from gridtwin_ingestion.uploads import UploadArea, expand_sources


def _chunks(name: str, parts: list[bytes]) -> Iterator[SimpleNamespace]:
    for i, data in enumerate(parts):
        yield SimpleNamespace(filename=name if i == 0 else "", data=data)


def _area(tmp_path: Path, limit: int = 1000) -> UploadArea:
    return UploadArea(Settings(data_dir=tmp_path, max_ami_upload_bytes=limit, import_roots=[tmp_path / "ok"]))


def test_upload_is_written_and_found(tmp_path: Path) -> None:
    area = _area(tmp_path)
    uid, name, size, sha = area.receive(_chunks("reads.csv", [b"a,b\n", b"1,2\n"]))
    assert (name, size, len(sha)) == ("reads.csv", 8, 64)
    assert area.path(uid).read_bytes() == b"a,b\n1,2\n"
    area.discard([uid])
    with pytest.raises(NotFoundError):
        area.path(uid)


def test_hostile_names_stay_inside(tmp_path: Path) -> None:
    area = _area(tmp_path)
    uid, name, _, _ = area.receive(_chunks("../../etc/passwd", [b"x"]))
    assert name == "passwd" and area.path(uid).parent.parent == tmp_path / "uploads"
    uid, name, _, _ = area.receive(_chunks("..\\..\\.bashrc", [b"x"]))
    assert name == "bashrc"
    with pytest.raises(NotFoundError):
        area.path("../../etc")


def test_oversize_and_empty_uploads_leave_nothing(tmp_path: Path) -> None:
    area = _area(tmp_path, limit=10)
    with pytest.raises(InputError, match="too large") as err:
        area.receive(_chunks("big.csv", [b"12345", b"67890", b"1"]))
    assert err.value.details[0].code == "too_large"
    with pytest.raises(InputError, match="empty"):
        area.receive(_chunks("none.csv", [b""]))
    assert list((tmp_path / "uploads").iterdir()) == []


def test_server_paths_only_under_the_roots(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, import_roots=[tmp_path / "ok"])
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "b.parquet").write_bytes(b"x")
    (tmp_path / "ok" / "a.csv").write_text("x")
    (tmp_path / "ok" / "notes.md").write_text("x")
    area = UploadArea(settings)
    assert [p.name for p in expand_sources([str(tmp_path / "ok")], [], area, settings)] == [
        "a.csv",
        "b.parquet",
    ]
    with pytest.raises(AccessDeniedError):
        expand_sources([str(tmp_path)], [], area, settings)
    with pytest.raises(NotFoundError):
        expand_sources([str(tmp_path / "ok" / "missing.csv")], [], area, settings)
    with pytest.raises(InputError, match="nothing to import"):
        expand_sources([], [], area, settings)
    with pytest.raises(InputError, match="bad path"):  # found by the API fuzzer (issue 15): was a 500
        expand_sources([str(tmp_path / "ok" / "a\x00.csv")], [], area, settings)


def test_an_unreadable_folder_is_a_located_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the API fuzzer (issue 15): an AMI import of "/" in the all-in-one was a 500.
    settings = Settings(data_dir=tmp_path, import_roots=[tmp_path])

    def denied(self: Path, pattern: str) -> Any:
        raise PermissionError(13, "Permission denied", "/proc/1/cwd")

    monkeypatch.setattr(Path, "rglob", denied)
    with pytest.raises(InputError, match="cannot read the folder") as info:
        expand_sources([str(tmp_path)], [], UploadArea(settings), settings)
    assert info.value.details[0].where == str(tmp_path) and "/proc/1/cwd" in info.value.details[0].message


def test_override_text() -> None:
    frame = _overrides_frame("meter_id,transformer,note\nm1,t9,field check\nm2,,\n")
    assert frame.to_dict("records") == [
        {"meter_id": "m1", "feeder": "", "transformer": "t9", "note": "field check"},
        {"meter_id": "m2", "feeder": "", "transformer": "", "note": ""},
    ]
    assert _overrides_frame("m1,t1,f1,moved\n")["feeder"].tolist() == ["f1"]
    # found by the API fuzzer (issue 15): a lone CR, or a field over the csv module's limit, was a 500
    assert _overrides_frame("m1,t1\rm2,t2")["meter_id"].tolist() == ["m1", "m2"]
    with pytest.raises(InputError, match="bad override line") as info:
        _overrides_frame("m1,t1\n" + "x" * 200_000)
    assert info.value.details[0].where == "overrides:2"
    assert _overrides_frame("").empty
    with pytest.raises(InputError) as err:
        _overrides_frame("meter_id,transformer\nm1,t1\njunk\n")
    assert err.value.details[0].where == "overrides:3"


def test_override_text_quotes_and_blank_lines() -> None:
    frame = _overrides_frame('\nmeter_id,transformer,note\n\nm1,t9,"moved, per field crew"\n')
    assert frame["note"].tolist() == ["moved, per field crew"]
    with pytest.raises(InputError) as err:
        _overrides_frame("m1,t1\n\njunk\n")
    assert err.value.details[0].where == "overrides:3"  # the file's own line, blank lines counted
