"""Trigger filters: which requests to a webhook start a run.

**The language.** A filter is a JSON tree. Groups are ``{"all": [...]}`` (every entry passes; an empty
``all`` passes), ``{"any": [...]}`` (at least one entry passes; an empty ``any`` fails, as Python's
``any([])`` does: none of its entries passed) and ``{"not": <node>}``; groups nest. A condition is
``{"field": "issue.labels[*].name", "op": "contains", "value": "bug"}``, with an optional
``"case_sensitive": false`` (default true) that compares text after Unicode case folding; operators
that do not compare text ignore it. The root may be a group or a single condition. An empty filter —
``null``, ``{}`` or ``{"all": []}`` — passes everything. Saving keeps the tree exactly as written, so
the API returns what was sent. Limits: 10 levels (root and condition included), 200 conditions, 100
groups; a value holds at most 1,000 items nested 10 deep, text at most 10,000 characters and no NUL or
lone surrogate (PostgreSQL ``jsonb`` cannot store them). ``filter_validate`` reports every problem with
the JSON pointer of its place in the filter (``/any/0/all/1/op``).

**Fields.** A dotted path into the payload: ``issue.title``; ``[0]`` is an element of an array (``[-1]``
the last one), ``[*]`` any element, and a key with dots, spaces, quotes or ``*`` is written in brackets
as a JSON string: ``issue.reactions["+1"]``, ``["a.b"].c``. ``body.<path>`` names the payload
explicitly (needed for a payload key called ``body``, ``headers`` or ``query``). ``headers.<name>`` is a
request header, its name case-insensitive; ``query.<name>`` a query parameter, which may be followed by
``[n]`` or ``[*]`` (a parameter given several times is a list). A path that leads nowhere is *missing*,
never an error. ``[*]`` reads the elements of an array; a value that is not an array (nor null) is read
as an array of one, because a form field or query parameter given once is a string and given twice a
list, and one filter should match both.

**Missing fields and [*].** A condition finds zero values (missing), one, or — through ``[*]`` — any
number. It passes if its operator passes for ANY value found. Over no value at all, ``is_empty`` passes
and the other positive operators fail. The negative operators (``not_equals``, ``not_contains``,
``not_in``, ``not_exists``, ``is_not_empty``) are exactly the negation of their positive twin over the
same path: ``labels[*].name not_equals "bug"`` passes when NO label is "bug" (also when there are no
labels, or no ``labels``), which is what "no label is bug" means; ``status not_equals "closed"``
passes when ``status`` is missing.

**Operators** (``triggers.filter_ops.OPERATORS``, which the UI's choices come from):
``equals``/``not_equals`` (any JSON value; arrays and objects compare element by element);
``contains``/``not_contains`` (a substring of a string, or an element of an array, by ``equals``; an
object contains nothing); ``starts_with``/``ends_with`` (strings only); ``gt``/``gte``/``lt``/``lte``
(a number, or an ISO-8601 date or date-time); ``in``/``not_in`` (the value is a list: equals one of
them); ``exists``/``not_exists`` (no value; a field present with ``null`` exists);
``is_empty``/``is_not_empty`` (no value; ``""``, ``[]``, ``{}``, ``null`` and missing are empty, ``0``
and ``false`` are not); ``is_true``/``is_false`` (no value; ``true``/``false`` or the strings
``"true"``/``"false"``; anything else, such as ``1``, is neither); ``matches`` (a regular expression
in ECMA-262/JSON Schema syntax, searched anywhere in a string unless anchored with ``^``/``$``, run on
RE2 in linear time; a pattern RE2 cannot run — backreferences, lookaround — is refused at save).

**Comparison rules.**
- Numbers compare by value: ``5`` equals ``5.0``, and integers compare exactly whatever their size
  (``2**80`` and ``2**80 + 1`` differ; no float conversion). A string spelled as a JSON number
  (``"5"``, ``"-2.5e3"``, but not ``" 5"``, ``"05"`` or ``"+5"``) is that number, read as JSON reads
  it (integers exactly, others as floats, so ``"0.1"`` equals ``0.1``): form bodies, headers and query
  parameters are always text, and ``amount gt 100`` must work on ``amount=250``. Two strings always
  compare as text (``"5.0"`` does not equal ``"5"``).
- Booleans equal only booleans and the strings ``"true"``/``"false"`` (same reason); ``true`` never
  equals ``1``. ``null`` equals only ``null`` (a missing field is not null).
- Text compares code point by code point, without normalization (``"é"`` composed and decomposed
  differ) and without case folding unless ``"case_sensitive": false``.
- Ordering (``gt``...) compares numbers with numbers (numeric strings are numbers on both sides:
  ``"10"`` is greater than ``"9"``), or dates with dates when both sides parse as ISO-8601
  (``2024-06-01``, ``2024-06-01T12:00:00Z``, with an offset or a space). A date is midnight UTC and a
  date-time without an offset is UTC. Anything else — text, booleans, a date against a number — is
  neither greater nor smaller, so ``gt`` and ``lt`` both fail. ``equals`` on dates compares the text;
  use ``gte`` and ``lte`` for instants.

**Evaluation** never raises, whatever the payload holds. ``compile_filter`` validates and prepares a
filter once (per published version, cached by the caller); ``CompiledFilter.evaluate`` stops at the
first condition that decides the result, or with ``explain=True`` evaluates and reports every condition
for the dry-run button. Each condition evaluated is reported as ``{"path", "field", "op", "value",
"actual", "found", "passed"}`` (``actual`` is the value found, or the list of values through ``[*]``).
``failed_condition`` tells why a request was filtered out: the first failing condition's report with a
``message``, or ``{"path", "message"}`` for an ``any`` none of whose entries passed or a ``not`` whose
entry passed. Reported values are display copies: long text, arrays, objects and big integers are cut,
and NUL and lone surrogates (which PostgreSQL ``jsonb`` cannot hold) become U+FFFD.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from triggers.filter_ops import OPERATORS, Check, condition_value_problem, positive
from triggers.filter_paths import FieldPath, PathError, Request, parse_field, preview_paths, shown
from triggers.filter_paths import pointer_to as _child

__all__ = ["CompiledFilter", "FilterError", "FilterResult", "compile_filter", "filter_validate"]
__all__ += ["preview_paths"]  # re-exported: the caller turns a preview tree into known_paths with it

MAX_DEPTH = 10  # nodes on the way from the root to a condition, both included
MAX_CONDITIONS = 200
MAX_GROUPS = 100
MAX_ERRORS = 50
CONDITION_KEYS = ("field", "op", "value", "case_sensitive")
UNKNOWN_FIELD = "field not in the payload preview; saved anyway"
_NODE = (
    'Expected a condition {"field", "op", "value"} or a group {"all": [...]}, {"any": [...]} or {"not": ...}.'
)


class FilterError(ValueError):
    """A filter that cannot be saved; ``errors`` are ``{"path": <JSON pointer>, "message"}``."""

    def __init__(self, errors: list[dict[str, str]]):
        super().__init__("; ".join(f"{error['path'] or '/'}: {error['message']}" for error in errors))
        self.errors = errors


def filter_validate(tree: Any, *, known_paths: set[str] | None = None) -> tuple[Any, list[dict[str, str]]]:
    """Check a filter before it is saved; returns ``(tree, warnings)`` or raises ``FilterError``.

    The returned tree is a copy equal to ``tree``: nothing is rewritten, so the API returns what was
    sent. ``known_paths`` (see ``preview_paths``) turns a body field the preview does not know into a
    warning; ``None`` or an empty set (no preview) warns about nothing.
    """
    checker = _Checker(known_paths or set())
    if tree is not None and tree != {}:
        checker.node(tree, "", depth=1)
    if checker.errors:
        raise FilterError(checker.errors[:MAX_ERRORS])
    return copy.deepcopy(tree), checker.warnings


@dataclass
class _Checker:
    known_paths: set[str]
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    conditions: int = 0
    groups: int = 0

    def error(self, path: str, message: str) -> None:
        self.errors.append({"path": path, "message": message})

    def node(self, node: Any, pointer: str, *, depth: int) -> None:
        if len(self.errors) >= MAX_ERRORS or self.conditions > MAX_CONDITIONS or self.groups > MAX_GROUPS:
            return  # enough said: the rest of an oversized filter is not worth reading
        if not isinstance(node, dict) or not node:
            self.error(pointer, _NODE)
        elif depth > MAX_DEPTH:
            self.error(pointer, f"A filter is nested at most {MAX_DEPTH} levels deep.")
        elif kinds := [key for key in _GROUP_RUNS if key in node]:
            self.group(node, kinds[0], pointer, depth=depth)
        else:
            self.condition(node, pointer)

    def group(self, node: dict[str, Any], kind: str, pointer: str, *, depth: int) -> None:
        for key in [key for key in node if key != kind]:
            message = "wrap several groups in an all" if key in _GROUP_RUNS else f"{key!r} is unknown"
            self.error(_child(pointer, key), f"A group has one key, {kind!r}: {message}.")
        self.groups += 1
        if self.groups > MAX_GROUPS:
            self.error(pointer, f"A filter has at most {MAX_GROUPS} groups.")
        if kind == "not":
            self.node(node["not"], _child(pointer, "not"), depth=depth + 1)
        elif not isinstance(node[kind], list):
            self.error(_child(pointer, kind), "Expected a list of conditions and groups.")
        else:
            for index, child in enumerate(node[kind]):
                self.node(child, _child(pointer, kind, index), depth=depth + 1)

    def condition(self, node: dict[str, Any], pointer: str) -> None:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            self.error(pointer, f"A filter has at most {MAX_CONDITIONS} conditions.")
        for key in [key for key in node if key not in CONDITION_KEYS]:
            self.error(
                _child(pointer, key), f"Unknown key {key!r}: a condition has {', '.join(CONDITION_KEYS)}."
            )
        self.field(node.get("field"), _child(pointer, "field"))
        name = node.get("op")
        if not isinstance(name, str) or name not in OPERATORS:
            self.error(
                _child(pointer, "op"), f"Unknown operator {name!r}; use one of: {', '.join(OPERATORS)}."
            )
        elif problem := condition_value_problem(name, node):
            self.error(_child(pointer, "value"), problem)
        if not isinstance(node.get("case_sensitive", True), bool):
            self.error(_child(pointer, "case_sensitive"), "Expected true or false.")

    def field(self, text: Any, pointer: str) -> None:
        try:
            path = parse_field(text)
        except PathError as error:
            self.error(pointer, str(error))
            return
        unknown = path.source == "body" and path.steps and path.preview_spelling() not in self.known_paths
        if self.known_paths and unknown:
            self.warnings.append({"path": pointer, "message": UNKNOWN_FIELD})


# ---- Compiling and evaluating ------------------------------------------------------------------------


@dataclass
class FilterResult:
    passed: bool
    conditions: list[dict[str, Any]]  # every condition evaluated, in order (all of them with explain)
    failed_condition: dict[str, Any] | None  # why the request was filtered out; None if it passed


@dataclass
class _Run:
    explain: bool
    conditions: list[dict[str, Any]] = field(default_factory=list)


Outcome = tuple[bool, dict[str, Any] | None]  # (passed, why not)


@dataclass(frozen=True)
class _Condition:
    pointer: str
    node: dict[str, Any]
    path: FieldPath
    check: Check  # the positive operator's test of one found value
    on_missing: bool
    negated: bool
    shown_value: Any  # the report's copy of the value, made once: reports only read it

    def run(self, request: Request, run: _Run) -> Outcome:
        found = self.path.read(request)
        passed = (any(self.check(value) for value in found) if found else self.on_missing) != self.negated
        record = {
            "path": self.pointer,
            "field": self.node["field"],
            "op": self.node["op"],
            "value": self.shown_value,
            "actual": (shown(found if self.path.many else found[0]) if found else None),
            "found": bool(found),
            "passed": passed,
        }
        run.conditions.append(record)
        return passed, None if passed else {**record, "message": _failure_message(record)}


@dataclass(frozen=True)
class _Group:
    pointer: str
    kind: str  # "all", "any" or "not" (which has one child)
    children: list[_Group | _Condition]

    def run(self, request: Request, run: _Run) -> Outcome:
        return _GROUP_RUNS[self.kind](self, request, run)


def _run_all(group: _Group, request: Request, run: _Run) -> Outcome:
    failure = None
    for child in group.children:
        passed, why = child.run(request, run)
        if not passed and failure is None:
            failure = why
            if not run.explain:
                break
    return failure is None, failure


def _run_any(group: _Group, request: Request, run: _Run) -> Outcome:
    passed = False
    for child in group.children:
        passed = child.run(request, run)[0] or passed
        if passed and not run.explain:
            break
    where, count = f"{group.pointer}/any", len(group.children)
    message = f"none of the {count} conditions in {where} passed" if count else f"{where} is empty"
    return passed, None if passed else {"path": where, "message": message}


def _run_not(group: _Group, request: Request, run: _Run) -> Outcome:
    inner = group.children[0]
    passed = not inner.run(request, run)[0]
    message = f"{inner.pointer} passed, and {group.pointer}/not inverts it"
    return passed, None if passed else {"path": f"{group.pointer}/not", "message": message}


_GROUP_RUNS = {"all": _run_all, "any": _run_any, "not": _run_not}


class CompiledFilter:
    """A filter ready to run on requests; build it with ``compile_filter``."""

    def __init__(self, root: _Group | _Condition):
        self._root = root

    def evaluate(
        self,
        body: Any,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str | list[str]] | None = None,
        *,
        explain: bool = False,
    ) -> FilterResult:
        """Whether the request passes; with ``explain`` every condition is evaluated and reported."""
        run = _Run(explain)
        passed, failure = self._root.run(Request(body, headers, query), run)
        return FilterResult(passed, run.conditions, failure)


def compile_filter(tree: Any) -> CompiledFilter:
    """Validate (``FilterError`` if invalid) and prepare a filter: paths parsed, regexes compiled."""
    tree, _warnings = filter_validate(tree)  # a copy: later changes to the caller's tree change nothing
    return CompiledFilter(_compile(tree or {"all": []}, ""))


def _compile(node: dict[str, Any], pointer: str) -> _Group | _Condition:
    if "not" in node:
        return _Group(pointer, "not", [_compile(node["not"], _child(pointer, "not"))])
    for kind in ("all", "any"):
        if kind in node:
            entries = enumerate(node[kind])
            return _Group(pointer, kind, [_compile(entry, _child(pointer, kind, i)) for i, entry in entries])
    tester = positive(node["op"])
    assert tester.build is not None  # every positive operator has one
    return _Condition(
        pointer=pointer,
        node=node,
        path=parse_field(node["field"]),
        check=tester.build(node.get("value"), node.get("case_sensitive", True)),
        on_missing=tester.on_missing,
        negated=OPERATORS[node["op"]].negates is not None,
        shown_value=shown(node.get("value")),
    )


def _failure_message(record: dict[str, Any]) -> str:
    op = OPERATORS[record["op"]]
    value = f" {json.dumps(record['value'], ensure_ascii=False)}" if op.takes != "none" else ""
    found = json.dumps(record["actual"], ensure_ascii=False) if record["found"] else "nothing (missing)"
    return f"{record['field']} {op.label}{value} did not pass: found {found}"
