"""The two validation engines give the same verdicts: jsonschema_rs says "valid" on the hot path where
triggers.schema_fast takes the schema, jsonschema decides everything else and writes every message.

The official JSON-Schema-Test-Suite (../shared/corpora; skipped where absent), required and optional
tests, draft7 and draft2020-12 (the drafts it has): every case whose schema can be saved is run through
both engines wherever the fast one takes it, and the verdicts must be equal. Not compared: cases refused
at save (they need a remote document, or a pattern RE2 cannot run) — no engine ever runs them; and the
cases schema_fast declines — jsonschema alone decides those, for the reasons its docstring gives.
"""

from __future__ import annotations

import functools
import json
import socket
import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_json_schema import declared
from triggers.schema_fast import DRAFT7, DRAFT202012, fast_verdict, is_safe_pattern
from triggers.schema_regex import pattern_problem, regex_search
from triggers.schemas import PayloadValidator, SchemaError, compile_validator

SUITE = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "json-schema-test-suite"
DRAFTS = ("draft7", "draft2020-12")
BENCH = Path(__file__).resolve().parents[2] / "bench" / "payloads"


def suite_files() -> list[Any]:
    files = [
        pytest.param(draft, path, id=f"{draft}/{path.relative_to(SUITE / 'tests' / draft)}")
        for draft in DRAFTS
        for path in sorted((SUITE / "tests" / draft).rglob("*.json"))
    ]
    return files or [pytest.param(None, None, id="suite-missing")]


@functools.cache
def compiled(draft: str, path: Path) -> list[tuple[dict[str, Any], PayloadValidator | None]]:
    """Each case of a suite file with its validator, or None where the schema is refused at save."""
    cases: list[tuple[dict[str, Any], PayloadValidator | None]] = []
    for case in json.loads(path.read_text()):
        try:
            cases.append((case, compile_validator(declared(draft, case["schema"]))))
        except SchemaError:
            cases.append((case, None))
    return cases


@pytest.mark.parametrize(("draft", "path"), suite_files())
def test_the_engines_agree_on_every_suite_case_the_fast_one_takes(draft: str | None, path: Path) -> None:
    if draft is None:
        pytest.skip(f"JSON-Schema-Test-Suite not found at {SUITE}")
    wrong = []
    for case, validator in compiled(draft, path):
        if validator is None or validator.engine != "jsonschema_rs":
            continue
        schema = declared(draft, case["schema"])
        fast, reference = fast_verdict(schema, validator.dialect), compile_validator(schema, fast=False)
        assert fast is not None
        for test in case["tests"]:
            verdicts = (
                fast(test["data"]),
                reference.is_valid(test["data"]),
                validator.is_valid(test["data"]),
            )
            if len(set(verdicts)) != 1:
                wrong.append((case["description"], test["description"], verdicts))
    assert not wrong, wrong


def test_the_fast_engine_takes_nearly_every_suite_schema() -> None:
    if not suite_files()[0].values[0]:
        pytest.skip(f"JSON-Schema-Test-Suite not found at {SUITE}")
    engines = [
        validator.engine
        for param in suite_files()
        for _, validator in compiled(*param.values)
        if validator is not None
    ]
    assert len(engines) > 700 and engines.count("jsonschema_rs") / len(engines) > 0.9


# --- what the fast engine declines: the places where the two read a schema differently --------------


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"$schema": DRAFT7, "contentMediaType": "application/json"}, "{not json"),
        ({"$schema": DRAFT7, "contentEncoding": "base64"}, "%%%"),
        ({"dependencies": {"a": ["b"]}}, {"a": 1}),  # not a 2020-12 keyword: jsonschema ignores it
        ({"pattern": "^a.c$"}, "a\rc"),  # jsonschema_rs's "." matches \r
        ({"pattern": "\\bx"}, "éx"),  # jsonschema_rs's \b is Unicode-aware
        (
            {"properties": {"a": {"$schema": DRAFT7, "$id": "https://x.example/a", "type": "string"}}},
            {"a": 1},
        ),
        ({"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer"}, 1.0),
        ({"$schema": "https://json-schema.org/draft/2019-09/schema", "type": "string"}, "x"),
    ],
)
def test_schemas_read_differently_or_never_compared_stay_with_jsonschema(
    schema: dict[str, Any], instance: Any
) -> None:
    validator = compile_validator(schema)
    assert validator.engine == "jsonschema"
    assert validator.is_valid(instance) == compile_validator(schema, fast=False).is_valid(instance)


def test_the_bench_schema_takes_the_fast_engine_and_agrees_on_a_valid_and_a_broken_event() -> None:
    schema = json.loads((BENCH / "stripe_invoice_paid.schema.json").read_text())
    event = json.loads((BENCH / "stripe_invoice_paid.json").read_text())
    validator, reference = compile_validator(schema), compile_validator(schema, fast=False)
    assert validator.engine == "jsonschema_rs"
    assert validator.errors(event) == [] and validator.is_valid(event)
    event["data"]["object"]["currency"] = "EURO"
    event["data"]["object"]["lines"]["data"][0]["price"]["recurring"]["interval"] = "fortnight"
    assert not validator.is_valid(event)
    assert validator.errors(event) == reference.errors(event) and len(reference.errors(event)) == 2


# --- configuration: linear-time regexes, formats as annotations, nothing fetched ------------------


def test_the_fast_engine_runs_patterns_in_linear_time() -> None:
    validator = compile_validator({"properties": {"a": {"pattern": "^(a+)+$"}}})
    assert validator.engine == "jsonschema_rs"
    started = time.process_time()
    assert not validator.is_valid({"a": "a" * 100_000 + "!"})
    assert time.process_time() - started < 0.5
    # The backtracking engine (FancyRegexOptions) would compile lookahead; the linear one refuses it.
    assert fast_verdict({"pattern": "^(?=a)"}, DRAFT202012) is None


def test_the_fast_engine_treats_format_as_an_annotation() -> None:
    validator = compile_validator({"properties": {"email": {"format": "email"}, "day": {"format": "date"}}})
    assert validator.engine == "jsonschema_rs"
    assert validator.is_valid({"email": "not an email", "day": "tuesday"})


def test_the_fast_engine_never_fetches_a_reference() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    with listener:
        assert fast_verdict({"$ref": f"http://127.0.0.1:{port}/s.json"}, DRAFT202012) is None
        with pytest.raises(TimeoutError):
            listener.accept()


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"properties": {"a": {"const": "\ufffd"}}}, {"a": "\ud800"}),
        ({"properties": {"a": {"type": "string", "maxLength": 1}}}, {"a": "\ud800"}),
        ({"additionalProperties": False, "properties": {"\ufffd": True}}, {"\ud800": 1}),
        ({"items": {"pattern": "^x$"}}, ["\udfff"]),
        ({"uniqueItems": True}, ["\ud800", "\udc00"]),
    ],
)
def test_a_lone_surrogate_gets_the_same_verdict(schema: dict[str, Any], instance: Any) -> None:
    validator, reference = compile_validator(schema), compile_validator(schema, fast=False)
    assert validator.engine == "jsonschema_rs"
    assert validator.is_valid(instance) == reference.is_valid(instance)
    assert validator.errors(instance) == reference.errors(instance)


# --- the pattern subset: jsonschema_rs reads it as triggers.schema_regex does -----------------------

TOKENS = [
    *"abZ09_- &~#/:^$|()*+?",
    "(?:", "{2}", "{1,}", "{0,2}",
    *(f"\\{c}" for c in "dDwWsS.-/\\^$*()[]{}|?+"),
    "[a-z]", "[^a-z]", "[A-Za-z0-9]", "[-a]", "[a-]", "[\\w-]", "[^\\s]", "[\\d\\s]", "[^-]", "[-]",
    "[$]", "[(){}|?*+.]", "[\\]]", "[\\^a]", "[0-9_]", "[!-/]",
]  # fmt: skip
TEXT = [*"abZ09_- \n\r\t&~#/:.\\^$|()[]{}*+?!K", "\u2028", "\u00a0", "\ufeff", "é", "٣", "😀", "ß", "\u212a"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6), st.lists(st.text(TEXT, max_size=8)))
def test_a_safe_pattern_matches_the_same_texts_on_both_engines(tokens: list[str], texts: list[str]) -> None:
    pattern = "".join(tokens)
    if not is_safe_pattern(pattern) or pattern_problem(pattern):
        return
    try:
        fast = jsonschema_rs.Draft202012Validator(
            {"pattern": pattern}, pattern_options=jsonschema_rs.RegexOptions(), offline=True
        )
    except jsonschema_rs.ValidationError:
        return  # refused: fast_verdict declines the schema
    assert [fast.is_valid(text) for text in texts] == [regex_search(pattern, text) for text in texts]


@pytest.mark.parametrize("pattern", ["\\d", "\\D", "\\w", "\\W", "\\s", "\\S", "[^\\s]", "[\\w-]"])
def test_class_escapes_match_the_same_characters_on_both_engines(pattern: str) -> None:
    fast = jsonschema_rs.Draft202012Validator(
        {"pattern": pattern}, pattern_options=jsonschema_rs.RegexOptions()
    )
    everything = [*range(0xD800), *range(0xE000, 0x10000), *range(0x10000, 0x110000, 251)]
    assert [c for c in everything if fast.is_valid(chr(c)) != regex_search(pattern, chr(c))] == []


@pytest.mark.parametrize(
    ("pattern", "safe"),
    [
        ("^evt_[A-Za-z0-9]+$", True),
        ("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", True),
        ("^\\S+@\\S+\\.\\w+$", True),
        ("^(?:ab|c)*$", True),
        ("^.+$", False),
        ("\\bword", False),
        ("(?i)abc", False),
        ("(?<y>\\d)", False),
        ("[^]", False),
        ("[a&&b]", False),  # a set operation in Rust, three characters in ECMA-262
        ("[a--b]", False),
        ("[[:alpha:]]", False),
        ("[\\d-z]", False),
        ("\\u00e9", False),
        ("é", False),
        ("a{,3}", False),
    ],
)
def test_which_patterns_count_as_safe(pattern: str, safe: bool) -> None:
    assert is_safe_pattern(pattern) is safe
