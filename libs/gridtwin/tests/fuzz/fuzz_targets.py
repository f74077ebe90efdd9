"""The readers under fuzz, one target each, and the judge of one run (shared by the hypothesis tests in
this folder and the atheris drill ``tests/drills/fuzz_readers.py``).

A target takes the input files (name -> bytes) written into a fresh folder and calls the reader the
way the services do. ``run_case`` runs one target on one input and says what happened:

- ``ok``: the reader returned;
- ``refused``: it raised a ``GridTwinError`` whose details say where (file, line, field or member);
- ``unlocated``: a ``GridTwinError`` without a located detail (a finding: users cannot fix what is
  not named);
- ``escaped``: any other exception (a finding: a crash, not an input error);
- ``wrote``: a file appeared outside the reader's own temporary folders (the working folder, $HOME,
  beside the input) or a temporary folder was left behind (a finding);
- ``timeout``: set by the worker that runs the case (``fuzz_support``), never here.

Nothing here imports hypothesis: the drill runs these under atheris too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Files = dict[str, bytes]


@dataclass(frozen=True)
class Outcome:
    kind: str  # ok | refused | unlocated | escaped | wrote | timeout
    text: str = ""  # the error, traceback or stray files
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return self.kind in ("ok", "refused")


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[Path, Files], Any]  # (folder holding the files, the files)
    # Where a detail must point: one of these strings in some detail's ``where`` (None: any non-empty).
    locators: Callable[[Files], list[str]] | None = None
    engine: bool = False  # runs OpenDSS (compiles a circuit): slower, needs the per-example timeout
    notes: list[str] = field(default_factory=list)


def _file_names(files: Files) -> list[str]:
    return list(files)


# -- the targets -------------------------------------------------------------------------------------


def _opendss(folder: Path, files: Files) -> Any:
    from gridtwin.ingest.opendss import read_opendss

    return read_opendss(folder / "master.dss", "fuzz", "site")


def _cyme(folder: Path, files: Files) -> Any:
    from gridtwin.ingest.cyme import read_cyme

    return read_cyme(folder, "fuzz", "site")


def _gis(folder: Path, files: Files) -> Any:
    from gridtwin.ingest.gis import read_gis

    mapping = folder / "mapping.yaml"
    layers = sorted(folder / n for n in files if n != "mapping.yaml")
    return read_gis(layers, mapping if mapping.exists() else None)


def _ami_options(folder: Path) -> Any:
    from gridtwin.ingest.ami.options import parse_ami_options

    opts = folder / "options.json"
    return parse_ami_options(opts.read_text(encoding="utf-8") if opts.exists() else "")


def _ami(folder: Path, files: Files) -> Any:
    from gridtwin.ingest.ami.read import iter_chunks
    from gridtwin.ingest.ami.report import Issues

    options = _ami_options(folder)
    issues = Issues(50)
    rows = 0
    for i, name in enumerate(sorted(n for n in files if n != "options.json")):
        for chunk in iter_chunks(folder / name, i, options, issues):
            rows += chunk.table.num_rows
    return rows, issues


def _oms(folder: Path, files: Files) -> Any:
    from gridtwin.ingest.oms import read_oms
    from gridtwin.ingest.oms.mapping import OmsMapping

    name = next(n for n in files if n.startswith("outages"))
    return read_oms(folder / name, OmsMapping(), timezone="America/New_York", max_rows=5_000)


def _scenario(folder: Path, files: Files) -> Any:
    from gridtwin.scenarios.loader import parse_scenario

    name = next(iter(files))
    fmt = "json" if name.endswith(".json") else "yaml"
    return parse_scenario(files[name], source=name, fmt=fmt)


def _dtdl(folder: Path, files: Files) -> Any:
    from gridtwin.twin.dtdl import load_model_set

    return load_model_set([folder])


def _archive(folder: Path, files: Files) -> Any:
    from gridtwin.config.settings import Settings
    from gridtwin.ingest.archive import extracted_zip

    settings = Settings(
        max_upload_bytes=1 << 20, max_unzipped_bytes=4 << 20, max_zip_members=64, max_zip_ratio=50.0
    )
    with extracted_zip(files["upload.zip"], settings) as root:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("opendss", _opendss, _file_names, engine=True),
        # a section missing from every file is named by its [SECTION]
        Target("cyme", _cyme, lambda files: [*files, "["], engine=True),
        Target("gis", _gis, _file_names),
        Target("ami", _ami, lambda files: [*files, "options"]),
        Target("oms", _oms, _file_names),
        Target("scenario", _scenario, _file_names),
        Target("dtdl", _dtdl, _file_names),
        Target("archive", _archive, None),
    )
}


# -- one case ----------------------------------------------------------------------------------------


def _tree(root: Path) -> set[str]:
    if not root.exists():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _judge_error(exc: Exception, target: Target, files: Files) -> Outcome:
    details = getattr(exc, "details", [])
    text = f"{type(exc).__name__}: {exc}"
    if not details:
        return Outcome("unlocated", f"no details: {text}")
    blank = [d for d in details if not d.where.strip() or not d.message.strip()]
    if blank:
        return Outcome("unlocated", f"a detail without where or message: {blank[0]!r} in {text}")
    if target.locators is not None:
        names = target.locators(files)
        if not any(n in d.where for d in details for n in names):
            return Outcome("unlocated", f"no detail names one of {names}: {text}")
    return Outcome("refused", text)


def run_case(target: Target, files: Files, sandbox: Path) -> Outcome:
    """Run ``target`` on ``files`` written into a fresh folder under ``sandbox`` (which holds ``cwd``,
    ``home`` and ``tmp``: the process's working folder, $HOME and temporary folder, all expected to
    stay as they were) and judge what happened."""
    from gridtwin.errors import GridTwinError

    cwd, home, tmp = sandbox / "cwd", sandbox / "home", Path(tempfile.gettempdir())
    before = {"cwd": _tree(cwd), "home": _tree(home), "tmp": _tree(tmp)}
    folder = Path(tempfile.mkdtemp(prefix="fuzz-case-", dir=sandbox))
    for name, data in files.items():
        (folder / name).write_bytes(data)
    given = _tree(folder)
    start = time.perf_counter()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        target.run(folder, files)
        outcome = Outcome("ok")
    except GridTwinError as exc:
        outcome = _judge_error(exc, target, files)
    except Exception:
        outcome = Outcome("escaped", traceback.format_exc(limit=12))
    finally:
        os.chdir(old)
    seconds = time.perf_counter() - start
    stray = [f"beside the input: {p}" for p in sorted(_tree(folder) - given)]
    shutil.rmtree(folder, ignore_errors=True)
    for where, root in (("cwd", cwd), ("home", home), ("tmp", tmp)):
        stray += [f"{where}: {p}" for p in sorted(_tree(root) - before[where])]
    if stray and outcome.kind != "escaped":
        outcome = Outcome("wrote", "; ".join(stray[:10]) + f" (after {outcome.kind}: {outcome.text[:300]})")
    for where, root in (("cwd", cwd), ("home", home)):  # leave the next case a clean slate
        for p in set(_tree(root)) - before[where]:
            path = root / p
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return Outcome(outcome.kind, outcome.text, seconds)


def make_sandbox(root: Path) -> Path:
    """``cwd``, ``home`` and ``tmp`` under ``root``; points $HOME, $TMPDIR and ``tempfile`` at them.

    Call before importing gridtwin (OpenDSS reads $HOME when it loads)."""
    for sub in ("cwd", "home", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(root / "home")
    os.environ["TMPDIR"] = str(root / "tmp")
    tempfile.tempdir = str(root / "tmp")
    return root
