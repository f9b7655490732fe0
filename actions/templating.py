"""Templates in step configurations: `{{ trigger.body.issue.title }}` and friends.

Rules:
- A template is literal text with `{{ expression }}` parts. Statements (`{% ... %}`, including loops)
  and comments (`{# ... #}`) are refused when the step is saved: a configuration needs no logic, and
  without loops the output can only be as large as the data it reads.
- Names: trigger (body, headers, query), steps (<step name>.response.status/body/...), run (id),
  workflow (name). Anything else is refused at save, as is calling functions or methods and `**`.
- `a.b` reads key "b" of a mapping or item b of a list (`items.0`); it never reads Python attributes.
  A dashed segment is one key: `trigger.headers.x-request-id` is `trigger.headers["x-request-id"]`
  (write `a - b` with spaces to subtract). Header keys match in any case.
- Filters: default, json, lower, upper, urlencode, and no others.
- A missing key, a bad value or a refused operation raises TemplateError naming the expression;
  `default` is how to make a value optional (`{{ trigger.query.page | default(1) }}`).
- Non-string values are written as JSON (`true`, `null`, `{"a":1}`). A rendering is capped at
  MAX_OUTPUT_BYTES.
- Where a value lands decides its escaping: render_url URL-encodes each value (not the literal text;
  an expression ending in `| urlencode` is not encoded twice), render_header refuses line breaks,
  render_json_body keeps a lone expression's JSON type.
Rendering runs in Jinja2's ImmutableSandboxedEnvironment; user text is never evaluated as Python.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import ChainableUndefined, StrictUndefined, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.filters import do_default
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_BYTES = 1024 * 1024
NAMES = ("trigger", "steps", "run", "workflow")


class TemplateError(ValueError):
    def __init__(self, message: str, *, expression: str | None = None):
        super().__init__(message)
        self.expression = expression


class _Missing(ChainableUndefined, StrictUndefined):
    """Chains like ChainableUndefined, so `a.b.c | default(x)` works when a has no b; fails like
    StrictUndefined on any other use, so a typo never renders as an empty string."""

    __slots__ = ()


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    _ensure_defined(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_not_json)


def _not_json(value: Any) -> Any:
    raise TypeError(f"a {type(value).__name__} cannot be written as JSON")


def _ensure_defined(value: Any) -> None:
    if isinstance(value, Undefined):
        str(value)  # raises UndefinedError with the hint of the first missing key
    elif isinstance(value, Mapping):
        for item in value.values():
            _ensure_defined(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _ensure_defined(item)


def _urlencode(value: Any) -> str:
    if isinstance(value, Mapping):
        return urlencode({_text(k): _text(v) for k, v in value.items()})
    return quote(_text(value), safe="")


FILTERS: dict[str, Any] = {
    "default": do_default,
    "json": _text,
    "lower": lambda value: _text(value).lower(),
    "upper": lambda value: _text(value).upper(),
    "urlencode": _urlencode,
}


_SEQUENCES = (str, list, tuple)


class _Environment(ImmutableSandboxedEnvironment):
    # Repetition and %-formatting are the ways a short expression builds a huge string.
    intercepted_binops = frozenset({"*", "%", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self.getitem(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        # Data only: a payload key named "items" or "keys" is the key, never a dict method.
        if isinstance(obj, Undefined):
            return obj
        index = int(argument) if isinstance(argument, str) and argument.isdigit() else argument
        try:
            if isinstance(obj, Mapping):
                return obj[argument]
            if isinstance(obj, _SEQUENCES) and isinstance(index, int | slice) and not isinstance(index, bool):
                return obj[index]
        except (KeyError, IndexError, TypeError, ValueError):
            pass
        return self.undefined(hint=f"no key {argument!r}", obj=obj, name=str(argument))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        raise SecurityError("calling functions or methods is not allowed; use filters")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("** is not allowed")
        if operator == "*" and (isinstance(left, _SEQUENCES) or isinstance(right, _SEQUENCES)):
            raise SecurityError("repeating text or lists with * is not allowed")
        if operator == "%" and isinstance(left, str):
            raise SecurityError("% formatting is not allowed; join text with ~")
        return super().call_binop(context, operator, left, right)


_ENV = _Environment(undefined=_Missing, autoescape=False)
_ENV.filters = dict(FILTERS)
_ENV.globals.clear()  # no range, cycler, joiner, lipsum, namespace, dict


@dataclass(frozen=True)
class _Expression:
    source: str  # as the user wrote it, for error messages
    run: Any  # the compiled expression: a callable taking the context's names
    url_encoded: bool  # ends with `| urlencode`: render_url must not encode it again

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        try:
            value = self.run(**context)
            _ensure_defined(value)
            return value
        except Exception as exc:  # untrusted text on untrusted data: every failure is the user's to fix
            raise TemplateError(f"{{{{ {self.source} }}}}: {_plain(exc)}", expression=self.source) from None


def _plain(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


_Part = str | _Expression
_NO_STATEMENTS = "statements ({% ... %}) are not allowed; use {{ expression }} with filters"
_REFUSED_TOKENS = {
    "block_begin": _NO_STATEMENTS,
    "raw_begin": _NO_STATEMENTS,
    "linestatement_begin": _NO_STATEMENTS,
    "comment_begin": "comments ({# ... #}) are not allowed",
}


@lru_cache(maxsize=4096)
def _compile(template: str) -> tuple[_Part, ...]:
    parts: list[_Part] = []
    expression: list[tuple[str, str]] | None = None
    try:
        tokens = list(_ENV.lexer.tokeniter(template, None))
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message}") from None
    for _, kind, value in tokens:
        if kind == "variable_begin":
            expression = []
        elif kind == "variable_end" and expression is not None:
            parts.append(_expression(expression))
            expression = None
        elif expression is not None:
            expression.append((kind, value))
        elif kind in _REFUSED_TOKENS:
            raise TemplateError(_REFUSED_TOKENS[kind])
        elif kind == "data":
            parts.append(value)
    if expression is not None:
        raise TemplateError("an expression is not closed: add }}")
    return tuple(parts)


def _expression(tokens: list[tuple[str, str]]) -> _Expression:
    source = "".join(value for _, value in tokens).strip()
    code = _join_dashed_keys(tokens)
    try:
        parser = Parser(_ENV, code, state="variable")
        node = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("unexpected text after the expression", 1)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{{{{ {source} }}}}: {exc.message}", expression=source) from None
    problem = _refused(node)
    if problem:
        raise TemplateError(f"{{{{ {source} }}}}: {problem}", expression=source)
    url_encoded = isinstance(node, nodes.Filter) and node.name == "urlencode"
    run = _ENV.compile_expression(code, undefined_to_none=False)
    return _Expression(source=source, run=run, url_encoded=url_encoded)


def _join_dashed_keys(tokens: list[tuple[str, str]]) -> str:
    """`.x-request-id` (no spaces) becomes `["x-request-id"]`; everything else is kept as written."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        end = _dashed_key_end(tokens, i)
        if end > i + 2:  # a dot and more than one part
            out.append(f"[{json.dumps(''.join(value for _, value in tokens[i + 1 : end]))}]")
            i = end
        else:
            out.append(tokens[i][1])
            i += 1
    return "".join(out)


def _dashed_key_end(tokens: list[tuple[str, str]], i: int) -> int:
    """Where a `.a-b-c` key starting at tokens[i] ends (exclusive): parts joined by dashes, no spaces."""
    if tokens[i] != ("operator", "."):
        return i
    end = i + 1
    while end < len(tokens) and tokens[end][0] in ("name", "integer"):
        end += 1
        if (
            end + 1 < len(tokens)
            and tokens[end] == ("operator", "-")
            and tokens[end + 1][0] in ("name", "integer")
        ):
            end += 1
        else:
            break
    return end


def _refused(node: nodes.Node) -> str | None:
    for sub in [node, *node.find_all(nodes.Node)]:
        if isinstance(sub, nodes.Call):
            return "calling functions or methods is not allowed; use filters"
        if isinstance(sub, nodes.Pow):
            return "** is not allowed"
        if isinstance(sub, nodes.Name) and sub.name not in NAMES:
            return f"unknown name {sub.name!r}; templates can read {', '.join(NAMES)}"
        if isinstance(sub, nodes.Getattr) and sub.attr.startswith("__"):
            return f"{sub.attr!r}: names starting with __ are not allowed"
        if isinstance(sub, nodes.Filter) and sub.name not in FILTERS:
            return f"unknown filter {sub.name!r}; filters are {', '.join(FILTERS)}"
    return None


# --- Public API -----------------------------------------------------------------------------------


class Headers(dict[str, Any]):
    """Request headers whose keys match in any case, as HTTP header names do."""

    def __missing__(self, key: str) -> Any:
        lowered = key.lower() if isinstance(key, str) else key
        if lowered != key and lowered in self:
            return self[lowered]
        raise KeyError(key)


def build_context(
    *, trigger: Mapping[str, Any], steps: Mapping[str, Any], run_id: int, workflow_name: str
) -> dict[str, Any]:
    """The names a template can read. `steps` maps a step name to what it exposes (response...)."""
    trigger = dict(trigger)
    if isinstance(trigger.get("headers"), Mapping):
        trigger["headers"] = Headers({str(k).lower(): v for k, v in trigger["headers"].items()})
    return {"trigger": trigger, "steps": steps, "run": {"id": run_id}, "workflow": {"name": workflow_name}}


def validate_template(text: str) -> None:
    """Raise TemplateError if text would be refused when rendered for syntax or safety reasons."""
    _compile(text)


def template_errors(value: Any, *, path: str) -> dict[str, str]:
    """Every template problem in a configuration value, keyed by field path (for save-time errors)."""
    if isinstance(value, str):
        try:
            _compile(value)
        except TemplateError as exc:
            return {path: str(exc)}
        return {}
    errors: dict[str, str] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            errors.update(template_errors(key, path=f"{path}.{key}") if isinstance(key, str) else {})
            errors.update(template_errors(item, path=f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.update(template_errors(item, path=f"{path}.{index}"))
    return errors


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_OUTPUT_BYTES

    def spend(self, text: str) -> str:
        self.left -= len(text.encode("utf-8", errors="surrogatepass"))
        if self.left < 0:
            raise TemplateError(f"the rendered value is larger than {MAX_OUTPUT_BYTES} bytes")
        return text


def _render(template: str, context: Mapping[str, Any], budget: _Budget, *, for_url: bool = False) -> str:
    out: list[str] = []
    for part in _compile(template):
        if isinstance(part, str):
            out.append(budget.spend(part))
            continue
        text = _text(part.evaluate(context))
        out.append(budget.spend(quote(text, safe="") if for_url and not part.url_encoded else text))
    return "".join(out)


def render_text(template: str, context: Mapping[str, Any]) -> str:
    return _render(template, context, _Budget())


def render_url(template: str, context: Mapping[str, Any]) -> str:
    """Substituted values are URL-encoded (a value cannot add a path segment or a query parameter)."""
    return _render(template, context, _Budget(), for_url=True)


def render_header(template: str, context: Mapping[str, Any]) -> str:
    value = render_text(template, context)
    if "\r" in value or "\n" in value or "\0" in value:
        raise TemplateError(f"{template!r}: the value contains a line break; newline injection refused")
    return value


def render_json_body(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string in a JSON value; a string that is one lone expression keeps its type."""
    return _render_json(value, context, _Budget())


def _render_json(value: Any, context: Mapping[str, Any], budget: _Budget) -> Any:
    if isinstance(value, Mapping):
        return {_render(str(k), context, budget): _render_json(v, context, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_json(item, context, budget) for item in value]
    if not isinstance(value, str):
        return value
    parts = _compile(value)
    if len(parts) == 1 and isinstance(parts[0], _Expression):
        native = parts[0].evaluate(context)
        budget.spend(_text(native))
        return native
    return _render(value, context, budget)
