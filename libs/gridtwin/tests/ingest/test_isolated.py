"""Imports run in a child process with a time limit: a long solve or a crash never takes the caller down."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gridtwin.errors import DssInputError, EngineError, InputError
from gridtwin.ingest.isolated import run_isolated
from gridtwin.ingest.opendss import read_opendss

SHARED = Path(os.environ.get("GRIDTWIN_SHARED_DATA", Path(__file__).resolve().parents[5] / "shared" / "data"))
IEEE13 = SHARED / "opendss" / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"


def _crash() -> None:
    os._exit(3)  # what an engine segfault looks like from outside


def test_result_comes_back_whole() -> None:
    model, report = run_isolated(read_opendss, IEEE13, "ieee13", "demo", timeout_s=120, where="IEEE13")
    direct, _ = read_opendss(IEEE13, "ieee13", "demo")
    assert model.counts() == direct.counts() and report.counts == direct.counts()
    for name, table in direct.tables.items():
        assert model.tables[name].equals(table), name


def test_errors_keep_their_class_and_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dss"
    bad.write_text("clear\nnew circuit.x basekv=12.47\nnew line.l1 bus1=sourcebus bus2=b2 lenght=1\n")
    with pytest.raises(DssInputError) as err:
        run_isolated(read_opendss, bad, "bad", "", timeout_s=120, where="bad.dss")
    assert any("bad.dss:3" in d.where for d in err.value.details)


@pytest.mark.timeout(120)  # killed at the limit, not waited for: the solve would take hours
def test_a_long_solve_is_stopped_at_the_limit(tmp_path: Path) -> None:
    master = tmp_path / "master.dss"
    master.write_text(f'redirect "{IEEE13}"\nset mode=daily stepsize=1s number=100000000\nsolve\n')
    with pytest.raises(InputError) as err:
        run_isolated(read_opendss, master, "slow", "", timeout_s=5, where="master.dss")
    assert "took too long" in str(err.value) and err.value.details[0].code == "timeout"


def test_a_crash_is_an_error_not_a_dead_service() -> None:
    with pytest.raises(EngineError) as err:
        run_isolated(_crash, timeout_s=60, where="crash")
    assert "exit code 3" in str(err.value)
