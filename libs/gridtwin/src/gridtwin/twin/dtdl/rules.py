"""Rules that need the whole model set: extends, components, schema references and depth, names."""

from __future__ import annotations

from gridtwin.errors import ErrorDetail
from gridtwin.twin.dtdl.model import GEOSPATIAL, NUMERIC, Content, Interface, Schema
from gridtwin.twin.dtdl.parser import ParseResult

# Levels the geospatial schemas count for (they are Objects of nested Arrays), as the official parser.
GEOSPATIAL_DEPTH = {
    "point": 2,
    "multiPoint": 3,
    "lineString": 3,
    "multiLineString": 4,
    "polygon": 4,
    "multiPolygon": 5,
}

MAX_EXTENDS_DEPTH = 10
MAX_SCHEMA_DEPTH = 5
_FAR = 64  # depth reported for cyclic schemas


def check_model_set(result: ParseResult) -> dict[str, Interface]:
    """Resolve and check ``result`` in place; returns the interfaces by DTMI. Errors go to result.errors."""
    errors = result.errors
    interfaces: dict[str, Interface] = {}
    for iface in result.interfaces:
        interfaces.setdefault(iface.dtmi, iface)
    _resolve_schemas(result)
    depths = _check_extends(interfaces, errors)
    for iface in interfaces.values():
        if 0 <= depths.get(iface.dtmi, 0) <= MAX_EXTENDS_DEPTH:
            _inherit(iface, interfaces, errors)
        else:  # already reported; walking hostile chains would cost quadratic time
            iface.all_contents = dict(iface.contents)
    _check_components(interfaces, errors)
    for use in result.uses:
        schema, where, kind, version = use.schema, use.where, use.kind, use.version
        depth = _depth(schema, 0)
        if depth > MAX_SCHEMA_DEPTH:
            shown = "a cycle" if depth >= _FAR else f"{depth} levels"
            errors.append(
                ErrorDetail(where, f"complex schemas nest {shown}; the limit is {MAX_SCHEMA_DEPTH} levels")
            )
        elif version == 2 and kind == "Property" and _contains_array(schema, 0):
            errors.append(ErrorDetail(where, "a Property's schema may not contain an Array in DTDL v2"))
    _check_semantic_refs(interfaces, errors)
    return interfaces


def _where(iface: Interface, element: str = "") -> str:
    return f"{iface.source}: {iface.dtmi}{'/' + element if element else ''}"


def _resolve_schemas(result: ParseResult) -> None:
    """Replace every ``ref`` schema by the definition it names (sharing the definition's parts)."""
    seen: set[int] = set()

    def visit(schema: Schema | None, where: str, partition: str, depth: int) -> None:
        if schema is None or id(schema) in seen or depth > _FAR:
            return
        seen.add(id(schema))
        if schema.kind == "ref":
            found = result.schemas.get(schema.ref)
            if found is None:
                result.errors.append(
                    ErrorDetail(where, f"schema {schema.ref} is not defined in the model set")
                )
                schema.kind = "string"  # keep going with a harmless stand-in
                return
            target, home = found
            if home != partition:
                result.errors.append(
                    ErrorDetail(
                        where,
                        f"schema {schema.ref} is defined in {home}; an Interface may use only its own schemas",
                    )
                )
                schema.kind = "string"
                return
            visit(target, where, partition, depth + 1)
            if target.kind == "ref":  # unresolvable chain
                return
            schema.kind, schema.dtmi = target.kind, target.dtmi
            schema.element, schema.value_schema = target.element, target.value_schema
            schema.enum_values, schema.map_value, schema.fields = (
                target.enum_values,
                target.map_value,
                target.fields,
            )
            return
        for child in (schema.element, schema.map_value, *schema.fields.values()):
            visit(child, where, partition, depth + 1)

    for use in result.uses:
        visit(use.schema, use.where, use.partition, 0)


def _depth(schema: Schema | None, level: int) -> int:
    if schema is None or level >= _FAR:
        return level
    if schema.kind == "Array":
        return _depth(schema.element, level + 1)
    if schema.kind == "Map":
        return _depth(schema.map_value, level + 1)
    if schema.kind == "Object":
        return max([_depth(f, level + 1) for f in schema.fields.values()], default=level + 1)
    # An Enum adds no level (as in the official parser).
    return level + GEOSPATIAL_DEPTH.get(schema.kind, 0)


def _contains_array(schema: Schema | None, level: int) -> bool:
    if schema is None or level > MAX_SCHEMA_DEPTH + 1:
        return False
    if schema.kind == "Array" or schema.kind in GEOSPATIAL:  # GeoJSON coordinates are Arrays
        return True
    children = [schema.map_value, *schema.fields.values()]
    return any(_contains_array(c, level + 1) for c in children)


def _check_extends(interfaces: dict[str, Interface], errors: list[ErrorDetail]) -> dict[str, int]:
    depths = _extends_depths(interfaces)
    for iface in interfaces.values():
        for base in iface.extends:
            if base not in interfaces:
                errors.append(
                    ErrorDetail(_where(iface), f"extends {base}, which is not defined in the model set")
                )
        depth = depths.get(iface.dtmi, 0)
        if depth < 0:
            errors.append(ErrorDetail(_where(iface), "extends forms a cycle"))
        elif depth > MAX_EXTENDS_DEPTH:
            errors.append(
                ErrorDetail(
                    _where(iface), f"extends is {depth} levels deep; the limit is {MAX_EXTENDS_DEPTH}"
                )
            )
    return depths


def _extends_depths(interfaces: dict[str, Interface]) -> dict[str, int]:
    """Levels of extends above each Interface (0 for none); -1 on a cycle. Memoised: diamonds are cheap."""
    memo: dict[str, int] = {}
    visiting: set[str] = set()

    def depth(dtmi: str) -> int:
        if dtmi in memo:
            return memo[dtmi]
        if dtmi in visiting:
            return -1
        iface = interfaces.get(dtmi)
        if iface is None or not iface.extends:
            memo[dtmi] = 0
            return 0
        if len(visiting) > 4 * MAX_EXTENDS_DEPTH:  # hostile chains: deep enough to report, stop walking
            return len(visiting)
        visiting.add(dtmi)
        best = 0
        for base in iface.extends:
            below = depth(base)
            if below < 0:
                best = -1
                break
            best = max(best, below + 1)
        visiting.discard(dtmi)
        memo[dtmi] = best
        return best

    return {dtmi: depth(dtmi) for dtmi in interfaces}


def _inherit(iface: Interface, interfaces: dict[str, Interface], errors: list[ErrorDetail]) -> None:
    """Fill ``all_contents``: own plus inherited contents; one name may come from only one element."""
    merged: dict[str, Content] = {}
    for content in _ancestry_contents(iface, interfaces):
        other = merged.get(content.name)
        if other is None:
            merged[content.name] = content
        elif other is not content:
            errors.append(
                ErrorDetail(
                    _where(iface, content.name),
                    f"more than one element named {content.name!r} (in {other.owner} and {content.owner}), "
                    "counting inherited contents",
                )
            )
    iface.all_contents = merged


def _ancestry_contents(iface: Interface, interfaces: dict[str, Interface]) -> list[Content]:
    """Own contents first, then every ancestor's once (iterative: hostile chains can be long)."""
    found: list[Content] = []
    seen: set[str] = set()
    stack = [iface]
    while stack:
        current = stack.pop()
        if current.dtmi in seen:
            continue
        seen.add(current.dtmi)
        found.extend(current.contents.values())
        stack.extend(interfaces[b] for b in reversed(current.extends) if b in interfaces)
    return found


def _check_components(interfaces: dict[str, Interface], errors: list[ErrorDetail]) -> None:
    for iface in interfaces.values():
        for content in iface.contents.values():
            if content.kind != "Component" or not content.component:
                continue
            schema = interfaces.get(content.component)
            where = _where(iface, content.name)
            if schema is None:
                errors.append(
                    ErrorDetail(
                        where, f"Component schema {content.component} is not defined in the model set"
                    )
                )
            elif any(c.kind == "Component" for c in schema.all_contents.values()):
                errors.append(
                    ErrorDetail(
                        where,
                        f"Component schema {content.component} itself contains a Component, which is not allowed",
                    )
                )


def _check_semantic_refs(interfaces: dict[str, Interface], errors: list[ErrorDetail]) -> None:
    """Semantic types need numeric schemas; checked again here for schemas given by reference."""
    for iface in interfaces.values():
        for content in iface.contents.values():
            schema = content.schema
            # Inline schemas were reported by the parser already; these came by reference.
            if content.semantic_types and schema is not None and schema.kind not in NUMERIC and schema.dtmi:
                errors.append(
                    ErrorDetail(
                        _where(iface, content.name),
                        f"semantic type {content.semantic_types[0]} needs a numeric schema",
                    )
                )
