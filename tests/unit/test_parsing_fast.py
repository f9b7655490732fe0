"""parse_payload's fast paths give exactly what the plain path gives: the same value (same types, same
key order, ints exact, -0.0 kept) or the same PayloadError, word for word.

The oracle is the implementation before them, kept below: the string-stripping pre-scan with regexes
and json.loads. The fast paths are orjson for the parse, a split on quotes for the pre-scan, and no
pre-scan at all where the whole body is within the limits.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triggers import parsing
from triggers.parsing import PayloadError, parse_payload

JSON = "application/json"
_EMPTY_CONTAINER = re.compile(rb"[\[{][ \t\r\n]*+[\]}]")


def oracle_check_limits(body: bytes, *, max_depth: int, max_keys: int) -> None:
    skeleton = parsing._STRING.sub(b"", body)
    depth = deepest = 0
    for bracket in skeleton.translate(None, parsing._NOT_BRACKET):
        depth += 1 if bracket in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > max_depth:
                raise PayloadError(
                    400,
                    "too_deep",
                    f"The body is nested more than {max_depth} levels deep; flatten the payload.",
                )
    containers = skeleton.count(b"[") + skeleton.count(b"{")
    if skeleton.count(b",") + containers - len(_EMPTY_CONTAINER.findall(skeleton)) > max_keys:
        raise parsing._too_many_keys(max_keys)


def oracle_parse_json(body: bytes, *, max_depth: int, max_keys: int, declared: bool) -> Any:
    text = parsing._decode(body)
    oracle_check_limits(body, max_depth=max_depth, max_keys=max_keys)
    try:
        return json.loads(text, parse_constant=parsing._reject_constant, parse_float=parsing._finite_float)
    except json.JSONDecodeError as error:
        raise PayloadError(400, "invalid_json", parsing._json_detail(error, declared)) from None
    except parsing._NotJson as error:
        raise PayloadError(400, "invalid_json", str(error)) from None
    except ValueError:
        raise PayloadError(
            400, "invalid_json", "A number in the body has too many digits; send it as a string."
        ) from None
    except RecursionError:
        raise PayloadError(400, "too_deep", "The body is nested too deeply.") from None


def outcome(parse: Any, body: bytes, **limits: Any) -> tuple[Any, ...]:
    """What a parse gives, comparable exactly: repr tells 1 from 1.0, -0.0 from 0.0, and key order."""
    try:
        return ("value", repr(parse(body, **limits)))
    except PayloadError as error:
        return ("error", error.status, error.code, error.detail)


def assert_same(body: bytes, max_depth: int = 64, max_keys: int = 10_000, declared: bool = True) -> None:
    limits = {"max_depth": max_depth, "max_keys": max_keys, "declared": declared}
    assert outcome(parsing._parse_json, body, **limits) == outcome(oracle_parse_json, body, **limits)


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 18446744073709551615, "low": -9223372036854775808}',  # the ends of orjson's range
        b'{"id": 18446744073709551616, "low": -9223372036854775809}',  # beyond: orjson would give floats
        b"[123456789012345678901234567890, 1e5, 0.1]",
        b'{"id": "12345678901234567890123"}',  # a long digit run in a string: slower, same answer
        b'{"a": 1, "b": 2, "a": 3}',  # the last wins, in the first one's place
        b'{"a": "\\ud800", "\\udc00": 1}',  # lone surrogates: orjson refuses, json keeps them
        b'{"a": "\\ud83d\\ude00 \\u0000"}',
        b"[-0, -0.0, 0e0, 1E2, 1.5e+3, 2.4703282292062328e-324, 1.7976931348623157e308]",
        b"[NaN]",
        b"[-Infinity]",
        b"[1e400]",
        b"[1.7976931348623159e308]",
        b"9" * 5000,
        b'{"a": [1, 2,]}',
        b'["abc\\"]',
        b"[1] x",
        b'"\t"',
        b"\xef\xbb\xbf[1]",  # a second BOM (parse_payload strips one)
        b'{"a": {"b": [[], {}, [ ], { }]}}',
        b"[" * 70 + b"]" * 70,
        b'{"text": "[[[[{{{{ \\" ]]]", "list": ["' + b"[" * 200 + b'"]}',
        b'["a\\\\", "b\\\\\\"c"]',
        b'["unterminated \\',
    ],
)
def test_the_fast_paths_give_what_json_loads_gives(body: bytes) -> None:
    assert_same(body)
    assert_same(body, max_depth=3, max_keys=4)
    assert_same(body, declared=False)


def test_big_integers_stay_exact_and_integers() -> None:
    value = parse_payload(b"[18446744073709551616, -9223372036854775809, 18446744073709551615]", JSON)
    assert value == [2**64, -(2**63) - 1, 2**64 - 1] and all(type(item) is int for item in value)


def test_the_bench_payload_takes_orjson_and_equals_json_loads() -> None:
    with open("bench/payloads/stripe_invoice_paid.json", "rb") as payload:
        body = payload.read()
    assert parsing._LONG_NUMBER not in body.translate(parsing._DIGIT_RUNS)
    assert_same(body)


# --- generated bodies ---------------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from([2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**18, 10**19]).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["-0", "-0.0", "1e400", "-1e400", "NaN", "Infinity", "1E2", "0.1e-5", "01", "1."]),
    st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
)
STRINGS = st.one_of(
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=8),  # lone surrogates too
    st.sampled_from(["[", "{", "]", ",", '"', "\\", "a\\", "1234567890123456789012"]),
)
KEYS = st.sampled_from(["a", "b", "id", "[", "x,y"])  # few, so that objects repeat keys


def dumped(text: str) -> str:
    return json.dumps(text)  # ASCII escapes: a lone surrogate becomes "\ud800", as a sender would send it


SCALARS = NUMBERS | STRINGS.map(dumped) | st.sampled_from(["true", "false", "null"])
SPACE = st.sampled_from(["", "", " ", "\n  ", "\t"])
DOCUMENTS: Any = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(KEYS.map(dumped), children), max_size=4).map(
            lambda pairs: "{" + ",".join(f"{key}:{value}" for key, value in pairs) + "}"
        ),
    ),
    max_leaves=25,
)
EDITS = st.lists(
    st.tuples(
        st.integers(min_value=0), st.sampled_from([b"", b'"', b"\\", b"[", b"]", b"{", b"}", b",", b"1"])
    ),
    max_size=3,
)


def edited(body: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    for at, insert in edits:
        at %= len(body) + 1
        body = body[:at] + insert + body[at + (1 if not insert else 0) :]
    return body


@settings(max_examples=600, deadline=None)
@given(
    document=DOCUMENTS,
    space=SPACE,
    edits=EDITS,
    max_depth=st.sampled_from([1, 2, 3, 5, 64]),
    max_keys=st.sampled_from([0, 3, 8, 20, 10_000]),
)
def test_generated_bodies_parse_the_same_on_both_paths(
    document: str, space: str, edits: list[tuple[int, bytes]], max_depth: int, max_keys: int
) -> None:
    body = edited((space + document + space).encode(), edits)
    assert_same(body, max_depth=max_depth, max_keys=max_keys)


@settings(max_examples=300, deadline=None)
@given(document=DOCUMENTS, space=SPACE)
def test_generated_documents_parse_the_same_within_default_limits(document: str, space: str) -> None:
    assert_same((space + document + space).encode())


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=60).map(lambda raw: bytes(b'"\\[]{},: a\n'[byte % 11] for byte in raw)))
def test_the_split_skeleton_and_the_empty_container_count_equal_the_regexes(body: bytes) -> None:
    skeleton = parsing._skeleton(body)
    assert skeleton == parsing._STRING.sub(b"", body)
    assert parsing._empty_containers(skeleton) == len(_EMPTY_CONTAINER.findall(skeleton))


def test_nesting_beyond_what_json_loads_can_read_is_too_deep_on_both_paths() -> None:
    # orjson would read 1000 levels; json.loads stops at the recursion limit: the plain path decides.
    body = b"[" * 1000 + b"]" * 1000
    assert outcome(parsing._parse_json, body, max_depth=2000, max_keys=10_000, declared=True)[2] == "too_deep"
    assert_same(body, max_depth=2000)
