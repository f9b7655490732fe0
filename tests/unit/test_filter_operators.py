"""Filter operators, one by one: the comparison rules, missing fields, [*], unicode, big numbers, dates."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from triggers.filter_ops import OPERATORS
from triggers.filters import compile_filter

NO_VALUE = object()
EMPTIES: list[Any] = ["", [], {}, None]
BIG = 2**80


def passes(
    body: Any, op: str, value: Any = NO_VALUE, *, field: str = "x", headers: Any = None, **options: Any
) -> bool:
    condition = {"field": field, "op": op, **({} if value is NO_VALUE else {"value": value}), **options}
    return compile_filter({"all": [condition]}).evaluate(body, headers or {}, {}).passed


def case(body: Any, op: str, value: Any, expected: bool, sentence: str) -> Any:
    return pytest.param(body, op, value, expected, id=sentence)


EQUALITY = [
    case({"x": "5"}, "equals", 5, True, "a numeric string equals its number, as form fields need"),
    case({"x": 5}, "equals", "5", True, "a number equals its numeric string"),
    case({"x": 5}, "equals", 5.0, True, "an integer equals the same float"),
    case({"x": "0.1"}, "equals", 0.1, True, "a decimal string is read as JSON reads it"),
    case({"x": "5.0"}, "equals", "5", False, "two strings compare as text"),
    case({"x": " 5"}, "equals", 5, False, "a padded string is not a number"),
    case({"x": "05"}, "equals", 5, False, "a zero-padded string is not a JSON number"),
    case({"x": BIG}, "equals", BIG + 1, False, "big integers compare exactly"),
    case({"x": str(BIG + 1)}, "equals", BIG + 1, True, "a big numeric string is exact too"),
    case({"x": float(BIG)}, "equals", BIG + 1, False, "a float is never rounded to match an integer"),
    case({"x": True}, "equals", 1, False, "true is not 1"),
    case({"x": 0}, "equals", False, False, "0 is not false"),
    case({"x": "true"}, "equals", True, True, "the string true equals true"),
    case({"x": False}, "equals", "false", True, "false equals the string false"),
    case({"x": "True"}, "equals", True, False, "only JSON's spelling of true counts"),
    case({"x": None}, "equals", None, True, "null equals null"),
    case({}, "equals", None, False, "a missing field is not null"),
    case({"x": "null"}, "equals", None, False, "the string null is not null"),
    case({"x": "caf\u00e9"}, "equals", "cafe\u0301", False, "unicode is compared without normalizing"),
    case({"x": "日本語 🎉"}, "equals", "日本語 🎉", True, "unicode text equals itself"),
    case({"x": "Bug"}, "equals", "bug", False, "text is case-sensitive by default"),
    case({"x": [1, "a"]}, "equals", [1.0, "a"], True, "arrays compare element by element"),
    case({"x": [True]}, "equals", [1], False, "arrays keep booleans apart from numbers"),
    case({"x": {"a": 1, "b": 2}}, "equals", {"a": 1}, False, "objects need the same keys"),
    case({"x": "a"}, "not_equals", "b", True, "not_equals passes on a different value"),
    case({}, "not_equals", "b", True, "not_equals passes on a missing field"),
    case({"x": ["a", "b"]}, "not_equals", "a", True, "an array is not equal to one of its elements"),
]

TEXT = [
    case({"x": "a bug here"}, "contains", "bug", True, "contains finds a substring"),
    case({"x": ["bug", "docs"]}, "contains", "bug", True, "contains finds an element of an array"),
    case({"x": ["debug"]}, "contains", "bug", False, "array membership is by equality, not substring"),
    case({"x": [1, 2]}, "contains", "2", True, "array membership follows the number rule"),
    case({"x": {"bug": 1}}, "contains", "bug", False, "an object contains nothing"),
    case({"x": 123}, "contains", "2", False, "a number is not text"),
    case({}, "contains", "a", False, "contains fails on a missing field"),
    case({}, "not_contains", "a", True, "not_contains passes on a missing field"),
    case({"x": "a bug"}, "not_contains", "bug", False, "not_contains fails when the substring is there"),
    case({"x": "日本語"}, "starts_with", "日本", True, "starts_with works on unicode"),
    case({"x": 123}, "starts_with", "1", False, "starts_with needs text"),
    case({"x": "release.tar.gz"}, "ends_with", ".gz", True, "ends_with finds a suffix"),
    case({"x": None}, "ends_with", "", False, "ends_with fails on null"),
]

ORDER = [
    case({"x": 10}, "gt", 9, True, "ten is greater than nine"),
    case({"x": "10"}, "gt", "9", True, "numeric strings compare as numbers, not as text"),
    case({"x": BIG + 1}, "gt", BIG, True, "big integers order exactly"),
    case({"x": BIG}, "gt", BIG, False, "a number is not greater than itself"),
    case({"x": BIG}, "gte", BIG, True, "gte includes equality"),
    case({"x": float(BIG)}, "lt", BIG + 1, True, "a float orders exactly against a big integer"),
    case({"x": -1.5}, "lte", "-1.5", True, "lte with a negative float string"),
    case({"x": "abc"}, "gt", 1, False, "text is not greater than a number"),
    case({"x": "abc"}, "lt", 1, False, "nor smaller"),
    case({"x": True}, "gt", 0, False, "a boolean is not a number"),
    case({"x": None}, "lt", 1, False, "null is not a number"),
    case({}, "lt", 1, False, "a missing field is neither greater nor smaller"),
    case({"x": "2024-06-02T09:41:07Z"}, "gt", "2024-06-01", True, "a date-time after a date"),
    case({"x": "2024-06-01T23:00:00-02:00"}, "gte", "2024-06-02", True, "offsets are applied"),
    case({"x": "2024-06-01T10:00:00"}, "lte", "2024-06-01T10:00:00Z", True, "no offset means UTC"),
    case({"x": "2024-06-01 10:00:00.5+00:00"}, "gt", "2024-06-01T10:00:00Z", True, "fractions count"),
    case({"x": "2024-06-01"}, "lt", "2024-06-01T00:00:00.000001Z", True, "a date is midnight UTC"),
    case({"x": "2024-02-30"}, "gt", "2024-01-01", False, "an impossible date is not a date"),
    case({"x": "2024-06-01"}, "gt", 20240101, False, "a date does not compare with a number"),
    case({"x": 1717200000}, "gt", "2024-01-01", False, "nor a number with a date"),
]

MEMBERSHIP = [
    case({"x": "open"}, "in", ["open", "reopened"], True, "in finds the value in the list"),
    case({"x": 5}, "in", ["5", "6"], True, "in follows the number rule"),
    case({"x": "Open"}, "in", ["open"], False, "in is case-sensitive by default"),
    case({}, "in", ["open"], False, "in fails on a missing field"),
    case({}, "not_in", ["open"], True, "not_in passes on a missing field"),
    case({"x": "closed"}, "not_in", ["open"], True, "not_in passes on a value outside the list"),
]

PRESENCE = [
    case({"x": None}, "exists", NO_VALUE, True, "a field present with null exists"),
    case({}, "exists", NO_VALUE, False, "a missing field does not exist"),
    case({}, "not_exists", NO_VALUE, True, "not_exists passes on a missing field"),
    *[case({"x": empty}, "is_empty", NO_VALUE, True, f"{empty!r} is empty") for empty in EMPTIES],
    case({}, "is_empty", NO_VALUE, True, "a missing field is empty"),
    *[case({"x": full}, "is_empty", NO_VALUE, False, f"{full!r} is not empty") for full in [0, False, " "]],
    case({}, "is_not_empty", NO_VALUE, False, "a missing field is not non-empty"),
    case({"x": "a"}, "is_not_empty", NO_VALUE, True, "text is not empty"),
    case({"x": True}, "is_true", NO_VALUE, True, "true is true"),
    case({"x": "true"}, "is_true", NO_VALUE, True, "the string true is true"),
    *[
        case({"x": other}, "is_true", NO_VALUE, False, f"{other!r} is not true")
        for other in [1, "yes", "True"]
    ],
    case({"x": "false"}, "is_false", NO_VALUE, True, "the string false is false"),
    case({}, "is_false", NO_VALUE, False, "a missing field is neither true nor false"),
    case({"x": 0}, "is_false", NO_VALUE, False, "0 is not false"),
]

PATTERNS = [
    case({"x": "v1.2.3"}, "matches", r"^v\d+\.\d+", True, "matches searches with a regex"),
    case({"x": "release v1"}, "matches", r"v\d", True, "an unanchored pattern matches anywhere"),
    case({"x": "café"}, "matches", r"^caf.$", True, "a dot matches one unicode character"),
    case({"x": "Ünïcödé"}, "matches", r"^\p{Lu}", True, "unicode properties work"),
    case({"x": 123}, "matches", "1", False, "a number is not text"),
    case({"x": "a\ud800b"}, "matches", "a.b", True, "a lone surrogate is matched as U+FFFD"),
    case({}, "matches", ".*", False, "matches fails on a missing field"),
]


@pytest.mark.parametrize(("body", "op", "value", "expected"), EQUALITY + TEXT + ORDER + MEMBERSHIP)
def test_operators_with_a_value(body: Any, op: str, value: Any, expected: bool) -> None:
    assert passes(body, op, value) is expected


@pytest.mark.parametrize(("body", "op", "value", "expected"), PRESENCE + PATTERNS)
def test_operators_without_a_value_and_patterns(body: Any, op: str, value: Any, expected: bool) -> None:
    assert passes(body, op, value) is expected


# Over [*], a positive operator passes if it passes for ANY element; a negative one passes only if NO
# element passes its positive twin. An empty array finds nothing: the same as a missing field.
OVER_NO_ELEMENTS = {
    "equals": ("a", False),
    "not_equals": ("a", True),
    "contains": ("a", False),
    "not_contains": ("a", True),
    "starts_with": ("a", False),
    "ends_with": ("a", False),
    "gt": (0, False),
    "gte": (0, False),
    "lt": (0, False),
    "lte": (0, False),
    "in": (["a"], False),
    "not_in": (["a"], True),
    "exists": (NO_VALUE, False),
    "not_exists": (NO_VALUE, True),
    "is_empty": (NO_VALUE, True),
    "is_not_empty": (NO_VALUE, False),
    "is_true": (NO_VALUE, False),
    "is_false": (NO_VALUE, False),
    "matches": (".*", False),
}


def test_the_empty_array_table_covers_every_operator() -> None:
    assert set(OVER_NO_ELEMENTS) == set(OPERATORS)


@pytest.mark.parametrize("op", sorted(OVER_NO_ELEMENTS))
def test_every_operator_over_an_empty_array_behaves_as_over_a_missing_field(op: str) -> None:
    value, expected = OVER_NO_ELEMENTS[op]
    assert passes({"tags": []}, op, value, field="tags[*]") is expected
    assert passes({}, op, value, field="tags[*]") is expected


def test_a_wildcard_condition_passes_if_any_element_passes() -> None:
    labels = {"labels": [{"name": "docs"}, {"name": "bug"}]}
    assert passes(labels, "equals", "bug", field="labels[*].name")
    assert passes(labels, "contains", "bu", field="labels[*].name")  # a substring of one name
    assert not passes(labels, "equals", "wontfix", field="labels[*].name")


def test_negative_operators_over_a_wildcard_mean_no_element_matches() -> None:
    labels = {"labels": [{"name": "docs"}, {"name": "bug"}]}
    assert not passes(labels, "not_equals", "bug", field="labels[*].name")  # one label is bug
    assert passes(labels, "not_equals", "wontfix", field="labels[*].name")
    assert not passes(labels, "not_in", ["bug", "x"], field="labels[*].name")
    assert passes(labels, "is_not_empty", field="labels[*].name")
    assert not passes({"labels": [{"name": ""}, {"name": "bug"}]}, "is_not_empty", field="labels[*].name")


def test_case_insensitive_conditions_fold_both_sides() -> None:
    assert passes({"x": "STRASSE"}, "equals", "straße", case_sensitive=False)
    assert passes({"x": "A Bug"}, "contains", "BUG", case_sensitive=False)
    assert passes({"x": ["Bug"]}, "contains", "bug", case_sensitive=False)
    assert passes({"x": "Readme.MD"}, "ends_with", ".md", case_sensitive=False)
    assert passes({"x": "Open"}, "in", ["open"], case_sensitive=False)
    assert passes({"x": "ERROR: disk"}, "matches", "^error", case_sensitive=False)
    assert not passes({"x": "ERROR"}, "matches", "^error")


def test_header_names_are_case_insensitive_and_their_values_are_text() -> None:
    headers = {"X-GitHub-Event": "issues", "Content-Length": "250"}
    assert passes(None, "equals", "issues", field="headers.x-github-event", headers=headers)
    assert passes(None, "gt", 100, field="headers.content-length", headers=headers)
    assert not passes(None, "exists", field="headers.X-Missing", headers=headers)


def test_a_catastrophic_pattern_runs_in_linear_time_and_does_not_match() -> None:
    compiled = compile_filter({"field": "x", "op": "matches", "value": "^(a+)+$"})
    results: list[bool] = []
    text = "a" * 100_000 + "!"
    worker = threading.Thread(target=lambda: results.append(compiled.evaluate({"x": text}).passed))
    worker.start()
    worker.join(timeout=10)  # a liveness bound, not a performance assertion: backtracking takes ages
    assert results == [False]
