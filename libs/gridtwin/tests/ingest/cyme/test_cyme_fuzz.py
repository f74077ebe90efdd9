"""Property: mutated CYME exports never crash or hang the reader; only InputError escapes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gridtwin.errors import InputError
from gridtwin.ingest.cyme import read_cyme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _shared() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[5].parent / "shared" / "data"


CASES = [_shared() / "cyme" / c for c in ("ieee_13node", "ieee_4node", "validation/switches")]
FILES = ("network.txt", "equipment.txt", "load.txt")
JUNK = ["", ",", "=", "[", "]", "NONE", "-1", "1e999", "nan", "FORMAT_X=", "[SECTION]", "\n", "ABCN", "0"]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[int, str, list[tuple[str, int, str]]]:
    case = draw(st.integers(0, len(CASES) - 1))
    file = draw(st.sampled_from(FILES))
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["drop", "dup", "truncate", "replace_field", "junk_line"]),
                st.integers(0, 10_000),
                st.sampled_from(JUNK),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return case, file, ops


def _mutate(text: str, ops: list[tuple[str, int, str]]) -> str:
    lines = text.splitlines()
    for op, pos, junk in ops:
        if not lines:
            break
        i = pos % len(lines)
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "truncate":
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: pos % (len(lines[-1]) + 1)]
        elif op == "replace_field":
            parts = lines[i].split(",")
            parts[pos % len(parts)] = junk
            lines[i] = ",".join(parts)
        else:
            lines.insert(i, junk)
    return "\n".join(lines)


@settings(max_examples=100, deadline=20_000, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_mutated_exports_fail_cleanly(m: tuple[int, str, list[tuple[str, int, str]]]) -> None:
    case, file, ops = m
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in FILES:
            text = (CASES[case] / name).read_text()
            (folder / name).write_text(_mutate(text, ops) if name == file else text)
        try:
            model, report = read_cyme(folder, "fuzz")
        except InputError as exc:
            assert exc.details, "errors must say where"
            return
        assert model.tables["buses"] is not None and report.counts
