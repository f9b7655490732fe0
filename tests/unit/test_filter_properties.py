"""Properties of filters over arbitrary payloads and arbitrary valid filters (hypothesis)."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from triggers.filter_ops import OPERATORS, VALUE_KINDS
from triggers.filters import FilterError, compile_filter, filter_validate

PROPERTY = settings(max_examples=300, deadline=None)
# Keys shared by payloads and paths, so that generated fields often find something.
KEYS = ["a", "b", "tags", "n", "a.b", "é", "", "x y"]
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Payload text may hold anything JSON can: NUL, lone surrogates (from "\ud800" escapes), any script.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
# Filter text is what a user can save: no NUL and no lone surrogates (jsonb cannot store them).
FILTER_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
NUMERIC_TEXT = st.sampled_from(["5", "-2.5e3", "0.1", "1e400", "05", " 5", str(2**80 + 1), "9" * 5000])
DATE_TEXT = st.sampled_from(
    ["2024-06-01", "2024-06-01T12:00:00Z", "2024-06-01 23:59:59.999+05:30", "2024-02-30"]
)
SPECIAL_TEXT = st.sampled_from(["true", "false", "null", "", "bug", "aaaaaaaaaaaaaaaaaaaaaaaa!"])
NUMBERS = (
    st.integers()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=False, allow_infinity=False)
)


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | NUMBERS | text | NUMERIC_TEXT | DATE_TEXT | SPECIAL_TEXT
    keys = st.sampled_from(KEYS) | text
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
        max_leaves=25,
    )


PAYLOADS = json_values(ANY_TEXT)
FILTER_VALUES = json_values(FILTER_TEXT)
FILTER_SCALARS = st.none() | st.booleans() | NUMBERS | FILTER_TEXT | NUMERIC_TEXT | SPECIAL_TEXT
PATTERNS = st.sampled_from(["^(a+)+$", r"\d+", "é.", r"^\p{L}", "[^]", "(?i)BUG", "", r"\s$", "a|b"])
VALUES_BY_KIND: dict[str, st.SearchStrategy[Any]] = {
    "any": FILTER_VALUES,
    "scalar": FILTER_SCALARS,
    "text": FILTER_TEXT | SPECIAL_TEXT,
    "bound": NUMBERS
    | st.sampled_from(["5", "-2.5e3", "0.1", str(2**80 + 1), "2024-06-01", "2024-06-01T12:00Z"]),
    "list": st.lists(FILTER_VALUES, max_size=4),
    "pattern": PATTERNS,
}
HEADERS = st.dictionaries(st.sampled_from([*KEYS, "X-Event", "Content-Type"]), ANY_TEXT, max_size=4)
QUERY = st.dictionaries(st.sampled_from(KEYS), ANY_TEXT | st.lists(ANY_TEXT, max_size=3), max_size=4)


def spell(step: Any) -> str:
    if step == "*":
        return "[*]"
    if isinstance(step, int):
        return f"[{step}]"
    return f".{step}" if re.fullmatch(r"[A-Za-z_]\w*", step) else f"[{json.dumps(step, ensure_ascii=False)}]"


BODY_FIELDS = st.lists(st.sampled_from([*KEYS, "*"]) | st.integers(-3, 3), min_size=1, max_size=5).map(
    lambda steps: "".join(spell(step) for step in steps).removeprefix(".")
)
FIELDS = (
    BODY_FIELDS
    | BODY_FIELDS.map(lambda field: f"body.{field}" if field[0] != "[" else f"body{field}")
    | st.sampled_from(
        ["headers.x-event", 'headers["Content-Type"]', "query.a", "query.tags[*]", "query.n[0]", "body"]
    )
)


@st.composite
def conditions(draw: st.DrawFn, op: str | None = None) -> dict[str, Any]:
    name = op or draw(st.sampled_from(sorted(OPERATORS)))
    condition: dict[str, Any] = {"field": draw(FIELDS), "op": name}
    kind = OPERATORS[name].takes
    if kind != "none":
        condition["value"] = draw(VALUES_BY_KIND[kind])
    if draw(st.booleans()):
        condition["case_sensitive"] = draw(st.booleans())
    return condition


def trees(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return conditions()
    inner = trees(depth - 1)
    return st.one_of(
        conditions(),
        st.lists(inner, max_size=3).map(lambda entries: {"all": entries}),
        st.lists(inner, max_size=3).map(lambda entries: {"any": entries}),
        inner.map(lambda entry: {"not": entry}),
    )


FILTERS: st.SearchStrategy[Any] = trees(4) | st.sampled_from([None, {}])


def test_the_generated_values_cover_every_kind_of_value() -> None:
    assert set(VALUES_BY_KIND) | {"none"} == set(VALUE_KINDS)


@PROPERTY
@given(tree=FILTERS)
def test_every_generated_filter_is_valid_and_saved_unchanged(tree: Any) -> None:
    assert filter_validate(tree) == (tree, [])


@PROPERTY
@given(tree=FILTERS, body=PAYLOADS, headers=HEADERS, query=QUERY)
def test_evaluation_never_raises_and_gives_a_bool_and_storable_reports(
    tree: Any, body: Any, headers: dict[str, str], query: dict[str, Any]
) -> None:
    compiled = compile_filter(tree)
    quick = compiled.evaluate(body, headers, query)
    explained = compiled.evaluate(body, headers, query, explain=True)
    assert isinstance(quick.passed, bool)
    assert (quick.passed, quick.failed_condition) == (explained.passed, explained.failed_condition)
    assert (quick.failed_condition is None) == quick.passed
    by_path = {record["path"]: record for record in explained.conditions}
    assert all(by_path[record["path"]] == record for record in quick.conditions)  # a subset, same results
    reported = json.dumps([explained.conditions, explained.failed_condition], ensure_ascii=False)
    assert not UNSTORABLE.search(reported)


@PROPERTY
@given(tree=trees(3), body=PAYLOADS, headers=HEADERS)
def test_not_inverts_and_a_group_of_one_is_that_one(tree: Any, body: Any, headers: dict[str, str]) -> None:
    passed = compile_filter(tree).evaluate(body, headers, {}).passed
    assert compile_filter({"not": tree}).evaluate(body, headers, {}).passed is not passed
    assert compile_filter({"all": [tree]}).evaluate(body, headers, {}).passed is passed
    assert compile_filter({"any": [tree]}).evaluate(body, headers, {}).passed is passed


@PROPERTY
@given(body=PAYLOADS, headers=HEADERS, query=QUERY)
def test_an_empty_all_passes_and_an_empty_any_fails_whatever_the_request(
    body: Any, headers: dict[str, str], query: dict[str, Any]
) -> None:
    assert compile_filter({"all": []}).evaluate(body, headers, query).passed
    assert not compile_filter({"any": []}).evaluate(body, headers, query).passed


NEGATIVES = sorted(name for name, op in OPERATORS.items() if op.negates)


@PROPERTY
@given(data=st.data(), body=PAYLOADS)
def test_a_negative_operator_is_the_negation_of_its_positive_twin(data: st.DataObject, body: Any) -> None:
    negative = data.draw(conditions(op=data.draw(st.sampled_from(NEGATIVES))))
    twin = {**negative, "op": OPERATORS[negative["op"]].negates}
    assert compile_filter(negative).evaluate(body).passed is not compile_filter(twin).evaluate(body).passed


@PROPERTY
@given(
    tree=st.recursive(
        json_values(ANY_TEXT),
        lambda children: st.dictionaries(
            st.sampled_from(["all", "any", "not", "field", "op", "value", "case_sensitive", "x"]),
            children,
            max_size=4,
        ),
    )
)
def test_validating_arbitrary_json_accepts_it_or_raises_filter_error_with_pointers(tree: Any) -> None:
    try:
        filter_validate(tree)
    except FilterError as error:
        assert error.errors and all(
            item["path"] == "" or item["path"].startswith("/") for item in error.errors
        )


@PROPERTY
@given(field=ANY_TEXT | BODY_FIELDS.map(lambda field: field + "]"), op=st.sampled_from(["exists", "equals"]))
def test_any_field_text_is_a_path_or_a_filter_error(field: str, op: str) -> None:
    try:
        filter_validate(
            {"field": field, "op": op, "value": 1} if op == "equals" else {"field": field, "op": op}
        )
    except FilterError as error:
        assert error.errors[0]["path"] == "/field"


def test_extreme_payloads_do_not_break_evaluation() -> None:
    deep: Any = "bottom"
    for _ in range(20_000):  # far deeper than json or Python's recursion would allow
        deep = [{"a": deep}]
    extremes = [deep, {"a": 10**5000}, {"a": [10**5000] * 3}, {"a": "\ud800" * 1000}, {"a": "9" * 100_000}]
    tree = {
        "any": [
            {"field": "a", "op": op, **({"value": value} if OPERATORS[op].takes != "none" else {})}
            for op, value in [
                ("equals", 1),
                ("gt", 2**80),
                ("contains", "x"),
                ("matches", "^(a+)+$"),
                ("is_empty", None),
            ]
        ]
        + [{"field": "[*].a[*].a[0].a", "op": "exists"}, {"field": "[0]", "op": "equals", "value": [[[[1]]]]}]
    }
    compiled = compile_filter(tree)
    for body in extremes:
        result = compiled.evaluate(body, {}, {}, explain=True)
        json.dumps(result.conditions)
