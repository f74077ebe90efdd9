"""The shipped measurement examples (README) parse: the OMS column mapping and the AMI options."""

from __future__ import annotations

from pathlib import Path

import yaml
from gridtwin.ingest.ami import AmiOptions
from gridtwin.ingest.oms import parse_oms_mapping, read_oms

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "measurements"


def test_oms_mapping_example_reads_an_export(tmp_path: Path) -> None:
    mapping = parse_oms_mapping(
        (EXAMPLES / "oms-mapping.yaml").read_text(encoding="utf-8"), "oms-mapping.yaml"
    )
    export = tmp_path / "oms.csv"
    export.write_text(
        "TICKET,TIME_OFF,TIME_ON,CAUSE,INTERRUPTING_DEVICE,CIRCUIT,CUST_OUT,CMI\n"
        "t1,07/01/2025 10:00,07/01/2025 11:30,TREE,fuse12,f1,10,900\n",
        encoding="utf-8",
    )
    frame, issues = read_oms(export, mapping)
    assert issues == [] and len(frame) == 1
    row = frame.iloc[0]
    assert row["duration_min"] == 90 and row["customer_minutes"] == 900
    assert str(row["start_utc"]) == "2025-07-01 15:00:00+00:00"  # 10:00 CDT


def test_ami_options_example() -> None:
    options = AmiOptions.model_validate(
        yaml.safe_load((EXAMPLES / "ami-options.yaml").read_text(encoding="utf-8"))
    )
    assert options.timezone == "America/Chicago" and options.columns.meter_id == "METER_NO"
