"""Requests for fuzzing the receive pipeline: the hypothesis strategies and the limits they aim at
(tests/support/receive_fuzz.py builds the triggers and checks the answers)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

# Small limits, so that generated bodies cross them cheaply; the pipeline reads them from settings.
BODY_CAP = 16384
MAX_KEYS = 300
MAX_DEPTH = 64
SECRET = "fuzz-signing-secret"

SAMPLE = {"action": "opened", "id": "evt_1", "n": 1, "issue": {"title": "Bug", "labels": [{"name": "bug"}]}}


@dataclass
class Sent:
    """One generated request, as it is handed to the test client."""

    kind: str  # which trigger
    target: str  # "valid", "valid/" (trailing slash), "wrong_key", "unknown"
    method: str
    content_type: str | None
    body: bytes
    query: str
    headers: dict[str, str]
    transport: str  # "length" (Content-Length), "chunked_dechunked" (gunicorn), "chunked_raw" (dev server)
    wrong_key: str = "x"
    signature: str = "none"

    def __repr__(self) -> str:
        # Bodies go up to the size cap: show their length and ends, not 16 KB of them.
        body = self.body if len(self.body) <= 200 else self.body[:100] + b"..." + self.body[-50:]
        fields = {**vars(self), "body": body}
        return (
            "Sent(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + f", body_length={len(self.body)})"
        )

    def environ(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"QUERY_STRING": self.query}
        for name, value in self.headers.items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        # An empty CONTENT_TYPE is what a server passes when the header is missing: the app sees none.
        extra["CONTENT_TYPE"] = self.content_type or ""
        if self.transport != "length":
            extra["CONTENT_LENGTH"] = ""
            extra["HTTP_TRANSFER_ENCODING"] = "chunked"
        if self.transport == "chunked_dechunked":
            # What gunicorn hands over for a chunked request: the de-chunked stream, marked as ending.
            extra["wsgi.input"] = io.BytesIO(self.body)
            extra["wsgi.input_terminated"] = True
        return extra


# --- strategies -----------------------------------------------------------------------------------

NASTY = ["\x00", "\ud800", "\udfff", "\u2028", "\ufeff", "\U0001f600", "é", "\\", '"', "\x7f", "%00", "\n"]
texts = st.one_of(st.text(max_size=12), st.lists(st.sampled_from(NASTY), max_size=4).map("".join))
keys = st.one_of(st.sampled_from(["action", "n", "tags", "id", "issue", "x-a", "x-b", "title"]), texts)
big_ints = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.integers(min_value=20, max_value=400).map(lambda d: int("9" * d)),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=20),
    big_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=12,
)
actions = st.one_of(st.sampled_from(["opened", "skip", "closed", ""]), texts, json_values)
# Delivery ids: the signed trigger deduplicates on "id", so repeats, NULs and lone surrogates matter.
NASTY_IDS = ["evt_1", "evt_2", "evt_3", "\x00", "evt\x00", "\ud800", "evt\udfff"]
ids = st.one_of(st.sampled_from(NASTY_IDS), st.sampled_from(NASTY_IDS), st.integers(0, 3), texts, json_values)
optional_fields = {
    "n": st.one_of(st.integers(-3, 10), json_values),
    "tags": st.lists(st.one_of(st.sampled_from(["urgent", "URGENT", "low"]), texts), max_size=3),
    "id": ids,
    "issue": st.one_of(st.just(SAMPLE["issue"]), json_values),
    "x-a": st.one_of(st.sampled_from(["abc", "ABC", ""]), texts),
}
# Aimed at the schemas: every known field of the kind they expect, so that most of these pass and reach
# filtering, deduplication and storage with whatever text (NULs, lone surrogates...) they carry.
aimed_objects = st.builds(
    lambda fixed, extra: {**extra, **fixed},
    st.fixed_dictionaries(
        {"action": st.one_of(st.sampled_from(["opened", "closed", "skip"]), texts)},
        optional={
            "n": st.one_of(st.integers(-3, 10), big_ints),
            "tags": st.lists(st.one_of(st.sampled_from(["urgent", "URGENT", "low"]), texts), max_size=3),
            "id": st.one_of(st.sampled_from(NASTY_IDS), texts),
            "issue": st.one_of(st.just(SAMPLE["issue"]), st.fixed_dictionaries({"title": texts})),
            "x-a": st.sampled_from(["abc", "", "ABC"]),
        },
    ),
    st.dictionaries(keys, scalars, max_size=3),
)
# Anything at all, in roughly the right shape.
loose_objects = st.builds(
    lambda fixed, extra: {**extra, **fixed},
    st.fixed_dictionaries({}, optional={"action": actions, **optional_fields}),
    st.dictionaries(keys, json_values, max_size=3),
)
payloads = st.one_of(aimed_objects, aimed_objects, loose_objects, json_values)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    value = draw(payloads)
    text = json.dumps(
        value,
        # Mostly escaped: a lone surrogate then stays valid JSON (written raw, it is not UTF-8).
        ensure_ascii=draw(st.sampled_from([True, True, True, False])),
        indent=draw(st.sampled_from([None, None, 2])),
        separators=draw(st.sampled_from([None, (",", ":")])),
    )
    # A lone surrogate written out raw is not UTF-8: one more way to send broken UTF-8.
    return text.encode("utf-8", "surrogatepass")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    body = draw(json_bodies())
    how = draw(st.sampled_from(["bom", "truncate", "insert", "append", "duplicate_key", "nul"]))
    at = draw(st.integers(min_value=0, max_value=len(body)))
    if how == "bom":
        return b"\xef\xbb\xbf" + body
    if how == "truncate":
        return body[:at]
    if how == "insert":
        return body[:at] + draw(st.binary(min_size=1, max_size=3)) + body[at:]
    if how == "append":
        return body + draw(st.sampled_from([b" ", b"\n", b"x", b"}", b",", b"\x00", b"\xff", b"// c"]))
    if how == "nul":
        return body[:at] + b"\x00" + body[at:]
    # The same key twice: the last one wins.
    if body.startswith(b"{") and body != b"{}":
        return b'{"action": "skip", ' + body[1:]
    return body


SPECIAL_BODIES = [
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b'{"action": "opened", "n": NaN}',
    b'{"action": "opened", "n": Infinity}',
    b'{"action": "opened", "n": -Infinity}',
    b"1e400",
    b'{"action": "opened", "n": 1e400}',
    b'{"action": "opened", "n": -1e400}',
    b'{"action": "opened", "n": 1e-400}',
    b'{"action": "opened", "n": ' + b"9" * 4300 + b"}",
    b'{"action": "opened", "n": ' + b"9" * 4301 + b"}",
    b'{"action": "opened", "n": -' + b"9" * 5000 + b"}",
    b'{"action": "opened", "n": 1' + b"0" * 400 + b".5}",
    b'{"action": "a\x00b"}',
    b'{"action": "a\\u0000b", "id": "\\u0000"}',
    b'{"action": "\\ud800", "id": "\\udfff"}',
    b'{"\\u0000": 1, "action": "x"}',
    b'{"action": "opened", "action": "skip"}',
    b'{"action": "skip", "action": "opened", "n": 1, "n": 2}',
    b'{"action": "opened"',
    b'{"action": "opened"}}',
    b'{"action": "opened"}{"action": "opened"}',
    b"\xef\xbb\xbf" + b'{"action": "opened", "n": 1}',
    b"\xef\xbb\xbf\xef\xbb\xbf{}",
    b'\xff\xfe{\x00"\x00}\x00',
    b'{"action": "\xc3\x28"}',
    b'{"action": "\xed\xa0\x80"}',
    b'{"action": "\xf4\x90\x80\x80"}',
    b'{"action": "caf\xe9"}',
    b"\x00",
    b"[]",
    b"{}",
    b"null",
    b'"a string"',
    b"0",
    b"-0",
    b"true",
    b"[" * 4000,
    b"{" * 4000,
    b'"' + b"[" * 4000 + b'"',
    b"[" + b"0," * MAX_KEYS + b"0]",
    b"[" + b"0," * (MAX_KEYS - 1) + b"0]",
    b"{" + b",".join(b'"k%d": 0' % i for i in range(MAX_KEYS + 1)) + b"}",
]
EMPTY_BODIES = [b"", b" ", b"\r\n", b"\t \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"]


def nested(depth: int, opener: bytes, closer: bytes, inner: bytes) -> bytes:
    return opener * depth + inner + closer * depth


deep_bodies = st.one_of(
    st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3).map(lambda d: nested(d, b"[", b"]", b"")),
    st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3).map(
        lambda d: b'{"action": "opened", "issue": ' + nested(d - 1, b'{"a": ', b"}", b"1") + b"}"
    ),
    st.integers(0, 10).map(lambda d: nested(d, b"[", b"]", b"")),
)
form_bodies = st.one_of(
    st.lists(
        st.tuples(
            st.one_of(st.sampled_from(["action", "n", "id", "tags"]), st.text(max_size=6)),
            st.text(max_size=8),
        ),
        max_size=5,
    ).map(lambda pairs: urlencode(pairs).encode()),
    st.sampled_from(
        [
            b"action=opened",
            b"action=opened&n=5",
            b"action=opened&action=skip",
            b"action=%zz",
            b"action=%ff",
            b"action=%C3%28",
            b"action=%E9",
            b"=&=&&",
            b"%",
            b"a=1;b=2",
            b"action=a%00b",
            b"&".join(b"k=%d" % i for i in range(MAX_KEYS + 1)),
        ]
    ),
)


def padded(size: int) -> bytes:
    """A JSON object that passes every schema here, exactly ``size`` bytes long."""
    head, tail = b'{"action": "opened", "n": 1, "pad": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


sized_bodies = st.one_of(
    st.integers(BODY_CAP - 2, BODY_CAP + 2).map(padded),
    st.integers(BODY_CAP - 1, BODY_CAP + 1).map(lambda size: b" " * size),
)
JSONISH_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON;charset=UTF8",
    'application/json; charset="utf-8"',
    "application/vnd.api+json",
    "application/cloudevents+json; charset=utf-8",
]
OTHER_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "application/x-www-form-urlencoded; charset=iso-8859-1",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/json; charset=",
    "application/json; charset",
    "application/json;;;",
    "text/plain",
    "text/json",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "+json",
    "/+json",
    "*/*",
    ";",
    "application/json, text/plain",
]
# What a server passes on for a header value: visible ASCII, spaces and tabs, and obs-text (latin-1).
HEADER_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E), st.sampled_from("\t\x80\xe9\xff")
    ),
    max_size=30,
)
HEADER_NAMES = [
    "X-Request-Id",
    "Idempotency-Key",
    "Webhook-Id",
    "X-GitHub-Delivery",
    "X-Event",
    "Authorization",
    "Cookie",
    "X-Api-Key",
    "User-Agent",
    "Accept",
]
header_names = st.one_of(
    st.sampled_from(HEADER_NAMES),
    st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,15}\Z").filter(
        lambda name: name.lower() not in {"content-type", "content-length", "transfer-encoding"}
    ),
)
header_values = st.one_of(
    st.sampled_from(["evt-1", "evt-2", "push", "ping", "", "Bearer hunter2"]), HEADER_TEXT
)
QUERY_ALPHABET = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "#") + "\x80\xff"
queries = st.one_of(
    st.just(""),
    st.sampled_from(["force=true", "force=1", "force=no", "force", "force=true&force=false"]),
    st.lists(st.tuples(st.sampled_from(["force", "env", "id", "a"]), st.text(max_size=8)), max_size=4).map(
        urlencode
    ),
    st.text(alphabet=QUERY_ALPHABET, max_size=40),
)
OTHER_METHODS = ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PURGE", "post"]
KINDS = ["signed", "json_schema", "sample", "signed", "json_schema", "sample", "plain", "draft"]
FORM_TYPES = [t for t in OTHER_TYPES if t.startswith("application/x-www-form-urlencoded")]


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of ``choices``, each drawn with its weight (in percent); shrinks towards the first."""
    assert sum(weight for weight, _ in choices) == 100

    def pick(roll: int) -> st.SearchStrategy[Any]:
        for weight, strategy in choices:
            if roll < weight:
                return strategy
            roll -= weight
        raise AssertionError(roll)

    return st.integers(0, 99).flatmap(pick)


json_content_types = weighted(
    (70, st.sampled_from(JSONISH_TYPES)),
    (15, st.none()),
    (10, st.sampled_from(OTHER_TYPES)),
    (5, HEADER_TEXT),
)
form_content_types = weighted(
    (70, st.sampled_from(FORM_TYPES)),
    (10, st.none()),
    (10, st.sampled_from(JSONISH_TYPES)),
    (10, HEADER_TEXT),
)
any_content_types = st.one_of(st.none(), st.sampled_from(JSONISH_TYPES + OTHER_TYPES), HEADER_TEXT)
# A body and the Content-Type it goes with: mostly the matching one, sometimes any other.
bodies_with_types = weighted(
    (45, st.tuples(json_bodies(), json_content_types)),
    (10, st.tuples(mutated(), json_content_types)),
    (10, st.tuples(st.sampled_from(SPECIAL_BODIES), json_content_types)),
    (5, st.tuples(deep_bodies, json_content_types)),
    (8, st.tuples(sized_bodies, json_content_types)),
    (10, st.tuples(form_bodies, form_content_types)),
    (7, st.tuples(st.sampled_from(EMPTY_BODIES), any_content_types)),
    (5, st.tuples(st.binary(max_size=200), any_content_types)),
)


@st.composite
def requests(draw: st.DrawFn) -> Sent:
    body, content_type = draw(bodies_with_types)
    sent = Sent(
        kind=draw(st.sampled_from(KINDS)),
        target=draw(
            weighted(
                (80, st.just("valid")),
                (5, st.just("valid/")),
                (10, st.just("wrong_key")),
                (5, st.just("unknown")),
            )
        ),
        method=draw(weighted((85, st.just("POST")), (15, st.sampled_from(OTHER_METHODS)))),
        content_type=content_type,
        body=body,
        query=draw(queries),
        headers=draw(st.dictionaries(header_names, header_values, max_size=4)),
        transport=draw(
            weighted((85, st.just("length")), (10, st.just("chunked_dechunked")), (5, st.just("chunked_raw")))
        ),
    )
    if sent.target == "wrong_key":
        sent.wrong_key = draw(st.from_regex(r"\A[A-Za-z0-9_.~-]{1,60}\Z"))
    if sent.kind == "signed":
        sent.signature = draw(
            weighted((80, st.just("valid")), (20, st.sampled_from(["missing", "wrong", "garbage"])))
        )
        header = {
            "valid": "sha256=" + hmac.new(SECRET.encode(), sent.body, hashlib.sha256).hexdigest(),
            "wrong": "sha256=" + hmac.new(b"not-the-secret", sent.body, hashlib.sha256).hexdigest(),
            "garbage": draw(HEADER_TEXT),
        }.get(sent.signature)
        if header is not None:
            sent.headers["X-Hub-Signature-256"] = header
    return sent
