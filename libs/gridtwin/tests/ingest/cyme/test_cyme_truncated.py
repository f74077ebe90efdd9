"""Files cut short must not import as a smaller feeder: a located InputError instead."""

from __future__ import annotations

import pytest
from gridtwin.errors import InputError
from gridtwin.ingest.cyme.sections import parse_text

HEAD = "[GENERAL]\nDATE=x\n\n[SI]\n\n[NODE]\nFORMAT_NODE=NodeID,CoordX,CoordY\n"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (HEAD + "n1,0.0,1.0\nn2,5.0", "2 of 3 values"),
        (HEAD + "n1,0.0,1.0\n[SECT", "section header"),
        (HEAD + "n1,0.0,1.0\n\n[SECTION]\nFORMAT_SECTION=SectionID,FromNodeID,ToNo", "FORMAT line"),
    ],
)
def test_a_file_cut_mid_line_is_a_located_error(text: str, why: str) -> None:
    with pytest.raises(InputError) as err:
        parse_text(text, "network.txt")
    detail = err.value.details[0]
    assert detail.where.startswith(f"network.txt:{len(text.splitlines())}") and why in detail.message
    assert detail.code == "truncated"


def test_complete_files_pass_with_or_without_a_final_newline() -> None:
    for text in (HEAD + "n1,0.0,1.0\n", HEAD + "n1,0.0,1.0"):
        records = parse_text(text, "network.txt").records("NODE")
        assert [r.get("NodeID") for r in records] == ["n1"]
