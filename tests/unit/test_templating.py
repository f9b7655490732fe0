"""Templates in step configurations: what they can read, where values land, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from actions import templating
from actions.templating import TemplateError, render_header, render_json_body, render_text, render_url

CONTEXT = templating.build_context(
    trigger={
        "body": {
            "issue": {"title": "Crash on save", "labels": ["bug", "p1"]},
            "id": 42,
            "q": "a b&c",
            "path": "../admin",
            "items": [{"sku": "A-1"}],
            "_id": "mongo",
            "draft": False,
            "missing": None,
        },
        "headers": {"X-Request-Id": "req-1", "content-type": "application/json"},
        "query": {"page": "2"},
    },
    steps={"create-ticket": {"response": {"status": 201, "body": {"id": "T-9"}}}},
    run_id=7,
    workflow_name="Issue Sync",
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ trigger.body.issue.title }}", "Crash on save"),
        ("{{ trigger.headers.x-request-id }}", "req-1"),
        ('{{ trigger.headers["x-request-id"] }}', "req-1"),
        ("{{ trigger.headers.X-Request-Id }}", "req-1"),
        ("{{ trigger.query.page }}", "2"),
        ("{{ steps.create-ticket.response.body.id }}", "T-9"),
        ("{{ steps.create-ticket.response.status }}", "201"),
        ("{{ run.id }}/{{ workflow.name }}", "7/Issue Sync"),
        ("{{ trigger.body.items.0.sku }}", "A-1"),
        ("{{ trigger.body.items }}", '[{"sku":"A-1"}]'),
        ("{{ trigger.body._id }}", "mongo"),
        ("{{ trigger.body.draft }} {{ trigger.body.missing }}", "false null"),
        ("{{ trigger.body.id - 2 }}", "40"),
        ("#{{ trigger.body.id }}: {{ trigger.body.issue.title | upper }}", "#42: CRASH ON SAVE"),
    ],
)
def test_a_template_reads_run_data(template: str, expected: str) -> None:
    assert render_text(template, CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ trigger.body.nope | default('none') }}", "none"),
        ("{{ trigger.body.nope.deeper | default('none') }}", "none"),
        ("{{ trigger.body.issue | json }}", '{"title":"Crash on save","labels":["bug","p1"]}'),
        ("{{ workflow.name | lower }}", "issue sync"),
        ("{{ trigger.body.q | urlencode }}", "a%20b%26c"),
        ("{{ trigger.body.issue.title ~ '!' }}", "Crash on save!"),
    ],
)
def test_the_filters_do_what_their_names_say(template: str, expected: str) -> None:
    assert render_text(template, CONTEXT) == expected


def test_a_payload_key_named_like_a_dict_method_is_the_key() -> None:
    context = templating.build_context(
        trigger={"body": {"items": 3, "keys": "k"}}, steps={}, run_id=1, workflow_name="w"
    )
    assert render_text("{{ trigger.body.items }} {{ trigger.body.keys }}", context) == "3 k"


def test_a_missing_key_fails_naming_the_expression() -> None:
    with pytest.raises(TemplateError) as failed:
        render_text("Title: {{ trigger.body.issue.name }}", CONTEXT)
    assert str(failed.value) == "{{ trigger.body.issue.name }}: no key 'name'"
    assert failed.value.expression == "trigger.body.issue.name"


def test_a_missing_key_deep_in_a_path_fails_too() -> None:
    with pytest.raises(TemplateError, match=r"^\{\{ steps.nope.response.body.id \}\}: no key 'nope'$"):
        render_text("{{ steps.nope.response.body.id }}", CONTEXT)


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{ ''.__class__ }}", "names starting with __ are not allowed"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "calling functions or methods is not allowed"),
        ("{{ cycler.__init__.__globals__ }}", "not allowed"),
        ("{{ self }}", "unknown name 'self'"),
        ("{{ range(10) }}", "calling functions"),
        ("{{ trigger.body.q.upper() }}", "calling functions"),
        ("{{ trigger.body.q | attr('upper') }}", "unknown filter 'attr'"),
        ("{{ trigger.body.q | safe }}", "unknown filter 'safe'"),
        ("{{ 9 ** 9 ** 9 }}", "** is not allowed"),
        ("{% for i in trigger.body.items %}x{% endfor %}", "statements ({% ... %}) are not allowed"),
        ("{% set x = 1 %}", "statements ({% ... %}) are not allowed"),
        ("{# note #}", "comments"),
        ("{{ trigger.body.id", "not closed"),
        ("{{ trigger.body. }}", "{{ trigger.body. }}:"),
    ],
)
def test_escapes_and_unsupported_syntax_are_refused_when_saved(template: str, problem: str) -> None:
    with pytest.raises(TemplateError) as refused:
        templating.validate_template(template)
    assert problem in str(refused.value)
    with pytest.raises(TemplateError):
        render_text(template, CONTEXT)


@pytest.mark.parametrize(
    "template",
    [
        "{{ trigger.body['__class__'] }}",
        "{{ trigger.body.q['__class__'] }}",
        "{{ 'x' * 100000000 }}",
        "{{ trigger.body.q * 100000000 }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ trigger.body.id / 0 }}",
    ],
)
def test_runtime_escapes_and_output_bombs_fail_safely(template: str) -> None:
    templating.validate_template(template)  # valid syntax: only running it shows the problem
    with pytest.raises(TemplateError, match=r"^\{\{ "):
        render_text(template, CONTEXT)


def test_output_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templating, "MAX_OUTPUT_BYTES", 100)
    context = templating.build_context(trigger={"body": "x" * 60}, steps={}, run_id=1, workflow_name="w")
    assert len(render_text("{{ trigger.body }}", context)) == 60
    with pytest.raises(TemplateError, match="larger than 100 bytes"):
        render_text("{{ trigger.body }}{{ trigger.body }}", context)
    with pytest.raises(TemplateError, match="larger than 100 bytes"):
        render_json_body({"a": "{{ trigger.body }}", "b": ["{{ trigger.body }}"]}, context)


def test_values_in_a_url_are_encoded_but_the_template_text_is_not() -> None:
    url = "https://x.example/items/{{ trigger.body.id }}/{{ trigger.body.path }}?q={{ trigger.body.q }}&a=1"
    assert render_url(url, CONTEXT) == "https://x.example/items/42/..%2Fadmin?q=a%20b%26c&a=1"


def test_a_value_already_urlencoded_is_not_encoded_twice() -> None:
    assert render_url("https://x.example/?q={{ trigger.body.q | urlencode }}", CONTEXT).endswith("=a%20b%26c")


def test_a_header_value_is_rendered() -> None:
    assert render_header("Bearer {{ trigger.headers.x-request-id }}", CONTEXT) == "Bearer req-1"


@pytest.mark.parametrize("value", ["evil\r\nX-Admin: 1", "evil\nX: 1", "a\rb"])
def test_a_header_value_with_a_line_break_is_refused(value: str) -> None:
    context = templating.build_context(trigger={"body": {"v": value}}, steps={}, run_id=1, workflow_name="w")
    with pytest.raises(TemplateError, match="newline injection refused"):
        render_header("x-{{ trigger.body.v }}", context)


def test_a_lone_expression_in_a_json_body_keeps_its_type() -> None:
    body: Any = {
        "number": "{{ trigger.body.id }}",
        "object": "{{ trigger.body.issue }}",
        "list": "{{ trigger.body.issue.labels }}",
        "bool": "{{ trigger.body.draft }}",
        "null": "{{ trigger.body.missing }}",
        "text": "Issue {{ trigger.body.id }}",
        "nested": [{"{{ run.id }}": "{{ steps.create-ticket.response.status }}"}, 3, True, None],
    }
    assert render_json_body(body, CONTEXT) == {
        "number": 42,
        "object": {"title": "Crash on save", "labels": ["bug", "p1"]},
        "list": ["bug", "p1"],
        "bool": False,
        "null": None,
        "text": "Issue 42",
        "nested": [{"7": 201}, 3, True, None],
    }


def test_a_missing_value_in_a_json_body_fails_unless_it_has_a_default() -> None:
    with pytest.raises(TemplateError, match="no key 'nope'"):
        render_json_body({"a": ["{{ trigger.body.nope }}"]}, CONTEXT)
    assert render_json_body({"a": "{{ trigger.body.nope | default(0) }}"}, CONTEXT) == {"a": 0}


def test_template_errors_are_keyed_by_field_path() -> None:
    config = {"url": "https://x/{{ trigger.body.id }}", "headers": {"X-A": "{{ self }}"}, "body": ["{% x %}"]}
    errors = templating.template_errors(config, path="config")
    assert set(errors) == {"config.headers.X-A", "config.body.0"}
    assert "unknown name 'self'" in errors["config.headers.X-A"]


def test_literal_text_without_expressions_is_kept_as_is() -> None:
    assert render_text("plain text, {braces} and } alone", CONTEXT) == "plain text, {braces} and } alone"
    assert render_json_body({"a": "plain"}, CONTEXT) == {"a": "plain"}
