"""Reading scenario files: YAML or JSON text -> a validated ``Scenario``, with helpful errors.

Errors name the field path (``layers[2] (ev_l2).adoption.pct``) and pydantic's message, which lists
allowed values for enums and layer types. Files a scenario points at (custom EV profiles, weather
years) are read relative to the scenario file and put inline, so the stored document is complete;
a server never reads paths from a document (``resolve_files(..., base_dir=None)`` refuses them).
YAML anchors/aliases are refused (an alias bomb expands to gigabytes), and documents are size-capped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.scenarios.schema import EvLayer, HourlyWeather, Scenario, WeatherLayer

__all__ = [
    "MAX_SCENARIO_BYTES",
    "apply_overrides",
    "load_scenario",
    "parse_scenario",
    "resolve_files",
    "validation_error",
]

MAX_SCENARIO_BYTES = 32 * 1024 * 1024  # inline years of weather make a resolved scenario a few MB


def _loc(loc: tuple[Any, ...], raw: Any) -> str:
    """A pydantic location as a readable path; a layer index also shows the layer's id."""
    out = ""
    node = raw
    for i, part in enumerate(loc):
        if isinstance(part, int):
            label = f"[{part}]"
            if i == 1 and loc[0] == "layers" and isinstance(node, list) and part < len(node):
                lid = node[part].get("id") if isinstance(node[part], dict) else None
                if lid:
                    label += f" ({lid})"
            out += label
        else:
            # pydantic adds the tag ("ev") of a discriminated union as a location part: skip it.
            if i >= 2 and loc[0] == "layers" and i == 2 and isinstance(loc[1], int):
                continue
            out += ("." if out else "") + str(part)
        node = node[part] if isinstance(node, (dict, list)) and _has(node, part) else None
    return out or "scenario"


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def validation_error(exc: ValidationError, raw: Any, source: str) -> InputError:
    details = [
        ErrorDetail(where=f"{source}:{_loc(tuple(e['loc']), raw)}", message=e["msg"], code=e["type"])
        for e in exc.errors()
    ]
    return InputError("invalid scenario", details)


# Deeper than any scenario: refused before the (recursive) YAML composer or JSON decoder sees it.
MAX_DEPTH = 64
_OPEN = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _no_aliases(text: str, source: str) -> None:
    """Refuse anchors and aliases, and nesting deeper than ``MAX_DEPTH``, naming the line."""
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            line = token.start_mark.line + 1
            if isinstance(token, (yaml.AliasToken, yaml.AnchorToken)):
                raise InputError(
                    "YAML anchors and aliases are not allowed",
                    [ErrorDetail(where=f"{source}:{line}", message="write the value out", code="yaml")],
                )
            depth += isinstance(token, _OPEN) - isinstance(token, _CLOSE)
            if depth > MAX_DEPTH:
                raise InputError(
                    "scenario is nested too deeply",
                    [ErrorDetail(where=f"{source}:{line}", message=f"over {MAX_DEPTH} levels", code="yaml")],
                )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise InputError("scenario is not valid YAML", [ErrorDetail(where=where, message=str(exc))]) from exc


def parse_scenario(text: str | bytes, *, source: str = "scenario", fmt: str | None = None) -> Scenario:
    """Validate scenario text (YAML or JSON; ``fmt`` "yaml"/"json" or guessed from the first character)."""
    if isinstance(text, bytes):
        if len(text) > MAX_SCENARIO_BYTES:
            raise InputError(
                "scenario too large", [ErrorDetail(where=source, message=f"over {MAX_SCENARIO_BYTES} bytes")]
            )
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                "scenario is not UTF-8",
                [ErrorDetail(where=f"{source}:byte {exc.start}", message=str(exc.reason))],
            ) from exc
    if len(text) > MAX_SCENARIO_BYTES:
        raise InputError(
            "scenario too large", [ErrorDetail(where=source, message=f"over {MAX_SCENARIO_BYTES} bytes")]
        )
    kind = fmt or ("json" if text.lstrip().startswith("{") else "yaml")
    raw: Any
    if kind == "json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                "scenario is not valid JSON", [ErrorDetail(where=f"{source}:{exc.lineno}", message=exc.msg)]
            ) from exc
        except (RecursionError, ValueError) as exc:  # nested too deeply; an integer past 4,300 digits
            message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise InputError(
                "scenario is not valid JSON", [ErrorDetail(where=source, message=message)]
            ) from exc
    else:
        _no_aliases(text, source)
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(
                "scenario is not valid YAML", [ErrorDetail(where=source, message=str(exc))]
            ) from exc
        except (ValueError, OverflowError) as exc:  # a date that does not exist, an integer past 4,300 digits
            raise InputError(
                "scenario is not valid YAML", [ErrorDetail(where=source, message=f"bad value: {exc}")]
            ) from exc
    if not isinstance(raw, dict):
        raise InputError(
            "scenario must be a mapping", [ErrorDetail(where=source, message="top level is not a mapping")]
        )
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, raw, source) from exc


def _read_weather(path: Path) -> HourlyWeather:
    from gridtwin.scenarios.weather import read_weather_file

    return read_weather_file(path)


def _resolve_path(base_dir: Path | None, name: str, where: str) -> Path:
    if base_dir is None:
        raise InputError(
            "file references must be resolved before sending",
            [ErrorDetail(where=where, message=f"{name!r}: send the values inline (the CLI does this)")],
        )
    path = Path(name)
    return path if path.is_absolute() else base_dir / path


def resolve_files(scenario: Scenario, base_dir: Path | None) -> Scenario:
    """Read every file the scenario names (relative to ``base_dir``) into its inline fields."""
    data = scenario.model_dump(mode="python")
    changed = False
    for i, layer in enumerate(scenario.layers):
        where = f"layers[{i}] ({layer.id})"
        custom = layer.custom_profile if isinstance(layer, EvLayer) else None
        if custom is not None and custom.csv and custom.values is None:
            from gridtwin.scenarios.ev import read_profile_csv

            path = _resolve_path(base_dir, custom.csv, f"{where}.custom_profile.csv")
            data["layers"][i]["custom_profile"]["values"] = read_profile_csv(path, custom.column)
            changed = True
        if isinstance(layer, WeatherLayer) and layer.year and layer.year.file and layer.year.temp_c is None:
            path = _resolve_path(base_dir, layer.year.file, f"{where}.year.file")
            data["layers"][i]["year"] = _read_weather(path).model_dump(mode="python") | {
                "file": layer.year.file
            }
            changed = True
    bw = scenario.base_weather.year
    if bw is not None and bw.file and bw.temp_c is None:
        path = _resolve_path(base_dir, bw.file, "base_weather.year.file")
        data["base_weather"]["year"] = _read_weather(path).model_dump(mode="python") | {"file": bw.file}
        changed = True
    if not changed:
        return scenario
    return Scenario.model_validate(data)


def load_scenario(path: Path) -> tuple[Scenario, str]:
    """A scenario file, validated and with its data files inline; also returns the text as read."""
    try:
        size = path.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise InputError("scenario too large", [ErrorDetail(where=str(path), message=f"{size} bytes")])
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError("cannot read scenario", [ErrorDetail(where=str(path), message=str(exc))]) from exc
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    scenario = parse_scenario(raw, source=str(path), fmt=fmt)
    return resolve_files(scenario, path.parent), raw.decode("utf-8")


def apply_overrides(scenario: Scenario, overrides: dict[str, float]) -> Scenario:
    """The scenario with numeric parameters replaced (sweep points); paths as in ``SweepParameter``."""
    data = scenario.model_dump(mode="python")
    ids = [layer.id for layer in scenario.layers]
    for path, value in overrides.items():
        parts = path.split(".")
        node: Any = data
        trail: list[str | int] = []
        if parts[0] == "layers" and len(parts) > 1 and not parts[1].isdigit():
            if parts[1] not in ids:
                raise InputError(
                    "unknown sweep path",
                    [ErrorDetail(where=path, message=f"no layer {parts[1]!r}; layers: {ids}")],
                )
            parts = ["layers", str(ids.index(parts[1])), *parts[2:]]
        for j, part in enumerate(parts):
            key: str | int = int(part) if isinstance(node, list) and part.isdigit() else part
            last = j == len(parts) - 1
            ok = (isinstance(node, dict) and key in node) or (
                isinstance(node, list) and isinstance(key, int) and key < len(node)
            )
            if not ok:
                raise InputError(
                    "unknown sweep path",
                    [
                        ErrorDetail(
                            where=path, message=f"{'.'.join(map(str, trail)) or 'scenario'} has no {part!r}"
                        )
                    ],
                )
            if last:
                current = node[key]
                if current is not None and (
                    isinstance(current, bool) or not isinstance(current, (int, float))
                ):
                    raise InputError(
                        "sweep path is not numeric", [ErrorDetail(where=path, message=f"value {current!r}")]
                    )
                node[key] = round(value) if isinstance(current, int) else float(value)
            else:
                node = node[key]
                trail.append(key)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, data, "sweep point") from exc
