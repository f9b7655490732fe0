"""JSON Schemas written by people: the official test suite, what is refused at save, and safe regexes.

Every required test of the JSON-Schema-Test-Suite (draft7 and draft2020-12, not optional/) goes through
check_schema and compile_validator. A test case whose schema needs a document from the suite's remote
server (http://localhost:1234) must be refused instead; which ones need it is decided independently,
by running the reference jsonschema with a registry that serves remotes/ and recording what it fetched.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7, DRAFT202012

from triggers import schemas
from triggers.schemas import SchemaError, check_schema, compile_validator

SUITE = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "json-schema-test-suite"
REMOTE = "http://localhost:1234/"
DRAFTS = {"draft7": Draft7Validator, "draft2020-12": Draft202012Validator}
SPECIFICATIONS = {"draft7": DRAFT7, "draft2020-12": DRAFT202012}


def suite_cases() -> list[Any]:
    cases = []
    for draft in DRAFTS:
        for path in sorted((SUITE / "tests" / draft).glob("*.json")):
            for case in json.loads(path.read_text()):
                cases.append(pytest.param(draft, case, id=f"{draft}/{path.stem}/{case['description']}"))
    return cases or [pytest.param(None, None, id="suite-missing")]


def needs_remote(draft: str, case: dict[str, Any]) -> bool:
    """Whether the reference implementation fetches anything from the suite's remote server."""
    schema = case["schema"]
    if isinstance(schema, dict) and str(schema.get("$schema", "")).startswith(REMOTE):
        return True
    fetched = []

    def retrieve(uri: str) -> Resource[Any]:
        path = SUITE / "remotes" / uri.removeprefix(REMOTE)
        if not uri.startswith(REMOTE) or not path.is_file():
            raise NoSuchResource(ref=uri)  # type: ignore[call-arg]
        fetched.append(uri)
        return Resource.from_contents(
            json.loads(path.read_text()), default_specification=SPECIFICATIONS[draft]
        )

    validator = DRAFTS[draft](schema, registry=Registry(retrieve=retrieve))  # type: ignore[call-arg]
    for test in case["tests"]:
        try:
            validator.is_valid(test["data"])
        except Exception:  # noqa: S112 - Python's re cannot read some ECMA-262 patterns; only fetches matter here
            continue
    return bool(fetched)


DRAFT7_URI = "http://json-schema.org/draft-07/schema#"


def declared(draft: str, schema: Any) -> Any:
    """The suite's draft7 schemas rely on the runner to pick the dialect; ours reads $schema."""
    if draft == "draft7" and isinstance(schema, dict) and "$schema" not in schema:
        return {"$schema": DRAFT7_URI, **schema}
    if draft == "draft7" and isinstance(schema, bool):
        return {"$schema": DRAFT7_URI, "allOf": [schema]}
    return schema


@pytest.mark.parametrize(("draft", "case"), suite_cases())
def test_the_official_suite_passes_or_refuses_what_needs_a_remote(draft: str | None, case: Any) -> None:
    if draft is None:
        pytest.skip(f"JSON-Schema-Test-Suite not found at {SUITE}")
    schema = declared(draft, case["schema"])
    if needs_remote(draft, case):
        with pytest.raises(SchemaError) as refused:
            check_schema(schema)
        assert refused.value.path.endswith(("$ref", "$schema")), refused.value
        return
    validator = compile_validator(schema)
    wrong = [
        test["description"] for test in case["tests"] if (not validator.errors(test["data"])) != test["valid"]
    ]
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("declared", "dialect"),
    [
        (None, "https://json-schema.org/draft/2020-12/schema"),
        ("https://json-schema.org/draft/2020-12/schema#", "https://json-schema.org/draft/2020-12/schema"),
        ("https://json-schema.org/draft/2019-09/schema", "https://json-schema.org/draft/2019-09/schema"),
        ("http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-07/schema#"),
        ("http://json-schema.org/draft-07/schema", "http://json-schema.org/draft-07/schema#"),
        ("http://json-schema.org/draft-06/schema#", "http://json-schema.org/draft-06/schema#"),
        ("http://json-schema.org/draft-04/schema#", "http://json-schema.org/draft-04/schema#"),
    ],
)
def test_check_schema_names_the_dialect_from_dollar_schema(declared: str | None, dialect: str) -> None:
    schema = {"type": "object"} if declared is None else {"$schema": declared, "type": "object"}
    assert check_schema(schema) == dialect


@pytest.mark.parametrize("declared", ["http://json-schema.org/draft-03/schema#", "https://example.com/s", 7])
def test_an_unknown_dollar_schema_is_refused(declared: Any) -> None:
    with pytest.raises(SchemaError) as refused:
        check_schema({"$schema": declared})
    assert refused.value.path == "/$schema" and "Unknown $schema" in refused.value.message


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"properties": {"age": {"type": "strin"}}}, "/properties/age/type"),
        ({"properties": {"tags": {"minItems": -1}}}, "/properties/tags/minItems"),
        ({"required": "title"}, "/required"),
        ({"$defs": {"a/b~c": {"type": 5}}}, "/$defs/a~1b~0c/type"),
        ([], ""),
        ("string", ""),
    ],
)
def test_a_schema_that_breaks_its_meta_schema_is_refused_with_a_json_pointer(schema: Any, path: str) -> None:
    with pytest.raises(SchemaError) as refused:
        check_schema(schema)
    assert refused.value.path == path and refused.value.message


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"$ref": "https://example.com/person.json"}, "/$ref"),
        ({"properties": {"a": {"items": {"$ref": "other.json#/x"}}}}, "/properties/a/items/$ref"),
        ({"$ref": "#/$defs/missing"}, "/$ref"),
        ({"$dynamicRef": "https://example.com/tree#node"}, "/$dynamicRef"),
        (
            {"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"a": {"$ref": "b.json"}}},
            None,
        ),
    ],
)
def test_references_that_would_need_a_fetch_are_refused_and_never_fetched(
    schema: dict[str, Any], path: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(SchemaError) as refused:
        check_schema(schema)
    assert refused.value.path == (path or "/definitions/a/$ref")
    assert "never fetched" in refused.value.message


def test_references_inside_the_document_and_to_official_meta_schemas_are_fine() -> None:
    schema = {
        "$id": "https://hooks.example/order.json",
        "properties": {
            "customer": {"$ref": "customer.json"},
            "total": {"$ref": "#/$defs/money"},
            "note": {"$ref": "#note"},
            "schema": {"$ref": "https://json-schema.org/draft/2020-12/schema"},
        },
        "$defs": {
            "money": {"type": "string", "pattern": "^\\d+\\.\\d{2}$"},
            "customer": {
                "$id": "customer.json",
                "properties": {"email": {"$ref": "#/$defs/email"}},
                "$defs": {"email": {"type": "string"}},
            },
            "note": {"$anchor": "note", "type": ["string", "null"]},
        },
    }
    validator = compile_validator(schema)
    assert (
        validator.errors({"customer": {"email": "a@b.c"}, "total": "9.50", "note": None, "schema": {}}) == []
    )
    assert [e["path"] for e in validator.errors({"customer": {"email": 1}, "total": "9.5"})] == [
        "/customer/email",
        "/total",
    ]


def test_a_reference_loop_that_never_reaches_a_value_is_refused() -> None:
    schema = {
        "$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"anyOf": [{"$ref": "#/$defs/a"}]}},
        "$ref": "#/$defs/a",
    }
    with pytest.raises(SchemaError) as refused:
        check_schema(schema)
    assert "would never end" in refused.value.message
    # Recursion through a property is how trees are described, and is fine.
    tree = {"properties": {"children": {"items": {"$ref": "#"}}}}
    assert compile_validator(tree).errors({"children": [{"children": []}]}) == []


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"pattern": "(a)\\1"}, "/pattern"),
        ({"properties": {"x": {"pattern": "^(?=.*\\d)"}}}, "/properties/x/pattern"),
        ({"patternProperties": {"(?<!x)y": {}}}, "/patternProperties/(?<!x)y"),
        ({"$schema": "http://json-schema.org/draft-04/schema#", "patternProperties": {"\\k<n>": {}}}, None),
        ({"items": {"pattern": "a{2000}"}}, "/items/pattern"),
    ],
)
def test_patterns_the_linear_time_engine_cannot_run_are_refused_at_save(
    schema: dict[str, Any], path: str | None
) -> None:
    with pytest.raises(SchemaError) as refused:
        check_schema(schema)
    assert refused.value.path == (path or "/patternProperties/\\k<n>")
    assert "linear-time engine" in refused.value.message


def finishes_within(seconds: float, work: Any) -> Any:
    """Run ``work`` in a thread and fail if it has not finished in ``seconds`` (a liveness bound)."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {time.monotonic() - started:.1f}s"
    return result[0]


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"pattern": "^(a+)+$"}, "a" * 50_000 + "!"),
        ({"patternProperties": {"^(a+)+$": {"type": "string"}}}, {"a" * 50_000 + "!": 1, "aaa": 1}),
        ({"patternProperties": {"^(a+)+$": {}}, "additionalProperties": False}, {"a" * 50_000 + "!": 1}),
        ({"patternProperties": {"^(a+)+$": {}}, "unevaluatedProperties": False}, {"a" * 50_000 + "!": 1}),
        ({"propertyNames": {"pattern": "^(a|aa)+$"}}, {"a" * 50_000 + "!": 1}),
        # Not a pattern, but the same kind of stall: jsonschema compares every pair of objects.
        ({"uniqueItems": True}, [{"i": i, "tags": [i]} for i in range(20_000)] + [{"tags": [0.0], "i": 0}]),
    ],
)
def test_a_catastrophic_pattern_returns_promptly_and_rejects(schema: dict[str, Any], instance: Any) -> None:
    validator = compile_validator(schema)
    errors = finishes_within(10, lambda: validator.errors(instance))
    assert errors and len(errors[0]["message"]) < 400


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("b", "abc", True),  # searched, not anchored
        ("^\\d+$", "123", True),
        ("^\\d+$", "١٢٣", False),  # \d is ASCII in ECMA-262
        ("^\\w+$", "héllo", False),
        ("^abc$", "abc\n", False),  # $ is the end of the text, unlike Python's re
        ("^.$", "\n", False),
        ("^.$", "😀", True),  # code points, not UTF-16 units
        ("^\\s$", "\u00a0", True),  # ECMA-262 white space includes NBSP
        ("^\\S$", "\u2003", False),
        ("^[a\\S]+$", "x y", False),  # \\S inside a class too
        ("^[^\\S]+$", " \u3000\ufeff", True),
        ("^\\p{L}+$", "Ωmega", True),
        ("^\\p{Letter}+$", "Ωmega", True),
        ("^[[:alpha:]]$", ":]", True),  # "[" inside a class is a literal in ECMA-262: no POSIX classes
        ("^[[:alpha:]]$", "b", False),
        ("^\\u00e9$", "é", True),
        ("^\\uD83D\\uDE00$", "😀", True),
        ("^(?<year>\\d{4})$", "2024", True),
        ("^[^]$", "x", True),
        ("[]", "anything", False),
        ("^\\cJ$", "\n", True),
        ("^a.c$", "a\ud800c", True),  # a lone surrogate is read as one character
    ],
)
def test_patterns_follow_ecma_262(pattern: str, text: str, matches: bool) -> None:
    assert (compile_validator({"pattern": pattern}).errors(text) == []) is matches


def test_format_is_an_annotation_only() -> None:
    validator = compile_validator({"properties": {"email": {"format": "email"}, "re": {"format": "regex"}}})
    assert validator.errors({"email": "not an email", "re": "(a+)+(?=x"}) == []


def test_errors_are_json_pointers_with_messages_sorted_and_limited() -> None:
    validator = compile_validator(
        {
            "type": "object",
            "required": ["issue"],
            "properties": {
                "issue": {
                    "type": "object",
                    "properties": {"title": {"type": "string"}, "n": {"type": ["integer", "null"]}},
                },
                "items": {"type": "array", "items": {"type": "integer"}},
                "a/b": {"enum": ["x"]},
            },
        }
    )
    errors = validator.errors({"issue": {"title": 5, "n": "x"}, "items": [1, "2", 3, "4"], "a/b": "y"})
    assert errors == [
        {"path": "/a~1b", "message": "'y' is not one of ['x']"},
        {"path": "/issue/n", "message": "must be an integer or null, not a string"},
        {"path": "/issue/title", "message": "must be a string, not an integer"},
        {"path": "/items/1", "message": "must be an integer, not a string"},
        {"path": "/items/3", "message": "must be an integer, not a string"},
    ]
    assert validator.errors({}, limit=1) == [{"path": "", "message": "'issue' is a required property"}]
    assert validator.errors([]) == [{"path": "", "message": "must be an object, not an array"}]


def test_a_huge_value_is_shortened_in_messages() -> None:
    errors = compile_validator({"maxLength": 3}).errors("x" * 100_000)
    assert len(errors[0]["message"]) < 200 and errors[0]["message"].endswith("is too long")


def test_a_valid_payload_never_builds_error_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    validator = compile_validator({"properties": {"a": {"type": "string"}}})
    monkeypatch.setattr(schemas, "_described", lambda error: pytest.fail("described a valid payload"))
    assert validator.errors({"a": "ok"}) == [] and validator.is_valid({"a": "ok"})
    assert not validator.is_valid({"a": 1})


@pytest.mark.parametrize(
    ("items", "unique"),
    [([1, 1.0], False), ([1, True], True), ([0, False, None, ""], True), ([{"a": [1]}, {"a": [1.0]}], False)],
)
def test_unique_items_compares_json_values(items: list[Any], unique: bool) -> None:
    assert (compile_validator({"uniqueItems": True}).errors(items) == []) is unique


def test_boolean_schemas_compile() -> None:
    assert compile_validator(True).errors({"any": "thing"}) == []
    assert compile_validator(False).errors(1) == [{"path": "", "message": "False schema does not allow 1"}]
