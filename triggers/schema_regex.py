"""Regular expressions for JSON Schema, evaluated in linear time with RE2 so that no pattern can stall a
worker (Python's ``re``, which ``jsonschema`` uses, takes seconds on ``^(a+)+$`` against 25 characters).

JSON Schema patterns are ECMA-262 regular expressions, always searched (not anchored). ``translate``
rewrites the ECMA-262 syntax that RE2 reads differently, so that matching follows ECMA-262 (with the
``u`` flag: code points, not UTF-16 units):

- ``.`` is any character except the line terminators ``\\n \\r \\u2028 \\u2029``; ``\\s`` and ``\\S`` are
  ECMA-262's white space and line terminators (Unicode spaces, NBSP, BOM); ``\\d \\w \\b`` stay ASCII,
  as in both ECMA-262 and RE2; ``$`` and ``^`` match only at the ends of the text, as in ECMA-262 (unlike
  Python, whose ``$`` also matches before a final newline).
- ``\\uXXXX`` (also surrogate pairs), ``\\u{X...}``, ``\\cX`` and ``\\0`` become RE2 escapes; ``[\\b]``
  is backspace; ``[]`` matches nothing and ``[^]`` anything; ``[`` inside a class is a literal;
  ``(?<name>`` is a named group; an escaped letter that ECMA-262 does not define is that letter.
- ``\\p{...}`` keeps RE2's general categories and scripts; ``\\p{Script=Greek}`` and
  ``\\p{General_Category=Letter}``-style names are shortened to what RE2 knows.

Text with lone surrogates (possible in JSON: ``"\\ud800"``) is matched with each one read as U+FFFD.

What RE2 cannot do is refused when a schema is saved (``pattern_problem``): backreferences, lookahead and
lookbehind, repetition counts above 1000, and patterns too large for RE2's memory budget.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

# ECMA-262 WhiteSpace and LineTerminator code points (what \s means there), as RE2 class items.
_SPACE_ITEMS = (
    r"\t\n\x{0B}\f\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}"
)
# Everything else, as ranges, so that \S also works inside a class (RE2 cannot negate inside one).
_NON_SPACE_ITEMS = (
    r"\x00-\x08\x0E-\x1F\x21-\x9F\x{A1}-\x{167F}\x{1681}-\x{1FFF}\x{200B}-\x{2027}\x{202A}-\x{202E}"
    r"\x{2030}-\x{205E}\x{2060}-\x{2FFF}\x{3001}-\x{FEFE}\x{FF00}-\x{10FFFF}"
)
_DOT = r"[^\n\r\x{2028}\x{2029}]"
_NOTHING = r"[^\x00-\x{10FFFF}]"
_ANYTHING = r"[\x00-\x{10FFFF}]"
# Escapes whose meaning RE2 shares with ECMA-262 (outside a class; inside, \b is handled apart).
_KEPT_ESCAPES = frozenset("dDwWbBfnrtv")
_PROPERTY_PREFIXES = ("Script_Extensions=", "Script=", "scx=", "sc=", "General_Category=", "gc=")
_LONG_CATEGORIES = {
    "Letter": "L",
    "Uppercase_Letter": "Lu",
    "Lowercase_Letter": "Ll",
    "Titlecase_Letter": "Lt",
    "Modifier_Letter": "Lm",
    "Other_Letter": "Lo",
    "Mark": "M",
    "Number": "N",
    "Decimal_Number": "Nd",
    "digit": "Nd",
    "Letter_Number": "Nl",
    "Other_Number": "No",
    "Punctuation": "P",
    "punct": "P",
    "Symbol": "S",
    "Separator": "Z",
    "Space_Separator": "Zs",
    "Other": "C",
    "Control": "Cc",
    "cntrl": "Cc",
}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class PatternError(ValueError):
    """A pattern that RE2 cannot run; the message says why."""


def _options() -> re2.Options:
    options = re2.Options()
    options.never_capture = True  # only "does it match?" is asked: captures would cost time
    options.log_errors = False
    return options


_OPTIONS = _options()


def translate(pattern: str) -> str:
    """The RE2 spelling of the ECMA-262 ``pattern``."""
    return _Translator(pattern).run()


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Any:
    """Compile once per distinct pattern (validators run the same patterns on every request)."""
    try:
        return re2.compile(translate(_without_surrogates(pattern)), _OPTIONS)
    except re2.error as error:
        reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise PatternError(
            f"The pattern {pattern!r} cannot be used: {reason}. Patterns run on a linear-time engine, "
            "so backreferences, lookahead and lookbehind are not supported."
        ) from None


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used, or ``None`` if it can."""
    try:
        compile_pattern(pattern)
    except PatternError as error:
        return str(error)
    return None


def regex_search(pattern: str, text: str) -> bool:
    return compile_pattern(pattern).search(_without_surrogates(text)) is not None


def _without_surrogates(text: str) -> str:
    # RE2 works on UTF-8, which cannot hold a lone surrogate; the common case costs one isascii().
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


class _Translator:
    def __init__(self, pattern: str):
        self.src = pattern
        self.at = 0
        self.out: list[str] = []
        self.in_class = False

    def run(self) -> str:
        while self.at < len(self.src):
            char = self.src[self.at]
            self.at += 1
            if char == "\\":
                self.out.append(self._escape())
            elif self.in_class:
                self._class_char(char)
            else:
                self._plain_char(char)
        return "".join(self.out)

    def _plain_char(self, char: str) -> None:
        if char == ".":
            self.out.append(_DOT)
        elif char == "[":
            self._open_class()
        elif char == "(" and self._named_group_ahead():
            self.out.append("(?P<")
            self.at += 2
        else:
            self.out.append(char)

    def _named_group_ahead(self) -> bool:
        # "(?<name>" but not the lookbehinds "(?<=" and "(?<!" (which RE2 refuses, as it should).
        return self.src.startswith("?<", self.at) and self.src[self.at + 2 : self.at + 3] not in ("=", "!")

    def _open_class(self) -> None:
        negated = self.src.startswith("^", self.at)
        after = self.at + (1 if negated else 0)
        if self.src.startswith("]", after):
            # ECMA-262: "[]" matches nothing and "[^]" anything; RE2 would read "]" as a literal.
            self.out.append(_ANYTHING if negated else _NOTHING)
            self.at = after + 1
            return
        self.in_class = True
        self.out.append("[^" if negated else "[")
        self.at = after

    def _class_char(self, char: str) -> None:
        if char == "]":
            self.in_class = False
            self.out.append("]")
        elif char == "[":
            self.out.append(r"\[")  # a literal in ECMA-262; RE2 would start a POSIX class like [:alpha:]
        else:
            self.out.append(char)

    def _escape(self) -> str:
        if self.at >= len(self.src):
            return "\\"  # a trailing backslash: RE2 refuses it, as ECMA-262 does
        char = self.src[self.at]
        self.at += 1
        if char == "s":
            return _SPACE_ITEMS if self.in_class else f"[{_SPACE_ITEMS}]"
        if char == "S":
            return _NON_SPACE_ITEMS if self.in_class else f"[{_NON_SPACE_ITEMS}]"
        if char == "b" and self.in_class:
            return r"\x08"
        if char in _KEPT_ESCAPES:
            return "\\" + char
        if char == "u":
            return self._unicode_escape()
        if char == "x":
            return "\\x"
        if (
            char == "c"
            and self.src[self.at : self.at + 1].isascii()
            and self.src[self.at : self.at + 1].isalpha()
        ):
            self.at += 1
            return f"\\x{{{ord(self.src[self.at - 1]) % 32:02X}}}"
        if char == "0" and not self.src[self.at : self.at + 1].isdigit():
            return r"\x00"
        if char in "pP" and self.src.startswith("{", self.at):
            return self._property(char)
        if char.isdigit() or char == "k":
            return "\\" + char  # backreferences: RE2 refuses them, and so the schema is refused
        if char.isascii() and char.isalpha():
            return re2.escape(char)  # ECMA-262 identity escape: "\a" is "a" (RE2 would read a bell)
        return "\\" + char if char.isascii() else char

    def _unicode_escape(self) -> str:
        src, at = self.src, self.at
        if src.startswith("{", at) and "}" in src[at:]:
            end = src.index("}", at)
            self.at = end + 1
            return f"\\x{{{src[at + 1 : end]}}}"
        if not _HEX4.fullmatch(src, at, at + 4):
            return "u"
        code = int(src[at : at + 4], 16)
        self.at = at + 4
        low = self._low_surrogate() if 0xD800 <= code < 0xDC00 else None
        if low is not None:
            self.at += 6
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        if 0xD800 <= code < 0xE000:
            code = 0xFFFD  # a lone surrogate: text is matched with those read as U+FFFD
        return f"\\x{{{code:X}}}"

    def _low_surrogate(self) -> int | None:
        src, at = self.src, self.at
        if not (src.startswith("\\u", at) and _HEX4.fullmatch(src, at + 2, at + 6)):
            return None
        low = int(src[at + 2 : at + 6], 16)
        return low if 0xDC00 <= low < 0xE000 else None

    def _property(self, char: str) -> str:
        end = self.src.find("}", self.at)
        if end < 0:
            return "\\" + char
        name = self.src[self.at + 1 : end]
        self.at = end + 1
        for prefix in _PROPERTY_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
        name = _LONG_CATEGORIES.get(name, name)
        return f"\\{char}{{{name}}}"
