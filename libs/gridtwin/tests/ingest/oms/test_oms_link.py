"""link_outages: devices to twin ids (switches, incl. fuses and reclosers, then lines, then transformers),
feeders filled from the device, and unknown feeders/devices reported per row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.oms import OmsMapping, link_outages, read_oms
from oms_support import write_csv


def _model(feeder: str, switches: dict[str, str], lines: list[str], transformers: list[str]) -> FeederModel:
    return FeederModel(
        feeder_id=feeder,
        site="s",
        tables={
            "switches": pd.DataFrame({"name": list(switches), "kind": list(switches.values())}),
            "lines": pd.DataFrame({"name": lines}),
            "transformers": pd.DataFrame({"name": transformers}),
        },
    )


@pytest.fixture
def models() -> list[FeederModel]:
    return [
        _model("F1", {"brk1": "breaker", "fuse7": "fuse", "rec2": "recloser"}, ["rec2", "l10"], ["t5"]),
        _model("f2", {"brk9": "breaker"}, ["l20", "shared"], ["t77"]),
        _model("f3", {}, ["shared"], []),
    ]


def test_link_by_device_and_feeder(tmp_path: Path, models: list[FeederModel]) -> None:
    frame, _ = read_oms(write_csv(tmp_path / "outages.csv"), OmsMapping())
    linked, issues = link_outages(frame, models)
    assert issues == []
    assert linked["device_twin"].tolist() == [
        "F1.switches.brk1", "F1.switches.fuse7", "F1.switches.rec2",  # the recloser, not its line
        "f2.switches.brk9", "f2.transformers.t77", "f2.switches.brk9",
    ]  # fmt: skip
    assert linked["feeder"].tolist() == ["F1", "F1", "F1", "f2", "f2", "f2"]  # canonical spelling
    assert frame["feeder"].tolist()[0] == "f1"  # the input is not changed
    by_id = {m.feeder_id: m for m in models}
    again, _ = link_outages(frame, by_id)  # a mapping of models works too
    assert again["device_twin"].tolist() == linked["device_twin"].tolist()


def test_feeder_from_device_and_issues(models: list[FeederModel]) -> None:
    frame = pd.DataFrame(
        {
            "feeder": ["", "", "", "f9", "f2", "f2", "f1", "f2"],
            "device": ["T5", "Line.L20", "shared", "brk1", "nope", "brk1", "f1.lines.l10", ""],
            "src": [f"o.csv:{i}" for i in range(2, 10)],
        }
    )
    linked, issues = link_outages(frame, models)
    assert linked["device_twin"].tolist() == [
        "F1.transformers.t5",
        "f2.lines.l20",
        "",
        "",
        "",
        "",
        "F1.lines.l10",
        "",
    ]
    assert linked["feeder"].tolist() == ["F1", "f2", "", "f9", "f2", "f2", "F1", "f2"]
    assert [(i.where, i.code) for i in issues] == [
        ("o.csv:4", "device_ambiguous"),
        ("o.csv:5", "feeder_unknown"),
        ("o.csv:6", "device_unknown"),
        ("o.csv:7", "device_unknown"),
    ]
    assert "f2, f3" in issues[0].message
    assert "(it is on F1)" in issues[3].message
    none_known, more = link_outages(frame.iloc[[0]].assign(device="ghost"), models)
    assert none_known["device_twin"].iloc[0] == "" and more[0].code == "device_unknown"
