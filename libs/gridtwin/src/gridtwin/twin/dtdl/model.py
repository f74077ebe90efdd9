"""The parsed form of DTDL elements: what the twin validator and the registry read."""

from __future__ import annotations

from dataclasses import dataclass, field

PRIMITIVES = frozenset(
    {"boolean", "date", "dateTime", "double", "duration", "float", "integer", "long", "string", "time"}
)
NUMERIC = frozenset({"double", "float", "integer", "long"})
# Geospatial schema term -> GeoJSON geometry type.
GEOSPATIAL = {
    "point": "Point",
    "multiPoint": "MultiPoint",
    "lineString": "LineString",
    "multiLineString": "MultiLineString",
    "polygon": "Polygon",
    "multiPolygon": "MultiPolygon",
}
COMPLEX = frozenset({"Array", "Enum", "Map", "Object"})


@dataclass(eq=False)
class Schema:
    """A schema: ``kind`` is a primitive name, a geospatial term, a complex kind, or ``"ref"``."""

    kind: str
    dtmi: str | None = None
    element: Schema | None = None  # Array
    value_schema: str = ""  # Enum: "integer" or "string"
    enum_values: dict[str, object] = field(default_factory=dict)  # Enum: name -> value
    map_value: Schema | None = None  # Map
    fields: dict[str, Schema] = field(default_factory=dict)  # Object
    ref: str = ""  # a DTMI naming a schema defined elsewhere, until resolved

    def describe(self) -> str:
        if self.kind == "ref":
            return self.ref
        if self.dtmi and self.kind in COMPLEX:
            return f"{self.kind} {self.dtmi}"
        return self.kind


@dataclass(eq=False)
class Content:
    """One element of an Interface's ``contents``."""

    kind: str  # Property, Telemetry, Command, Relationship, Component
    name: str
    owner: str  # DTMI of the Interface that declares it
    source: str
    schema: Schema | None = None  # Property, Telemetry
    component: str = ""  # Component: the Interface's DTMI
    target: str | None = None  # Relationship
    min_multiplicity: int | None = None
    max_multiplicity: int | None = None
    properties: dict[str, Content] = field(default_factory=dict)  # Relationship properties
    writable: bool = False
    semantic_types: tuple[str, ...] = ()
    unit: str | None = None


@dataclass(eq=False)
class Interface:
    dtmi: str
    source: str
    dtdl_version: int
    extends: list[str] = field(default_factory=list)
    contents: dict[str, Content] = field(default_factory=dict)  # declared here
    display_name: str | None = None
    # Filled in by the model set: own + inherited contents, by name.
    all_contents: dict[str, Content] = field(default_factory=dict)

    @property
    def properties(self) -> dict[str, Content]:
        return {n: c for n, c in self.all_contents.items() if c.kind == "Property"}

    @property
    def relationships(self) -> dict[str, Content]:
        return {n: c for n, c in self.all_contents.items() if c.kind == "Relationship"}

    @property
    def components(self) -> dict[str, Content]:
        return {n: c for n, c in self.all_contents.items() if c.kind == "Component"}
