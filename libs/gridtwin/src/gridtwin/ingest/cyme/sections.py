"""Tokenise CYME ASCII exports into section records.

A CYMDIST text export is a list of ``[SECTION NAME]`` blocks; each block has ``FORMAT_XXX=col,col,...``
header lines and comma-separated data lines. A later ``FORMAT_`` line with the same key redefines the
columns for the lines after it (``[NODE]`` switches to a two-point format for bus bars), and a data line
``KEY=v1,v2`` uses ``FORMAT_KEY`` (``FEEDER=...`` inside ``[SECTION]``). Unit headers (``[SI]`` /
``[IMPERIAL]``) apply to the whole file.

Every record keeps file, section and line so any error or report line points at the source. Other
sources (CYME XML, an Access ``.mdb`` read with mdbtools, whose tables mirror these sections) only need
to yield the same ``SectionRecord``s to reuse the mappers.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gridtwin.errors import ErrorDetail, InputError

__all__ = ["SectionRecord", "Sections", "parse_text", "read_sections"]

UNIT_SECTIONS = {"SI": "SI", "IMPERIAL": "IMPERIAL"}
MAX_FILE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class SectionRecord:
    """One data line: ``section`` upper case as written between brackets, ``fields`` column -> raw text.
    ``kind`` is the ``KEY`` of a ``KEY=...`` line ("" for plain lines); ``units`` is SI or IMPERIAL."""

    section: str
    fields: dict[str, str]
    file: str
    line: int
    kind: str = ""
    units: str = "SI"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line} [{self.section}]"

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default).strip()


@dataclass
class Sections:
    """Records grouped by section name (upper case), in file order; ``warnings`` from tokenising."""

    by_section: dict[str, list[SectionRecord]] = field(default_factory=lambda: defaultdict(list))
    section_lines: dict[str, str] = field(default_factory=dict)  # section -> first file:line seen
    warnings: list[ErrorDetail] = field(default_factory=list)

    def records(self, section: str, kind: str = "") -> list[SectionRecord]:
        return [r for r in self.by_section.get(section, []) if r.kind == kind]

    def add(self, records: Iterable[SectionRecord]) -> None:
        for rec in records:
            self.by_section[rec.section].append(rec)


def _norm(name: str) -> str:
    return "".join(ch for ch in name.upper() if ch.isalnum())


def _split(text: str) -> list[str]:
    # CYME writes plain comma lists; csv also copes with the occasional quoted comment holding commas.
    return next(csv.reader([text], skipinitialspace=False))


def parse_text(text: str, file: str, sections: Sections | None = None) -> Sections:
    """Parse one export file's text into ``sections`` (a new ``Sections`` when None)."""
    out = sections if sections is not None else Sections()
    units = ""
    section = ""
    formats: dict[str, list[str]] = {}
    plain = ""  # the FORMAT key plain data lines use in this section
    parsed: list[tuple[str, int, str, list[str], str]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "//", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = " ".join(line[1:-1].upper().split())
            if section in UNIT_SECTIONS:
                if units and units != UNIT_SECTIONS[section]:
                    raise InputError(
                        "CYME file mixes unit systems",
                        [ErrorDetail(f"{file}:{lineno} [{section}]", f"already declared [{units}]")],
                    )
                units = UNIT_SECTIONS[section]
            formats, plain = {}, ""
            out.section_lines.setdefault(section, f"{file}:{lineno}")
            continue
        if not section:
            raise InputError(
                "CYME data outside any [SECTION]",
                [ErrorDetail(f"{file}:{lineno}", f"line before the first section header: {line[:60]!r}")],
            )
        key, eq, rest = line.partition("=")
        ukey = key.strip().upper()
        if eq and ukey.startswith("FORMAT_"):
            name = ukey[len("FORMAT_") :]
            cols = [c.strip() for c in _split(rest)]
            while cols and not cols[-1]:
                cols.pop()  # a trailing comma is not a column
            if not cols or any(not c for c in cols):
                raise InputError(
                    "malformed CYME FORMAT line",
                    [ErrorDetail(f"{file}:{lineno} [{section}]", "empty column name in FORMAT line")],
                )
            if len(set(cols)) != len(cols):
                raise InputError(
                    "malformed CYME FORMAT line",
                    [ErrorDetail(f"{file}:{lineno} [{section}]", "duplicated column name in FORMAT line")],
                )
            formats[name] = cols
            if not plain or name == plain or _norm(name) == _norm(section):
                plain = name
            continue
        if section == "GENERAL" or section in UNIT_SECTIONS:
            continue  # header facts (date, version): nothing to map
        kind = ""
        values_text = line
        if eq and ukey in formats and ukey != plain:
            kind, values_text = ukey, rest
        fmt = formats.get(kind or plain)
        if fmt is None:
            raise InputError(
                "CYME data line without a FORMAT line",
                [ErrorDetail(f"{file}:{lineno} [{section}]", "no FORMAT_ line precedes this data line")],
            )
        values = _split(values_text)
        if len(values) > len(fmt):
            extra = values[len(fmt) :]
            if any(v.strip() for v in extra):
                out.warnings.append(
                    ErrorDetail(
                        f"{file}:{lineno} [{section}]",
                        f"{len(values)} values for {len(fmt)} columns; the extra values are ignored",
                        code="extra_values",
                    )
                )
            values = values[: len(fmt)]
        parsed.append((section, lineno, kind, values, ",".join(fmt)))
    _check_not_truncated(text, file, section, parsed)
    if not units:
        units = "SI"
        if parsed:
            out.warnings.append(
                ErrorDetail(file, "no [SI] or [IMPERIAL] header; SI units assumed", code="units")
            )
    for section_name, lineno, kind, values, fmt_text in parsed:
        cols = fmt_text.split(",")
        fields = {c: (values[i] if i < len(values) else "") for i, c in enumerate(cols)}
        out.add([SectionRecord(section_name, fields, file, lineno, kind, units)])
    return out


def _check_not_truncated(
    text: str,
    file: str,
    section: str,
    parsed: list[tuple[str, int, str, list[str], str]],
) -> None:
    """A file cut short (an upload or copy that stopped) must not import as a smaller feeder.

    CYME writes every line with its newline; a file that ends without one is accepted only when its
    last line is complete: a section header with its bracket, or a data line with a value for every
    FORMAT column. A last FORMAT line or a short last data line means the rest is missing.
    """
    if not text or text.endswith(("\n", "\r")):
        return
    lines = text.splitlines()
    last_no = len(lines)
    last = lines[-1].strip()
    where = f"{file}:{last_no} [{section}]" if section else f"{file}:{last_no}"
    why = ""
    if last.startswith("[") and not last.endswith("]"):
        why = "the file ends inside a section header"
    elif last.upper().startswith("FORMAT_"):
        why = "the file ends on a FORMAT line (its data is missing)"
    elif parsed and parsed[-1][1] == last_no:
        columns = len(parsed[-1][4].split(","))
        if len(parsed[-1][3]) < columns:
            why = f"the last line has {len(parsed[-1][3])} of {columns} values"
    if why:
        raise InputError(
            "CYME file is truncated", [ErrorDetail(where, f"{why}; is the file complete?", "truncated")]
        )


def read_sections(paths: Sequence[Path]) -> Sections:
    """Parse every file (directories: their ``*.txt`` files, sorted); section order and which file holds
    which section do not matter."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".txt"))
        elif p.is_file():
            files.append(p)
        else:
            raise InputError("CYME input not found", [ErrorDetail(str(p), "no such file or directory")])
    if not files:
        raise InputError("no CYME files", [ErrorDetail(", ".join(map(str, paths)), "no .txt files found")])
    out = Sections()
    for f in files:
        if f.stat().st_size > MAX_FILE_BYTES:
            raise InputError("CYME file too large", [ErrorDetail(str(f), f"over {MAX_FILE_BYTES} bytes")])
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            text = f.read_text(encoding="latin-1")  # older CYME exports are Windows-1252
        parse_text(text, f.name, out)
    return out
