"""The OpenDSS engine adapter: one private OpenDSS context per ``Engine``, one ``Engine`` per process.

This package is the only place that speaks OpenDSS (with the DSS *writer* in ``gridtwin.grid``):
this module, ``snapshot`` and ``qsts*`` (power flow), ``scratch`` (throwaway circuits for readers),
``der_study`` / ``study_*`` (hosting-capacity studies, in hosting's own nouns); callers see
unit-suffixed results. Each ``Engine`` owns its own ``opendssdirect`` context (never the global engine), never
changes the process working directory, writes every output file (trace files, ``show``/``export``
output, energy meters' files) only under its private temp folder whatever a script asks
(``script_guard``), and turns every engine error into ``EngineError``.

Threads: every OpenDSS call runs on one process-wide worker thread, started and warmed up when this
module is imported (again after a fork). The engine (Free Pascal) initialises its runtime per thread
on the first call, reading the C environment through a pointer taken when the library loaded; once
variables are added at run time (pytest, servers) that pointer can dangle and the first call from a
new thread segfaults in ``FPGETENV``. ``_dsslib`` pins the environment before loading the library
(the fix); one long-lived thread is the second line of defence when something else loaded the
library first, and it also serialises access (contexts are not thread-safe).

Ownership: an ``Engine`` holds one circuit, so a sequence of calls (load a feeder, solve, read; or a
whole hosting study that adds test DER) must not interleave with another thread's sequence. The
engine owns that lock (``hold()``; every public call takes it too) and a cache of compiled-scripts'
text keyed by (feeder, version, variant), so callers never keep their own copies or locks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gridtwin._dsslib import OpenDSSDirect, opendssdirect  # loads the library safely
from gridtwin.errors import EngineError, ErrorDetail, NotConvergedError
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.results import SnapshotResult
from gridtwin.powerflow.script_guard import guard_file, guard_text, name_originals, quote_path
from gridtwin.powerflow.snapshot import (
    CircuitLayout,
    SolveStatus,
    circuit_signature,
    read_layout,
    read_snapshot,
)
from gridtwin.powerflow.solver import EffectiveSolver, SolverSettings

if TYPE_CHECKING:
    from gridtwin.grid.model import FeederModel

__all__ = ["Engine", "engine_version", "get_engine", "on_dss_thread"]

# OpenDSS error number for "Max Control Iterations Exceeded": the power flow solved but the
# controls (regulators, capacitors) never settled, so the result is not a valid operating point.
_MAX_CONTROL_ITERATIONS = 485
_SNAPSHOT_MODE = 0
# Compiled scripts' text kept per engine (a 3,000-bus feeder's script is about 1 MB).
SCRIPT_CACHE_BYTES = 64 * 1024 * 1024

T = TypeVar("T")


def _warm_up() -> int:
    # Any call initialises the engine runtime on this thread; a throwaway context touches no state.
    lib = opendssdirect.dss._api_util.lib_unpatched
    lib.ctx_Dispose(lib.ctx_New())
    return threading.get_ident()


class _DssThread:
    """The single OpenDSS worker thread of this process (re-created in a forked child)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opendss")
        self.ident = self.executor.submit(_warm_up).result()


_dss_thread = _DssThread()
_dss_thread_lock = threading.Lock()


def _current_dss_thread() -> _DssThread:
    global _dss_thread
    if _dss_thread.pid != os.getpid():  # forked: the parent's worker thread does not exist here
        with _dss_thread_lock:
            if _dss_thread.pid != os.getpid():
                _dss_thread = _DssThread()
    return _dss_thread


def on_dss_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on the OpenDSS thread (directly when already on it) and return its result."""
    worker = _current_dss_thread()
    if threading.get_ident() == worker.ident:
        return fn(*args)
    return worker.executor.submit(fn, *args).result()


def _new_numpy_context() -> Any:
    """A fresh DSS context whose array getters return numpy arrays (about 3.5x cheaper than lists).

    ``NewContext()`` copies the list/numpy choice of the global instance, which depends on the
    ``OPENDSSDIRECT_PY_USE_NUMPY`` variable at import time; wrapping the new context's API object
    again with ``prefer_lists=False`` makes the choice ours.
    """
    base = opendssdirect.dss.NewContext()
    return OpenDSSDirect(base._api_util, prefer_lists=False)


def _quote(path: Path) -> str:
    """Quote a path for an OpenDSS command with a delimiter the path does not contain."""
    try:
        return quote_path(path)
    except ValueError:
        raise EngineError(
            "path cannot be quoted for OpenDSS",
            [ErrorDetail(where=str(path), message="contains every quote character")],
        ) from None


def _cache_version(version: str, variant: str) -> str:
    return f"{version}#{variant}" if variant else version


class _ScriptCache:
    """Script text by (feeder, version, variant), least recently used dropped past a byte budget.

    Hand-written over an OrderedDict because the budget is in bytes, not entries."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[str, str, str]) -> str | None:
        script = self._items.get(key)
        if script is not None:
            self._items.move_to_end(key)
        return script

    def put(self, key: tuple[str, str, str], script: str) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._items[key] = script
        self._bytes += len(script)
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)


class Engine:
    """One OpenDSS context holding one circuit at a time. Safe to call from any thread."""

    def __init__(self, script_cache_bytes: int = SCRIPT_CACHE_BYTES) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="gridtwin-dss-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._tmp), True)
        self._loaded: tuple[str, str] | None = None  # (key, version) of the circuit, None if changed
        self._feeder = ""
        self._version = ""
        self._layout: CircuitLayout | None = None
        self._dss: Any = None
        # Held by one caller for a whole sequence of calls; re-entrant so calls inside a hold() pass.
        self._lock = threading.RLock()
        self._scripts = _ScriptCache(script_cache_bytes)
        self.compiles = 0  # circuits compiled by this engine (tests and benchmarks read it)
        # Solver settings: the ones in force (``solving_with``), the circuit's own (read after its
        # compile), and the ones last applied to it (to tell a circuit changed behind our back).
        self._solver = SolverSettings()
        self._own: EffectiveSolver | None = None
        self._applied: EffectiveSolver | None = None
        self._copies: dict[str, str] = {}  # sanitized script copies in our folder -> their originals
        self._data_path = ""  # the data path as OpenDSS reports it once set to our folder
        self._call("configure", self._configure)

    def _configure(self) -> None:
        self._dss = dss = _new_numpy_context()
        dss.Basic.AllowChangeDir(False)  # compile must not chdir the whole process
        dss.Basic.AllowEditor(False)  # "show" commands must not launch an editor
        dss.Error.ExtendedErrors(True)
        dss.Basic.COMErrorResults(False)  # empty circuits give empty arrays, not COM's [0.0]
        dss.Basic.DataPath(str(self._tmp))  # output files land in our private directory
        self._data_path = str(dss.Basic.DataPath())

    # -- plumbing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self) -> Iterator[Engine]:
        """Exclusive use of this engine (its one circuit) for a sequence of calls.

        ``with engine.hold(): engine.load_model(m); engine.snapshot()`` cannot interleave with another
        thread's sequence. Code already running on the OpenDSS thread runs inside some caller's hold
        (that thread only runs submitted work), so it does not take the lock again: it would wait on
        the very caller that is waiting for it.
        """
        if threading.get_ident() == _current_dss_thread().ident:
            yield self
            return
        with self._lock:
            yield self

    def _call(self, where: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the OpenDSS thread; any OpenDSS error becomes an ``EngineError`` at ``where``."""

        def guarded() -> T:
            try:
                return fn(*args)
            except opendssdirect.DSSException as exc:
                raise self._engine_error(where, exc) from exc
            finally:
                self._keep_data_path()

        with self.hold():
            return on_dss_thread(guarded)

    def _keep_data_path(self) -> None:
        """Put the data path back on our folder if anything moved it (belt and braces: scripts run
        through ``script_guard``, which drops the commands that would)."""
        if self._dss is not None and self._dss.Basic.DataPath() != self._data_path:
            self._dss.Basic.DataPath(str(self._tmp))

    def _engine_error(self, where: str, exc: Exception) -> EngineError:
        number = exc.args[0] if len(exc.args) >= 2 else None
        text = name_originals(str(exc.args[1] if len(exc.args) >= 2 else exc).strip(), self._copies)
        code = f"dss_{number}" if number is not None else "dss"
        return EngineError("OpenDSS error", [ErrorDetail(where=where, message=text, code=code)])

    def _compile(self, where: str, path: Path) -> None:
        self._layout = None
        self._loaded = None
        self._own = self._applied = None
        self._dss.Text.Command("clear")  # one circuit per context: drop the previous one
        # redirect, not compile: compile would move the data path (our output folder) to the file's.
        self._dss.Text.Command(f"redirect {_quote(path)}")
        self.compiles += 1
        if not self._dss.Basic.NumCircuits():
            raise EngineError(
                "the script defines no circuit",
                [ErrorDetail(where=where, message="no 'New Circuit' command")],
            )
        self._apply_solver()

    # -- loading --------------------------------------------------------------------------

    @property
    def loaded(self) -> tuple[str, str] | None:
        """(key, version) of the circuit in the engine, None if none or it was changed by commands."""
        return self._loaded

    @property
    def dss(self) -> Any:
        """The raw ``opendssdirect`` context, for this package's tests and sibling adapter modules.

        Call it only through ``on_dss_thread`` (or from the thread that imported this module).
        """
        return self._dss

    def load_script(self, key: str, version: str, script: str) -> bool:
        """Compile an OpenDSS script (``write_dss`` output) unless (key, version) is already loaded.

        Returns whether it compiled. The script goes through a file in the engine's private temp
        directory so OpenDSS parses it exactly as it would a master file.
        """
        where = f"{key}@{version}"

        def load() -> bool:
            if self._loaded == (key, version):
                return False
            self._tmp.mkdir(parents=True, exist_ok=True)  # (close() removed it)
            path = self._tmp / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.dss"
            text, guarded = guard_text(script, self._tmp, self._tmp, where=where)
            self._copies.update(guarded.copies)
            path.write_text(text, encoding="utf-8")
            self._compile(where, path)
            self._feeder, self._version = key, version
            self._loaded = (key, version)
            return True

        return self._call(where, load)

    def load_model(self, model: FeederModel, *, variant: str = "") -> bool:
        """Compile ``model`` unless its (feeder, version, variant) is the circuit loaded now.

        The script text is cached by that key, so a model that changed the circuit (QSTS moved taps, a
        study added DER) is recompiled without being written again. ``variant`` tells apart models that
        share a feeder version but not their content (a scenario composed on the feeder). A model
        without a version is keyed by its script's hash. Returns whether it compiled.
        """
        version = str(model.version or "")
        if not version:
            from gridtwin.grid.dss_writer import write_dss

            script = write_dss(model)
            return self.load_script(model.feeder_id, hashlib.sha256(script.encode()).hexdigest()[:16], script)
        return self.load_feeder(model.feeder_id, version, lambda: model, variant=variant)

    def load_feeder(
        self, feeder: str, version: str, model: Callable[[], FeederModel], *, variant: str = ""
    ) -> bool:
        """Compile (feeder, version) from the script cache; ``model()`` is called (an export) only when
        the cache does not hold it. Returns whether it compiled."""
        with self.hold():
            if self._loaded == (feeder, _cache_version(version, variant)):
                return False
            script = self._scripts.get((feeder, version, variant))
            if script is None:
                from gridtwin.grid.dss_writer import write_dss  # the writer is the one other DSS speaker

                loaded = model()
                # The feeder may have changed since the caller asked its version: key by what we got.
                version = str(loaded.version or version)
                script = write_dss(loaded)
                self._scripts.put((feeder, version, variant), script)
            return self.load_script(feeder, _cache_version(version, variant), script)

    @property
    def cached_scripts(self) -> int:
        return len(self._scripts)

    def compile_file(self, path: Path, feeder: str | None = None) -> None:
        """Compile an original OpenDSS master file; its relative redirects resolve against its folder.

        ``feeder`` names the results (default: the circuit's name). The engine never changes the
        process working directory: OpenDSS resolves redirects relative to the file being compiled.
        Whatever the scripts ask, output files (traces, shows, exports) land in the engine's private
        folder, never beside the model (``script_guard``).
        """
        resolved = Path(path).resolve()

        def compile_() -> None:
            self._tmp.mkdir(parents=True, exist_ok=True)
            guarded = guard_file(resolved, self._tmp)  # sanitized copies if the scripts ask to write
            self._copies.update(guarded.copies)
            self._compile(str(resolved), guarded.path)
            self._feeder = feeder or str(self._dss.Circuit.Name()).lower()
            self._version = ""
            self._loaded = None  # not a (key, version) script

        self._call(str(resolved), compile_)

    def call(self, where: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the OpenDSS thread with this engine's error mapping (for sibling modules
        such as QSTS that drive the context directly through ``dss``)."""
        return self._call(where, fn, *args)

    def mark_changed(self) -> None:
        """Forget that the circuit matches a loaded script: the next ``load_script`` recompiles and the
        next snapshot re-reads the layout (QSTS moves taps and time; callers on the OpenDSS thread)."""
        self._loaded = None
        self._layout = None

    def run_command(self, text: str) -> str:
        """Run OpenDSS commands on the loaded circuit (escape hatch for QSTS/hosting code and tests).

        Marks the circuit as changed: the next ``load_script`` recompiles even for the same version.
        """

        def run() -> str:
            self._loaded = None
            self._layout = None
            commands, guarded = guard_text(text, Path(self._dss.Basic.DataPath()), self._tmp, where="command")
            self._copies.update(guarded.copies)
            self._dss.Text.Commands(commands)
            return str(self._dss.Text.Result())

        return self._call(f"command {text[:80]!r}", run)

    # -- solver settings ------------------------------------------------------------------

    @contextlib.contextmanager
    def solving_with(self, solver: SolverSettings | None) -> Iterator[Engine]:
        """Hold the engine and solve with ``solver`` until the block ends: applied to the circuit
        loaded now and to every circuit compiled inside the block. Snapshots, QSTS runs and hosting
        studies inside use them. ``None`` keeps the settings in force (outside any block: the built-in
        defaults, ``SolverSettings()``). Bad values are an ``InputError`` naming them."""
        if solver is not None:
            solver.check()
        with self.hold():
            previous = self._solver
            self._solver = solver if solver is not None else previous
            try:
                self._call("solver", self._apply_solver)
                yield self
            finally:
                self._solver = previous

    @property
    def solver_applied(self) -> EffectiveSolver | None:
        """The settings applied to the circuit loaded now (None before any circuit)."""
        return self._applied

    def _apply_solver(self) -> EffectiveSolver | None:
        """Set the circuit's iteration caps and tolerance from the settings in force and the circuit's
        own (on the OpenDSS thread). Values that differ from the ones last applied are the circuit's
        own: it was compiled since, or a script or command set them."""
        if not self._dss.Basic.NumCircuits():
            return None
        solution = self._dss.Solution
        current = EffectiveSolver(
            int(solution.MaxIterations()), int(solution.MaxControlIterations()), float(solution.Convergence())
        )
        if self._own is None or current != self._applied:
            self._own = current
        chosen = self._solver.resolve(self._own)
        if chosen != current:
            solution.MaxIterations(chosen.max_iterations)
            solution.MaxControlIterations(chosen.max_control_iterations)
            solution.Convergence(chosen.tolerance)
        self._applied = chosen
        return chosen

    # -- solving --------------------------------------------------------------------------

    def _solve(self) -> SolveStatus:
        solution = self._dss.Solution
        if solution.Mode() != _SNAPSHOT_MODE:
            # Keep the model's control mode: switching modes must not change how controls act.
            control_mode = solution.ControlMode()
            solution.Mode(_SNAPSHOT_MODE)
            solution.ControlMode(control_mode)
        message = ""
        aborted = False
        start = time.perf_counter()
        try:
            solution.Solve()
        except opendssdirect.DSSException as exc:
            if exc.args and exc.args[0] == _MAX_CONTROL_ITERATIONS:
                aborted = True
                message = (
                    f"controls did not settle within {solution.MaxControlIterations()} control iterations"
                )
            else:
                raise
        solve_ms = 1000.0 * (time.perf_counter() - start)
        iterations = int(solution.Iterations())
        converged = bool(solution.Converged()) and not message
        if not solution.Converged():
            message = (
                f"power flow did not converge within max_iterations={solution.MaxIterations()}"
                f" ({iterations} iterations in all)"
            )
        status = SolveStatus(
            converged=converged,
            iterations=iterations,
            control_iterations=int(solution.ControlIterations()),
            message=message,
            solve_ms=solve_ms,
        )
        if aborted:
            # OpenDSS keeps the aborted control loop's state: every later Solve() of this circuit fails
            # with error 99 (and no message) until the mode is set again. Setting it keeps the voltages
            # read next and the control mode.
            self._dss.Text.Command("set mode=snapshot")
        return status

    def _current_layout(self) -> CircuitLayout:
        signature = circuit_signature(self._dss)
        if self._layout is None or self._layout.signature != signature:
            self._layout = read_layout(self._dss)
        return self._layout

    def snapshot(
        self,
        limits: ViolationLimits | None = None,
        *,
        strict: bool = False,
        solver: SolverSettings | None = None,
    ) -> SnapshotResult:
        """Solve the loaded circuit in snapshot mode (its own control settings) and read the results.

        ``solver``: iteration caps and tolerance for this solve (``gridtwin.powerflow.solver``; default:
        the settings in force, see ``solving_with``). A power flow that does not converge returns
        ``converged=False`` with ``message`` saying why (iterations and the cap), or raises
        ``NotConvergedError`` when ``strict``.
        """
        chosen = limits or ViolationLimits()

        def run() -> SnapshotResult:
            if not self._dss.Basic.NumCircuits():
                raise EngineError(
                    "no circuit loaded", [ErrorDetail(where="engine", message="load a feeder first")]
                )
            applied = self._apply_solver()
            status = self._solve()
            result = read_snapshot(
                self._dss,
                self._current_layout(),
                status,
                feeder=self._feeder,
                version=self._version,
                limits=chosen,
            )
            return dataclasses.replace(result, solver=applied)

        where = self._feeder or "engine"
        if solver is None:
            result = self._call(where, run)
        else:
            with self.solving_with(solver):
                result = self._call(where, run)
        if strict and not result.converged:
            raise NotConvergedError(
                f"power flow did not converge for {where}",
                [ErrorDetail(where=where, message=result.message, code="not_converged")],
            )
        return result

    def close(self) -> None:
        """Drop the circuit and the private temp directory."""

        def run() -> None:
            self._layout = None
            self._loaded = None
            with contextlib.suppress(opendssdirect.DSSException):  # closing anyway
                self._dss.Text.Command("clear")

        self._call("close", run)
        self._cleanup()


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The process's single ``Engine``, created on first use (thread-safe)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = Engine()
    return _engine


def engine_version() -> str:
    """The OpenDSS engine's own version string (for run manifests)."""
    return str(on_dss_thread(opendssdirect.Basic.Version))
