"""Zero-length sections (jumpers, switch stubs) are zero-impedance connections with a located warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from cyme_builder import LINE_ID, block, line_of, lines, ln_pu, loads, nodes, sections, solve, write_export
from gridtwin.errors import InputError
from gridtwin.ingest.cyme import read_cyme


def _export(tmp_path: Path, stub_length: str = "0") -> Path:
    """src -300 m- n1 -0 m jumper- n2 -200 m- n3 -0 m switch stub- n4 (load), plus a load at n3."""
    network = (
        nodes("src", "n1", "n2", "n3", "n4", "l3", "l4")
        + sections(
            "s1,src,n1,ABC",
            "jump,n1,n2,ABC",
            "s3,n2,n3,ABC",
            "stub,n3,n4,ABC",
            "ld3,n3,l3,ABC",
            "ld4,n4,l4,AB",
        )
        + lines(f"s1,s1,{LINE_ID},300", f"jump,jump,{LINE_ID},0", f"s3,s3,{LINE_ID},200")
        + block(
            "OVERHEADLINE SETTING",
            "SectionID,DeviceNumber,LineCableID,Length,ConnectionStatus",
            [f"stub,stub_line,{LINE_ID},{stub_length},0"],
        )
        + block(
            "SWITCH SETTING",
            "SectionID,Location,EqID,DeviceNumber,ClosedPhase",
            ["stub,M,DEFAULT,sw_stub,ABC"],
        )
    )
    equipment = block("SWITCH", "ID,Amps,KVLL", ["DEFAULT,600,15"])
    load = loads(
        [
            ("ld3", "A", 300.0, 100.0),
            ("ld3", "B", 250.0, 80.0),
            ("ld3", "C", 280.0, 90.0),
            ("ld4", "A", 100.0, 30.0),
        ]
    )
    return write_export(tmp_path / "zero", network, equipment, load)


def test_zero_length_sections_are_zero_impedance_connections(tmp_path: Path) -> None:
    folder = _export(tmp_path)
    model, report = read_cyme(folder, "zero")
    assert report.unmapped == []
    lines_ = model.tables["lines"].set_index("name")
    jumper = lines_.loc["jump"]
    assert jumper["is_switch"] and jumper["linecode"] == "cyme_switch_3ph"
    assert jumper["norm_amps_a"] == pytest.approx(400.0)  # rated as its conductor
    assert (jumper["bus1"], jumper["bus2"]) == ("n1.1.2.3", "n2.1.2.3")
    stub = lines_.loc["stub_line"]  # a switch on a zero-length conductor: the switch sits on the jumper
    assert stub["is_switch"]
    assert model.tables["switches"].set_index("name").loc["sw_stub", "line"] == "stub_line"
    # each zero-length section is one warning naming its file and line
    zero = [w for w in report.warnings if w.code == "zero_length"]
    network = folder / "network.txt"
    assert {w.where for w in zero} == {
        f"network.txt:{line_of(network, 'jump,jump,')} [OVERHEADLINE SETTING] Length",
        f"network.txt:{line_of(network, 'stub,stub_line,')} [OVERHEADLINE SETTING] Length",
    }
    result = solve(model)
    assert result.converged
    n1, n2 = ln_pu(result, "n1"), ln_pu(result, "n2")
    assert set(n2) == {1, 2, 3}
    for node in (1, 2, 3):
        assert n2[node] == pytest.approx(n1[node], abs=1e-4)  # no drop across the jumper
        assert 0.95 < ln_pu(result, "n3")[node] < 1.01
    assert set(ln_pu(result, "n4")) == {1, 2, 3} and min(ln_pu(result, "n4").values()) > 0.95


def test_negative_length_is_still_refused(tmp_path: Path) -> None:
    folder = _export(tmp_path, stub_length="-5")
    with pytest.raises(InputError, match="invalid CYME network") as info:
        read_cyme(folder, "neg")
    assert any("network.txt" in d.where and "negative" in d.message for d in info.value.details)
