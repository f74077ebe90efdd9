"""Keeping OpenDSS's output files in an engine's private folder, whatever a script asks.

What OpenDSS writes (DSS C-API 0.15.7, checked here), all of it into the context's data path
(``DataPath``, also its output directory) unless a command names another place:

- trace files of elements with ``debugtrace=yes`` (``REG_<name>.csv`` of a RegControl, ``GEN_<name>.csv``
  of a Generator, PVSystem, Storage, ...), created when the property is set (during compile: an empty
  file even if nothing is ever solved) and appended on every solve;
- ``show`` reports (``<circuit>_VLN.txt`` ...), ``export`` files (``<circuit>_EXP_VOLTAGES.csv``,
  monitors ``<circuit>_Mon_<name>_.csv``, meters), ``save circuit`` (a folder of scripts), energy
  meters' demand-interval files (``set demandinterval=yes``: ``<casename>/DI_yr_N/``), control traces.

The data path moves with ``compile <file>`` (to the file's folder: a master compiled in place writes
beside itself), ``cd <dir>`` and ``set datapath=<dir>`` (a relative one is taken against the *process*
working directory, and a missing one is created there). ``export ... <file>`` and ``save ...
dir=<dir>`` write wherever the path says. Commands may be abbreviated (``c``/``co`` = compile,
``ex`` = export, ``sa`` = save, ``set da=`` = datapath).

So the engines (``Engine``, ``ScratchCircuit``) keep their data path on their private folder and
never ``compile`` a file: ``redirect`` runs it with relative reads resolved against each file's own
folder while output stays private. A file tree (the file and every file it redirects or compiles)
whose scripts would move the data path or write to a named path runs from sanitized copies in the
private folder (``guard_file``): such commands are dropped (``cd``, ``set datapath=``, exports/saves to
a path, ``alignfile``, ``doscmd``, ``fileedit``; a nested ``compile`` becomes a ``redirect``), relative
file references in the copies are made absolute (``redirect``/``compile`` targets, ``buscoords``,
``latlongcoords`` and ``...file=`` values; they resolve where OpenDSS would have resolved them, a
directory named by a dropped ``cd``/``datapath`` included), and line numbers are kept so errors
still name the original ``file:line`` (``name_originals``). Script text (``guard_text``) gets the same
treatment. Not covered: paths built at run time (``@var`` parser variables) and file references in
other property syntaxes inside a sanitized copy (they stay relative to the copy and fail loudly).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gridtwin.errors import ErrorDetail

__all__ = ["CRASHING", "GuardedScript", "guard_file", "guard_text", "name_originals", "quote_path"]

# Quick tests (on "\n" + the lower-cased text: a literal first character keeps Python's re fast on
# megabyte scripts) for anything the line rules below could act on, and for redirects to follow.
_RISKY = re.compile(
    r"\n[ \t]*(?:(?:cd|c|co|com|comp|compi|compil|compile|ex|exp|expo|expor|export|sa|sav|save|"
    r"ali\w*|dos\w*|fil\w*)(?=[ \t(\"'\[{\r\n])|set\b[^\n]*\b(?:da\w*|cas\w*)[ \t]*=)"
)
_REDIRECT_LINE = re.compile(r"\n[ \t]*red(?:i(?:r(?:e(?:c(?:t)?)?)?)?)?(?=[ \t(\"'\[{\r\n])")
# A redirect naming no file (OpenDSS would read its process's working folder): dropped from a copy.
_BARE_REDIRECT = re.compile(
    r"\n[ \t]*red(?:i(?:r(?:e(?:c(?:t)?)?)?)?)?[ \t]*(?:file[ \t]*=[ \t]*)?(?:\"\"|''|\(\)|\[\]|\{\})?[ \t]*(?:\r?\n|!|//)"
)
_COMPILE = {"c", "co", "com", "comp", "compi", "compil", "compile"}
_REDIRECT = {"red", "redi", "redir", "redire", "redirec", "redirect"}
_EXPORT = {"ex", "exp", "expo", "expor", "export"}
_SAVE = {"sa", "sav", "save"}
_COORDS = ("buscoords", "latlongcoords")  # commands whose argument is a file to read
_DROPPED_PREFIXES = ("alignfile", "doscmd", "fileedit")  # abbreviated to 3+ letters
_OPEN = {'"': '"', "'": "'", "(": ")", "[": "]", "{": "}"}
# Property values naming a file to read: file= (also inside arrays: mult=(file=x.csv)), csvfile=, ...
_FILE_VALUE = re.compile(r"(?i)\b((?:csv|sng|dbl|pqcsv)?file)(\s*=\s*)(\"[^\"]*\"|'[^']*'|[^\s)\]}\"',]+)")
_PAIR = re.compile(r"\s*([^\s=]+)\s*=\s*(\"[^\"]*\"|'[^']*'|\([^)]*\)|\[[^\]]*\]|\{[^}]*\}|\S+)")
_MAX_DEPTH = 32  # redirect nesting (OpenDSS itself would recurse forever on a cycle)
# Report commands whose answer a script cannot use, and on which the engine crashes the whole process
# (SIGSEGV, DSS C-API 0.15.7) when the circuit has not been solved yet: a one-line script ``v`` after
# ``new circuit`` took a reader down (found by fuzzing, issue 15). Command -> the fewest letters OpenDSS
# resolves to it (it takes an abbreviation as the first command, in its own order, that starts with
# it: ``v`` is Voltages, ``cu`` Currents; ``tests/fuzz/test_fuzz_opendss.py`` checks this against
# the engine's command list).
CRASHING: dict[str, int] = {
    "next": 3, "voltages": 1, "currents": 2, "seqvoltages": 3, "seqcurrents": 4, "seqpowers": 4,
    "zsc": 1, "zsc10": 4, "ysc": 1, "puvoltages": 2, "di_plot": 3, "comparecases": 5,
    "yearlycurves": 2, "setloadandgenkv": 4, "nodelist": 5, "calcincmatrix_o": 14,
}  # fmt: skip


def _abbreviations(name: str, least: int) -> str:
    """A regex for ``name`` cut to ``least`` letters or more (``v(?:o(?:l...)?)?``)."""
    tail = ""
    for ch in reversed(name[least:]):
        tail = f"(?:{re.escape(ch)}{tail})?"
    return re.escape(name[:least]) + tail


_CRASHING_LINE = re.compile(
    r"\n[ \t]*(?:" + "|".join(_abbreviations(n, k) for n, k in CRASHING.items()) + r")(?=[ \t(\"'\[{=\r\n])"
)


def quote_path(path: Path | str, *, bare_if_plain: bool = False) -> str:
    """A path quoted for an OpenDSS command with a delimiter the path does not contain (left bare
    with ``bare_if_plain`` when it holds no blank or delimiter)."""
    text = str(path)
    if bare_if_plain and not re.search(r"[\s\"'()\[\]{},=]", text):
        return text
    for left, right in (('"', '"'), ("'", "'"), ("[", "]"), ("(", ")"), ("{", "}")):
        if left not in text and right not in text:
            return f"{left}{text}{right}"
    raise ValueError(f"path cannot be quoted for OpenDSS: {text}")


@dataclass
class GuardedScript:
    """What to run (``path``: the original, or its sanitized copy), the copies made (copy -> original)
    and what was changed, each at the original ``file:line``."""

    path: Path
    copies: dict[str, str] = field(default_factory=dict)
    changed: list[ErrorDetail] = field(default_factory=list)


def name_originals(text: str, copies: dict[str, str]) -> str:
    """``text`` (an engine message) with every sanitized copy's path replaced by its original's."""
    for copy, original in copies.items():
        text = text.replace(copy, original)
    return text


def _unquote(token: str) -> str:
    token = token.strip()
    if len(token) >= 2 and token[0] in _OPEN and token[-1] == _OPEN[token[0]]:
        return token[1:-1].strip()
    return token


def _code(line: str) -> str:
    """The line without its comment (``!`` or ``//`` outside quotes)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "!" or line.startswith("//", i):
            return line[:i]
    return line


def _split(code: str) -> tuple[str, str]:
    """(verb in lower case, the rest) of a command line."""
    stripped = code.strip()
    match = re.match(r"[^\s(\"'\[{=]+", stripped)
    if not match:
        return "", stripped
    return match.group(0).lower(), stripped[match.end() :].strip()


def _first_arg(rest: str) -> str:
    """The first argument of a command (``file=`` prefix and quotes removed)."""
    rest = re.sub(r"(?i)^file\s*=\s*", "", rest.strip())
    if rest and rest[0] in _OPEN:
        end = rest.find(_OPEN[rest[0]], 1)
        return rest[1:end].strip() if end > 0 else rest[1:].strip()
    return rest.split()[0] if rest.split() else ""


def _is_abbrev(verb: str, command: str, least: int) -> bool:
    return len(verb) >= least and command.startswith(verb)


def _export_file(rest: str) -> bool:
    """Whether an ``export`` names a file (its second word; ``export monitors <name>`` names a monitor)."""
    words = rest.split()
    return len(words) > 1 and not words[0].lower().startswith("mo")


def _pathlike(token: str) -> bool:
    """Whether an argument names a place (so a write could land outside the data path)."""
    text = _unquote(token)
    return "/" in text or "\\" in text or ".." in text or ":" in text


class _Guard:
    def __init__(self, private: Path) -> None:
        self.private = private
        self.result = GuardedScript(path=private)
        self._needs: dict[Path, bool] = {}
        self._copies: dict[Path, Path] = {}
        self._visiting: set[Path] = set()

    # -- analysis --------------------------------------------------------------------------------

    def needs_copy(self, path: Path, depth: int = 0) -> bool:
        """Whether ``path`` (or a file it redirects or compiles) has a command to neutralize."""
        if path in self._needs:
            return self._needs[path]
        if path in self._visiting or depth > _MAX_DEPTH:
            return False  # a cycle: OpenDSS reports it; nothing to add here
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False  # OpenDSS names the missing file itself
        self._visiting.add(path)
        try:
            found = _risky(_searchable(text)) or any(
                self.needs_copy(target, depth + 1) for target in self._targets(text, path.parent)
            )
        finally:
            self._visiting.discard(path)
        self._needs[path] = found
        return found

    def _targets(self, text: str, folder: Path) -> list[Path]:
        """Files a script redirects or compiles, resolved as OpenDSS would (folder moves followed)."""
        out: list[Path] = []
        base = folder
        for _, verb, rest in _commands(text.splitlines()):
            if verb in _REDIRECT or verb in _COMPILE:
                target = _resolve(base, _first_arg(rest))
                if target is not None:
                    out.append(target)
                    if verb in _COMPILE:
                        base = target.parent
            elif verb == "cd":
                base = _moved(base, _first_arg(rest))
            elif verb == "set":
                for name, value in _PAIR.findall(rest):
                    if _is_abbrev(name.lower(), "datapath", 2):
                        base = _moved(base, _unquote(value))
        return out

    # -- rewriting -------------------------------------------------------------------------------

    def copy_of(self, path: Path, depth: int = 0) -> Path:
        """The sanitized copy of ``path`` in the private folder (made once)."""
        if path in self._copies:
            return self._copies[path]
        folder = self.private / "guard"
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / f"{len(self._copies):03d}-{path.name}"
        self._copies[path] = copy
        self.result.copies[str(copy)] = str(path)
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        copy.write_text(
            "\n".join(self.rewrite(lines, path.parent, str(path), depth)) + "\n", encoding="utf-8"
        )
        return copy

    def rewrite(self, lines: list[str], base: Path, where: str, depth: int = 0) -> list[str]:
        """``lines`` run from the private folder: folder moves and outside writes dropped, relative
        references absolute (against ``base``, moved as the script moves it), redirect targets that
        need it pointed at their copies. One line out per line in."""
        out = list(lines)
        for index, verb, rest in _commands(lines):
            line = lines[index]
            at = f"{where}:{index + 1}"
            if verb == "cd":
                base = _moved(base, _first_arg(rest))
                out[index] = self._drop(line, at, "cd: the engine keeps its output folder")
            elif verb in _REDIRECT or verb in _COMPILE:
                arg = _first_arg(rest)
                if not arg:  # OpenDSS would read the *process's* working folder (and name it)
                    out[index] = self._drop(line, at, f"{verb} without a file: nothing to run")
                    continue
                target = _resolve(base, arg)
                if target is None:
                    continue  # OpenDSS reports the bad argument
                run = target
                if depth < _MAX_DEPTH and self.needs_copy(target, depth + 1):
                    run = self.copy_of(target, depth + 1)
                out[index] = f"redirect {quote_path(run)}"
                if verb in _COMPILE:
                    base = target.parent  # later relative reads follow the compiled file's folder
                    self.result.changed.append(
                        ErrorDetail(
                            at, "compile run as redirect: the engine keeps its output folder", "guarded"
                        )
                    )
            elif verb == "set":
                out[index], base = self._set(line, rest, base, at)
            elif (verb in _EXPORT or verb in _SAVE) and any(
                _pathlike(t) for t in rest.split()[1:] or rest.split()
            ):
                out[index] = self._drop(line, at, f"{verb} to a path: output stays in the engine's folder")
            elif verb in _EXPORT and _export_file(rest):
                # ``export <what> <file>`` writes a bare file name into the *process's* working folder
                kind, name, *more = rest.split()
                out[index] = " ".join([verb, kind, quote_path(self.private / _unquote(name)), *more])
                self.result.changed.append(
                    ErrorDetail(at, f"export file {name} kept in the engine's folder", "guarded")
                )
            elif any(_is_abbrev(verb, name, least) for name, least in CRASHING.items()):
                out[index] = self._drop(
                    line, at, f"{verb}: a report a script cannot use (OpenDSS crashes on it)"
                )
            elif any(_is_abbrev(verb, name, 3) for name in _DROPPED_PREFIXES):
                out[index] = self._drop(line, at, f"{verb}: not run by the engine")
            elif any(_is_abbrev(verb, name, 3) for name in _COORDS):
                arg = _first_arg(rest)
                target = _resolve(base, arg)
                if target is not None and arg and not Path(arg).is_absolute():
                    out[index] = f"{verb} {quote_path(target)}"
            else:
                out[index] = _absolute_files(line, base)
        return out

    def _drop(self, line: str, at: str, why: str) -> str:
        self.result.changed.append(ErrorDetail(at, f"{why} ({line.strip()[:120]})", "guarded"))
        return "! gridtwin: dropped"

    def _set(self, line: str, rest: str, base: Path, at: str) -> tuple[str, Path]:
        kept: list[str] = []
        dropped = False
        for name, value in _PAIR.findall(_code(rest)):
            low = name.lower()
            if _is_abbrev(low, "datapath", 2):
                base = _moved(base, _unquote(value))
                dropped = True
            elif _is_abbrev(low, "casename", 3) and _pathlike(value):
                dropped = True
            else:
                kept.append(f"{name}={value}")
        if not dropped:
            return _absolute_files(line, base), base
        self.result.changed.append(
            ErrorDetail(at, f"set datapath/casename dropped: the engine keeps its output folder ({line.strip()[:120]})",
                        "guarded")
        )  # fmt: skip
        return (f"set {' '.join(kept)}" if kept else "! gridtwin: dropped"), base


def _searchable(text: str) -> str:
    return "\n" + text.lower() + "\n"


def _risky(searchable: str) -> bool:
    return any(r.search(searchable) is not None for r in (_RISKY, _CRASHING_LINE, _BARE_REDIRECT))


def _commands(lines: list[str]) -> list[tuple[int, str, str]]:
    """(index, verb, rest) of every command line outside comments and block comments."""
    out: list[tuple[int, str, str]] = []
    in_block = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not in_block and stripped.startswith("/*"):
            in_block = True
        if in_block:
            if "*/" in stripped:
                in_block = False
            continue
        code = _code(line)
        if not code.strip():
            continue
        verb, rest = _split(code)
        if verb:
            out.append((index, verb, rest))
    return out


def _resolve(base: Path, arg: str) -> Path | None:
    if not arg or arg.startswith("@"):
        return None  # nothing, or a parser variable only known at run time
    path = Path(arg)
    return (path if path.is_absolute() else (base / path)).resolve()


def _moved(base: Path, arg: str) -> Path:
    """Where relative reads resolve after a ``cd``/``datapath`` to ``arg`` (only an existing folder)."""
    target = _resolve(base, arg)
    return target if target is not None and target.is_dir() else base


def _absolute_files(line: str, base: Path) -> str:
    """``...file=`` values made absolute against ``base`` (quotes added where needed)."""

    def repl(match: re.Match[str]) -> str:
        name, eq, value = match.groups()
        raw = _unquote(value)
        if not raw or Path(raw).is_absolute() or raw.startswith("@"):
            return match.group(0)
        return f"{name}{eq}{quote_path(base / raw, bare_if_plain=True)}"

    code = _code(line)
    return _FILE_VALUE.sub(repl, code) + line[len(code) :]


def guard_file(path: Path, private: Path) -> GuardedScript:
    """What to ``redirect`` for the master ``path`` so every output stays under ``private``: ``path``
    itself when no file of its tree moves the data path or writes to a named place, else a sanitized
    copy (see the module docstring)."""
    guard = _Guard(private)
    resolved = Path(path).resolve()
    if guard.needs_copy(resolved):
        guard.result.path = guard.copy_of(resolved)
    else:
        guard.result.path = resolved
    return guard.result


def guard_text(script: str, base: Path, private: Path, *, where: str) -> tuple[str, GuardedScript]:
    """``script`` (commands run with relative paths against ``base``) made safe to run with the data
    path on ``private``; unchanged (the same object) when nothing in it or the files it redirects would
    write outside. ``where`` names the script in what ``GuardedScript.changed`` reports."""
    guard = _Guard(private)
    searchable = _searchable(script)
    if not _risky(searchable):
        targets = guard._targets(script, base) if _REDIRECT_LINE.search(searchable) else []
        if not any(guard.needs_copy(t) for t in targets):
            return script, guard.result
    lines = script.splitlines()
    rewritten = guard.rewrite(lines, base, where)
    text = "\n".join(rewritten) + ("\n" if script.endswith("\n") else "")
    return text, guard.result
