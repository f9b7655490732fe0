"""A second, compiled engine for the yes/no verdict on a payload: ``jsonschema_rs`` (Rust), about a
hundred times faster than ``jsonschema`` on a typical event. ``jsonschema`` stays the reference: it
decides every schema this module declines, confirms every "invalid" and writes every error message, so
the only way the two engines could disagree observably is ``jsonschema_rs`` accepting what
``jsonschema`` would refuse; ``tests/unit/test_validator_engines.py`` runs the official test suite
through both to show they agree on what is used here.

``fast_verdict`` builds the engine for a checked schema, or returns ``None`` (use ``jsonschema``) when
the schema has anything whose meaning the two engines were not shown to share:

- a dialect other than draft-07 and 2020-12: the only drafts of the test suite we have to prove it on;
- ``pattern``/``patternProperties`` outside ``SAFE_PATTERN``'s plain subset of ECMA-262 (no ``.``,
  ``\\b``, ``\\p``, ``\\u``, flags, lookaround...): ``jsonschema_rs`` reads the rest differently from
  ``triggers.schema_regex`` (its ``.`` matches ``\\r``, its ``\\b`` is Unicode), or not at all;
- ``contentMediaType``/``contentEncoding``/``contentSchema``, which ``jsonschema_rs`` asserts in draft-07,
  and ``dependencies`` in 2020-12, which ``jsonschema`` ignores there and ``jsonschema_rs`` applies;
- a ``$schema`` below the root, which switches dialect for a subschema (compared nowhere);
- anything ``jsonschema_rs`` refuses to compile.

The engine is configured like ours: patterns on Rust's linear-time ``regex`` crate (``RegexOptions``;
the backtracking ``fancy-regex`` is never used), ``format`` an annotation (``validate_formats=False``),
and ``offline=True``, so that no ``$ref`` is ever fetched. The keys of ``schema`` are walked once, to
any depth (``const`` and ``enum`` values too: a false "unsafe" only costs speed), without recursion.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jsonschema_rs

DRAFT7 = "http://json-schema.org/draft-07/schema#"
DRAFT202012 = "https://json-schema.org/draft/2020-12/schema"
_ENGINES: dict[str, Any] = {
    DRAFT7: jsonschema_rs.Draft7Validator,
    DRAFT202012: jsonschema_rs.Draft202012Validator,
}
_CONTENT = frozenset({"contentMediaType", "contentEncoding", "contentSchema"})
_DECLINED_KEYWORDS = {DRAFT7: _CONTENT, DRAFT202012: _CONTENT | {"dependencies"}}

# The subset of ECMA-262 that jsonschema_rs and triggers.schema_regex read alike (checked over every
# code point for the class escapes, by a differential test for the rest). Outside a class: printable
# ASCII but . [ ] { } ( ) \ ^ $ | * + ?, which are syntax; the escapes \d \D \w \W \s \S and escaped
# punctuation; "(" and "(?:"; | ^ $; quantifiers, also {n}, {n,} and {n,m}. Inside a class: an
# optional ^, then printable ASCII but [ \ ] ^ - & ~, ranges between two of those, the same escapes,
# and "-" first or last. Left out on purpose: "[^]" (anything in ECMA-262), and "[", "&&", "--" and
# "~~" inside a class, which Rust reads as a nested class and as set operations.
_ESCAPE = r"\\[dDwWsS]|\\[-\\^$.*+?()\[\]{}|/]"
_LITERAL = r"[ !\"#%&',\-/0-9:;<=>@A-Z_`a-z~]"
_CLASS_CHAR = r"[ !\"#$%'()*+,./0-9:;<=>?@A-Z_`a-z{|}]"
_CLASS_ITEM = rf"{_CLASS_CHAR}-{_CLASS_CHAR}|{_CLASS_CHAR}|{_ESCAPE}"
_CLASS = rf"\[\^?-?(?:{_CLASS_ITEM})+-?\]|\[\^?-\]"
_QUANTIFIER = r"[*+?]|\{[0-9]+(?:,[0-9]*)?\}"
_GROUP = r"\((?!\?)|\(\?:|\)"  # "(?" only as "(?:": no flags, names or lookaround
SAFE_PATTERN = re.compile(rf"(?:{_LITERAL}|{_ESCAPE}|{_CLASS}|{_GROUP}|[|^$]|{_QUANTIFIER})*")

Verdict = Callable[[Any], bool]


def fast_verdict(schema: Any, dialect: str) -> Verdict | None:
    """``jsonschema_rs``'s ``is_valid`` for ``schema`` (already checked), or ``None`` if it declines."""
    engine = _ENGINES.get(dialect)
    if engine is None or not _is_plain(schema, _DECLINED_KEYWORDS[dialect]):
        return None
    try:
        validator = engine(
            schema,
            validate_formats=False,
            pattern_options=jsonschema_rs.RegexOptions(),
            offline=True,
        )
    except Exception:  # e.g. a pattern its regex crate refuses: jsonschema decides instead
        return None
    return validator.is_valid


def is_safe_pattern(pattern: str) -> bool:
    return SAFE_PATTERN.fullmatch(pattern) is not None


def _is_plain(schema: Any, declined: frozenset[str]) -> bool:
    stack: list[tuple[Any, bool]] = [(schema, True)]
    while stack:
        node, is_root = stack.pop()
        if isinstance(node, list):
            stack.extend((item, False) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        if not declined.isdisjoint(node) or ("$schema" in node and not is_root):
            return False
        if isinstance(node.get("pattern"), str) and not is_safe_pattern(node["pattern"]):
            return False
        patterns = node.get("patternProperties")
        if isinstance(patterns, dict) and not all(is_safe_pattern(key) for key in patterns):
            return False
        stack.extend((value, False) for value in node.values())
    return True
