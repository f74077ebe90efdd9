"""OmsMapping: YAML parsing with located errors, and header guessing."""

from __future__ import annotations

import pytest
from gridtwin.errors import InputError
from gridtwin.ingest.oms import OmsMapping, parse_oms_mapping
from gridtwin.ingest.oms.mapping import normalise_header


def test_parse_yaml_mapping() -> None:
    text = """
start: TIME_OFF
end: TIME_ON
device: INTERRUPTING_DEVICE
customers_interrupted: CUST_OUT
datetime_format: "%d.%m.%Y %H:%M"
timezone: Europe/Berlin
sheet: Outages 2023
duration_unit: h
"""
    m = parse_oms_mapping(text, "oms.yaml")
    assert m.start == "TIME_OFF" and m.sheet == "Outages 2023" and m.duration_unit == "h"
    assert m.columns() == {
        "start": "TIME_OFF", "end": "TIME_ON", "device": "INTERRUPTING_DEVICE", "customers_interrupted": "CUST_OUT",
    }  # fmt: skip
    assert parse_oms_mapping("", "x") == OmsMapping() and parse_oms_mapping(None) == OmsMapping()
    assert parse_oms_mapping("# nothing\n", "x") == OmsMapping()


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("strat: TIME_OFF\n", "oms.yaml:strat", "Extra inputs"),
        ("start: 3\n", "oms.yaml:start", "string"),
        ("start: '  '\n", "oms.yaml:start", "must not be empty"),
        ("timezone: Mars/Olympus\n", "oms.yaml:timezone", "unknown time zone"),
        ("duration_unit: days\n", "oms.yaml:duration_unit", "'min'"),
        ("- start\n", "oms.yaml", "expected a mapping"),
        ("start: [unclosed\n", "oms.yaml:2", "not valid YAML"),
    ],
)
def test_mapping_errors_name_the_field(text: str, where: str, words: str) -> None:
    with pytest.raises(InputError) as err:
        parse_oms_mapping(text, "oms.yaml")
    detail = err.value.details[0]
    assert detail.where == where
    assert words in detail.message or words in err.value.message


def test_extra_fields_forbidden_in_code_too() -> None:
    with pytest.raises(ValueError):
        OmsMapping(begin="X")  # type: ignore[call-arg]


def test_header_normalisation() -> None:
    assert normalise_header(" Time Off ") == "TIME_OFF"
    assert normalise_header("cust-int") == "CUST_INT"
    assert normalise_header("Restore  Time") == "RESTORE_TIME"
