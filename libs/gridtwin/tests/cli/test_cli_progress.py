"""Progress off a terminal is plain lines every few percent (or 30 s); library INFO chatter stays out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cli_support import URL, fake_gateway, invoke
from gridtwin.cli import jobs_cmds
from gridtwin.cli.output import CliConsole, PlainProgress
from gridtwin.rpc.logging import LIBRARY_LOGGERS, setup_json_logging


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lines(console: CliConsole) -> list[str]:
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def test_plain_progress_every_5_percent_or_30_seconds() -> None:
    console, clock = CliConsole(file=io.StringIO()), Clock()
    progress = PlainProgress("qsts job j1", console=console, unit="feeders", clock=clock)
    assert progress.update(0, 0, 200, None, "queued")  # the first line
    assert not progress.update(0, 0, 200, None, "queued")
    assert progress.update(0, 0, 200, None, "running")  # the status changed
    for done in range(1, 10):  # 0.5 % .. 4.5 %: nothing new
        clock.now += 1
        assert not progress.update(done, 0, 200, 300.0)
    clock.now += 1
    assert progress.update(9, 1, 200, 250.0)  # 5 %
    clock.now += 29.5
    assert not progress.update(11, 1, 200, 240.0)
    clock.now += 0.5
    assert progress.update(11, 1, 200, 240.0)  # 30 s since the last line
    assert progress.update(199, 1, 200, 0.0, "partial")
    lines = _lines(console)
    assert len(lines) == 5
    assert lines[3] == (
        "qsts job j1:   6.0% 12/200 feeders (11 done, 1 failed), ETA 240 s, running, 40 s elapsed"
    )
    assert lines[2].startswith("qsts job j1:   5.0% 10/200 feeders (9 done, 1 failed), ETA 250 s")
    assert lines[-1].startswith("qsts job j1: 100.0% 200/200 feeders (199 done, 1 failed), ETA -, partial")


def test_plain_progress_estimates_the_eta_when_not_given() -> None:
    console, clock = CliConsole(file=io.StringIO()), Clock()
    progress = PlainProgress("synthetic utility", console=console, clock=clock, unit="feeders")
    clock.now = 10.0
    progress.update(5, 0, 20)
    assert "ETA 30 s" in _lines(console)[0]  # 10 s for 5, 15 to go


def _job(done: int, status: str = "running", eta: float | None = 10.0) -> dict[str, Any]:
    return {"id": "j1", "kind": "qsts", "status": status, "done_tasks": done, "failed_tasks": 0,
            "total_tasks": 40, "eta_s": eta, "message": "", "params": {}, "tasks": []}  # fmt: skip


def test_follow_job_off_a_terminal_prints_plain_progress_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    states = iter([_job(d) for d in range(1, 40)] + [_job(40, "succeeded", None)])
    seen = fake_gateway(monkeypatch, lambda request: httpx.Response(200, json=next(states)))
    final = jobs_cmds.follow_job(URL, _job(0, "queued", None), sleep=lambda _s: None)
    assert final["status"] == "succeeded" and len(seen) == 40
    captured = capsys.readouterr()
    assert captured.out == ""  # progress is not the command's output: stdout stays for its JSON or table
    lines = captured.err.splitlines()
    assert lines[0].startswith("qsts job j1:   0.0% 0/40 feeders (0 done, 0 failed), ETA -, queued")
    assert lines[-1].startswith("qsts job j1: 100.0% 40/40 feeders (40 done, 0 failed), ETA -, succeeded")
    # every 5 %: 2 of 40 feeders; not one line per poll
    assert 20 <= len(lines) <= 23, lines
    assert all("━" not in line for line in lines)  # no progress bar drawn into the log


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


def test_json_logging_keeps_httpx_request_lines_out(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)  # as a fresh process has them
    setup_json_logging("gridtwin", "INFO")
    for name in ("httpx", "httpcore"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
    fake_gateway(monkeypatch, lambda request: httpx.Response(200, json=_job(40, "succeeded")))
    jobs_cmds.follow_job(URL, _job(39), sleep=lambda _s: None)
    logging.getLogger("gridtwin.test").info("ours still shows")
    logging.getLogger("httpx").warning("their warnings still show")
    out = capsys.readouterr().out
    assert "HTTP Request" not in out
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [r["message"] for r in records] == ["ours still shows", "their warnings still show"]


def test_client_commands_print_no_library_info(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even under a root logger at INFO (as inside ``gridtwin up``), a command prints its output only."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.getLogger().setLevel(logging.INFO)
    fake_gateway(monkeypatch, lambda request: httpx.Response(200, json={"feeders": [], "total": 0}))
    result = invoke("feeders", "list")
    assert result.exit_code == 0, result.output
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    assert "HTTP Request" not in result.output
