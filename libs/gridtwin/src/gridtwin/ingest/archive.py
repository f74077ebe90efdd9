"""Safe extraction of uploaded zip archives, and finding the master file of a model folder.

Uploads are hostile until proven otherwise. We refuse, each with an ``UnsafeArchiveError`` naming the
member: data that is not a zip (said as such: "not a zip archive"), archives over the upload limit, too many members, absolute paths and
``..`` (path traversal), symlinks and other non-regular files, encrypted members, and zip bombs (total
uncompressed size, per-member and whole-archive compression ratio). Sizes are checked from the central
directory first and again while streaming, because the declared sizes are attacker-controlled.
``zipfile.extractall`` only sanitises names; it does not check links, sizes or ratios, hence this module.
"""

from __future__ import annotations

import io
import lzma
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from gridtwin.config import Settings
from gridtwin.errors import ErrorDetail, GridTwinError, InputError, NotFoundError, Report, UnsafeArchiveError

__all__ = [
    "ArchiveLimits",
    "existing_path",
    "extract_zip",
    "extracted_zip",
    "find_master",
    "relative_detail",
    "relative_report",
    "upload_relative_errors",
]

_CHUNK = 1024 * 1024
# Small members compress absurdly well (a 20 kB file of spaces); judge the ratio only above this size.
_RATIO_MIN_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    max_upload_bytes: int
    max_unzipped_bytes: int
    max_members: int
    max_ratio: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveLimits:
        return cls(
            max_upload_bytes=settings.max_upload_bytes,
            max_unzipped_bytes=settings.max_unzipped_bytes,
            max_members=settings.max_zip_members,
            max_ratio=settings.max_zip_ratio,
        )


def _unsafe(
    where: str, message: str, code: str = "unsafe_archive", title: str = "unsafe archive"
) -> UnsafeArchiveError:
    # A member name that is blank or holds control characters is shown quoted (seen, not obeyed by a terminal).
    shown = where if where.isprintable() and where.strip() else repr(where)
    return UnsafeArchiveError(title, [ErrorDetail(where=shown, message=message, code=code)])


def _not_zip(data: bytes, exc: Exception) -> UnsafeArchiveError:
    """Data that is no zip at all is a wrong file, not an attack: say what it is."""
    what = "the upload is empty" if not data else f"the upload is not a zip archive ({exc})"
    return _unsafe("<upload>", what, "not_zip", title="not a zip archive")


def _safe_relpath(name: str) -> PurePosixPath:
    """The member's path relative to the extraction root, or an error for anything escaping it."""
    normalized = name.replace("\\", "/")
    if not normalized or normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        raise _unsafe(name, "absolute path in archive", "path_traversal")
    parts = [p for p in PurePosixPath(normalized).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise _unsafe(name, "'..' in member path (path traversal)", "path_traversal")
    if not parts:
        raise _unsafe(name, "empty member path", "path_traversal")
    if any("\x00" in p for p in parts):
        raise _unsafe(name, "NUL byte in member path", "path_traversal")
    return PurePosixPath(*parts)


def _check_member(info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        kind = "symlink" if stat.S_ISLNK(mode) else "special file"
        raise _unsafe(info.filename, f"{kind} in archive", "symlink" if kind == "symlink" else "special_file")
    if info.flag_bits & 0x1:
        raise _unsafe(info.filename, "encrypted member", "encrypted")
    if info.file_size > limits.max_unzipped_bytes:
        raise _unsafe(
            info.filename,
            f"member expands to {info.file_size} bytes, over the {limits.max_unzipped_bytes} byte limit",
            "zip_bomb",
        )
    if info.file_size >= _RATIO_MIN_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise _unsafe(
                info.filename,
                f"compression ratio {ratio:.0f} over the limit {limits.max_ratio:.0f} (zip bomb)",
                "zip_bomb",
            )


def extract_zip(data: bytes, dest: Path, limits: ArchiveLimits) -> list[Path]:
    """Extract the zip ``data`` under the existing directory ``dest``; return the files written."""
    if len(data) > limits.max_upload_bytes:
        raise _unsafe(
            "<upload>", f"{len(data)} bytes, over the {limits.max_upload_bytes} byte limit", "too_large"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise _not_zip(data, exc) from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise _unsafe(
                "<upload>", f"{len(infos)} members, over the limit {limits.max_members}", "too_many"
            )
        declared_total = 0
        planned: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        seen: set[str] = set()
        for info in infos:
            rel = _safe_relpath(info.filename)
            _check_member(info, limits)
            key = rel.as_posix().lower()
            if key in seen and not info.is_dir():
                raise _unsafe(info.filename, "duplicate member name", "duplicate")
            seen.add(key)
            declared_total += info.file_size
            planned.append((info, rel))
        if declared_total > limits.max_unzipped_bytes:
            raise _unsafe(
                "<upload>",
                f"expands to {declared_total} bytes, over the {limits.max_unzipped_bytes} byte limit",
                "zip_bomb",
            )
        if declared_total >= _RATIO_MIN_BYTES and declared_total / max(len(data), 1) > limits.max_ratio:
            raise _unsafe(
                "<upload>", f"archive compression ratio over {limits.max_ratio:.0f} (zip bomb)", "zip_bomb"
            )
        return _write_members(archive, planned, dest, limits)


def _write_members(
    archive: zipfile.ZipFile,
    planned: list[tuple[zipfile.ZipInfo, PurePosixPath]],
    dest: Path,
    limits: ArchiveLimits,
) -> list[Path]:
    root = dest.resolve()
    written: list[Path] = []
    total = 0
    for info, rel in planned:
        target = root.joinpath(*rel.parts)
        # Belt and braces: the resolved target must stay under the root (no symlinked parents).
        if not target.resolve().is_relative_to(root):
            raise _unsafe(info.filename, "member resolves outside the extraction folder", "path_traversal")
        try:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True, mode=0o700)
                continue
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            total += _copy_member(archive, info, target, total, limits)
        except FileExistsError as exc:
            raise _unsafe(
                info.filename, "member written twice, or a file and a folder of one name", "duplicate"
            ) from exc
        except OSError as exc:  # a name the file system refuses: too long, a file where a folder must be
            raise _unsafe(info.filename, f"cannot extract member: {exc.strerror or exc}", "bad_name") from exc
        written.append(target)
    return written


# What a damaged member raises while it is opened or inflated (bz2 raises OSError: caught by the read;
# zipfile itself a ValueError for an offset before the file's start, RuntimeError for an encrypted one).
_CORRUPT = (
    zipfile.BadZipFile,
    NotImplementedError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    ValueError,
    RuntimeError,
)


def _copy_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, total: int, limits: ArchiveLimits
) -> int:
    """Stream one member to ``target`` (which must not exist); the bytes written."""
    member_bytes = 0
    try:
        src = archive.open(info)
    except _CORRUPT as exc:
        raise _unsafe(info.filename, f"cannot read member: {exc}", "corrupt") from exc
    with src, target.open("xb") as out:
        while True:
            try:
                chunk = src.read(_CHUNK)
            except (*_CORRUPT, OSError) as exc:
                raise _unsafe(info.filename, f"cannot read member: {exc}", "corrupt") from exc
            if not chunk:
                return member_bytes
            member_bytes += len(chunk)
            if member_bytes > info.file_size or total + member_bytes > limits.max_unzipped_bytes:
                raise _unsafe(info.filename, "member expands beyond its declared size", "zip_bomb")
            out.write(chunk)


@contextmanager
def extracted_zip(data: bytes, settings: Settings) -> Iterator[Path]:
    """Extract ``data`` into a private temporary folder (mode 0700), removed on exit; the limits come
    from the caller's ``settings`` (core code reads no settings itself)."""
    limits = ArchiveLimits.from_settings(settings)
    tmp = Path(tempfile.mkdtemp(prefix="gridtwin-upload-"))
    try:
        extract_zip(data, tmp, limits)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def relative_detail(detail: ErrorDetail, root: Path) -> ErrorDetail:
    """Name files inside an upload by their path in the archive, not our private temp folder."""
    prefix = f"{root}/"
    if prefix not in detail.where and prefix not in detail.message:
        return detail
    return replace(detail, where=detail.where.replace(prefix, ""), message=detail.message.replace(prefix, ""))


def relative_report(report: Report, root: Path) -> None:
    """Every located line of an import report named relative to the upload ``root``, in place."""
    report.warnings = [relative_detail(d, root) for d in report.warnings]
    report.unmapped = [relative_detail(d, root) for d in report.unmapped]
    conflicts = getattr(report, "conflicts", None)  # GIS reports also carry conflicts
    if conflicts is not None:
        report.conflicts = [relative_detail(d, root) for d in conflicts]  # type: ignore[attr-defined]


@contextmanager
def upload_relative_errors(root: Path | None) -> Iterator[None]:
    """A ``GridTwinError`` raised inside names files relative to the upload ``root`` (None: as they are)."""
    try:
        yield
    except GridTwinError as exc:
        if root is not None:
            exc.details = [relative_detail(d, root) for d in exc.details]
        raise


def existing_path(path: Path, given: str = "") -> Path:
    """``path`` if it exists, else a ``NotFoundError`` saying so (naming what was ``given`` and, when
    it differs, where that resolved to: a relative path is read from the server's working folder)."""
    if path.exists():
        return path
    shown = given or str(path)
    resolved = f" (resolved to {path})" if given and given != str(path) else ""
    raise NotFoundError(
        "path does not exist",
        [ErrorDetail(where="path", message=f"{shown} does not exist{resolved}", code="not_found")],
    )


def find_master(path: Path, master: str = "") -> Path:
    """The master ``.dss`` file: ``path`` itself if a file, else ``master`` (a name or relative path
    under the folder), else the single ``.dss`` file whose name contains "master"."""
    if path.is_file():
        return path
    if not path.is_dir():
        existing_path(path)  # a NotFoundError saying it does not exist
        raise InputError(
            "model path is neither a file nor a folder",
            [ErrorDetail(where=str(path), message="not readable")],
        )
    files = sorted(p for p in path.rglob("*") if p.is_file())
    rel_names = [p.relative_to(path).as_posix() for p in files]
    if master:
        wanted = master.replace("\\", "/").strip("/")
        hits = [p for p, r in zip(files, rel_names, strict=True) if r == wanted or p.name == wanted]
        if len(hits) == 1:
            return hits[0]
        problem = "no file of that name" if not hits else f"{len(hits)} files of that name"
        raise InputError(
            "master file not found",
            [ErrorDetail(where=master, message=f"{problem}; files: {', '.join(rel_names[:50])}")],
        )
    dss = [(p, r) for p, r in zip(files, rel_names, strict=True) if p.suffix.lower() == ".dss"]
    named = [(p, r) for p, r in dss if "master" in p.name.lower()]
    if len(named) == 1:
        return named[0][0]
    candidates = [r for _, r in (named or dss)]
    raise InputError(
        "cannot tell which file is the master: name it with 'master'",
        [
            ErrorDetail(
                where=str(path.name or path), message=f"candidates: {', '.join(candidates[:50]) or 'none'}"
            )
        ],
    )
