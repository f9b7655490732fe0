"""Inbound webhook signatures: an optional check, on top of the URL key, that a request came from the
sender holding a shared secret, unchanged and (where the scheme carries a timestamp) recently.

Rules (every HMAC is HMAC-SHA256 over the RAW body bytes, compared with hmac.compare_digest):
- github: `X-Hub-Signature-256: sha256=<hex HMAC(secret, body)>`.
- stripe: `Stripe-Signature: t=<unix time>,v1=<hex HMAC(secret, "{t}." + body)>[,v1=...]`; exactly one t,
  any v1 may match (Stripe sends several while a secret rolls), other entries such as v0 are ignored.
  The key is the whole "whsec_..." text: unlike Standard Webhooks, Stripe does not base64-decode it.
- standard_webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<b64> [v1,<b64> ...]` over
  "{id}.{timestamp}." + body, keyed by the base64 after "whsec_" (actions.signing.verify checks it).
- slack: `X-Slack-Signature: v0=<hex HMAC(secret, "v0:{X-Slack-Request-Timestamp}:" + body)>`.
- shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC(secret, body)>`.
- hmac_sha256: `<header>: <prefix><hex or base64 HMAC(secret, body)>`; the prefix ("sha256=") must match
  exactly, hex may be in either case.
- none: no signature check, the URL key alone (what validate_signature_config(None) returns).
- Timestamps (stripe, slack, standard_webhooks) are ASCII digits within 5 minutes of now in either
  direction: an old one is a replay, a far-future one would stay replayable until its time came.
- Config: {"scheme": name, "secrets": [1 to 5 secrets], ...the scheme's fields}. Secrets are always a
  list, also for one, so rotation needs no second shape: a request signed with any of them verifies.
  A secret is printable text (at most 1024 characters, no surrounding spaces) used as UTF-8 key bytes;
  stripe's must start with "whsec_"; standard_webhooks' are "whsec_" + base64 of 24 to 64 key bytes.
- Secrets are write-only, as in actions/auth.py: the API shows mask_signature_config(decrypted); updates
  go through merge_signature_config on decrypted configs, then validation, then encryption at rest
  (encrypt/decrypt_signature_config, orchestrator.crypto).
- verify_signature takes a validated, decrypted config and never raises on what a sender controls:
  missing, garbage, non-ASCII or oversized (> 4096 characters) headers give ok=False and a reason for
  the delivery log that names headers and rules, never a secret or an expected signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from actions import signing
from actions.auth import MASK, MAX_SECRETS
from actions.registry import ConfigError
from orchestrator.crypto import decrypt, encrypt

TOLERANCE_SECONDS = 300
MAX_HEADER_CHARS = 4096  # far above any real signature header; bounds the work a request can cause
MAX_SECRET_CHARS = 1024
SECRET_FIELDS = frozenset({"secrets"})
_LIST_HINT = 'unknown field: send "secrets", a list, even for one secret'
_STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")  # an RFC 9110 token
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII only: str.isdigit() accepts "²", which int() refuses
_DIGEST = {"hex": re.compile(r"[0-9a-fA-F]{64}"), "base64": re.compile(r"[A-Za-z0-9+/]{43}=")}
_DIGEST_SHAPE = {"hex": "64 hex digits", "base64": "44 characters of base64"}

Config = dict[str, Any]
Problems = dict[str, str]  # field name -> what is wrong
Headers = Mapping[str, str]
Verifier = Callable[[Config, Headers, bytes, float], bool]


@dataclass(frozen=True)
class SignatureResult:
    ok: bool
    reason: str


class _Failed(Exception):
    """The request cannot verify; the message is the reason shown in the delivery log."""


def _header(headers: Headers, name: str) -> str:
    value = headers.get(name.lower())
    if value is None or value == "":
        raise _Failed(f"missing header {name}")
    if not isinstance(value, str) or not value.isascii():
        raise _Failed(f"header {name} is not ASCII text")
    if len(value) > MAX_HEADER_CHARS:
        raise _Failed(f"header {name} is longer than {MAX_HEADER_CHARS} characters")
    return value.strip()


def _digest(value: str, name: str, *, prefix: str, encoding: str) -> bytes:
    encoded = value.removeprefix(prefix) if value.startswith(prefix) else None
    if encoded is None or not _DIGEST[encoding].fullmatch(encoded):
        lead = f'"{prefix}" followed by ' if prefix else ""
        raise _Failed(f"header {name} is not {lead}{_DIGEST_SHAPE[encoding]}")
    return bytes.fromhex(encoded) if encoding == "hex" else base64.b64decode(encoded)


def _check_fresh(stamp: str, what: str, now: float) -> None:
    if not _TIMESTAMP.fullmatch(stamp):
        raise _Failed(f"{what} is not a Unix timestamp")
    skew = int(now - int(stamp))
    if abs(skew) > TOLERANCE_SECONDS:
        when = f"{skew} seconds old" if skew > 0 else f"{-skew} seconds in the future"
        raise _Failed(f"timestamp outside the 5-minute tolerance ({when})")


def _hmac_matches(secrets: list[str], message: bytes, candidates: list[bytes]) -> bool:
    found = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), message, hashlib.sha256).digest()
        for candidate in candidates:
            # Try every pair rather than stop at a match, so timing does not tell which secret matched.
            found |= hmac.compare_digest(candidate, expected)
    return found


def _body_signature(name: str, prefix: str, encoding: str) -> Verifier:
    """A scheme that signs the body alone and sends the result in one header."""

    def verify(config: Config, headers: Headers, body: bytes, now: float) -> bool:
        digest = _digest(_header(headers, name), name, prefix=prefix, encoding=encoding)
        return _hmac_matches(config["secrets"], body, [digest])

    return verify


def _stripe(config: Config, headers: Headers, body: bytes, now: float) -> bool:
    pairs = [item.strip().partition("=") for item in _header(headers, "Stripe-Signature").split(",")]
    stamps = [value for key, _, value in pairs if key == "t"]
    if len(stamps) != 1:  # two timestamps would make it ambiguous which one was signed
        raise _Failed("header Stripe-Signature does not hold exactly one t=<timestamp>")
    _check_fresh(stamps[0], "t in header Stripe-Signature", now)
    candidates = [bytes.fromhex(v) for k, _, v in pairs if k == "v1" and _DIGEST["hex"].fullmatch(v)]
    if not candidates:
        raise _Failed("header Stripe-Signature has no v1=<64 hex digits> signature")
    return _hmac_matches(config["secrets"], stamps[0].encode() + b"." + body, candidates)


def _standard_webhooks(config: Config, headers: Headers, body: bytes, now: float) -> bool:
    signed = {name: _header(headers, name) for name in _STANDARD_HEADERS}
    _check_fresh(signed["webhook-timestamp"], "header webhook-timestamp", now)
    if not any(sig.startswith("v1,") for sig in signed["webhook-signature"].split()):
        raise _Failed("header webhook-signature has no v1,<base64> signature")
    # A list, not any(generator): every secret is tried, so timing does not tell which one matched.
    matches = [signing.verify(s, signed, body, TOLERANCE_SECONDS, now) for s in config["secrets"]]
    return any(matches)


def _slack(config: Config, headers: Headers, body: bytes, now: float) -> bool:
    stamp = _header(headers, "X-Slack-Request-Timestamp")
    _check_fresh(stamp, "header X-Slack-Request-Timestamp", now)
    name = "X-Slack-Signature"
    digest = _digest(_header(headers, name), name, prefix="v0=", encoding="hex")
    return _hmac_matches(config["secrets"], b"v0:" + stamp.encode() + b":" + body, [digest])


def _generic(config: Config, headers: Headers, body: bytes, now: float) -> bool:
    verify = _body_signature(config["header"], config["prefix"], config["encoding"])
    return verify(config, headers, body, now)


def _text_secret_problem(secret: object) -> str | None:
    if not isinstance(secret, str) or not secret:
        return "is required"
    if len(secret) > MAX_SECRET_CHARS:
        return f"must be at most {MAX_SECRET_CHARS} characters"
    if secret != secret.strip():
        return "must not start or end with spaces: paste the secret without them"
    if not secret.isprintable():  # also refuses lone surrogates, which could not be encoded as a key
        return "must not contain line breaks or control characters"
    return None


def _stripe_secret_problem(secret: object) -> str | None:
    # Stripe's signing secrets start with "whsec_"; anything else is usually an API key pasted by mistake.
    if isinstance(secret, str) and secret and not secret.startswith("whsec_"):
        return 'must be the endpoint\'s signing secret, which starts with "whsec_"'
    return _text_secret_problem(secret)


def _secrets_check(secret_problem: Callable[[object], str | None]) -> Callable[[Config], Problems]:
    def check(config: Config) -> Problems:
        secrets = config.get("secrets")
        if not isinstance(secrets, list) or not 1 <= len(secrets) <= MAX_SECRETS:
            return {"secrets": f"must be a list of 1 to {MAX_SECRETS} secrets from the sender's settings"}
        return {f"secrets.{i}": p for i, s in enumerate(secrets) if (p := secret_problem(s))}

    return check


def _check_generic(config: Config) -> Problems:
    problems = _secrets_check(_text_secret_problem)(config)
    header, encoding, prefix = config.get("header"), config.get("encoding"), config.get("prefix")
    if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header):
        problems["header"] = "must be a header name of letters, digits and -, such as X-Signature"
    if encoding not in ("hex", "base64"):  # a tuple: `in` a dict would raise on a list
        problems["encoding"] = 'must be "hex" or "base64"'
    if not isinstance(prefix, str) or len(prefix) > 32 or not all("!" <= ch <= "~" for ch in prefix):
        problems["prefix"] = 'must be up to 32 visible ASCII characters, such as "sha256=", or ""'
    return problems


@dataclass(frozen=True)
class Scheme:
    label: str
    headers: tuple[str, ...]  # what a request must carry; hmac_sha256 names its header in the config
    fields: tuple[str, ...]  # config fields besides "scheme"
    verify: Verifier
    check: Callable[[Config], Problems]
    defaults: Config = field(default_factory=dict)


_SECRETS = ("secrets",)
_github = _body_signature("X-Hub-Signature-256", "sha256=", "hex")
_shopify = _body_signature("X-Shopify-Hmac-Sha256", "", "base64")
_check_text = _secrets_check(_text_secret_problem)
_check_stripe = _secrets_check(_stripe_secret_problem)
_check_whsec = _secrets_check(signing.secret_problem)
_SLACK_HEADERS = ("X-Slack-Signature", "X-Slack-Request-Timestamp")
SCHEMES: dict[str, Scheme] = {
    "none": Scheme("No signature check", (), (), lambda *_: True, lambda config: {}),
    "github": Scheme("GitHub", ("X-Hub-Signature-256",), _SECRETS, _github, _check_text),
    "stripe": Scheme("Stripe", ("Stripe-Signature",), _SECRETS, _stripe, _check_stripe),
    "standard_webhooks": Scheme(
        "Standard Webhooks", _STANDARD_HEADERS, _SECRETS, _standard_webhooks, _check_whsec
    ),
    "slack": Scheme("Slack", _SLACK_HEADERS, _SECRETS, _slack, _check_text),
    "shopify": Scheme("Shopify", ("X-Shopify-Hmac-Sha256",), _SECRETS, _shopify, _check_text),
    "hmac_sha256": Scheme(
        "HMAC-SHA256 (any sender)",
        (),
        ("secrets", "header", "encoding", "prefix"),
        _generic,
        _check_generic,
        {"encoding": "hex", "prefix": ""},
    ),
}


def scheme_choices() -> list[tuple[str, str]]:
    return [(name, scheme.label) for name, scheme in SCHEMES.items()]


def validate_signature_config(config: Any, *, where: str = "signature") -> Config:
    """A clean config, or ConfigError with problems keyed by field path ("signature.secrets.0")."""
    if config is None:
        return {"scheme": "none"}
    if not isinstance(config, dict):
        raise ConfigError({where: "must be an object with a scheme"})
    scheme = SCHEMES.get(str(config.get("scheme")))
    if scheme is None:
        raise ConfigError({f"{where}.scheme": f"must be one of {', '.join(SCHEMES)}"})
    clean = {"scheme": config["scheme"], **scheme.defaults, **config}
    problems = {name: "unknown field" for name in set(config) - {"scheme", *scheme.fields}}
    if "secret" in problems and "secrets" in scheme.fields:  # the shape people guess first
        problems["secret"] = _LIST_HINT
    if _is_masked(clean.get("secrets")):
        problems["secrets"] = "is masked: send the secret itself, or omit it to keep the stored one"
    problems = {**scheme.check(clean), **problems}
    if problems:
        raise ConfigError({f"{where}.{name}": problem for name, problem in sorted(problems.items())})
    return clean


def verify_signature(
    config: Config, headers: Headers, body: bytes, *, now: float | None = None
) -> SignatureResult:
    """Whether the request is signed as the (validated, decrypted) config requires, and why not."""
    scheme = SCHEMES.get(str(config.get("scheme")))
    if scheme is None:  # fail closed: a config we cannot read must not let requests through
        return SignatureResult(False, f"unknown signature scheme {str(config.get('scheme'))[:40]!r}")
    if scheme is SCHEMES["none"]:
        return SignatureResult(True, "no signature check configured")
    lowered = {str(name).lower(): value for name, value in headers.items()}
    try:
        matched = scheme.verify(config, lowered, body, time.time() if now is None else now)
    except _Failed as failure:
        return SignatureResult(False, str(failure))
    return SignatureResult(matched, "signature matches" if matched else "signature does not match")


def _fingerprint(secret: str) -> str:
    return MASK + hashlib.sha256(secret.encode()).hexdigest()[:8]  # the same shape as actions/auth.py


def _is_masked(value: Any) -> bool:
    if isinstance(value, list):
        return any(_is_masked(item) for item in value)
    return isinstance(value, str) and value.startswith(MASK)


def mask_signature_config(config: Config) -> Config:
    """What the API shows: each secret as MASK + a short fingerprint, so a client can keep or drop it."""
    masked: Config = {**config, "set": {}}
    if config.get("secrets"):
        masked["secrets"] = [_fingerprint(s) for s in config["secrets"]]
        masked["set"]["secrets"] = True
    return masked


def merge_signature_config(stored: Config | None, incoming: Config) -> Config:
    """An update on decrypted configs: secrets omitted or sent back masked keep their stored value."""
    merged = {k: v for k, v in incoming.items() if k != "set"}
    if not stored or stored.get("scheme") != merged.get("scheme"):
        return merged  # a new scheme keeps nothing: a secret for one sender is no use to another
    old, new = stored.get("secrets"), merged.get("secrets")
    if isinstance(old, list) and new is None:
        merged["secrets"] = old
    elif isinstance(old, list) and isinstance(new, list):
        by_print = {_fingerprint(s): s for s in old}
        merged["secrets"] = [by_print.get(s, s) if _is_masked(s) else s for s in new]
    return merged


def _convert(config: Config, change: Callable[[str], str]) -> Config:
    secrets = config.get("secrets")
    return {**config, "secrets": [change(s) for s in secrets]} if isinstance(secrets, list) else config


def encrypt_signature_config(config: Config) -> Config:
    return _convert(config, encrypt)


def decrypt_signature_config(config: Config) -> Config:
    return _convert(config, decrypt)
