"""A tree of the fields a payload schema expects, for people building a workflow on it.

``preview_tree(schema, samples)`` works for inferred schemas and hand-written JSON Schemas alike. Each
node is ``{"path", "name", "types", "required", "example", "children"}``:

- ``path`` is dotted (``issue.title``); array items are ``[*]`` (``issue.labels[*].name``); a key that
  is not an identifier is quoted (``issue.reactions["+1"]``).
- ``types`` are JSON Schema type names in a fixed order; ``[]`` means any type.
- ``required`` is true when the enclosing object lists the key in ``required`` (through ``allOf`` too);
  fields that only some ``anyOf``/``oneOf``/``then``/``else`` branches describe are never required.
- ``example`` is the first non-null scalar the samples hold at that path, else the schema's
  ``examples``, ``default``, ``const`` or first ``enum`` value; objects and arrays have none (their
  children do). An array of objects lists the items' fields as its children; an array of scalars has
  one ``[*]`` child.

Local ``$ref``s (also through ``$id``s and anchors) are followed, ``allOf`` branches merged and
``anyOf``/``oneOf`` branches unioned. A reference already being expanded by an ancestor is not expanded
again (recursive schemas end there), and the tree stops at 32 levels and 2,000 nodes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from referencing import Resource, Specification
from referencing.jsonschema import specification_with

from triggers.schema_checks import OFFLINE_REGISTRY, SchemaError
from triggers.schemas import dialect_of

MAX_DEPTH = 32
MAX_NODES = 2000
MAX_SAMPLE_VALUES = 50
TYPE_ORDER = ("object", "array", "string", "number", "integer", "boolean", "null")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}
_JSON_TYPES |= {float: "number", type(None): "null"}


@dataclass
class _View:
    """What one or more subschemas say about one value, with in-place applicators merged."""

    types: set[str] = field(default_factory=set)
    properties: dict[str, list[tuple[Any, Any]]] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    items: list[tuple[Any, Any]] = field(default_factory=list)
    examples: list[Any] = field(default_factory=list)
    refs: frozenset[int] = frozenset()  # reference targets expanded on the way here (cycle guard)


@dataclass
class _Tree:
    specification: Specification[Any]
    count: int = 0


def preview_tree(schema: dict[str, Any] | bool, samples: list[Any] | None = None) -> list[dict[str, Any]]:
    try:
        specification = specification_with(dialect_of(schema))
    except SchemaError:
        specification = specification_with(dialect_of({}))
    tree = _Tree(specification)
    resolver = OFFLINE_REGISTRY.resolver_with_root(specification.create_resource(schema))
    root = _view(tree, [(schema, resolver)], frozenset())
    return _children(tree, root, "", list(samples or [])[:MAX_SAMPLE_VALUES], depth=0)


def _view(tree: _Tree, schemas: list[tuple[Any, Any]], refs: frozenset[int]) -> _View:
    view = _View(refs=refs)
    expanded: set[int] = set()
    for schema, resolver in schemas:
        _collect(tree, view, schema, resolver, required=True, expanded=expanded)
    view.refs = refs | expanded
    return view


def _collect(
    tree: _Tree, view: _View, schema: Any, resolver: Any, *, required: bool, expanded: set[int]
) -> None:
    """Merge what ``schema`` says into ``view``; ``resolver`` is already at ``schema``'s base URI."""
    if not isinstance(schema, dict):
        return
    _collect_own(tree, view, schema, resolver, required=required)
    for keyword in ("$ref", "$dynamicRef", "$recursiveRef"):
        target = _resolve(resolver, schema.get(keyword))
        if target is not None and id(target.contents) not in view.refs | expanded:
            expanded.add(id(target.contents))
            _collect(tree, view, target.contents, target.resolver, required=required, expanded=expanded)
    for branch in _list(schema.get("allOf")):
        _collect(tree, view, branch, _enter(tree, resolver, branch), required=required, expanded=expanded)
    alternatives = [*_list(schema.get("anyOf")), *_list(schema.get("oneOf"))]
    alternatives += [schema[key] for key in ("then", "else") if key in schema]
    for branch in alternatives:
        _collect(tree, view, branch, _enter(tree, resolver, branch), required=False, expanded=expanded)


def _enter(tree: _Tree, resolver: Any, subschema: Any) -> Any:
    """The resolver for a subschema: its own ``$id``, if any, changes the base URI."""
    if not isinstance(subschema, dict):
        return resolver
    return resolver.in_subresource(
        Resource.from_contents(subschema, default_specification=tree.specification)
    )


def _collect_own(tree: _Tree, view: _View, schema: dict[str, Any], resolver: Any, *, required: bool) -> None:
    declared = schema.get("type")
    view.types.update([declared] if isinstance(declared, str) else _list(declared))
    if isinstance(schema.get("properties"), dict):
        for name, sub in schema["properties"].items():
            view.properties.setdefault(name, []).append((sub, _enter(tree, resolver, sub)))
    if required:
        view.required.update(name for name in _list(schema.get("required")) if isinstance(name, str))
    items = schema.get("items")
    item_schemas = [items] if isinstance(items, dict) else _list(items)
    item_schemas += _list(schema.get("prefixItems"))
    view.items += [(sub, _enter(tree, resolver, sub)) for sub in item_schemas]
    view.examples += _list(schema.get("examples"))[:1]
    view.examples += [schema[key] for key in ("default", "const") if key in schema]
    view.examples += _list(schema.get("enum"))[:1]


def _resolve(resolver: Any, ref: Any) -> Any:
    if not isinstance(ref, str):
        return None
    try:
        return resolver.lookup(ref)
    except Exception:  # a preview shows what it can; check_schema reports bad references
        return None


def _children(tree: _Tree, view: _View, path: str, values: list[Any], *, depth: int) -> list[dict[str, Any]]:
    if depth >= MAX_DEPTH:
        return []
    nodes = [
        _node(tree, view, name, subs, path, values, depth)
        for name, subs in view.properties.items()
        if tree.count < MAX_NODES
    ]
    if view.items and tree.count < MAX_NODES:
        item_view = _view(tree, view.items, view.refs)
        item_values = [item for value in values if isinstance(value, list) for item in value]
        item_path = f"{path}[*]"
        if item_view.properties:
            nodes += _children(tree, item_view, item_path, item_values[:MAX_SAMPLE_VALUES], depth=depth + 1)
        elif item_view.types or item_view.examples:
            tree.count += 1
            nodes.append(_describe(item_view, "[*]", item_path, False, item_values, []))
    return nodes


def _node(
    tree: _Tree,
    parent: _View,
    name: str,
    subs: list[tuple[Any, Any]],
    path: str,
    values: list[Any],
    depth: int,
) -> dict[str, Any]:
    tree.count += 1
    view = _view(tree, subs, parent.refs)
    child_path = _join(path, name)
    child_values = [value[name] for value in values if isinstance(value, dict) and name in value]
    children = _children(tree, view, child_path, child_values, depth=depth + 1)
    return _describe(view, name, child_path, name in parent.required, child_values, children)


def _describe(
    view: _View, name: str, path: str, required: bool, values: list[Any], children: list[dict[str, Any]]
) -> dict[str, Any]:
    types = set(view.types)
    if not types:
        types |= {"object"} if view.properties else set()
        types |= {"array"} if view.items else set()
        types |= {_JSON_TYPES.get(type(example), "null") for example in view.examples}
    ordered = [name for name in TYPE_ORDER if name in types]
    return {
        "path": path,
        "name": name,
        "types": ordered,
        "required": required,
        "example": _example(values, view.examples),
        "children": children,
    }


def _example(values: list[Any], examples: list[Any]) -> Any:
    for candidate in [*values, *examples]:
        if candidate is not None and not isinstance(candidate, dict | list):
            return candidate
    return None


def _join(path: str, name: str) -> str:
    if _IDENTIFIER.fullmatch(name):
        return f"{path}.{name}" if path else name
    return f"{path}[{json.dumps(name, ensure_ascii=False)}]"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
