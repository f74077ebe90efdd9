"""Run an import step in a child process, with a time limit.

A master file can run a long simulation while it compiles (``set mode=yearly number=...`` then ``solve``),
and a hostile one could crash the engine. The OpenDSS library cannot be interrupted in-process, so the
reader runs in a spawned child that is killed at the limit: the service answers with a clear error and
stays up. Spawned (not forked) because the parent holds threads and its own OpenDSS engine.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from gridtwin import errors
from gridtwin.errors import EngineError, ErrorDetail, GridTwinError, InputError

__all__ = ["run_isolated"]

T = TypeVar("T")
_JOIN_S = 5.0


def run_isolated(fn: Callable[..., T], *args: Any, timeout_s: float, where: str) -> T:
    """``fn(*args)`` in a child process; its ``GridTwinError`` is raised here with its details.

    ``fn`` must be importable by name (a module-level function) and its result picklable.
    """
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, fn, args), name="gridtwin-import", daemon=True)
    proc.start()
    sender.close()  # the child holds the only writer: EOF here means it died
    try:
        if not receiver.poll(timeout_s):
            raise InputError(
                "import took too long",
                [
                    ErrorDetail(
                        where,
                        f"stopped after {timeout_s:g} s: does the script run a long solve? "
                        "(limit: GRIDTWIN_IMPORT_TIMEOUT_S)",
                        "timeout",
                    )
                ],
            )
        try:
            kind, payload = receiver.recv()
        except EOFError:
            proc.join(_JOIN_S)
            raise EngineError(
                "the import process died", [ErrorDetail(where, f"exit code {proc.exitcode}", "crashed")]
            ) from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(_JOIN_S)
        receiver.close()
    if kind == "ok":
        return payload  # type: ignore[no-any-return]
    name, message, details = payload
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, GridTwinError)):
        cls = EngineError
    raise cls(message, [ErrorDetail(**d) for d in details])


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result: tuple[str, Any] = ("ok", fn(*args))
    except GridTwinError as exc:
        result = ("error", (type(exc).__name__, exc.message, [d.to_dict() for d in exc.details]))
    except Exception as exc:  # anything else is reported, not lost with the process
        result = ("error", ("EngineError", f"{type(exc).__name__}: {exc}", []))
    conn.send(result)
    conn.close()
