"""parse_payload: content types, encodings, limits, and the errors a sender can act on."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from triggers.parsing import PayloadError, parse_payload

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def refusal(body: bytes, content_type: str = JSON, **limits: int) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        parse_payload(body, content_type, **limits)
    return caught.value


def test_a_json_object_is_parsed() -> None:
    assert parse_payload(b'{"issue": {"title": "Bug", "labels": []}}', JSON) == {
        "issue": {"title": "Bug", "labels": []}
    }


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "Application/JSON; Charset=UTF-8",
        'application/json; charset="utf8"',
        "application/vnd.api+json",
        "application/cloudevents+json; charset=utf-8",
        "application/vnd.github+json",
    ],
)
def test_json_and_every_plus_json_type_with_parameters_are_read_as_json(content_type: str) -> None:
    assert parse_payload(b"[1, 2]", content_type) == [1, 2]


def test_a_utf8_byte_order_mark_is_stripped() -> None:
    assert parse_payload(b'\xef\xbb\xbf{"a": "\xc3\xa9"}', JSON) == {"a": "é"}


@pytest.mark.parametrize("charset", ["iso-8859-1", "utf-16", "windows-1252", "latin1"])
def test_a_charset_other_than_utf8_is_refused_with_415(charset: str) -> None:
    error = refusal(b'{"a": 1}', f"application/json; charset={charset}")
    assert (error.status, error.code) == (415, "unsupported_charset")
    assert charset in error.detail and "UTF-8" in error.detail


def test_a_body_without_content_type_is_read_as_json() -> None:
    assert parse_payload(b'{"ping": true}', "") == {"ping": True}


def test_a_non_json_body_without_content_type_says_the_header_was_missing() -> None:
    error = refusal(b"hello=world", "")
    assert (error.status, error.code) == (400, "invalid_json")
    assert "No Content-Type was sent" in error.detail and "application/json" in error.detail


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/xml", "application/xml", "multipart/form-data; boundary=xyz", "+json", "text/json"],
)
def test_other_media_types_are_refused_with_415_listing_what_is_accepted(content_type: str) -> None:
    error = refusal(b'{"a": 1}', content_type)
    assert (error.status, error.code) == (415, "unsupported_media_type")
    assert "application/json" in error.detail and FORM in error.detail


@pytest.mark.parametrize("content_type", ["", JSON, FORM, "text/plain", "application/json; charset=latin1"])
@pytest.mark.parametrize("body", [b"", b"  \r\n\t", b"\xef\xbb\xbf"])
def test_an_empty_body_is_none_whatever_the_content_type(body: bytes, content_type: str) -> None:
    assert parse_payload(body, content_type) is None


def test_invalid_json_is_400_with_line_and_column() -> None:
    error = refusal(b'{\n  "a": 1,\n  "b": }')
    assert (error.status, error.code) == (400, "invalid_json")
    assert "line 3 column 8" in error.detail


def test_a_body_that_is_not_utf8_is_400_invalid_encoding() -> None:
    error = refusal(b'{"name": "caf\xe9"}')
    assert (error.status, error.code) == (400, "invalid_encoding")
    assert "byte 13" in error.detail


@pytest.mark.parametrize("body", [b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"[1e400]", b"-1e999"])
def test_nan_infinity_and_overflowing_floats_are_refused(body: bytes) -> None:
    error = refusal(body)
    assert (error.status, error.code) == (400, "invalid_json")


def test_integers_of_any_size_keep_their_exact_value() -> None:
    big = 2**200 + 1
    assert parse_payload(f'{{"id": {big}, "neg": -{big}}}'.encode(), JSON) == {"id": big, "neg": -big}


def test_an_integer_with_thousands_of_digits_is_invalid_json_not_a_crash() -> None:
    error = refusal(b"9" * 5000)
    assert (error.status, error.code) == (400, "invalid_json")


def test_with_duplicate_keys_the_last_one_wins() -> None:
    assert parse_payload(b'{"a": 1, "a": 2}', JSON) == {"a": 2}


def test_nul_characters_and_lone_surrogates_are_kept_as_text() -> None:
    assert parse_payload(b'{"a": "x\\u0000y", "b": "\\ud800"}', JSON) == {"a": "x\x00y", "b": "\ud800"}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_nesting_up_to_max_depth_is_accepted() -> None:
    assert parse_payload(nested(64), JSON) is not None
    assert parse_payload(b'{"a": {"b": [1]}}', JSON, max_depth=3) == {"a": {"b": [1]}}


def test_nesting_deeper_than_max_depth_is_too_deep() -> None:
    error = refusal(nested(65))
    assert (error.status, error.code) == (400, "too_deep")
    assert refusal(b'{"a": {"b": [1]}}', max_depth=2).code == "too_deep"


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_a_hundred_thousand_open_brackets_are_too_deep_not_a_recursion_error(opener: bytes) -> None:
    error = refusal(opener * 100_000)
    assert error.code == "too_deep"


def test_a_high_max_depth_still_never_raises_recursion_error() -> None:
    # The pre-scan lets this through; Python's own recursion limit is then caught as too_deep.
    error = refusal(nested(100_000), max_depth=1_000_000, max_keys=10_000_000)
    assert error.code == "too_deep"


def test_brackets_and_quotes_inside_strings_do_not_count() -> None:
    body = json.dumps({"text": '[[[[{{{{ \\" ]]]', "list": ["[" * 200]}).encode()
    assert parse_payload(body, JSON, max_depth=2) == json.loads(body)


def test_an_unterminated_string_is_invalid_json() -> None:
    assert refusal(b'["abc\\"]').code == "invalid_json"


def test_object_keys_and_array_items_count_towards_max_keys() -> None:
    body = json.dumps({"a": [1, 2, 3], "b": {"c": None}, "d": [], "e": {}}).encode()
    # Entries: a, b, d, e (4 keys) + 3 items + c (1 key) = 8; empty containers add nothing.
    assert parse_payload(body, JSON, max_keys=8) == json.loads(body)
    error = refusal(body, max_keys=7)
    assert (error.status, error.code) == (400, "too_many_keys")


def test_a_million_keys_are_refused_before_parsing() -> None:
    body = b"[" + b"0," * 1_000_000 + b"0]"
    assert refusal(body).code == "too_many_keys"


def test_a_form_becomes_a_dict_of_strings() -> None:
    body = b"name=Ada+Lovelace&city=S%C3%A3o+Paulo&empty=&flag"
    assert parse_payload(body, FORM) == {"name": "Ada Lovelace", "city": "São Paulo", "empty": "", "flag": ""}


def test_a_repeated_form_key_becomes_a_list_in_order() -> None:
    body = b"tag=a&other=1&tag=b&tag="
    assert parse_payload(body, "application/x-www-form-urlencoded; charset=UTF-8") == {
        "tag": ["a", "b", ""],
        "other": "1",
    }


@pytest.mark.parametrize("body", [b"a=%zz", b"a=100%", b"a=%4"])
def test_a_form_with_a_bad_percent_escape_is_400(body: bytes) -> None:
    error = refusal(body, FORM)
    assert (error.status, error.code) == (400, "invalid_form")
    assert "%25" in error.detail


@pytest.mark.parametrize("body", [b"a=%ff%fe", b"a=caf\xe9"])
def test_a_form_that_is_not_utf8_is_400_invalid_encoding(body: bytes) -> None:
    error = refusal(body, FORM)
    assert (error.status, error.code) == (400, "invalid_encoding")


def test_a_form_with_more_pairs_than_max_keys_is_refused() -> None:
    assert parse_payload(b"a=1&b=2", FORM, max_keys=2) == {"a": "1", "b": "2"}
    assert refusal(b"a=1&b=2&c=3", FORM, max_keys=2).code == "too_many_keys"


def test_a_form_with_another_charset_is_refused_with_415() -> None:
    assert refusal(b"a=1", f"{FORM}; charset=iso-8859-1").status == 415


def test_a_payload_error_reads_well_in_a_log() -> None:
    error = refusal(b"{", JSON)
    assert repr(error).startswith("PayloadError(400, 'invalid_json',")
    assert str(error) == error.detail


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is a test-only dependency; say so rather than fail to import

    def test_property_tests_need_hypothesis() -> None:
        pytest.skip("hypothesis is not installed")

else:
    CONTENT_TYPES = st.sampled_from(
        ["", JSON, FORM, "application/vnd.api+json", "text/plain", "a/b; charset=x"]
    )
    JSON_VALUES: Any = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
        max_leaves=20,
    )

    @settings(max_examples=300, deadline=None)
    @given(body=st.binary(max_size=300), content_type=CONTENT_TYPES)
    def test_arbitrary_bytes_give_a_value_or_a_payload_error_and_nothing_else(
        body: bytes, content_type: str
    ) -> None:
        try:
            parse_payload(body, content_type, max_depth=8, max_keys=50)
        except PayloadError as error:
            assert 400 <= error.status < 500 and error.code and error.detail

    @settings(max_examples=200, deadline=None)
    @given(text=st.text(alphabet='[]{}",:\\ 0123456789aeflnrstu', max_size=200))
    def test_json_like_noise_gives_a_value_or_a_payload_error_and_nothing_else(text: str) -> None:
        with contextlib.suppress(PayloadError):
            parse_payload(text.encode(), JSON, max_depth=4, max_keys=20)

    @settings(max_examples=200, deadline=None)
    @given(value=JSON_VALUES)
    def test_any_json_value_parses_back_to_itself(value: Any) -> None:
        body = json.dumps(value).encode()
        assert parse_payload(body, JSON) == value
