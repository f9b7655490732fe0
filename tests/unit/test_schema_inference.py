"""Schemas inferred from sample payloads accept payloads of the same kind and reject other kinds.

The fixtures under tests/fixtures/senders/<platform>/<event type>/ are realistic payloads written from
each platform's public documentation, varied the way real deliveries vary.
"""

from __future__ import annotations

import functools
import json
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest

from triggers.parsing import PayloadError, parse_payload
from triggers.schemas import PayloadValidator, check_schema, compile_validator, infer_schema

SENDERS = Path(__file__).resolve().parents[1] / "fixtures" / "senders"
FAMILIES = sorted(folder for folder in SENDERS.glob("*/*") if folder.is_dir())


def payloads(family: Path) -> dict[str, Any]:
    return {
        path.stem: parse_payload(path.read_bytes(), "application/json")
        for path in sorted(family.glob("*.json"))
    }


@functools.cache
def validator_from(fixture: Path) -> PayloadValidator:
    """The validator of a schema inferred from this one fixture (compiling a big schema takes a while)."""
    return compile_validator(infer_schema([parse_payload(fixture.read_bytes(), "application/json")]))


def accepts(sample: Any, payload: Any) -> bool:
    return compile_validator(infer_schema([sample])).errors(payload) == []


def test_every_family_has_at_least_four_varied_payloads_of_three_platforms_or_more() -> None:
    assert len({family.parent.name for family in FAMILIES}) >= 3
    assert all(len(payloads(family)) >= 4 for family in FAMILIES)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: f"{family.parent.name}/{family.name}")
def test_a_schema_inferred_from_one_payload_accepts_every_other_payload_of_its_event_type(
    family: Path,
) -> None:
    samples = payloads(family)
    refused = [
        f"{a} -> {b}: {errors[:2]}"
        for a, b in permutations(samples, 2)
        if (errors := validator_from(family / f"{a}.json").errors(samples[b]))
    ]
    assert refused == []


def test_the_acceptance_rate_over_all_fixtures_is_at_least_99_percent() -> None:
    pairs = accepted = 0
    for family in FAMILIES:
        samples = payloads(family)
        for a, b in permutations(samples, 2):
            pairs += 1
            accepted += validator_from(family / f"{a}.json").errors(samples[b]) == []
    print(f"acceptance of other payloads of the same event type: {accepted}/{pairs} = {accepted / pairs:.1%}")
    assert accepted / pairs >= 0.99


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: f"{family.parent.name}/{family.name}")
def test_an_inferred_schema_rejects_other_top_level_kinds(family: Path) -> None:
    fixture = sorted(family.glob("*.json"))[0]
    sample = parse_payload(fixture.read_bytes(), "application/json")
    validator = validator_from(fixture)
    for other in ([sample], "text", 42, 4.2, True, None, []):
        assert validator.errors(other), other


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<order><id>1</id></order>", "text/xml"),
        (b"event=issues&action=opened", "text/plain"),
        (b"{'a': 1}", ""),
    ],
)
def test_a_body_that_is_not_json_never_reaches_the_schema(body: bytes, content_type: str) -> None:
    with pytest.raises(PayloadError):
        parse_payload(body, content_type)


def test_an_inferred_schema_is_a_valid_2020_12_schema_with_nothing_required() -> None:
    schema = infer_schema([{"a": {"b": [1]}, "c": None}])
    assert check_schema(schema) == "https://json-schema.org/draft/2020-12/schema"
    assert "required" not in json.dumps(schema)


SAMPLE = {"id": 7, "title": "Bug", "closed_at": None, "labels": [{"name": "bug"}], "user": {"login": "mona"}}


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"id": 8},
        {**SAMPLE, "extra": {"any": ["thing"]}, "user": {"login": "hubot", "site_admin": True}},
        {**SAMPLE, "title": None, "user": None, "labels": None},
        {**SAMPLE, "closed_at": "2024-06-03T16:02:44Z"},
        {**SAMPLE, "closed_at": {"by": "mona"}},
        {**SAMPLE, "labels": []},
        {**SAMPLE, "labels": [{"name": "a"}, {"name": "b", "color": "fff"}, {}]},
        {**SAMPLE, "id": 7.5},
        {**SAMPLE, "id": 10**30},
    ],
    ids=[
        "keys missing",
        "most keys missing",
        "keys added",
        "null where the sample had a value",
        "a value where the sample had null",
        "any value where the sample had null",
        "an empty array",
        "a longer array",
        "a float where the sample had an integer",
        "a huge integer",
    ],
)
def test_an_inferred_schema_accepts_payloads_of_the_same_kind(payload: dict[str, Any]) -> None:
    assert accepts(SAMPLE, payload)


@pytest.mark.parametrize(
    "payload",
    [
        {**SAMPLE, "user": "mona"},
        {**SAMPLE, "labels": {"name": "bug"}},
        {**SAMPLE, "title": 12},
        {**SAMPLE, "id": "7"},
        {**SAMPLE, "labels": ["bug"]},
    ],
    ids=[
        "a string for an object",
        "an object for an array",
        "a number for a string",
        "a string for a number",
        "scalar items for objects",
    ],
)
def test_an_inferred_schema_rejects_a_nested_value_of_another_kind(payload: dict[str, Any]) -> None:
    assert not accepts(SAMPLE, payload)


def test_a_top_level_array_sample_accepts_arrays_of_any_length_but_not_objects() -> None:
    validator = compile_validator(infer_schema([[{"id": 1}, {"id": 2}]]))
    assert validator.errors([]) == [] and validator.errors([{"id": 3}, {"id": 4.5}, {"other": True}]) == []
    assert validator.errors({"id": 1}) and validator.errors("[]")


def test_a_scalar_sample_accepts_only_its_kind() -> None:
    validator = compile_validator(infer_schema([3]))
    assert validator.errors(3.5) == [] and validator.errors("3") and validator.errors(None)


def test_several_samples_merge_keys_as_optional_and_union_their_types() -> None:
    schema = infer_schema([{"a": 1, "b": "x"}, {"a": "one", "c": [1]}, {"a": None}])
    validator = compile_validator(schema)
    for payload in ({"a": 2}, {"a": "two", "b": "y"}, {"c": [2, 3]}, {}, {"a": 2.5, "b": None}):
        assert validator.errors(payload) == [], payload
    assert validator.errors({"a": True}) and validator.errors({"b": 1}) and validator.errors({"c": "x"})


def test_samples_of_different_top_level_kinds_accept_both_kinds_only() -> None:
    validator = compile_validator(infer_schema([{"a": 1}, [1]]))
    assert validator.errors({"a": 2}) == [] and validator.errors([2, 3]) == []
    assert validator.errors("x") and validator.errors(None)


def test_inferring_from_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="At least one sample"):
        infer_schema([])


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is a test-only dependency; say so rather than fail to import

    def test_property_tests_need_hypothesis() -> None:
        pytest.skip("hypothesis is not installed")

else:
    SCALARS = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
    )
    JSON_VALUES: Any = st.recursive(
        SCALARS,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=25,
    )

    @settings(max_examples=200, deadline=None)
    @given(sample=JSON_VALUES)
    def test_an_inferred_schema_always_accepts_its_own_sample(sample: Any) -> None:
        assert compile_validator(infer_schema([sample])).errors(sample) == []

    @settings(max_examples=100, deadline=None)
    @given(samples=st.lists(JSON_VALUES, min_size=2, max_size=4))
    def test_a_schema_inferred_from_several_samples_accepts_each_of_them(samples: list[Any]) -> None:
        validator = compile_validator(infer_schema(samples))
        assert all(validator.errors(sample) == [] for sample in samples)
