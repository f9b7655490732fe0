"""Trigger filters: groups, field paths, results for the delivery log and the dry run, and validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from triggers.filter_ops import OPERATORS, operator_choices
from triggers.filters import FilterError, compile_filter, filter_validate, preview_paths
from triggers.preview import preview_tree
from triggers.schemas import infer_schema

LABELED = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures/senders/github/issues/labeled.json").read_text()
)
HEADERS = {"X-GitHub-Event": "issues", "User-Agent": "GitHub-Hookshot/abc"}
IS_BUG = {"field": "issue.labels[*].name", "op": "equals", "value": "bug"}
FROM_BOT = {"field": "sender.type", "op": "equals", "value": "Bot"}
OPENED = {"field": "action", "op": "equals", "value": "opened"}
LABELED_ACTION = {"field": "action", "op": "equals", "value": "labeled"}


def run(tree: Any, body: Any = LABELED, query: Any = None, **options: Any) -> Any:
    return compile_filter(tree).evaluate(body, HEADERS, query or {}, **options)


def errors_of(tree: Any) -> list[dict[str, str]]:
    with pytest.raises(FilterError) as raised:
        filter_validate(tree)
    return raised.value.errors


@pytest.mark.parametrize("tree", [None, {}, {"all": []}])
def test_an_empty_filter_passes_everything(tree: Any) -> None:
    result = run(tree, body=None)
    assert result.passed and result.conditions == [] and result.failed_condition is None


def test_an_empty_any_fails_and_says_so() -> None:
    result = run({"any": []})
    assert not result.passed
    assert result.failed_condition == {"path": "/any", "message": "/any is empty"}


def test_groups_nest_and_combine_like_the_product_needs() -> None:
    bug_from_a_person = {"all": [IS_BUG, {"not": FROM_BOT}, {"any": [OPENED, LABELED_ACTION]}]}
    assert run(bug_from_a_person).passed
    assert not run(bug_from_a_person, body={**LABELED, "sender": {"type": "Bot"}}).passed
    assert not run(bug_from_a_person, body={**LABELED, "action": "closed"}).passed
    assert run({"not": {"not": IS_BUG}}).passed
    assert run({"any": [{"all": [OPENED]}, {"not": {"any": [OPENED]}}]}).passed


def test_a_single_condition_may_be_the_whole_filter() -> None:
    assert run(IS_BUG).passed and not run(OPENED).passed


def test_the_failed_condition_of_an_all_is_its_first_failing_condition() -> None:
    failure = run({"all": [IS_BUG, OPENED, FROM_BOT]}).failed_condition
    assert failure == {
        "path": "/all/1",
        "field": "action",
        "op": "equals",
        "value": "opened",
        "actual": "labeled",
        "found": True,
        "passed": False,
        "message": 'action equals "opened" did not pass: found "labeled"',
    }


def test_the_failed_condition_of_an_any_or_a_not_is_a_short_explanation() -> None:
    assert run({"all": [IS_BUG, {"any": [OPENED, FROM_BOT]}]}).failed_condition == {
        "path": "/all/1/any",
        "message": "none of the 2 conditions in /all/1/any passed",
    }
    assert run({"not": IS_BUG}).failed_condition == {
        "path": "/not",
        "message": "/not passed, and /not inverts it",
    }


def test_a_missing_field_is_reported_as_not_found() -> None:
    failure = run({"all": [{"field": "issue.deadline", "op": "exists"}]}).failed_condition
    assert failure is not None and failure["found"] is False and failure["actual"] is None
    assert failure["message"] == "issue.deadline exists did not pass: found nothing (missing)"


def test_evaluation_stops_at_the_deciding_condition_but_explain_reports_every_one() -> None:
    tree = {"all": [OPENED, IS_BUG, {"any": [FROM_BOT, LABELED_ACTION, OPENED]}]}
    assert [record["path"] for record in run(tree).conditions] == ["/all/0"]
    explained = run(tree, explain=True)
    assert [(record["path"], record["passed"]) for record in explained.conditions] == [
        ("/all/0", False),
        ("/all/1", True),
        ("/all/2/any/0", False),
        ("/all/2/any/1", True),
        ("/all/2/any/2", False),
    ]
    assert not explained.passed and explained.failed_condition == run(tree).failed_condition
    assert explained.conditions[1]["actual"] == ["bug", "needs-triage"]  # [*] reports every value


@pytest.mark.parametrize(
    ("field", "body", "expected"),
    [
        ("issue.number", LABELED, 41),
        ("body.issue.number", LABELED, 41),
        ('issue.reactions["+1"]', LABELED, 0),
        ('["a.b"].c', {"a.b": {"c": 1}, "a": {"b": {"c": 2}}}, 1),
        ("a.b.c", {"a.b": {"c": 1}, "a": {"b": {"c": 2}}}, 2),
        ("issue.labels[1].name", LABELED, "needs-triage"),
        ("issue.labels[-1].name", LABELED, "needs-triage"),
        ("[0].id", [{"id": 7}], 7),
        ("body.headers.kind", {"headers": {"kind": "payload"}}, "payload"),
        ("tags[*]", {"tags": "only-one"}, ["only-one"]),  # a form field given once is still an "array"
        ("headers.user-agent", None, "GitHub-Hookshot/abc"),
        ('headers["X-GitHub-Event"]', None, "issues"),
    ],
)
def test_fields_address_the_body_and_the_request(field: str, body: Any, expected: Any) -> None:
    result = run({"field": field, "op": "exists"}, body=body)
    assert result.passed and result.conditions[0]["actual"] == expected


@pytest.mark.parametrize("field", ["issue.labels[2].name", "issue.title.length", "issue.labels.name", "nope"])
def test_a_path_that_leads_nowhere_is_missing_not_an_error(field: str) -> None:
    assert run({"field": field, "op": "not_exists"}).passed


def test_query_parameters_are_text_or_lists_of_text() -> None:
    query = {"page": "2", "tag": ["a", "b"]}
    assert run({"field": "query.page", "op": "gte", "value": 2}, query=query).passed
    assert run({"field": "query.tag[*]", "op": "equals", "value": "b"}, query=query).passed
    assert run({"field": "query.tag", "op": "contains", "value": "a"}, query=query).passed
    assert run({"field": "query.tag[0]", "op": "equals", "value": "a"}, query=query).passed
    assert not run({"field": "query.Page", "op": "exists"}, query=query).passed  # names are exact


def test_reported_values_are_cut_and_safe_to_store() -> None:
    body = {"text": "x" * 1000, "items": list(range(100)), "big": 7**100, "nul": "a\x00b"}
    tree = {"all": [{"field": key, "op": "equals", "value": 0} for key in body]}
    actual = {record["field"]: record["actual"] for record in run(tree, body=body, explain=True).conditions}
    assert actual["text"] == "x" * 200 + "…"
    assert actual["items"][:2] == [0, 1] and actual["items"][-1] == "… 80 more" and len(actual["items"]) == 21
    assert actual["big"] == "32344765096247579913…(85 digits)"
    assert actual["nul"] == "a\ufffdb"


INVALID = [
    ({"all": [{"field": "x", "op": "bigger", "value": 1}]}, "/all/0/op", "Unknown operator 'bigger'"),
    ({"all": [{"field": "x", "op": "gt", "value": [1]}]}, "/all/0/value", "Expected a number, or a date"),
    ({"any": [{"field": "x", "op": "in", "value": "a"}]}, "/any/0/value", "Expected a list"),
    ({"field": "x", "op": "matches", "value": "(a)\\1"}, "/value", "backreferences"),
    ({"field": "x", "op": "matches", "value": "a(?=b)"}, "/value", "lookahead"),
    ({"field": "x", "op": "matches", "value": "(unclosed"}, "/value", "cannot be used"),
    ({"field": "x", "op": "exists", "value": True}, "/value", "exists takes no value"),
    ({"field": "x", "op": "equals"}, "/value", "equals needs a value"),
    ({"field": "x", "op": "starts_with", "value": 1}, "/value", "Expected a string"),
    ({"field": "x", "op": "contains", "value": {"a": 1}}, "/value", "Expected a string, number"),
    ({"field": "x", "op": "equals", "value": "a\x00"}, "/value", "NUL"),
    ({"field": "x", "op": "in", "value": list(range(1001))}, "/value", "at most 1000 items"),
    ({"field": "x", "op": "equals", "value": "x" * 10_001}, "/value", "at most 10000 characters"),
    ({"field": "x", "op": "equals", "value": 1, "case_sensitive": "no"}, "/case_sensitive", "true or false"),
    ({"field": "x", "op": "equals", "value": 1, "note": "hi"}, "/note", "Unknown key 'note'"),
    ({"op": "exists"}, "/field", "A field is a path"),
    ({"not": {"field": "", "op": "exists"}}, "/not/field", "A field is a path"),
    ({"field": "a..b", "op": "exists"}, "/field", "Expected a key at character 3"),
    ({"field": "a[", "op": "exists"}, "/field", "Unreadable bracket at character 2"),
    ({"field": 'a["b]', "op": "exists"}, "/field", "Unreadable bracket"),
    ({"field": "a.*", "op": "exists"}, "/field", "written in brackets"),
    ({"field": "headers", "op": "exists"}, "/field", "Name one header"),
    ({"field": "headers.a.b", "op": "exists"}, "/field", "Name one header"),
    ({"field": "query.a.b", "op": "exists"}, "/field", "only [n] or [*]"),
    ({"all": [{}]}, "/all/0", "Expected a condition"),
    ({"all": {"field": "x", "op": "exists"}}, "/all", "Expected a list"),
    ({"all": [], "any": []}, "/any", "wrap several groups in an all"),
    ({"all": [], "a/b~": 1}, "/a~1b~0", "'a/b~' is unknown"),
    ([{"field": "x", "op": "exists"}], "", "Expected a condition"),
]


@pytest.mark.parametrize(("tree", "pointer", "message"), INVALID)
def test_an_invalid_filter_is_refused_with_the_path_of_the_problem(
    tree: Any, pointer: str, message: str
) -> None:
    errors = errors_of(tree)
    assert errors[0]["path"] == pointer and message in errors[0]["message"], errors


def test_every_problem_is_reported_at_once() -> None:
    errors = errors_of({"any": [{"field": "x", "op": "gt", "value": "soon"}, {"field": ".", "op": "nope"}]})
    assert [error["path"] for error in errors] == ["/any/0/value", "/any/1/field", "/any/1/op"]


def test_filters_have_limits_on_depth_and_size() -> None:
    deep: dict[str, Any] = {"field": "x", "op": "exists"}
    for _ in range(9):
        deep = {"not": deep}
    assert filter_validate(deep)[0] == deep
    assert errors_of({"not": deep})[0] == {
        "path": "/not" * 10,
        "message": "A filter is nested at most 10 levels deep.",
    }
    many = {"all": [{"field": "x", "op": "exists"}] * 201}
    assert errors_of(many) == [{"path": "/all/200", "message": "A filter has at most 200 conditions."}]


def test_a_valid_filter_is_returned_exactly_as_written() -> None:
    tree = {
        "any": [
            {"value": "BUG", "op": "equals", "field": "body.issue.labels[0].name", "case_sensitive": False}
        ]
    }
    saved, warnings = filter_validate(tree)
    assert saved == tree and saved is not tree and warnings == []
    assert list(saved["any"][0]) == ["value", "op", "field", "case_sensitive"]


def test_a_compiled_filter_does_not_change_when_the_tree_it_came_from_does() -> None:
    tree = {"all": [dict(IS_BUG)]}
    compiled = compile_filter(tree)
    tree["all"][0]["value"] = "docs"
    assert compiled.evaluate(LABELED, {}, {}).passed


def test_compiling_an_invalid_filter_raises_the_same_error() -> None:
    with pytest.raises(FilterError, match=r"/all/0/op: Unknown operator"):
        compile_filter({"all": [{"field": "x", "op": "~"}]})


def test_fields_missing_from_the_preview_are_saved_with_a_warning() -> None:
    known = preview_paths(preview_tree(infer_schema([LABELED]), [LABELED]))
    assert {"issue.labels[*].name", 'issue.reactions["+1"]', "issue"} <= known
    tree = {
        "all": [
            {"field": "issue.labels[0].name", "op": "exists"},  # an index is one of the preview's [*]
            {"field": 'body.issue["reactions"]["+1"]', "op": "exists"},
            {"field": "issue.labelz[*].name", "op": "exists"},
            {"field": "headers.X-Anything", "op": "exists"},  # headers and query are not in a preview
            {"field": "query.anything", "op": "exists"},
            {"field": "body", "op": "is_not_empty"},
        ]
    }
    saved, warnings = filter_validate(tree, known_paths=known)
    assert saved == tree
    assert warnings == [{"path": "/all/2/field", "message": "field not in the payload preview; saved anyway"}]
    assert filter_validate(tree, known_paths=None)[1] == filter_validate(tree, known_paths=set())[1] == []


def test_every_preview_path_is_a_valid_field() -> None:
    known = preview_paths(preview_tree(infer_schema([LABELED]), [LABELED]))
    tree = {"all": [{"field": path, "op": "exists"} for path in sorted(known)][:200]}
    assert filter_validate(tree, known_paths=known)[1] == []


def test_the_ui_choices_come_from_the_operator_table() -> None:
    choices = operator_choices()
    assert [choice["op"] for choice in choices] == list(OPERATORS)
    assert {"op": "gt", "label": "is greater than", "value": "bound"}.items() <= choices[6].items()
    assert next(choice for choice in choices if choice["op"] == "exists")["value_help"] == "no value"
