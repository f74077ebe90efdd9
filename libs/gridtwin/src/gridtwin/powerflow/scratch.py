"""Throwaway OpenDSS circuits: compile a script, read what the engine made of it, drop it.

Readers (OpenDSS, CYME) and equipment catalogs take OpenDSS as the reference for what a script
means: they compile it in a ``ScratchCircuit`` and read the elements back *resolved* (whole classes
through the engine's JSON export, bus kV bases and nodes, open conductors, phase matrices of lines
and line geometries). A scratch circuit is not the process's ``Engine``: it has its own isolated
context, never changes the process's working directory, and writes any output files (trace files,
``show`` or ``export`` commands in a script) only into a private folder removed with it, whatever the
script asks (``script_guard``: ``cd``, ``set datapath=`` and nested ``compile`` cannot move it). Its one solve is a plain
reference solve for checks that compare two compilations of a model (round trips); power flow
results come from ``Engine``. Like the engine, every call runs on the process's OpenDSS thread.

Engine errors become ``DssInputError``: for a compiled file they name ``file:line`` where OpenDSS
says where (a redirected file names itself), else the file or the label the caller gave.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np

from gridtwin._dsslib import opendssdirect  # loads the library safely
from gridtwin.errors import DssInputError, EngineError, ErrorDetail
from gridtwin.powerflow.engine import on_dss_thread
from gridtwin.powerflow.script_guard import guard_file, guard_text, name_originals, quote_path

__all__ = ["BusInfo", "PhaseMatrices", "ReferenceSolution", "ScratchCircuit", "default_objects"]

T = TypeVar("T")

# The engine (Free Pascal) writes non-finite doubles as Nan / +Inf / -Inf, which is not JSON; Python's
# json reads NaN / Infinity. They do occur: with Full, a Capacitor's never-set matrix property is exported
# from uninitialised memory (denormals and an occasional Nan).
_FPC_SPECIAL = re.compile(r"(?<=[\[,:\s])(Nan|[+]Inf|-Inf)(?=[\],}\s])")
_JSON_SPECIAL = {"Nan": "NaN", "+Inf": "Infinity", "-Inf": "-Infinity"}
_JSON_FULL = 1  # DSSJSONFlags.Full: every property, resolved
_JSON_LOWER = 128  # DSSJSONFlags.LowercaseKeys
_M_UNITS = 4  # OpenDSS length unit code for metres
# Where OpenDSS (ExtendedErrors) says a failing command came from.
_LOCATION = re.compile(r'\[file: "(?P<file>[^"]*)", line: (?P<line>\d+)\]')


@dataclass(frozen=True)
class BusInfo:
    """One bus as the engine set it up: kV base (line-to-neutral), node numbers, coordinates if given."""

    name: str
    kv_base: float
    nodes: list[int]
    xy: tuple[float, float] | None


@dataclass(frozen=True)
class PhaseMatrices:
    """Per-length R (ohm), X (ohm) and C (nF) phase matrices, flat and row by row."""

    r: list[float]
    x: list[float]
    c: list[float]


@dataclass
class ReferenceSolution:
    """A snapshot solve reduced to what two compilations of one model must agree on."""

    nodes: dict[str, tuple[float, float]]  # "bus.node" -> (|V| pu, angle deg)
    losses_w: complex
    taps: dict[str, list[float]]  # transformer -> tap (pu) per winding
    converged: bool


def _input_error(exc: Exception, where: str, copies: dict[str, str] | None = None) -> DssInputError:
    """An engine error as the user's input error, at the file:line OpenDSS names (a sanitized copy's
    original), else at ``where``."""
    text = name_originals(str(exc.args[1]) if len(exc.args) > 1 else str(exc), copies or {})
    found = _LOCATION.search(text)
    at = f"{found['file']}:{found['line']}" if found else where
    message = _LOCATION.sub("", text).strip().replace("\n", " ")
    return DssInputError(
        "OpenDSS script does not compile", [ErrorDetail(where=at, message=message, code="dss")]
    )


def _parse_json(text: str, cls: str) -> list[dict[str, Any]]:
    """The engine's JSON export of one class, with its non-finite doubles read as such."""
    fixed = _FPC_SPECIAL.sub(lambda m: _JSON_SPECIAL[m.group(1)], text)
    try:
        rows: list[dict[str, Any]] = json.loads(fixed)
    except json.JSONDecodeError as exc:
        around = fixed[max(0, exc.pos - 120) : exc.pos + 60]
        raise EngineError(
            "OpenDSS returned invalid JSON",
            [ErrorDetail(where=f"{cls} (char {exc.pos})", message=f"{exc.msg}: ...{around!r}...")],
        ) from exc
    return rows


def _flat(values: Any) -> list[float]:
    return [float(v) for v in values]


class ScratchCircuit:
    """One isolated OpenDSS context for one throwaway circuit. Use it as a context manager, or ``close()``.

    Not for power-flow results (``Engine`` gives those): reading models, computing impedances, and a
    reference solve for round-trip checks.
    """

    def __init__(self) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="gridtwin-scratch-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._tmp), True)
        self._where = "scratch circuit"  # what read errors name when OpenDSS names no file
        self._copies: dict[str, str] = {}  # sanitized script copies in our folder -> their originals
        self._data_path = ""
        self._ctx: Any = on_dss_thread(self._new_context)

    def _new_context(self) -> Any:
        ctx = opendssdirect.NewContext()
        ctx.Basic.AllowChangeDir(False)  # compile must not chdir the whole process
        ctx.Basic.AllowEditor(False)  # "show" commands must not launch an editor
        ctx.Error.ExtendedErrors(True)  # errors carry [file: ..., line: ...]
        ctx.Basic.DataPath(str(self._tmp))  # a script's output files land in our private folder
        self._data_path = str(ctx.Basic.DataPath())
        return ctx

    def _keep_data_path(self, ctx: Any) -> None:
        """Put the data path back on our folder if anything moved it (scripts run through
        ``script_guard`` first, which drops the commands that would)."""
        if ctx.Basic.DataPath() != self._data_path:
            ctx.Basic.DataPath(str(self._tmp))

    def _live(self) -> Any:
        if self._ctx is None:
            raise EngineError(
                "scratch circuit closed", [ErrorDetail(where=self._where, message="used after close()")]
            )
        return self._ctx

    def _do(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(ctx, *args)`` on the OpenDSS thread; engine errors become ``DssInputError``."""
        where, ctx = self._where, self._live()

        def guarded() -> T:
            try:
                return fn(ctx, *args)
            except opendssdirect.DSSException as exc:
                raise _input_error(exc, where, self._copies) from exc
            finally:
                self._keep_data_path(ctx)

        return on_dss_thread(guarded)

    def __enter__(self) -> ScratchCircuit:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Drop the circuit now (not at garbage collection) and the private folder."""
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None

            def clear() -> None:
                with contextlib.suppress(opendssdirect.DSSException):  # closing anyway
                    ctx.Text.Command("clear")

            on_dss_thread(clear)
        self._cleanup()

    # -- compiling ------------------------------------------------------------------------------------

    def compile_file(self, path: Path) -> None:
        """Compile a master file; relative redirects resolve against its folder.

        Errors name ``file:line`` (the redirected file where one fails), else ``path`` as given; later
        read errors name ``path`` too. Output files the scripts ask for land in the private folder
        (``script_guard``: sanitized copies when a script would move the data path).
        """
        self._where = str(path)
        self._tmp.mkdir(parents=True, exist_ok=True)
        guarded = guard_file(Path(path), self._tmp)
        self._copies.update(guarded.copies)
        self._command(f"redirect {quote_path(guarded.path)}", str(path))

    def run(self, command: str, where: str) -> None:
        """Run one OpenDSS command; an engine error names ``file:line`` if OpenDSS gives one, else ``where``."""
        text, guarded = guard_text(command, self._tmp, self._tmp, where=where)
        self._copies.update(guarded.copies)
        self._command(text, where)

    def _command(self, command: str, where: str) -> None:
        def run(ctx: Any) -> None:
            try:
                ctx.Text.Command(command)
            except opendssdirect.DSSException as exc:
                raise _input_error(exc, where, self._copies) from exc
            finally:
                self._keep_data_path(ctx)

        on_dss_thread(run, self._live())

    def compile_text(self, script: str, *, what: str, where: str) -> None:
        """Run a generated script line by line. An engine error raises ``DssInputError``
        "<what> does not compile in OpenDSS" at "<where> line N", quoting the command."""
        text, guarded = guard_text(script, self._tmp, self._tmp, where=where)  # same lines, made safe
        self._copies.update(guarded.copies)

        def run(ctx: Any) -> None:
            try:
                for lineno, command in enumerate(text.splitlines(), start=1):
                    try:
                        ctx.Text.Command(command)
                    except opendssdirect.DSSException as exc:
                        raise DssInputError(
                            f"{what} does not compile in OpenDSS",
                            [ErrorDetail(f"{where} line {lineno}", f"{command[:120]}: {exc}", code="dss")],
                        ) from exc
            finally:
                self._keep_data_path(ctx)

        on_dss_thread(run, self._live())

    # -- the circuit ----------------------------------------------------------------------------------

    def has_circuit(self) -> bool:
        return bool(self._do(lambda ctx: ctx.Basic.NumCircuits()))

    def circuit_name(self) -> str:
        return str(self._do(lambda ctx: ctx.Circuit.Name()))

    def option(self, name: str) -> str:
        """An option's value as ``get <name>`` prints it (e.g. ``tolerance``, ``controlmode``)."""

        def get(ctx: Any) -> str:
            ctx.Text.Command(f"get {name}")
            return str(ctx.Text.Result()).strip()

        return self._do(get)

    def property_text(self, cls: str, name: str, prop: str) -> str:
        """One element property as the engine prints it (``? line.l1.length``): the text behind a JSON
        ``null``, which is an empty array (``[]``) or a number the engine cannot hold (``inf``)."""

        def get(ctx: Any) -> str:
            ctx.Text.Command(f"? {cls}.{name}.{prop}")
            return str(ctx.Text.Result()).strip()

        return self._do(get)

    def voltage_bases(self) -> list[float]:
        return self._do(lambda ctx: _flat(ctx.Settings.VoltageBases()))

    def max_iterations(self) -> int:
        return int(self._do(lambda ctx: ctx.Solution.MaxIterations()))

    def max_control_iterations(self) -> int:
        return int(self._do(lambda ctx: ctx.Solution.MaxControlIterations()))

    # -- elements -------------------------------------------------------------------------------------

    def classes(self) -> list[str]:
        """Every element class the engine knows, as it names them (``Line``, ``LoadShape``, ...)."""
        return [str(c) for c in self._do(lambda ctx: ctx.Basic.Classes())]

    def element_names(self, cls: str) -> list[str]:
        """Names of the elements of ``cls`` (empty when there are none)."""

        def names(ctx: Any) -> list[str]:
            ctx.Basic.SetActiveClass(cls)
            if ctx.ActiveClass.Count() == 0:
                return []
            return [str(n) for n in ctx.ActiveClass.AllNames()]

        return self._do(names)

    def property_names(self, cls: str) -> list[str]:
        """The property names of ``cls`` as the OpenDSS parser accepts them (``%R``, ``kVA``, ...);
        empty when the class has no elements (the engine lists them per element)."""

        def names(ctx: Any) -> list[str]:
            ctx.Basic.SetActiveClass(cls)
            if ctx.ActiveClass.Count() == 0:
                return []
            ctx.ActiveClass.First()
            return [str(n) for n in ctx.Element.AllPropertyNames()]

        return self._do(names)

    def export_class(self, cls: str, *, full: bool) -> list[dict[str, Any]]:
        """Every element of ``cls`` through the engine's JSON export, property names in lower case
        (but for the ``Name`` key, as the engine writes it).

        ``full``: every property, resolved (matrices from codes and geometries, defaults filled in);
        otherwise only the properties the script set. Empty when the class has no elements.
        """
        flags = _JSON_LOWER | (_JSON_FULL if full else 0)

        def export(ctx: Any) -> str | None:
            ctx.Basic.SetActiveClass(cls)
            if ctx.ActiveClass.Count() == 0:
                return None
            return str(ctx.ActiveClass.ToJSON(flags))

        text = self._do(export)
        return [] if text is None else _parse_json(text, cls)  # parsed off the OpenDSS thread

    def open_line_conductors(self) -> dict[str, list[str]]:
        """Line (lower-case name) -> conductors left open by ``open`` commands, as ``"terminal.conductor"``.

        Engine state, not a property: the JSON export does not show it.
        """

        def read(ctx: Any) -> dict[str, list[str]]:
            lines, elem = ctx.Lines, ctx.CktElement
            out: dict[str, list[str]] = {}
            i = lines.First()
            while i:
                for term in (1, 2):
                    if elem.IsOpen(term, 0):
                        out.setdefault(str(lines.Name()).lower(), []).extend(
                            f"{term}.{c}"
                            for c in range(1, int(elem.NumConductors()) + 1)
                            if elem.IsOpen(term, c)
                        )
                i = lines.Next()
            return out

        return self._do(read)

    def buses(self) -> list[BusInfo]:
        """Every bus in the engine's order, with the kV base it holds (set by ``calcvoltagebases``)."""

        def read(ctx: Any) -> list[BusInfo]:
            ckt, bus = ctx.Circuit, ctx.Bus
            out: list[BusInfo] = []
            for i, name in enumerate(ckt.AllBusNames()):
                ckt.SetActiveBusi(i)
                xy = (float(bus.X()), float(bus.Y())) if bool(bus.Coorddefined()) else None
                out.append(BusInfo(str(name), float(bus.kVBase()), [int(n) for n in bus.Nodes()], xy))
            return out

        return self._do(read)

    # -- reference solve -------------------------------------------------------------------------------

    def solve_snapshot(self) -> ReferenceSolution:
        """``set mode=snapshot`` and ``solve`` as a script would, then node voltages, losses and taps."""
        self.run("set mode=snapshot", "<solve>")
        self.run("solve", "<solve>")
        return self._do(_read_solution)

    # -- impedances -----------------------------------------------------------------------------------

    def line_matrices(self, line: str) -> PhaseMatrices:
        """A line's phase matrices per its own length unit (set ``units=m`` for per metre)."""

        def read(ctx: Any) -> PhaseMatrices:
            ctx.Lines.Name(line)
            return PhaseMatrices(
                _flat(ctx.Lines.RMatrix()), _flat(ctx.Lines.XMatrix()), _flat(ctx.Lines.CMatrix())
            )

        return self._do(read)

    def geometry_matrices_per_m(self, geometry: str, frequency_hz: float) -> PhaseMatrices:
        """A line geometry's per-metre phase matrices at ``frequency_hz`` (Kron-reduced if it says
        ``reduce=yes``), in the order of its phase conductors."""

        def read(ctx: Any) -> PhaseMatrices:
            geo = ctx.LineGeometries
            geo.Name(geometry)
            return PhaseMatrices(
                *(_flat(fn(frequency_hz, 1.0, _M_UNITS)) for fn in (geo.Rmatrix, geo.Xmatrix, geo.Cmatrix))
            )

        return self._do(read)


@functools.cache
def default_objects() -> frozenset[tuple[str, str]]:
    """(class, name), lower case, of the objects every new circuit has (default spectra, growth shapes,
    curves): readers need not report them."""
    with ScratchCircuit() as probe:
        probe.run("new circuit.probe", "probe")
        return frozenset(
            (cls.lower(), name.lower()) for cls in probe.classes() for name in probe.element_names(cls)
        )


def _read_solution(ctx: Any) -> ReferenceSolution:
    names = [str(n).lower() for n in ctx.Circuit.AllNodeNames()]
    vpu = np.asarray(ctx.Circuit.AllBusMagPu(), dtype=float)
    volts = np.asarray(ctx.Circuit.AllBusVolts(), dtype=float)
    ang = np.degrees(np.arctan2(volts[1::2], volts[0::2]))
    losses = ctx.Circuit.Losses()
    taps: dict[str, list[float]] = {}
    t = ctx.Transformers
    i = t.First()
    while i:
        taps[str(t.Name()).lower()] = [_tap(t, w) for w in range(1, int(t.NumWindings()) + 1)]
        i = t.Next()
    return ReferenceSolution(
        nodes={n: (float(vpu[k]), float(ang[k])) for k, n in enumerate(names)},
        losses_w=complex(losses[0], losses[1]),
        taps=taps,
        converged=bool(ctx.Solution.Converged()),
    )


def _tap(t: Any, winding: int) -> float:
    t.Wdg(winding)
    return float(t.Tap())
