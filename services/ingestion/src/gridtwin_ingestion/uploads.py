"""Files streamed to the ingestion service (client-streaming ``UploadFile``), kept by id until the
import that reads them commits.

An AMI export can be many gigabytes, so it never travels in one message nor sits in memory: chunks go
straight to ``{data_dir}/uploads/{id}/{name}`` and a size cap stops an oversize stream early.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePath
from typing import Any

from gridtwin.config import Settings
from gridtwin.errors import ErrorDetail, InputError, NotFoundError

from gridtwin_ingestion.servicer import allowed_path

__all__ = ["UploadArea", "expand_sources", "iter_file_chunks", "one_source"]

_ID_RE = re.compile(r"[0-9a-f]{32}")
_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]+")
READ_SUFFIXES = (".csv", ".txt", ".parquet", ".pq", ".xlsx")


def _safe_name(filename: str) -> str:
    """The file's own name, with anything but ``[A-Za-z0-9_.-]`` replaced (no folders, no dot files)."""
    name = _NAME_RE.sub("_", PurePath(filename.replace("\\", "/")).name).lstrip(".")
    return name[:200] or "upload.csv"


class UploadArea:
    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir / "uploads"
        self.limit_bytes = settings.max_ami_upload_bytes

    def receive(self, chunks: Iterable[Any]) -> tuple[str, str, int, str]:
        """Write a stream of ``FileChunk`` to a new upload; (id, file name, bytes, sha256)."""
        upload_id = uuid.uuid4().hex
        folder = self.root / upload_id
        folder.mkdir(parents=True)
        digest = hashlib.sha256()
        size = 0
        name = ""
        part = folder / ".part"
        try:
            with part.open("wb") as fh:
                for chunk in chunks:
                    if not name:
                        name = _safe_name(str(chunk.filename))
                    data = bytes(chunk.data)
                    size += len(data)
                    if size > self.limit_bytes:
                        raise InputError(
                            "upload too large",
                            [
                                ErrorDetail(
                                    where=name, message=f"over {self.limit_bytes} bytes", code="too_large"
                                )
                            ],
                        )
                    digest.update(data)
                    fh.write(data)
            if not name or size == 0:
                raise InputError("empty upload", [ErrorDetail(where=name or "upload", message="no bytes")])
            part.rename(folder / name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return upload_id, name, size, digest.hexdigest()

    def path(self, upload_id: str) -> Path:
        folder = self.root / upload_id
        ok = bool(_ID_RE.fullmatch(upload_id)) and folder.is_dir()  # the id's shape first: no path tricks
        files = [p for p in folder.iterdir() if not p.name.startswith(".")] if ok else []
        if len(files) != 1:
            raise NotFoundError("no such upload", [ErrorDetail(where="upload_id", message=upload_id)])
        return files[0]

    def discard(self, upload_ids: Iterable[str]) -> None:
        for uid in upload_ids:
            if _ID_RE.fullmatch(uid):
                shutil.rmtree(self.root / uid, ignore_errors=True)


def expand_sources(
    paths: Sequence[str], upload_ids: Sequence[str], uploads: UploadArea, settings: Settings
) -> list[Path]:
    """Server paths (under the import roots; a folder means its readable files, sorted) and uploads."""
    out: list[Path] = []
    for text in paths:
        path = allowed_path(text, settings)
        if path.is_dir():
            try:
                found = sorted(
                    p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in READ_SUFFIXES
                )
            except OSError as exc:  # a folder under it that may not be read (e.g. /proc/1/cwd)
                raise InputError(
                    "cannot read the folder",
                    [
                        ErrorDetail(
                            where=text, message=f"{exc.strerror or exc}: {exc.filename}", code="unreadable"
                        )
                    ],
                ) from None
            if not found:
                raise InputError(
                    "no readable files", [ErrorDetail(where=text, message=f"no {READ_SUFFIXES}")]
                )
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise NotFoundError("no such file", [ErrorDetail(where="paths", message=text)])
    out.extend(uploads.path(uid) for uid in upload_ids)
    if not out:
        raise InputError(
            "nothing to import", [ErrorDetail(where="source", message="give paths or upload ids")]
        )
    return out


def one_source(request: Any, uploads: UploadArea, settings: Settings) -> Path:
    """The single file of a request with ``oneof source { path, upload_id }``."""
    which = request.WhichOneof("source")
    if which == "path":
        return expand_sources([str(request.path)], [], uploads, settings)[0]
    if which == "upload_id":
        return uploads.path(str(request.upload_id))
    raise InputError("no file given", [ErrorDetail(where="source", message="set path or upload_id")])


def iter_file_chunks(path: Path, chunk_bytes: int = 1 << 20) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) pieces of a file, for clients that stream it."""
    with path.open("rb") as fh:
        while data := fh.read(chunk_bytes):
            yield path.name, data
