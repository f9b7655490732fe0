"""A payload schema inferred from sample payloads: the structure of the samples, not strict rules.

``infer_schema(samples)`` merges all samples with genson (types are unioned, a key seen in any sample
is described) and then relaxes the result so that other payloads of the same kind pass. The rule, for a
2020-12 schema:

1. **No key is required**, anywhere: a key missing from a payload is fine.
2. **Extra keys are allowed**, anywhere (no ``additionalProperties``).
3. **Arrays may have any length**, including empty; their items follow the items seen in the samples.
4. **Integers widen to numbers**: ``3`` in a sample accepts ``3.5``.
5. **Below the root, null is always accepted**, and a key that was ``null`` in every sample accepts any
   value (the samples say nothing about its type).
6. **Kinds are kept**: below the root, a value must still be of a kind the samples showed (or null):
   object, array, string, number or boolean. At the root the kind is exact: an object where the
   samples had arrays (or the reverse), or a scalar where they had a container, is rejected, and the
   root does not accept null unless a sample was null.

Rule 6 keeps nested kinds because webhook senders keep them within one event type: what does change
between payloads of one event is presence (rules 1-2), nulls (rule 5), array lengths (rule 3) and
integer-vs-decimal amounts (rule 4). A form field sent once in one sample (``"a"``) and repeated in
another (``["a", "b"]``) is a kind change: infer from both samples, or edit the schema.
"""

from __future__ import annotations

from typing import Any

from genson import SchemaBuilder

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def infer_schema(samples: list[Any]) -> dict[str, Any]:
    """A 2020-12 schema that accepts the ``samples`` and payloads of the same kind (see module docs)."""
    if not samples:
        raise ValueError("At least one sample payload is needed to infer a schema.")
    builder = SchemaBuilder(schema_uri=None)
    for sample in samples:
        builder.add_object(sample)
    return {"$schema": DIALECT, **_relax(builder.to_schema(), nested=False)}


def _relax(node: dict[str, Any], *, nested: bool) -> dict[str, Any]:
    relaxed: dict[str, Any] = {}
    for keyword, value in node.items():
        if keyword in ("$schema", "required"):
            continue
        if keyword == "type":
            relaxed["type"] = _widen(value)
        elif keyword == "properties":
            relaxed["properties"] = {name: _relax(sub, nested=True) for name, sub in value.items()}
        elif keyword == "items" and isinstance(value, dict):
            relaxed["items"] = _relax(value, nested=True)
        elif keyword == "anyOf":
            # The branches are alternatives at this same level: null is added once, below, if nested.
            relaxed["anyOf"] = [_relax(branch, nested=False) for branch in value]
        else:
            relaxed[keyword] = value
    return _nullable(relaxed) if nested else relaxed


def _names(types: str | list[str]) -> list[str]:
    return [types] if isinstance(types, str) else list(types)


def _widen(types: str | list[str]) -> str | list[str]:
    names = _names(types)
    if "integer" in names:
        names = [name for name in names if name != "number"]
        names[names.index("integer")] = "number"
    return names[0] if len(names) == 1 else names


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    if node.get("type") == "null":
        return {}  # null in every sample: nothing is known about this value, so anything goes
    if "anyOf" in node:
        if not any("null" in _names(branch.get("type", [])) for branch in node["anyOf"]):
            node["anyOf"].append({"type": "null"})
    elif "type" in node:
        names = _names(node["type"])
        if "null" not in names:
            node["type"] = [*names, "null"]
    return node
