"""What a JSON Schema must pass before it is saved, beyond its meta-schema: every reference resolves
inside the document, every pattern runs on RE2, and no reference loop could make validation recurse
without end.

References are resolved with ``referencing`` exactly as ``jsonschema`` will resolve them at validation
time: against the base URI that the enclosing ``$id``s set, to subschemas of the document (also through
embedded ``$id``s, ``$anchor``s and ``$dynamicAnchor``s) or to the official meta-schemas that
``jsonschema`` ships. Nothing is ever fetched: the registry's ``retrieve`` refuses every URI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from referencing import Registry, Resource, Specification
from referencing.exceptions import NoSuchResource, Unresolvable

from triggers.schema_regex import pattern_problem

REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
# Keywords whose subschemas apply to the same instance: a loop through only these never ends.
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_SINGLE = ("not", "if", "then", "else")
_IN_PLACE_MAPS = ("dependentSchemas", "dependencies")


class SchemaError(ValueError):
    """A schema that cannot be saved: ``path`` is a JSON pointer into the schema."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.message, self.path = message, path

    def __repr__(self) -> str:
        return f"SchemaError({self.message!r}, path={self.path!r})"


def _refuse_retrieval(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs class mypy cannot see into


# The official meta-schemas, and nothing that would need a fetch.
OFFLINE_REGISTRY: Registry[Any] = SPECIFICATIONS.combine(Registry(retrieve=_refuse_retrieval))  # type: ignore[call-arg]


def pointer_escape(part: object) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def pointer(parts: Any) -> str:
    return "".join("/" + pointer_escape(part) for part in parts)


def check_document(schema: Any, specification: Specification[Any]) -> None:
    """Raise ``SchemaError`` for the first unresolvable reference, unusable pattern or reference loop."""
    if isinstance(schema, bool):
        return
    resource = specification.create_resource(schema)
    walk = _Walk(schema, specification)
    walk.visit(resource, OFFLINE_REGISTRY.resolver_with_root(resource))
    walk.check_loops()


class _Walk:
    def __init__(self, root: Any, specification: Specification[Any]):
        self.pointers = dict(_containers(root))
        self.specification = specification
        self.visited: set[int] = set()
        # For the loop check: subschema -> the subschemas it applies to the very same instance.
        self.in_place: dict[int, list[int]] = {}

    def visit(self, resource: Resource[Any], resolver: Any) -> None:
        contents = resource.contents
        if not isinstance(contents, dict) or id(contents) in self.visited:
            return
        self.visited.add(id(contents))
        where = self.pointers[id(contents)]
        self._check_patterns(contents, where)
        edges = self.in_place.setdefault(id(contents), [])
        edges += (id(child) for child in _in_place_children(contents))
        for keyword in REFERENCE_KEYWORDS:
            ref = contents.get(keyword)
            if isinstance(ref, str):
                target = self._resolve(resolver, ref, f"{where}/{pointer_escape(keyword)}")
                if id(target.contents) in self.pointers:
                    edges.append(id(target.contents))
                    self.visit(self._resource(target.contents), target.resolver)
        for sub in resource.subresources():
            self.visit(sub, resolver.in_subresource(sub))

    def _resource(self, contents: Any) -> Resource[Any]:
        return Resource.from_contents(contents, default_specification=self.specification)

    def _resolve(self, resolver: Any, ref: str, where: str) -> Any:
        try:
            return resolver.lookup(ref)
        except Unresolvable:
            raise SchemaError(
                f"The reference {ref!r} cannot be resolved inside this schema, and references are never "
                "fetched from the network. Copy the referenced schema under $defs and refer to it as "
                "'#/$defs/<name>'.",
                where,
            ) from None

    def _check_patterns(self, contents: dict[str, Any], where: str) -> None:
        if isinstance(contents.get("pattern"), str):
            problem = pattern_problem(contents["pattern"])
            if problem:
                raise SchemaError(problem, f"{where}/pattern")
        if isinstance(contents.get("patternProperties"), dict):
            for key in contents["patternProperties"]:
                problem = pattern_problem(key)
                if problem:
                    raise SchemaError(problem, f"{where}/patternProperties/{pointer_escape(key)}")

    def check_loops(self) -> None:
        """Depth-first search for a cycle in the in-place graph, without recursion."""
        done: set[int] = set()
        for start in self.in_place:
            if start in done:
                continue
            on_path = {start}
            stack = [(start, iter(self.in_place.get(start, ())))]
            while stack:
                node, children = stack[-1]
                child = next(children, None)
                if child is None:
                    stack.pop()
                    on_path.discard(node)
                    done.add(node)
                elif child in on_path:
                    raise SchemaError(
                        "This schema refers back to itself without descending into a property or item, "
                        "so validation would never end; break the $ref loop.",
                        self.pointers.get(node, ""),
                    )
                elif child not in done:
                    on_path.add(child)
                    stack.append((child, iter(self.in_place.get(child, ()))))


def _in_place_children(contents: dict[str, Any]) -> Iterator[Any]:
    for keyword in _IN_PLACE_LISTS:
        if isinstance(contents.get(keyword), list):
            yield from (each for each in contents[keyword] if isinstance(each, dict))
    for keyword in _IN_PLACE_SINGLE:
        if isinstance(contents.get(keyword), dict):
            yield contents[keyword]
    for keyword in _IN_PLACE_MAPS:
        if isinstance(contents.get(keyword), dict):
            yield from (each for each in contents[keyword].values() if isinstance(each, dict))


def _containers(root: Any) -> Iterator[tuple[int, str]]:
    """``(id, JSON pointer)`` of every object and array in the document, without recursion."""
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            yield id(node), where
            stack.extend((value, f"{where}/{pointer_escape(key)}") for key, value in node.items())
        elif isinstance(node, list):
            yield id(node), where
            stack.extend((value, f"{where}/{index}") for index, value in enumerate(node))
