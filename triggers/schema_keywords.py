"""JSON Schema validator classes that no payload can stall.

``jsonschema`` calls Python's ``re`` in four keywords: ``pattern``, ``patternProperties``, and, through
``patternProperties``, ``additionalProperties`` and ``unevaluatedProperties``. Each is replaced here by a
copy that searches with RE2 (``schema_regex.regex_search``); the logic is otherwise ``jsonschema``'s own
(4.x), so that the official test suite keeps passing. ``uniqueItems`` is replaced too: ``jsonschema``
compares every pair of objects (10,000 items are 50 million comparisons), here each item is hashed once.
``format`` stays an annotation: no format checker is given to these validators, as the 2020-12
specification makes the default.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Iterator
from typing import Any

from jsonschema import validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing.jsonschema import lookup_recursive_ref

from triggers.schema_regex import regex_search

Keyword = Iterator[ValidationError]
# Keys and strings in messages are cut short: a payload may hold a 50,000-character key.
_short = reprlib.Repr()
_short.maxstring = 60


def _names(keys: Iterable[str]) -> str:
    return ", ".join(_short.repr(key) for key in sorted(keys, key=str))


def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Keyword:
    if validator.is_type(instance, "string") and not regex_search(patrn, instance):
        yield ValidationError(f"{_short.repr(instance)} does not match {patrn!r}")


def pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any, schema: Any) -> Keyword:
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in patterns.items():
        for key, value in instance.items():
            if regex_search(patrn, key):
                yield from validator.descend(value, subschema, path=key, schema_path=patrn)


def additional_properties(validator: Any, additional: Any, instance: Any, schema: Any) -> Keyword:
    if not validator.is_type(instance, "object"):
        return
    extras = [key for key in instance if _is_additional(key, schema)]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        names = _names(extras)
        if "patternProperties" in schema:
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            verb = "does" if len(extras) == 1 else "do"
            yield ValidationError(f"{names} {verb} not match any of the regexes: {patterns}")
        else:
            yield ValidationError(f"Additional properties are not allowed ({names} unexpected)")


def _is_additional(key: str, schema: Any) -> bool:
    if key in schema.get("properties", {}):
        return False
    return not any(regex_search(patrn, key) for patrn in schema.get("patternProperties", {}))


def _unevaluated_properties(draft2019: bool) -> Any:
    def unevaluated_properties(validator: Any, unevaluated: Any, instance: Any, schema: Any) -> Keyword:
        if not validator.is_type(instance, "object"):
            return
        evaluated = set(_evaluated_keys(validator, instance, schema, draft2019))
        rejected = [
            key
            for key in instance
            if key not in evaluated
            and next(validator.descend(instance[key], unevaluated, path=key, schema_path=key), None)
        ]
        if rejected:
            names = _names(rejected)
            if unevaluated is False:
                yield ValidationError(f"Unevaluated properties are not allowed ({names} unexpected)")
            else:
                yield ValidationError(
                    f"Unevaluated properties are not valid under the given schema ({names})"
                )

    return unevaluated_properties


def _evaluated_keys(validator: Any, instance: Any, schema: Any, draft2019: bool) -> list[str]:
    """The keys of ``instance`` that ``schema`` evaluated (as ``jsonschema._utils`` computes them)."""
    if validator.is_type(schema, "boolean"):
        return []
    keys: list[str] = []
    for resolved in _references(validator, schema, draft2019):
        child = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
        keys += _evaluated_keys(child, instance, resolved.contents, draft2019)
    keys += _direct_keys(validator, instance, schema, draft2019)
    for key, subschema in schema.get("dependentSchemas", {}).items():
        if key in instance:
            keys += _evaluated_keys(validator, instance, subschema, draft2019)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if _is_valid(validator.descend(instance, subschema)):
                keys += _evaluated_keys(validator, instance, subschema, draft2019)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys += _evaluated_keys(validator, instance, schema["if"], draft2019)
            if "then" in schema:
                keys += _evaluated_keys(validator, instance, schema["then"], draft2019)
        elif "else" in schema:
            keys += _evaluated_keys(validator, instance, schema["else"], draft2019)
    return keys


def _references(validator: Any, schema: Any, draft2019: bool) -> list[Any]:
    resolved = []
    if "$ref" in schema:
        resolved.append(validator._resolver.lookup(schema["$ref"]))
    if draft2019 and "$recursiveRef" in schema:
        resolved.append(lookup_recursive_ref(validator._resolver))
    if not draft2019 and "$dynamicRef" in schema:
        resolved.append(validator._resolver.lookup(schema["$dynamicRef"]))
    return resolved


def _direct_keys(validator: Any, instance: Any, schema: Any, draft2019: bool) -> list[str]:
    keys: list[str] = []
    if draft2019:
        # Draft 2019-09 (as jsonschema reads it): these keywords mark keys evaluated by their presence.
        for keyword in ("properties", "additionalProperties", "unevaluatedProperties"):
            value = schema.get(keyword)
            if value is True:
                keys += instance.keys()
            elif validator.is_type(value, "object"):
                keys += [key for key in value if key in instance]
    else:
        properties = schema.get("properties")
        if validator.is_type(properties, "object"):
            keys += properties.keys() & instance.keys()
        for keyword in ("additionalProperties", "unevaluatedProperties"):
            if (subschema := schema.get(keyword)) is not None:
                keys += [k for k, v in instance.items() if _is_valid(validator.descend(v, subschema))]
    for patrn in schema.get("patternProperties", {}):
        keys += [key for key in instance if regex_search(patrn, key)]
    return keys


def unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Keyword:
    if unique and validator.is_type(instance, "array"):
        seen: set[Any] = set()
        for item in instance:
            key = _canonical(item)
            if key in seen:
                yield ValidationError(f"{_short.repr(instance)} has non-unique elements")
                return
            seen.add(key)


def _canonical(value: Any) -> Any:
    """A hashable form equal for JSON-equal values: 1 and 1.0 are equal, true and 1 are not."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", value)  # Python hashes equal numbers alike, whatever their type
    if isinstance(value, list):
        return ("array", tuple(_canonical(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _canonical(item)) for key, item in value.items()))
    return ("string", value)


def _is_valid(errors: Iterator[ValidationError]) -> bool:
    return next(errors, None) is None


_REPLACED = {
    "pattern": pattern,
    "patternProperties": pattern_properties,
    "additionalProperties": additional_properties,
    "uniqueItems": unique_items,
}


def safe_validator_class(base: type[Validator], dialect: str) -> type[Validator]:
    """``base`` with the regex keywords replaced; ``unevaluatedProperties`` where the dialect has it."""
    replaced: dict[str, Any] = dict(_REPLACED)
    if "unevaluatedProperties" in base.VALIDATORS:
        replaced["unevaluatedProperties"] = _unevaluated_properties(draft2019="2019-09" in dialect)
    return validators.extend(base, replaced)
