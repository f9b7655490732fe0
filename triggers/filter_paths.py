"""Field paths of the filter language (the language is described in ``triggers.filters``).

``parse_field("issue.labels[*].name")`` gives a ``FieldPath`` that reads the values at that path from a
request and never raises: a path that leads nowhere finds nothing. ``FieldPath.preview_spelling()``
spells a body path the way the payload preview does (``triggers.preview``), so that a filter's fields
can be checked against the fields the preview knows.

Also here, because they are about what text can be stored: ``value_problem``/``text_problem`` (the size
limits of a filter's values, and no NUL or lone surrogate, which ``jsonb`` refuses) and ``shown`` (the
small, storable display copy of a found value that results report).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any

MAX_FIELD_LENGTH = 1000
MAX_STEPS = 64
SOURCES = ("body", "headers", "query")

# A bare key runs up to the next dot or bracket. Quotes, spaces, control characters and "*" need the
# bracket form, so that "a.*" cannot be mistaken for a wildcard and what is typed is what is read.
_BARE = re.compile(r"[^.\[\]\"'*\s\x00-\x1f\x7f\ud800-\udfff]+")
_BRACKET = re.compile(r"\[(?:(\*)|(-?\d{1,9})|(\"(?:[^\"\\]|\\.)*\"))\]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # the keys triggers.preview writes without quotes


class Each(Enum):
    """The ``[*]`` step: every element of an array."""

    ANY = "[*]"


EACH = Each.ANY
Step = str | int | Each  # a key, an index (negative counts from the end) or [*]


class PathError(ValueError):
    """A field that cannot be read as a path; the message says how to write it."""


class Request:
    """What a filter reads: the parsed body, the headers and the query parameters of one request."""

    def __init__(
        self, body: Any, headers: Mapping[str, str] | None, query: Mapping[str, str | list[str]] | None
    ):
        self.body = body
        self.query = query or {}
        self._headers = headers or {}
        self._lowered: dict[str, Any] | None = None

    def header(self, lowered_name: str) -> Any:
        if self._lowered is None:  # built once per request, and only if a condition reads a header
            self._lowered = {str(name).lower(): value for name, value in self._headers.items()}
        return self._lowered.get(lowered_name)


@dataclass(frozen=True)
class FieldPath:
    source: str  # "body", "headers" or "query"
    steps: tuple[Step, ...]  # for headers and query, the first step is the name

    @cached_property
    def many(self) -> bool:
        """Whether the path has a ``[*]``, so that it finds a list of values rather than one."""
        return any(step is EACH for step in self.steps)

    def read(self, request: Request) -> list[Any]:
        """The values found at this path; an empty list means the field is missing."""
        if self.source == "body":
            return _walk([request.body], self.steps)
        name, rest = self.steps[0], self.steps[1:]
        found = request.header(str(name)) if self.source == "headers" else request.query.get(str(name))
        return [] if found is None else _walk([found], rest)

    def preview_spelling(self) -> str:
        """This body path as the preview writes it: indexes become ``[*]``, odd keys are quoted."""
        spelled = ""
        for step in self.steps:
            if not isinstance(step, str):
                spelled += "[*]"
            elif _IDENTIFIER.fullmatch(step):
                spelled = f"{spelled}.{step}" if spelled else step
            else:
                spelled += f"[{json.dumps(step, ensure_ascii=False)}]"
        return spelled


def parse_field(text: Any) -> FieldPath:
    """Read a field such as ``issue.labels[*].name``, ``headers.X-Event`` or ``query.tag[0]``."""
    if not isinstance(text, str) or not text:
        raise PathError("A field is a path such as issue.title, headers.X-Event or query.page.")
    if len(text) > MAX_FIELD_LENGTH:
        raise PathError(f"A field is at most {MAX_FIELD_LENGTH} characters long.")
    problem = text_problem(text)
    if problem:
        raise PathError(problem)
    steps = _steps(text)
    if len(steps) > MAX_STEPS:
        raise PathError(f"A field has at most {MAX_STEPS} steps.")
    if steps[0] not in SOURCES:
        return FieldPath("body", steps)
    return _SOURCE_CHECKS[str(steps[0])](steps[1:])


def preview_paths(preview_tree_nodes: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every ``path`` in a preview tree (``triggers.preview.preview_tree``), at any depth."""
    paths: set[str] = set()
    stack = list(preview_tree_nodes)
    while stack:
        node = stack.pop()
        paths.add(node["path"])
        stack += node.get("children") or []
    return paths


def pointer_to(pointer: str, *keys: str | int) -> str:
    """A JSON pointer (RFC 6901) to ``keys`` under ``pointer``; "~" and "/" in keys are escaped."""
    return pointer + "".join("/" + str(key).replace("~", "~0").replace("/", "~1") for key in keys)


def _body(rest: tuple[Step, ...]) -> FieldPath:
    return FieldPath("body", rest)


def _headers(rest: tuple[Step, ...]) -> FieldPath:
    if len(rest) != 1 or not isinstance(rest[0], str):
        raise PathError('Name one header: headers.X-Event, or headers["X.Event"] if the name has a dot.')
    return FieldPath("headers", (rest[0].lower(),))  # header names are case-insensitive (RFC 9110)


def _query(rest: tuple[Step, ...]) -> FieldPath:
    if not rest or not isinstance(rest[0], str):
        raise PathError('Name one query parameter: query.page, or query["a.b"] if the name has a dot.')
    if any(isinstance(step, str) for step in rest[1:]):
        raise PathError("A query parameter is text: only [n] or [*] may follow its name.")
    return FieldPath("query", rest)


_SOURCE_CHECKS = {"body": _body, "headers": _headers, "query": _query}


def _steps(text: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    at = 0
    while at < len(text):
        if text[at] == "[":
            bracket = _BRACKET.match(text, at)
            if bracket is None:
                raise PathError(f'Unreadable bracket at character {at + 1}: write [0], [*] or ["key"].')
            steps.append(_bracket_step(bracket))
            at = bracket.end()
            continue
        if steps:
            if text[at] != ".":
                raise PathError(f"Expected a dot or a bracket at character {at + 1}.")
            at += 1
        key = _BARE.match(text, at)
        if key is None:
            raise PathError(
                f"Expected a key at character {at + 1}; keys with dots, spaces, quotes or * are "
                'written in brackets: ["a.b"].'
            )
        steps.append(key.group())
        at = key.end()
    return tuple(steps)


def _bracket_step(bracket: re.Match[str]) -> Step:
    wildcard, index, quoted = bracket.groups()
    if wildcard:
        return EACH
    if index is not None:
        return int(index)
    try:
        key: str = json.loads(quoted)
    except ValueError:
        raise PathError(f"The key {quoted} is not a valid JSON string.") from None
    return key


def _walk(values: list[Any], steps: tuple[Step, ...]) -> list[Any]:
    # Breadth-first and without recursion, so no payload depth can exhaust the stack; each value of the
    # payload is visited at most once per step, so a path costs at most one pass over the payload.
    for step in steps:
        if not values:
            break
        if len(values) == 1 and isinstance(step, str):  # the usual step: a key of one object
            value = values[0]
            values = [value[step]] if isinstance(value, dict) and step in value else []
        else:
            values = [found for value in values for found in _step(value, step)]
    return values


def _step(value: Any, step: Step) -> list[Any]:
    if isinstance(step, str):
        return [value[step]] if isinstance(value, dict) and step in value else []
    if step is EACH:
        if isinstance(value, list):
            return value
        # A form field or query parameter given once is a string and given twice a list: reading a
        # single value as a list of one lets one filter match both shapes.
        return [] if value is None else [value]
    if isinstance(value, list) and -len(value) <= step < len(value):
        return [value[step]]
    return []


MAX_VALUE_DEPTH = 10
MAX_VALUE_ITEMS = 1000
MAX_TEXT = 10_000
MAX_SHOWN_TEXT = 200
MAX_SHOWN_ITEMS = 20
MAX_SHOWN_DEPTH = 4
MAX_SHOWN_DIGITS = 40
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def value_problem(value: Any) -> str | None:
    """What makes a filter's value too big to store and compare cheaply, or unstorable, or ``None``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    items = 0
    while stack:  # without recursion: the value may be any JSON the API was sent
        item, depth = stack.pop()
        if isinstance(item, str) and (problem := text_problem(item)):
            return problem
        if not isinstance(item, dict | list):
            continue
        items += len(item)
        if depth > MAX_VALUE_DEPTH or items > MAX_VALUE_ITEMS:
            return f"A value holds at most {MAX_VALUE_ITEMS} items, nested at most {MAX_VALUE_DEPTH} deep."
        if isinstance(item, dict):
            stack += [(key, depth) for key in item]
        stack += [(part, depth + 1) for part in (item.values() if isinstance(item, dict) else item)]
    return None


def text_problem(text: str) -> str | None:
    if len(text) > MAX_TEXT:
        return f"Text in a filter is at most {MAX_TEXT} characters long."
    if _UNSTORABLE.search(text):  # PostgreSQL jsonb cannot store them, and no filter needs them
        return "Text in a filter cannot hold NUL characters or unpaired surrogates."
    return None


def shown(value: Any, depth: int = 0) -> Any:
    """A display copy of a found value for reports: small, JSON-encodable and storable in ``jsonb``."""
    if isinstance(value, str):
        cut = value[:MAX_SHOWN_TEXT] + ("…" if len(value) > MAX_SHOWN_TEXT else "")
        return _UNSTORABLE.sub("\ufffd", cut)
    if isinstance(value, bool | float) or value is None:
        return value
    if isinstance(value, int):
        return _shown_int(value)
    if isinstance(value, list):
        if depth >= MAX_SHOWN_DEPTH:
            return f"[{len(value)} items]"
        items = [shown(item, depth + 1) for item in value[:MAX_SHOWN_ITEMS]]
        return items + ([f"… {len(value) - MAX_SHOWN_ITEMS} more"] if len(value) > MAX_SHOWN_ITEMS else [])
    if isinstance(value, dict):
        if depth >= MAX_SHOWN_DEPTH:
            return f"{{{len(value)} keys}}"
        pairs = list(value.items())[:MAX_SHOWN_ITEMS]
        shown_pairs = {shown(str(key), depth): shown(item, depth + 1) for key, item in pairs}
        more = len(value) - MAX_SHOWN_ITEMS
        return shown_pairs | ({"…": f"{more} more keys"} if more > 0 else {})
    return shown(repr(value))


def _shown_int(value: int) -> int | str:
    try:
        digits = str(abs(value))
    except ValueError:  # beyond Python's int-to-text limit (4,300 digits)
        return f"<integer of {value.bit_length()} bits>"
    if len(digits) <= MAX_SHOWN_DIGITS:
        return value
    return f"{'-' if value < 0 else ''}{digits[:20]}…({len(digits)} digits)"
