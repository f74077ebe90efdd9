"""Parse DTDL v2/v3 JSON documents into :mod:`model` elements, checking each element's own rules.

Rules that need the whole model set (extends, components, references, inherited names, schema depth)
are checked afterwards in :mod:`rules`. Written by hand: no Python DTDL parser exists; the official
parser (.NET) is the reference, and ``tests/twin/dtdl`` checks that both agree on a corpus.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from gridtwin.errors import ErrorDetail
from gridtwin.twin.dtdl.dtmi import dtmi_problem, name_problem
from gridtwin.twin.dtdl.model import COMPLEX, GEOSPATIAL, PRIMITIVES, Content, Interface, Schema
from gridtwin.twin.dtdl.units import ALL_UNITS, SEMANTIC_UNIT_TYPE, UNITS

CONTEXT = {"dtmi:dtdl:context;2": 2, "dtmi:dtdl:context;3": 3}
QUANTITATIVE_TYPES = "dtmi:dtdl:extension:quantitativeTypes;1"
HISTORIZATION = "dtmi:dtdl:extension:historization;1"
EXTENSIONS_V3 = frozenset({QUANTITATIVE_TYPES, HISTORIZATION})

_COMMON = frozenset({"@type", "@id", "comment", "description", "displayName"})
_KEYS: dict[str, frozenset[str]] = {
    "Interface": _COMMON | {"@context", "contents", "extends", "schemas"},
    "Property": _COMMON | {"name", "schema", "writable"},
    "Telemetry": _COMMON | {"name", "schema"},
    "Command": _COMMON | {"name", "request", "response"},
    "CommandPayload": _COMMON | {"name", "schema"},
    "Relationship": _COMMON
    | {"name", "maxMultiplicity", "minMultiplicity", "properties", "target", "writable"},
    "Component": _COMMON | {"name", "schema"},
    "Array": _COMMON | {"elementSchema"},
    "Enum": _COMMON | {"enumValues", "valueSchema"},
    "EnumValue": _COMMON | {"enumValue", "name"},
    "Map": _COMMON | {"mapKey", "mapValue"},
    "MapKey": _COMMON | {"name", "schema"},
    "MapValue": _COMMON | {"name", "schema"},
    "Object": _COMMON | {"fields"},
    "Field": _COMMON | {"name", "schema"},
}
_CONTENT_KINDS = ("Property", "Telemetry", "Command", "Relationship", "Component")
# The spec says displayName <= 64 in v3 too, but the official parser allows 512; we follow the parser.
_STRING_LIMITS = {
    2: {"comment": 512, "description": 512, "displayName": 64},
    3: {"comment": 512, "description": 512, "displayName": 512},
}
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_INT32 = (-(2**31), 2**31 - 1)
# Guards recursion on hostile input; the language's own limit (5) is checked in rules.
_MAX_NESTING = 24
# v2 keeps a hard cap on an Interface's direct contents.
_MAX_CONTENTS = {2: 300, 3: 100_000}


def as_list(value: object) -> list[object]:
    """JSON-LD sets: a single value or an array of values."""
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class SchemaUse:
    schema: Schema
    where: str
    kind: str  # the using element's kind: Property, Telemetry, CommandRequest, ..., "schemas"
    version: int
    partition: str


@dataclass
class ParseResult:
    interfaces: list[Interface] = field(default_factory=list)
    # Schemas with an @id, and the top-level element (partition) they were defined in: references
    # may not cross partitions.
    schemas: dict[str, tuple[Schema, str]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # every explicit @id -> where it was defined
    errors: list[ErrorDetail] = field(default_factory=list)
    # Every place a schema is used: (schema, where, the using element's kind, DTDL version).
    uses: list[SchemaUse] = field(default_factory=list)


class DocumentParser:
    """Parses the top-level elements of one source document into ``result``."""

    def __init__(self, source: str, result: ParseResult) -> None:
        self.source = source
        self.result = result
        self.version = 3
        self.qt = False  # QuantitativeTypes context in force
        self.hist = False  # Historization context in force
        self.partition = ""  # @id of the top-level element being parsed

    # -- reporting -----------------------------------------------------------------------------------
    def err(self, element: str, message: str, code: str = "invalid") -> None:
        self.result.errors.append(ErrorDetail(where=f"{self.source}: {element}", message=message, code=code))

    # -- entry ---------------------------------------------------------------------------------------
    def parse_document(self, doc: object) -> None:
        if isinstance(doc, list):
            for i, item in enumerate(doc):
                self.parse_top(item, f"[{i}]")
        else:
            self.parse_top(doc, "(document)")

    def parse_top(self, obj: object, where: str) -> None:
        if not isinstance(obj, dict):
            self.err(where, f"a top-level element must be a JSON object, not {_json_type(obj)}")
            return
        if "@context" not in obj:
            self.err(_label(obj, where), "top-level element has no @context")
            return
        if not self.read_context(obj["@context"], _label(obj, where)):
            return
        self.partition = str(obj.get("@id", ""))
        self.parse_interface(obj, _label(obj, where), depth=0)

    def read_context(self, ctx: object, where: str) -> bool:
        items = as_list(ctx)
        if not items or not all(isinstance(c, str) for c in items):
            self.err(where, "@context must be a string or an array of strings")
            return False
        first = items[0]
        if first not in CONTEXT:
            self.err(where, f"@context must start with dtmi:dtdl:context;2 or ;3, not {first!r}")
            return False
        self.version = CONTEXT[first]
        self.qt = self.hist = False
        ok = True
        for extra in items[1:]:
            if extra in CONTEXT:  # repeating a DTDL context is harmless (the official parser accepts it)
                continue
            if self.version == 3 and extra == QUANTITATIVE_TYPES:
                self.qt = True
            elif self.version == 3 and extra == HISTORIZATION:
                self.hist = True
            else:
                self.err(where, f"@context {extra!r} is not supported in DTDL v{self.version}")
                ok = False
        return ok

    # -- shared element checks -----------------------------------------------------------------------
    def types_of(
        self, obj: dict[str, object], where: str, allowed: tuple[str, ...], required: bool
    ) -> tuple[str | None, list[str]]:
        """The element's material type (one of ``allowed``) and its co-types."""
        if "@type" not in obj:
            if required:
                self.err(where, "@type is required")
                return None, []
            return allowed[0], []
        raw = as_list(obj["@type"])
        if not raw or not all(isinstance(t, str) for t in raw):
            self.err(where, "@type must be a string or an array of strings")
            return None, []
        types = [str(t) for t in raw]
        material = [t for t in types if t in allowed]
        if len(material) != 1:
            self.err(where, f"@type must include exactly one of {', '.join(allowed)}; it is {types}")
            return None, []
        return material[0], [t for t in types if t != material[0]]

    def check_keys(
        self, obj: dict[str, object], kind: str, where: str, extra: frozenset[str] = frozenset()
    ) -> None:
        allowed = _KEYS[kind] | extra
        if self.version == 2 and kind == "Command":
            allowed = allowed | {"commandType"}
        for key in obj:
            if key not in allowed:
                self.err(where, f"property {key!r} is not allowed on a {kind} in DTDL v{self.version}")
        for key, limit in _STRING_LIMITS[self.version].items():
            if key in obj:
                self.check_text(obj[key], key, limit, where)
        if "@id" in obj:
            self.register_id(obj["@id"], where, interface=False)

    def check_text(self, value: object, key: str, limit: int, where: str) -> None:
        texts: list[object] = (
            list(value.values()) if key != "comment" and isinstance(value, dict) else [value]
        )
        if key != "comment" and isinstance(value, dict):
            for tag in value:
                if not _LANGUAGE_TAG.match(tag):
                    self.err(where, f"{key} has language code {tag[:40]!r}, which is not a language tag")
        for text in texts:
            if not isinstance(text, str):
                self.err(where, f"{key} must be a string")
            elif len(text) > limit:
                self.err(where, f"{key} is {len(text)} characters long; the limit is {limit}")

    def register_id(self, value: object, where: str, *, interface: bool) -> str | None:
        problem = dtmi_problem(value, self.version, interface=interface)
        if problem:
            self.err(where, problem)
            return None
        assert isinstance(value, str)
        if value in self.result.ids:
            self.err(where, f"{value} is defined more than once (also at {self.result.ids[value]})")
            return None
        self.result.ids[value] = f"{self.source}: {where}"
        return value

    def check_name(self, obj: dict[str, object], where: str) -> str | None:
        if "name" not in obj:
            self.err(where, "name is required")
            return None
        problem = name_problem(obj["name"], self.version)
        if problem:
            self.err(where, problem)
            return None
        return str(obj["name"])

    def semantic(
        self, kind: str, cotypes: list[str], obj: dict[str, object], schema: Schema | None, where: str
    ) -> tuple[tuple[str, ...], str | None]:
        """Co-types (semantic types, Historized) and the ``unit`` they require."""
        semantic_ok = (self.version == 2 and kind in ("Property", "Telemetry")) or self.qt
        semantics: list[str] = []
        for co in cotypes:
            if co in SEMANTIC_UNIT_TYPE and semantic_ok:
                semantics.append(co)
            elif co == "Historized" and self.hist and kind in ("Property", "Telemetry"):
                continue
            else:
                self.err(where, f"co-type {co!r} is not defined for a {kind} in DTDL v{self.version}")
        unit = obj.get("unit")
        if not semantics:
            if "unit" in obj:
                self.err(where, "property 'unit' is allowed only with a semantic type")
            return (), None
        if len(semantics) > 1:
            self.err(where, f"at most one semantic type is allowed; found {semantics}")
        unit_type = SEMANTIC_UNIT_TYPE[semantics[0]]
        if unit is None:
            self.err(where, f"semantic type {semantics[0]} requires a unit")
        elif not isinstance(unit, str) or unit not in ALL_UNITS:
            self.err(where, f"unit {unit!r} is not a known unit")
        elif unit not in UNITS[unit_type]:
            self.err(where, f"unit {unit!r} is not a {unit_type} (needed by {semantics[0]})")
        if (
            schema is not None
            and schema.kind != "ref"
            and schema.kind not in ("double", "float", "integer", "long")
        ):
            self.err(where, f"semantic type {semantics[0]} needs a numeric schema, not {schema.describe()}")
        return tuple(semantics), unit if isinstance(unit, str) else None

    def use(self, schema: Schema | None, where: str, kind: str) -> None:
        if schema is not None:
            self.result.uses.append(
                SchemaUse(schema, f"{self.source}: {where}", kind, self.version, self.partition)
            )

    # -- Interface -----------------------------------------------------------------------------------
    def parse_interface(self, obj: dict[str, object], where: str, depth: int) -> str | None:
        if depth > _MAX_NESTING:
            self.err(where, "elements are nested too deeply")
            return None
        kind, cotypes = self.types_of(obj, where, ("Interface",), required=True)
        if kind is None:
            return None
        if cotypes:
            self.err(where, f"an Interface cannot have co-types {cotypes}")
        if "@id" not in obj:
            self.err(where, "@id is required on an Interface")
            return None
        dtmi = self.register_id(obj["@id"], where, interface=True)
        where = dtmi or where
        keys = {k: v for k, v in obj.items() if k != "@id"}
        self.check_keys(keys, "Interface", where)
        iface = Interface(dtmi=dtmi or "", source=self.source, dtdl_version=self.version)
        display = obj.get("displayName")
        iface.display_name = display if isinstance(display, str) else None
        for ext in as_list(obj.get("extends", [])):
            if isinstance(ext, str):
                problem = dtmi_problem(ext, self.version, interface=True)
                if problem:
                    self.err(where, f"extends: {problem}")
                else:
                    iface.extends.append(ext)
            elif isinstance(ext, dict):
                inner = self.parse_interface(ext, f"{where} extends", depth + 1)
                if inner:
                    iface.extends.append(inner)
            else:
                self.err(where, "extends must hold Interface DTMIs or Interface objects")
        if self.version == 2 and len(iface.extends) > 2:
            self.err(where, "extends may list at most 2 Interfaces in DTDL v2")
        for i, item in enumerate(as_list(obj.get("schemas", []))):
            self.parse_interface_schema(item, f"{where} schemas[{i}]", depth)
        contents = as_list(obj.get("contents", []))
        if len(contents) > _MAX_CONTENTS[self.version]:
            self.err(
                where, f"contents holds {len(contents)} elements; the limit is {_MAX_CONTENTS[self.version]}"
            )
        for i, item in enumerate(contents):
            content = self.parse_content(item, f"{where} contents[{i}]", iface.dtmi, depth)
            if content is None:
                continue
            if content.name in iface.contents:
                self.err(
                    f"{where}/{content.name}", f"contents holds more than one element named {content.name!r}"
                )
            else:
                iface.contents[content.name] = content
        if dtmi:
            self.result.interfaces.append(iface)
        return dtmi

    def parse_interface_schema(self, item: object, where: str, depth: int) -> None:
        if not isinstance(item, dict):
            self.err(where, "schemas must hold Array, Enum, Map or Object definitions")
            return
        if "@id" not in item:
            self.err(where, "@id is required on a schema in an Interface's schemas")
            return
        schema = self.parse_schema(item, where, depth + 1)
        self.use(schema, where, "schemas")
        if schema is not None and schema.kind not in COMPLEX:
            self.err(where, "schemas must hold Array, Enum, Map or Object definitions")

    # -- contents ------------------------------------------------------------------------------------
    def parse_content(self, item: object, where: str, owner: str, depth: int) -> Content | None:
        if not isinstance(item, dict):
            self.err(where, f"a contents element must be an object, not {_json_type(item)}")
            return None
        kind, cotypes = self.types_of(item, where, _CONTENT_KINDS, required=True)
        name = self.check_name(item, where)
        if kind is None or name is None:
            return None
        where = f"{owner}/{name}"
        content = Content(kind=kind, name=name, owner=owner, source=self.source)
        extra = frozenset({"unit"}) if cotypes else frozenset()
        self.check_keys(item, kind, where, extra)
        if kind in ("Property", "Telemetry"):
            content.schema = self.required_schema(item, "schema", where, depth)
            self.use(content.schema, where, kind)
            content.semantic_types, content.unit = self.semantic(kind, cotypes, item, content.schema, where)
            if kind == "Property":
                content.writable = self.flag(item, "writable", where)
        else:
            if cotypes:
                self.err(where, f"co-types {cotypes} are not allowed on a {kind}")
            if kind == "Command":
                for key in ("request", "response"):
                    if key in item:
                        self.parse_payload(item[key], f"{where} {key}", depth, key)
                if (
                    self.version == 2
                    and "commandType" in item
                    and item["commandType"]
                    not in (
                        "synchronous",
                        "asynchronous",
                    )
                ):
                    self.err(where, "commandType must be synchronous or asynchronous")
            elif kind == "Relationship":
                self.parse_relationship(item, content, where, depth)
            elif kind == "Component":
                self.parse_component(item, content, where, depth)
        return content

    def flag(self, obj: dict[str, object], key: str, where: str) -> bool:
        value = obj.get(key, False)
        if not isinstance(value, bool):
            self.err(where, f"{key} must be true or false")
            return False
        return value

    def parse_payload(self, item: object, where: str, depth: int, key: str) -> None:
        if not isinstance(item, dict):
            self.err(where, f"{key} must be an object")
            return
        material = "CommandRequest" if key == "request" else "CommandResponse"
        allowed = (material,) if self.version == 3 else ("CommandPayload",)
        kind, cotypes = self.types_of(item, where, allowed, required=False)
        if kind is None:
            return
        self.check_keys(item, "CommandPayload", where, frozenset({"unit"}) if cotypes else frozenset())
        self.check_name(item, where)
        schema = self.required_schema(item, "schema", where, depth)
        self.use(schema, where, kind)
        self.semantic(kind, cotypes, item, schema, where)

    def parse_relationship(self, item: dict[str, object], content: Content, where: str, depth: int) -> None:
        content.writable = self.flag(item, "writable", where)
        if "target" in item:
            problem = dtmi_problem(item["target"], self.version, interface=True)
            if problem:
                self.err(where, f"target: {problem}")
            else:
                content.target = str(item["target"])
        low, high = _integral(item.get("minMultiplicity")), _integral(item.get("maxMultiplicity"))
        if "minMultiplicity" in item:
            if type(low) is not int or low != 0:
                self.err(where, f"minMultiplicity must be 0, not {item['minMultiplicity']!r}")
            else:
                content.min_multiplicity = low
        if "maxMultiplicity" in item:
            if type(high) is not int or not 1 <= high <= _INT32[1]:
                self.err(where, f"maxMultiplicity must be an integer >= 1, not {item['maxMultiplicity']!r}")
            else:
                content.max_multiplicity = high
        for i, prop in enumerate(as_list(item.get("properties", []))):
            sub_where = f"{where} properties[{i}]"
            if not isinstance(prop, dict):
                self.err(sub_where, "a Relationship's properties must be Property objects")
                continue
            sub = self.parse_content(prop, sub_where, f"{where}", depth)
            if sub is None:
                continue
            if sub.kind != "Property":
                self.err(sub_where, f"a Relationship's properties must be Properties, not {sub.kind}")
            elif sub.name in content.properties:
                self.err(sub_where, f"properties holds more than one element named {sub.name!r}")
            else:
                content.properties[sub.name] = sub

    def parse_component(self, item: dict[str, object], content: Content, where: str, depth: int) -> None:
        schema = item.get("schema")
        if schema is None:
            self.err(where, "schema is required")
        elif isinstance(schema, str):
            problem = dtmi_problem(schema, self.version, interface=True)
            if problem:
                self.err(where, f"schema: {problem}")
            else:
                content.component = schema
        elif isinstance(schema, dict):
            version, qt, hist = self.version, self.qt, self.hist
            if "@context" in schema and not self.read_context(schema["@context"], where):
                return
            inner = self.parse_interface(schema, f"{where} schema", depth + 1)
            self.version, self.qt, self.hist = version, qt, hist
            content.component = inner or ""
        else:
            self.err(where, "a Component's schema must be an Interface DTMI or an Interface object")

    # -- schemas -------------------------------------------------------------------------------------
    def required_schema(self, obj: dict[str, object], key: str, where: str, depth: int) -> Schema | None:
        if key not in obj:
            self.err(where, f"{key} is required")
            return None
        return self.parse_schema(obj[key], where, depth + 1)

    def parse_schema(self, value: object, where: str, depth: int) -> Schema | None:
        if depth > _MAX_NESTING:
            self.err(where, "schemas are nested too deeply")
            return None
        if isinstance(value, str):
            if value in PRIMITIVES or value in GEOSPATIAL:
                return Schema(kind=value)
            if value.startswith("dtmi:"):
                problem = dtmi_problem(value, self.version)
                if problem:
                    self.err(where, f"schema: {problem}")
                    return None
                return Schema(kind="ref", ref=value)
            self.err(where, f"schema {value!r} is not a DTDL v{self.version} schema")
            return None
        if not isinstance(value, dict):
            self.err(where, f"schema must be a string or an object, not {_json_type(value)}")
            return None
        kind, cotypes = self.types_of(value, where, ("Array", "Enum", "Map", "Object"), required=True)
        if kind is None:
            return None
        if cotypes:
            self.err(where, f"co-types {cotypes} are not allowed on a {kind}")
        self.check_keys(value, kind, where)
        schema = Schema(kind=kind)
        builder: dict[str, Callable[[dict[str, object], Schema, str, int], None]] = {
            "Array": self._array,
            "Enum": self._enum,
            "Map": self._map,
            "Object": self._object,
        }
        builder[kind](value, schema, where, depth)
        if isinstance(value.get("@id"), str) and value["@id"] in self.result.ids:
            schema.dtmi = str(value["@id"])
            self.result.schemas[schema.dtmi] = (schema, self.partition)
        return schema

    def _array(self, obj: dict[str, object], schema: Schema, where: str, depth: int) -> None:
        schema.element = self.required_schema(obj, "elementSchema", f"{where} elementSchema", depth)

    def _enum(self, obj: dict[str, object], schema: Schema, where: str, depth: int) -> None:
        value_schema = obj.get("valueSchema")
        if value_schema not in ("integer", "string"):
            self.err(where, f"an Enum's valueSchema must be integer or string, not {value_schema!r}")
            return
        schema.value_schema = str(value_schema)
        if "enumValues" not in obj and self.version == 2:
            self.err(where, "enumValues is required on an Enum in DTDL v2")
        seen_values: dict[object, str] = {}
        for i, item in enumerate(as_list(obj.get("enumValues", []))):
            sub = f"{where} enumValues[{i}]"
            if not isinstance(item, dict):
                self.err(sub, "an enumValues element must be an object")
                continue
            kind, _ = self.types_of(item, sub, ("EnumValue",), required=False)
            self.check_keys(item, "EnumValue", sub)
            name = self.check_name(item, sub)
            if "enumValue" not in item:
                self.err(sub, "enumValue is required")
                continue
            value = _integral(item["enumValue"]) if value_schema == "integer" else item["enumValue"]
            expected = int if value_schema == "integer" else str
            if type(value) is not expected or (expected is int and not _INT32[0] <= value <= _INT32[1]):  # type: ignore[operator]
                self.err(sub, f"enumValue {value!r} is not of the Enum's valueSchema {value_schema}")
                continue
            if name is None or kind is None:
                continue
            if name in schema.enum_values:
                self.err(sub, f"more than one enumValue is named {name!r}")
            elif value in seen_values:
                self.err(sub, f"enumValue {value!r} is used by both {seen_values[value]!r} and {name!r}")
            else:
                schema.enum_values[name] = value
                seen_values[value] = name

    def _map(self, obj: dict[str, object], schema: Schema, where: str, depth: int) -> None:
        key = obj.get("mapKey")
        if not isinstance(key, dict):
            self.err(where, "mapKey is required and must be an object")
        else:
            self.types_of(key, f"{where} mapKey", ("MapKey",), required=False)
            self.check_keys(key, "MapKey", f"{where} mapKey")
            self.check_name(key, f"{where} mapKey")
            if key.get("schema") != "string":
                self.err(
                    f"{where} mapKey", f"a Map's mapKey schema must be string, not {key.get('schema')!r}"
                )
        value = obj.get("mapValue")
        if not isinstance(value, dict):
            self.err(where, "mapValue is required and must be an object")
            return
        sub = f"{where} mapValue"
        kind, cotypes = self.types_of(value, sub, ("MapValue",), required=False)
        if kind is None:
            return
        self.check_keys(value, "MapValue", sub, frozenset({"unit"}) if cotypes else frozenset())
        self.check_name(value, sub)
        schema.map_value = self.required_schema(value, "schema", sub, depth)
        self.semantic("MapValue", cotypes, value, schema.map_value, sub)

    def _object(self, obj: dict[str, object], schema: Schema, where: str, depth: int) -> None:
        if "fields" not in obj and self.version == 2:
            self.err(where, "fields is required on an Object in DTDL v2")
        for i, item in enumerate(as_list(obj.get("fields", []))):
            sub = f"{where} fields[{i}]"
            if not isinstance(item, dict):
                self.err(sub, "a fields element must be an object")
                continue
            kind, cotypes = self.types_of(item, sub, ("Field",), required=False)
            if kind is None:
                continue
            self.check_keys(item, "Field", sub, frozenset({"unit"}) if cotypes else frozenset())
            name = self.check_name(item, sub)
            field_schema = self.required_schema(item, "schema", f"{sub} {name or ''}".rstrip(), depth)
            self.semantic("Field", cotypes, item, field_schema, sub)
            if name is None or field_schema is None:
                continue
            if name in schema.fields:
                self.err(sub, f"more than one field is named {name!r}")
            else:
                schema.fields[name] = field_schema


def _integral(value: object) -> object:
    """JSON numbers such as 2.0 count as integers (as in the official parser)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _label(obj: dict[str, object], fallback: str) -> str:
    ident = obj.get("@id")
    return ident if isinstance(ident, str) and len(ident) <= 256 else fallback


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}.get(
        type(value), "an object"
    )
