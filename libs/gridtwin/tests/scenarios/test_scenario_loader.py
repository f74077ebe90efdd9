"""Scenario files: YAML/JSON parsing, error paths that name the field, hostile input, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from gridtwin.errors import InputError
from gridtwin.scenarios.loader import apply_overrides, load_scenario, parse_scenario
from gridtwin.scenarios.schema import EvLayer, Scenario

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "scenarios" / "stacked-2030.yaml"

GOOD = """
name: t
seed: 3
layers:
  - {type: ev, id: ev1, adoption: {pct: 30}}
  - {type: solar, id: pv1, adoption: {count: 5}}
  - {type: tou, id: tou1, shift_pct: 10}
"""


def _where(exc: pytest.ExceptionInfo[InputError]) -> list[str]:
    return [d.where for d in exc.value.details]


def test_yaml_and_json_give_the_same_scenario() -> None:
    a = parse_scenario(GOOD)
    b = parse_scenario(a.model_dump_json(), fmt="json")
    assert a == b
    assert [layer.type for layer in a.layers] == ["ev", "solar", "tou"]
    assert isinstance(a.layers[0], EvLayer) and a.layers[0].kw is None  # the profile's kW


def test_shipped_example_validates_with_its_sweep() -> None:
    scenario, text = load_scenario(EXAMPLE)
    assert scenario.sweep is not None and "ev_l2" in text
    assert [layer.id for layer in scenario.layers] == ["heatwave", "ev_l2", "rooftop_pv", "tou_4_9"]


@pytest.mark.parametrize(
    ("layer", "where", "words"),
    [
        ("{type: nuclear, id: x}", "t:layers[0] (x)", "ev"),  # the allowed tags are listed
        ("{type: ev, id: x, adoption: {pct: -5}}", "t:layers[0] (x).adoption.pct", "greater than or equal"),
        ("{type: ev, id: x, adoption: {pct: 130}}", "t:layers[0] (x).adoption.pct", "less than or equal"),
        ("{type: ev, id: x, adoption: {pct: 5, count: 3}}", "t:layers[0] (x).adoption", "exactly one"),
        ("{type: ev, id: x, adoption: {pct: 5}, colour: red}", "t:layers[0] (x).colour", "not permitted"),
        ("{type: tou, id: x, rebound_hours: [17]}", "t:layers[0] (x)", "inside the peak window"),
        ("{type: solar, id: x, adoption: {pct: 5}, ilr: 9}", "t:layers[0] (x).ilr", "less than or equal"),
    ],
)
def test_errors_name_the_field(layer: str, where: str, words: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_scenario(f"name: n\nlayers:\n  - {layer}\n", source="t")
    assert any(w.startswith(where) for w in _where(exc)), _where(exc)
    assert any(words in d.message for d in exc.value.details), [d.message for d in exc.value.details]


def test_duplicate_layer_ids_and_wrong_version() -> None:
    with pytest.raises(InputError, match="invalid scenario"):
        parse_scenario("name: n\nlayers:\n - {type: tou, id: a}\n - {type: tou, id: a}\n")
    with pytest.raises(InputError) as exc:
        parse_scenario("schema_version: 2\nname: n\n")
    assert _where(exc) == ["scenario:schema_version"]


def test_hostile_text_is_refused_clearly() -> None:
    bomb = "a: &a [1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b]\nname: x\n"
    with pytest.raises(InputError, match="anchors and aliases"):
        parse_scenario(bomb)
    with pytest.raises(InputError, match="not UTF-8"):
        parse_scenario(b"name: \xff\xfe\n")
    with pytest.raises(InputError, match="not valid YAML"):
        parse_scenario("name: [unclosed\n")
    with pytest.raises(InputError, match="not valid JSON"):
        parse_scenario('{"name": ', fmt="json")
    with pytest.raises(InputError, match="must be a mapping"):
        parse_scenario("- just\n- a list\n")
    with pytest.raises(InputError, match="too large"):
        parse_scenario(b"x" * (33 * 1024 * 1024))


def test_custom_profile_csv_is_read_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "shape.csv").write_text("fraction\n" + "\n".join(["0.1"] * 24) + "\n")
    (tmp_path / "s.yaml").write_text(
        "name: c\nlayers:\n  - {type: ev, id: e, adoption: {pct: 10}, custom_profile: {csv: shape.csv}}\n"
    )
    scenario, _ = load_scenario(tmp_path / "s.yaml")
    layer = scenario.layers[0]
    assert isinstance(layer, EvLayer) and layer.custom_profile is not None
    assert layer.custom_profile.values == [0.1] * 24
    # A document sent to a server must carry the values: paths are never read there.
    from gridtwin.scenarios.loader import resolve_files

    with pytest.raises(InputError, match="resolved before sending"):
        resolve_files(parse_scenario((tmp_path / "s.yaml").read_text()), None)


def test_overrides_address_layers_by_id() -> None:
    base = parse_scenario(GOOD)
    changed = apply_overrides(
        base, {"layers.ev1.adoption.pct": 55.0, "layers.pv1.adoption.count": 7.4, "seed": 9}
    )
    assert changed.layers[0].adoption.pct == 55.0  # type: ignore[union-attr]
    assert changed.layers[1].adoption.count == 7  # type: ignore[union-attr]
    assert changed.seed == 9 and base.seed == 3
    with pytest.raises(InputError, match="unknown sweep path"):
        apply_overrides(base, {"layers.nope.adoption.pct": 1.0})
    with pytest.raises(InputError, match="unknown sweep path"):
        apply_overrides(base, {"layers.ev1.adoption.share": 1.0})
    with pytest.raises(InputError, match="not numeric"):
        apply_overrides(base, {"layers.ev1.profile": 1.0})
    with pytest.raises(InputError) as exc:  # out of range: the schema's own error, located
        apply_overrides(base, {"layers.ev1.adoption.pct": 150.0})
    assert any("adoption.pct" in w for w in _where(exc))
    assert isinstance(Scenario.model_validate(changed.model_dump()), Scenario)
