"""Payload schemas: check a JSON Schema before it is saved, compile it into a validator, and infer one
from sample payloads (``infer_schema``, whose rules are in ``triggers.schema_inference``).

- **Dialects**: ``$schema`` picks draft-04, -06, -07, 2019-09 or 2020-12 (the usual URIs, with or without
  a final ``#``); without ``$schema`` a schema is 2020-12. Any other ``$schema`` is refused.
- **Saving** (``check_schema``): the schema must be valid against its dialect's meta-schema; every
  ``$ref``/``$dynamicRef``/``$recursiveRef`` must resolve inside the document or to an official
  meta-schema (nothing is ever fetched); every ``pattern`` and ``patternProperties`` key must compile on
  RE2; and no reference loop may apply a schema to the same value again forever. The first problem is
  raised as ``SchemaError(message, path)``, ``path`` a JSON pointer into the schema.
- **Validating** (``compile_validator``): patterns run on RE2 in linear time (``triggers.schema_regex``).
  ``format`` is an annotation only, in every dialect: the 2020-12 default, and what the official test
  suite's required tests expect. ``errors()`` answers ``[]`` from a fast ``is_valid`` pass; only an
  invalid payload pays for error messages: up to 1000 errors are collected, sorted by instance path
  then message, and the first ``limit`` returned as ``{"path": JSON pointer, "message": text}``.
- **Two engines**: where ``triggers.schema_fast`` takes the schema, a "valid" comes from
  ``jsonschema_rs`` (microseconds, not a millisecond); an "invalid", and every error message, from
  ``jsonschema``, which is also the only engine for the schemas ``schema_fast`` declines.
"""

from __future__ import annotations

import functools
import reprlib
from collections.abc import Mapping
from typing import Any

from jsonschema import (
    Draft4Validator,
    Draft6Validator,
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
    FormatChecker,
)
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from referencing.exceptions import Unresolvable
from referencing.jsonschema import specification_with

from triggers.schema_checks import OFFLINE_REGISTRY, SchemaError, check_document, pointer
from triggers.schema_fast import Verdict, fast_verdict
from triggers.schema_inference import infer_schema
from triggers.schema_keywords import safe_validator_class

__all__ = [
    "DEFAULT_DIALECT",
    "PayloadValidator",
    "SchemaError",
    "check_schema",
    "compile_validator",
    "infer_schema",
]

DEFAULT_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DIALECTS: dict[str, type[Validator]] = {
    "http://json-schema.org/draft-04/schema#": Draft4Validator,
    "http://json-schema.org/draft-06/schema#": Draft6Validator,
    "http://json-schema.org/draft-07/schema#": Draft7Validator,
    "https://json-schema.org/draft/2019-09/schema": Draft201909Validator,
    DEFAULT_DIALECT: Draft202012Validator,
}
_BY_BARE_URI = {uri.rstrip("#"): uri for uri in DIALECTS}
MAX_COLLECTED_ERRORS = 1000
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}
_JSON_TYPES |= {float: "number", type(None): "null"}
_ARTICLES = {"object": "an object", "array": "an array", "integer": "an integer", "null": "null"}
_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlevel = 60, 60, 2


def dialect_of(schema: Any) -> str:
    if not isinstance(schema, dict) or "$schema" not in schema:
        return DEFAULT_DIALECT
    declared = schema["$schema"]
    dialect = _BY_BARE_URI.get(declared.rstrip("#")) if isinstance(declared, str) else None
    if dialect is None:
        raise SchemaError(
            f"Unknown $schema {declared!r}. Use one of: {', '.join(DIALECTS)}, or leave $schema out "
            "for 2020-12.",
            "/$schema",
        )
    return dialect


def check_schema(schema: Any) -> str:
    """Return the schema's dialect URI, or raise ``SchemaError`` saying what to fix and where."""
    if not isinstance(schema, dict | bool):
        raise SchemaError("A schema must be a JSON object (or true or false).", "")
    dialect = dialect_of(schema)
    meta_validator = _meta_validator(dialect)
    error = best_match(meta_validator.iter_errors(schema))
    if error is not None:
        raise SchemaError(_message(error), pointer(error.absolute_path))
    check_document(schema, specification_with(dialect))
    return dialect


@functools.cache
def _meta_validator(dialect: str) -> Validator:
    cls = DIALECTS[dialect]
    # The meta-schemas mark patterns as format "regex", which jsonschema would check with Python's re;
    # check_document checks them on RE2 instead, which is the engine that will run them.
    formats = [name for name in cls.FORMAT_CHECKER.checkers if name != "regex"]
    return cls(cls.META_SCHEMA, registry=OFFLINE_REGISTRY, format_checker=FormatChecker(formats))


@functools.cache
def _validator_class(dialect: str) -> type[Validator]:
    return safe_validator_class(DIALECTS[dialect], dialect)


class PayloadValidator:
    """A compiled payload schema. Build it with ``compile_validator``; it is safe to share and cache."""

    def __init__(self, validator: Validator, dialect: str, fast: Verdict | None = None):
        self._validator, self.dialect, self._fast = validator, dialect, fast

    @property
    def engine(self) -> str:
        """Which engine says "valid": ``jsonschema_rs`` where ``schema_fast`` took the schema."""
        return "jsonschema" if self._fast is None else "jsonschema_rs"

    def is_valid(self, instance: Any) -> bool:
        if self._fast_accepts(instance):
            return True
        try:
            return bool(self._validator.is_valid(instance))
        except (Unresolvable, RecursionError):
            return False

    def errors(self, instance: Any, limit: int = 10) -> list[dict[str, str]]:
        if self._fast_accepts(instance):
            return []
        try:
            if self._validator.is_valid(instance):
                return []
            collected = []
            for error in self._validator.iter_errors(instance):
                collected.append(_described(error))
                if len(collected) >= MAX_COLLECTED_ERRORS:
                    break
        except (Unresolvable, RecursionError):
            # check_schema makes both impossible; should one slip through, answer rather than crash.
            return [{"path": "", "message": "The payload schema could not be evaluated; check it again."}]
        collected.sort(key=lambda item: (item[0], item[1]["message"]))
        return [item for _, item in collected[:limit]]

    def _fast_accepts(self, instance: Any) -> bool:
        """Whether ``jsonschema_rs`` calls ``instance`` valid; False also when it cannot say."""
        if self._fast is None:
            return False
        try:
            return self._fast(instance)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            # A string with a lone surrogate (JSON allows "\ud800") cannot become Rust's UTF-8; a Rust
            # panic arrives as pyo3's PanicException, which is not an Exception. Either way the
            # Python engine decides.
            return False


def compile_validator(schema: Mapping[str, Any] | bool, *, fast: bool = True) -> PayloadValidator:
    """Check ``schema`` (raising ``SchemaError``) and build its RE2-backed validator; ``fast=False``
    leaves out ``jsonschema_rs`` (the tests compare the two engines with it)."""
    dialect = check_schema(schema)
    cls = _validator_class(dialect)
    verdict = fast_verdict(schema, dialect) if fast else None
    return PayloadValidator(cls(schema, registry=OFFLINE_REGISTRY), dialect, verdict)


def _described(error: ValidationError) -> tuple[tuple[tuple[int, Any], ...], dict[str, str]]:
    """``(sort key, {"path", "message"})`` for the most telling error inside ``error``."""
    error = best_match([error]) or error
    parts = tuple(error.absolute_path)
    key = tuple((0, part) if isinstance(part, int) else (1, str(part)) for part in parts)
    return key, {"path": pointer(parts), "message": _message(error)}


def _message(error: ValidationError) -> str:
    if error.validator == "type":
        expected = (
            error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        )
        return (
            f"must be {' or '.join(_article(str(name)) for name in expected)}, not {_type_of(error.instance)}"
        )
    text = error.message
    if error.context and error.validator in ("anyOf", "oneOf"):
        # "...is not valid under any of the given schemas" alone does not say what would be.
        reasons = sorted({_message(each) for each in error.context if not each.path})
        text += " (" + "; ".join(reasons[:3]) + ")" if reasons else ""
    if len(text) <= 120:
        return text
    # jsonschema starts most messages with the whole value; a short form keeps them readable.
    full = repr(error.instance)
    if text.startswith(full):
        text = _repr.repr(error.instance) + text[len(full) :]
    return text if len(text) <= 300 else text[:297] + "..."


def _type_of(instance: Any) -> str:
    name = _JSON_TYPES.get(type(instance), "value")
    return _article(name)


def _article(name: str) -> str:
    return _ARTICLES.get(name, f"a {name}")
