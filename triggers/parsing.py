"""Turning a webhook body into data, or a ``PayloadError`` that says what was wrong and how to fix it.

``parse_payload(body, content_type)`` returns ``None`` for an empty body, a ``dict`` of strings (lists of
strings for repeated keys) for a form, or whatever JSON value the body holds. The rules:

- **Empty body** — zero bytes, or only spaces, tabs, CR and LF (after an optional BOM) — is ``None``
  whatever the Content-Type says: many senders label an empty POST ``application/json``.
- **JSON** is read for ``application/json`` and any ``*/*+json`` type (``application/vnd.api+json``,
  ``application/cloudevents+json``...). Parameters are allowed; ``charset``, if given, must be
  ``utf-8`` (or ``utf8``), any other charset is 415 ``unsupported_charset``.
- **No Content-Type** with a body: read as JSON, because many senders forget the header. A body that is
  not JSON is 400 ``invalid_json`` with a detail that says the header was missing.
- **Forms**: ``application/x-www-form-urlencoded`` becomes ``{key: value}``; a key given more than once
  becomes ``{key: [value, ...]}`` in order; blank values are kept as ``""``. A ``%`` that does not start
  two hex digits is 400 ``invalid_form``; bytes that are not UTF-8 are 400 ``invalid_encoding``.
- **Anything else** (``text/plain``, ``text/xml``, ``multipart/form-data``...) is 415
  ``unsupported_media_type``.
- **Encoding**: UTF-8 only; bytes that are not UTF-8 are 400 ``invalid_encoding``. A leading UTF-8 byte
  order mark is tolerated and stripped (RFC 8259 section 8.1 lets a parser ignore it, and some Windows
  senders add one).
- **Numbers**: integers keep their exact value whatever their size (up to Python's 4300-digit limit,
  beyond which they are ``invalid_json``). ``NaN``, ``Infinity``, ``-Infinity`` and floats that
  overflow (``1e400``) are 400 ``invalid_json``: they are not JSON and could not be stored or re-sent.
- **Duplicate keys**: the last one wins, as in JavaScript, Python and PostgreSQL ``jsonb``.
- **Limits**, checked by a linear pre-scan of the bytes before anything is parsed (so neither 100,000
  ``[`` nor a million keys can cost more than a pass over the body; ``RecursionError`` is impossible):
  nesting deeper than ``max_depth`` containers is 400 ``too_deep`` (``[]`` is depth 1, a scalar 0);
  more than ``max_keys`` *entries* — object members plus array items, counted together — is 400
  ``too_many_keys``. For forms every ``key=value`` pair is one entry.

JSON is parsed by ``orjson`` (about 3x faster) when it will give what ``json.loads`` gives: it must
succeed, ``max_depth`` must be at most 512, and no number may have 19 digits in a row, because
``orjson`` turns an integer beyond 64 bits into a float where ``json`` keeps it exact. Everything else —
including every error and its message — is ``json.loads``'s. ``tests/unit/test_parsing_fast.py`` checks
the two paths against each other.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl

import orjson

ACCEPTED = "application/json (or any */*+json type) or application/x-www-form-urlencoded"
UTF8_CHARSETS = frozenset({"utf-8", "utf8"})
BOM = b"\xef\xbb\xbf"
FORM = "application/x-www-form-urlencoded"

# A JSON string, also an unterminated one, matched without backtracking (possessive quantifiers), so that
# the pre-scan stays linear on any input.
_STRING = re.compile(rb'"(?:[^"\\]++|\\[\s\S])*+"?')
_EMPTY_CONTAINER = re.compile(rb"[\[{][ \t\r\n]*+[\]}]")
_STRUCTURAL = b"[]{}"
_NOT_BRACKET = bytes(b for b in range(256) if b not in _STRUCTURAL)
_NOT_COUNTED = bytes(b for b in range(256) if b not in b"[{,")
_EMPTY_PAIRS = (b"[]", b"{}", b"[}", b"{]")  # what _EMPTY_CONTAINER matches, white space removed
# Digits become "0", everything else " ": a run of 19 digits is then one substring search away.
_DIGIT_RUNS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_NUMBER = b"0" * 19  # 2**63 has 19 digits: any integer with fewer fits orjson's 64 bits
# orjson parses 1024 levels; json.loads fails sooner, at the interpreter's recursion limit (1000 frames,
# the caller's included). Up to this depth, which the pre-scan has enforced, both parse anything.
_ORJSON_MAX_DEPTH = 512
_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_WHITESPACE = b" \t\r\n"


class PayloadError(Exception):
    """A body that cannot be accepted; ``status`` and ``code`` go into the 4xx answer as they are."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail

    def __repr__(self) -> str:
        return f"PayloadError({self.status}, {self.code!r}, {self.detail!r})"


def is_empty_body(body: bytes) -> bool:
    """No payload: zero bytes, or only white space after an optional BOM."""
    return not body.removeprefix(BOM).strip(_WHITESPACE)


def parse_payload(body: bytes, content_type: str, *, max_depth: int = 64, max_keys: int = 10000) -> Any:
    """Parse ``body`` as its ``content_type`` says (see the module docstring for the rules)."""
    if is_empty_body(body):
        return None
    body = body.removeprefix(BOM)
    media_type, params = split_content_type(content_type)
    if media_type == FORM:
        _check_charset(params)
        return _parse_form(body, max_keys=max_keys)
    if media_type == "application/json" or (media_type.endswith("+json") and "/" in media_type):
        _check_charset(params)
        return _parse_json(body, max_depth=max_depth, max_keys=max_keys, declared=True)
    if not media_type:
        return _parse_json(body, max_depth=max_depth, max_keys=max_keys, declared=False)
    raise PayloadError(
        415,
        "unsupported_media_type",
        f"Content-Type {media_type} is not accepted. Send {ACCEPTED}.",
    )


def split_content_type(content_type: str) -> tuple[str, dict[str, str]]:
    """``"Application/JSON; charset=UTF-8"`` -> ``("application/json", {"charset": "utf-8"})``."""
    media_type, *rest = content_type.split(";")
    params: dict[str, str] = {}
    for param in rest:
        name, _, value = param.partition("=")
        params[name.strip().lower()] = value.strip().strip('"').lower()
    return media_type.strip().lower(), params


def _check_charset(params: dict[str, str]) -> None:
    charset = params.get("charset")
    if charset is not None and charset not in UTF8_CHARSETS:
        raise PayloadError(
            415,
            "unsupported_charset",
            f"The charset {charset} is not accepted; encode the body as UTF-8 and send charset=utf-8 "
            "or no charset.",
        )


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PayloadError(
            400,
            "invalid_encoding",
            f"The body is not valid UTF-8 (at byte {error.start}); encode it as UTF-8.",
        ) from None


def _parse_json(body: bytes, *, max_depth: int, max_keys: int, declared: bool) -> Any:
    text = _decode(body)
    numbers = _check_limits(body, max_depth=max_depth, max_keys=max_keys)
    if max_depth <= _ORJSON_MAX_DEPTH and _LONG_NUMBER not in numbers.translate(_DIGIT_RUNS):
        try:
            return orjson.loads(body)
        except ValueError:  # orjson.JSONDecodeError
            pass  # json.loads says why, in this module's words (or accepts what orjson refuses: "\ud800")
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise PayloadError(400, "invalid_json", _json_detail(error, declared)) from None
    except _NotJson as error:
        raise PayloadError(400, "invalid_json", str(error)) from None
    except ValueError:
        # Python refuses to convert integers of more than 4300 digits (a guard against slow parsing).
        raise PayloadError(
            400, "invalid_json", "A number in the body has too many digits; send it as a string."
        ) from None
    except RecursionError:
        # Unreachable while max_depth stays far below the interpreter's limit; kept as a safety net.
        raise PayloadError(400, "too_deep", "The body is nested too deeply.") from None


def _json_detail(error: json.JSONDecodeError, declared: bool) -> str:
    where = f"line {error.lineno} column {error.colno}"
    if declared:
        return f"The body is not valid JSON: {error.msg} at {where}."
    return (
        f"No Content-Type was sent, so the body was read as JSON, but it is not valid JSON: {error.msg} "
        f"at {where}. Send {ACCEPTED} with a matching Content-Type."
    )


class _NotJson(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJson(f"The body is not valid JSON: {name} is not a JSON number; send null or a string.")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotJson(f"The body is not valid JSON: the number {literal[:40]} is too large for a float.")
    return value


def _check_limits(body: bytes, *, max_depth: int, max_keys: int) -> bytes:
    """Depth and entry count from the bytes alone, strings removed: linear time, no recursion.
    Returns bytes that hold every number of the body: the body without its strings, or all of it."""
    # Strings can only add brackets and commas: if even the whole body is within both limits (the
    # nesting is at most the number of containers), the strings need not be found.
    upper = body.translate(None, _NOT_COUNTED)
    openers = len(upper) - upper.count(b",")
    if openers <= max_depth and len(upper) <= max_keys:
        return body
    skeleton = _skeleton(body)
    containers = skeleton.count(b"[") + skeleton.count(b"{")
    # Nesting cannot be deeper than the number of containers: most bodies need no walk at all.
    depth = deepest = 0
    for bracket in skeleton.translate(None, _NOT_BRACKET) if containers > max_depth else b"":
        depth += 1 if bracket in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > max_depth:
                raise PayloadError(
                    400,
                    "too_deep",
                    f"The body is nested more than {max_depth} levels deep; flatten the payload.",
                )
    # In valid JSON outside strings, entries are the commas plus one per non-empty container.
    entries = skeleton.count(b",") + containers - _empty_containers(skeleton)
    if entries > max_keys:
        raise _too_many_keys(max_keys)
    return skeleton


def _skeleton(body: bytes) -> bytes:
    """``body`` with every string removed, quotes included (``_STRING.sub(b"", body)``, faster)."""
    # Without a backslash before a quote, every quote opens or closes a string, so the strings are the
    # odd pieces between quotes. (A body that ends in a backslash takes the regex too: _STRING keeps
    # that backslash, the split would drop it.)
    if b'\\"' in body or body.endswith(b"\\"):
        return _STRING.sub(b"", body)
    return b"".join(body.split(b'"')[::2])


def _empty_containers(skeleton: bytes) -> int:
    """``len(_EMPTY_CONTAINER.findall(skeleton))``: with white space gone, an empty container is an
    opening bracket right before a closing one, and two such pairs can never overlap."""
    packed = skeleton.translate(None, _WHITESPACE)
    return sum(packed.count(pair) for pair in _EMPTY_PAIRS)


def _too_many_keys(max_keys: int) -> PayloadError:
    return PayloadError(
        400,
        "too_many_keys",
        f"The body has more than {max_keys} keys and array items in total; send a smaller payload.",
    )


def _parse_form(body: bytes, *, max_keys: int) -> dict[str, str | list[str]]:
    if _BAD_PERCENT.search(body):
        raise PayloadError(
            400,
            "invalid_form",
            "The form body has a % that is not followed by two hex digits; percent-encode it as %25.",
        )
    text = _decode(body)
    if text.count("&") + 1 > max_keys:
        raise _too_many_keys(max_keys)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise PayloadError(
            400,
            "invalid_encoding",
            "A percent-encoded value in the form body is not UTF-8; encode the text as UTF-8 first.",
        ) from None
    form: dict[str, str | list[str]] = {}
    for key, value in pairs:
        previous = form.get(key)
        if previous is None:
            form[key] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            form[key] = [previous, value]
    return form
