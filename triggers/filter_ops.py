"""The operators of the filter language, and the rules by which values are compared.

``OPERATORS`` maps each operator's name to what the UI shows (``label``), what it expects as its value
(``takes``, a key of ``VALUE_KINDS``) and ``build(value, case_sensitive)``, which returns the test of
one found value; it is called once, when a filter is compiled, so that regular expressions and bounds
are prepared once. The rules themselves are documented in ``triggers.filters``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from triggers.filter_paths import value_problem
from triggers.schema_regex import compile_pattern, pattern_problem

Check = Callable[[Any], bool]

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,4299})")  # int() refuses more than 4,300 digits
_DATE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?"
    r"(?:[Zz]|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def as_number(value: Any) -> int | float | None:
    """A JSON number, or a string spelled as one, read as JSON reads it: integers exactly, whatever
    their size (up to 4,300 digits), other numbers as floats, so that ``"0.1"`` equals ``0.1``.
    Booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        return None
    if _INTEGER.fullmatch(value):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None  # "1e400" is no number JSON accepts


def as_instant(value: Any) -> int | None:
    """Microseconds since 0001-01-01 UTC for an ISO-8601 date or date-time string, else ``None``.

    A date is midnight UTC; a date-time without an offset is UTC. An integer, so that any two instants
    compare exactly and without naive/aware or overflow errors.
    """
    match = _DATE.fullmatch(value) if isinstance(value, str) and len(value) <= 64 else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_hour, off_minute = match.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal()
    except ValueError:
        return None
    clock = [int(part or 0) for part in (hour, minute, second, off_hour, off_minute)]
    if clock[0] > 23 or clock[1] > 59 or clock[2] > 59 or clock[3] > 23 or clock[4] > 59:
        return None
    offset = (clock[3] * 3600 + clock[4] * 60) * (-1 if sign == "-" else 1)
    seconds = days * 86400 + clock[0] * 3600 + clock[1] * 60 + clock[2] - offset
    return seconds * 1_000_000 + int((fraction or "").ljust(6, "0")[:6])


def as_bool(value: Any) -> bool | None:
    """A boolean, or the string ``"true"``/``"false"`` as JSON spells them."""
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(value) if isinstance(value, str) else None


def same(actual: Any, expected: Any) -> bool:
    """Equality under the filter's rules (recursion is bounded by the depth of ``expected``)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        found = as_bool(actual)
        return found is not None and found == as_bool(expected)
    if _is_number(actual) or _is_number(expected):
        number, wanted = as_number(actual), as_number(expected)
        return number is not None and wanted is not None and number == wanted
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same(item, want) for item, want in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same(actual[key], want) for key, want in expected.items())
        )
    return type(actual) is type(expected) and bool(actual == expected)  # strings and null


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _order_key(value: Any) -> tuple[str, int | float] | None:
    number = as_number(value)
    if number is not None:
        return ("number", number)
    instant = as_instant(value)
    return None if instant is None else ("instant", instant)


def _fold(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, list):
        return [item.casefold() if isinstance(item, str) else item for item in value]
    return value


def _folder(case_sensitive: bool) -> Callable[[Any], Any]:
    return (lambda value: value) if case_sensitive else _fold


def _equals(expected: Any, case_sensitive: bool) -> Check:
    fold = _folder(case_sensitive)
    wanted = fold(expected)
    return lambda actual: same(fold(actual), wanted)


def _contains(expected: Any, case_sensitive: bool) -> Check:
    fold = _folder(case_sensitive)
    wanted = fold(expected)

    def check(actual: Any) -> bool:
        actual = fold(actual)
        if isinstance(actual, str):
            return isinstance(wanted, str) and wanted in actual
        return isinstance(actual, list) and any(same(item, wanted) for item in actual)

    return check


def _affix(method: str) -> Callable[[Any, bool], Check]:
    def build(expected: Any, case_sensitive: bool) -> Check:
        fold = _folder(case_sensitive)
        wanted = fold(expected)
        return lambda actual: isinstance(actual, str) and getattr(fold(actual), method)(wanted)

    return build


def _ordering(compare: Callable[[Any, Any], bool]) -> Callable[[Any, bool], Check]:
    def build(expected: Any, _case_sensitive: bool) -> Check:
        bound = _order_key(expected)

        def check(actual: Any) -> bool:
            key = _order_key(actual)
            return bound is not None and key is not None and key[0] == bound[0] and compare(key[1], bound[1])

        return check

    return build


def _one_of(expected: Any, case_sensitive: bool) -> Check:
    fold = _folder(case_sensitive)
    choices = [fold(choice) for choice in expected]

    def check(actual: Any) -> bool:
        actual = fold(actual)
        return any(same(actual, choice) for choice in choices)

    return check


def _matches(pattern: Any, case_sensitive: bool) -> Check:
    # RE2's own flag; ECMA-262 has no inline flags, but schema_regex passes "(?i)" through to RE2.
    regex = compile_pattern(pattern if case_sensitive else f"(?i){pattern}")

    def check(actual: Any) -> bool:
        if not isinstance(actual, str):
            return False
        if not actual.isascii():  # RE2 reads UTF-8, which cannot hold a lone surrogate (valid in JSON)
            actual = _SURROGATE.sub("\ufffd", actual)
        return regex.search(actual) is not None

    return check


def _exists(_expected: Any, _case_sensitive: bool) -> Check:
    return lambda actual: True


def _is_empty(_expected: Any, _case_sensitive: bool) -> Check:
    return lambda actual: actual is None or (isinstance(actual, str | list | dict) and not actual)


def _is(truth: bool) -> Callable[[Any, bool], Check]:
    return lambda _expected, _case_sensitive: lambda actual: as_bool(actual) is truth


# What an operator's value may be: a description (for error messages and the UI) and a check that
# returns what is wrong with a value, or None.
@dataclass(frozen=True)
class ValueKind:
    description: str
    problem: Callable[[Any], str | None]


def _scalar_problem(value: Any) -> str | None:
    return None if not isinstance(value, list | dict) else "Expected a string, number, boolean or null."


def _text_problem(value: Any) -> str | None:
    return None if isinstance(value, str) else "Expected a string."


def _bound_problem(value: Any) -> str | None:
    if _order_key(value) is None:
        return "Expected a number, or a date or date-time such as 2024-06-01 or 2024-06-01T12:00:00Z."
    return None


def _list_problem(value: Any) -> str | None:
    return None if isinstance(value, list) else 'Expected a list of values, such as ["open", "closed"].'


def _pattern_problem(value: Any) -> str | None:
    return pattern_problem(value) if isinstance(value, str) else "Expected a regular expression (a string)."


VALUE_KINDS: dict[str, ValueKind] = {
    "any": ValueKind("any JSON value", lambda value: None),
    "scalar": ValueKind("a string, number, boolean or null", _scalar_problem),
    "text": ValueKind("a string", _text_problem),
    "bound": ValueKind("a number, or an ISO-8601 date or date-time", _bound_problem),
    "list": ValueKind("a list of values", _list_problem),
    "pattern": ValueKind("a regular expression", _pattern_problem),
    "none": ValueKind("no value", lambda value: None),
}


@dataclass(frozen=True)
class Operator:
    label: str
    takes: str  # a key of VALUE_KINDS
    build: Callable[[Any, bool], Check] | None = None  # (value, case_sensitive) -> test of one value
    negates: str | None = None  # a negative operator passes exactly when this one fails
    on_missing: bool = False  # the result for a missing field (no value found at the path)


OPERATORS: dict[str, Operator] = {
    "equals": Operator("equals", "any", _equals),
    "not_equals": Operator("does not equal", "any", negates="equals"),
    "contains": Operator("contains", "scalar", _contains),
    "not_contains": Operator("does not contain", "scalar", negates="contains"),
    "starts_with": Operator("starts with", "text", _affix("startswith")),
    "ends_with": Operator("ends with", "text", _affix("endswith")),
    "gt": Operator("is greater than", "bound", _ordering(operator.gt)),
    "gte": Operator("is at least", "bound", _ordering(operator.ge)),
    "lt": Operator("is less than", "bound", _ordering(operator.lt)),
    "lte": Operator("is at most", "bound", _ordering(operator.le)),
    "in": Operator("is one of", "list", _one_of),
    "not_in": Operator("is not one of", "list", negates="in"),
    "exists": Operator("exists", "none", _exists),
    "not_exists": Operator("does not exist", "none", negates="exists"),
    "is_empty": Operator("is empty", "none", _is_empty, on_missing=True),
    "is_not_empty": Operator("is not empty", "none", negates="is_empty"),
    "is_true": Operator("is true", "none", _is(True)),
    "is_false": Operator("is false", "none", _is(False)),
    "matches": Operator("matches the regular expression", "pattern", _matches),
}


def condition_value_problem(name: str, condition: dict[str, Any]) -> str | None:
    """What is wrong with the ``value`` of a condition using the operator ``name``, or ``None``."""
    kind = VALUE_KINDS[OPERATORS[name].takes]
    if kind is VALUE_KINDS["none"]:
        return f"{name} takes no value: remove value." if "value" in condition else None
    if "value" not in condition:
        return f"{name} needs a value: {kind.description}."
    return value_problem(condition["value"]) or kind.problem(condition["value"])


def positive(name: str) -> Operator:
    """The operator that does the testing: ``equals`` for ``not_equals``, the operator itself otherwise."""
    op = OPERATORS[name]
    return OPERATORS[op.negates] if op.negates else op


def operator_choices() -> list[dict[str, str]]:
    """The operators for the UI's picker, in the table's order."""
    return [
        {"op": name, "label": op.label, "value": op.takes, "value_help": VALUE_KINDS[op.takes].description}
        for name, op in OPERATORS.items()
    ]
