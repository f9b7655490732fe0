"""How a Send HTTP Request step proves who it is: a table from auth kind to its fields, its validation and
how it changes the outgoing request.

Rules:
- Kinds: none; basic (username, password); bearer (token); api_key (name, value, in: header | query);
  standard_webhooks (secrets: 1 to 5 "whsec_" secrets, every one signs, for rotation).
- Secret fields (AuthKind.secret_fields) are write-only. The API shows mask_auth(config): each secret
  is MASK, with `"set": {"<field>": true}`; in a list each is MASK + a short SHA-256 fingerprint, so a
  client can keep, reorder or drop stored secrets without seeing them.
- At rest only the secret fields are encrypted (encrypt_auth / decrypt_auth, orchestrator.crypto).
- Updates: merge_auth(stored, incoming) on decrypted configs: a secret omitted or sent back masked keeps
  the stored value; a change of kind keeps nothing. Validate after merging, encrypt after validating.
- The auth header replaces a header of the same name set in the step; query keys are appended.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets as random_tokens
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlsplit

from actions import signing
from actions.registry import ConfigError
from orchestrator.crypto import decrypt, encrypt

MASK = "••••••••"
MAX_SECRETS = 5
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
_RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-type"}


@dataclass(frozen=True)
class OutgoingRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


Config = dict[str, Any]
Problems = dict[str, str]  # field name -> what is wrong


@dataclass(frozen=True)
class AuthKind:
    label: str
    fields: tuple[str, ...]
    secret_fields: tuple[str, ...]
    check: Callable[[Config], Problems]
    apply: Callable[[Config, OutgoingRequest, str, int], OutgoingRequest]
    defaults: Config | None = None


def _text_problem(value: Any, *, spaces: bool = True) -> str | None:
    if not isinstance(value, str) or not value:
        return "is required"
    if any(ch in value for ch in "\r\n\0") or (not spaces and any(ch.isspace() for ch in value)):
        return "must not contain line breaks" if spaces else "must not contain spaces or line breaks"
    return None


def _problems(**found: str | None) -> Problems:
    return {field: problem for field, problem in found.items() if problem}


def _check_basic(config: Config) -> Problems:
    username = config.get("username")
    colon = isinstance(username, str) and ":" in username
    return _problems(
        username="must not contain ':'" if colon else _text_problem(username),
        password=_text_problem(config.get("password")),
    )


def _check_bearer(config: Config) -> Problems:
    return _problems(token=_text_problem(config.get("token"), spaces=False))


def _check_api_key(config: Config) -> Problems:
    place, name = config.get("in", "header"), config.get("name")
    name_problem = _text_problem(name)
    if not name_problem and place == "header":
        if not _HEADER_NAME.fullmatch(str(name)):
            name_problem = "must be a header name (letters, digits and -)"
        elif str(name).lower() in _RESERVED_HEADERS:
            name_problem = f"{name} is set by the request itself"
    return _problems(
        name=name_problem,
        value=_text_problem(config.get("value")),
        **{"in": None if place in ("header", "query") else 'must be "header" or "query"'},
    )


def _check_standard_webhooks(config: Config) -> Problems:
    secrets = config.get("secrets")
    if not isinstance(secrets, list) or not 1 <= len(secrets) <= MAX_SECRETS:
        return {"secrets": f"must be a list of 1 to {MAX_SECRETS} secrets (generate one with the API)"}
    return {f"secrets.{i}": p for i, s in enumerate(secrets) if (p := signing.secret_problem(s))}


def _with_header(request: OutgoingRequest, name: str, value: str) -> OutgoingRequest:
    headers = {k: v for k, v in request.headers.items() if k.lower() != name.lower()}
    return replace(request, headers={**headers, name: value})


def _apply_basic(config: Config, request: OutgoingRequest, msg_id: str, ts: int) -> OutgoingRequest:
    pair = f"{config['username']}:{config['password']}".encode()
    return _with_header(request, "Authorization", "Basic " + base64.b64encode(pair).decode())


def _apply_bearer(config: Config, request: OutgoingRequest, msg_id: str, ts: int) -> OutgoingRequest:
    return _with_header(request, "Authorization", f"Bearer {config['token']}")


def _apply_api_key(config: Config, request: OutgoingRequest, msg_id: str, ts: int) -> OutgoingRequest:
    if config.get("in", "header") == "header":
        return _with_header(request, config["name"], config["value"])
    parts = urlsplit(request.url)
    pair = f"{quote(config['name'], safe='')}={quote(config['value'], safe='')}"
    query = f"{parts.query}&{pair}" if parts.query else pair
    return replace(request, url=parts._replace(query=query).geturl())


def _apply_standard_webhooks(
    config: Config, request: OutgoingRequest, msg_id: str, ts: int
) -> OutgoingRequest:
    signed = signing.signature_headers(config["secrets"], msg_id, ts, request.body)
    for name, value in signed.items():
        request = _with_header(request, name, value)
    return request


def _unchanged(config: Config, request: OutgoingRequest, msg_id: str, ts: int) -> OutgoingRequest:
    return request


AUTH_KINDS: dict[str, AuthKind] = {
    "none": AuthKind("No authentication", (), (), lambda config: {}, _unchanged),
    "basic": AuthKind("Basic", ("username", "password"), ("password",), _check_basic, _apply_basic),
    "bearer": AuthKind("Bearer token", ("token",), ("token",), _check_bearer, _apply_bearer),
    "api_key": AuthKind(
        "API key", ("name", "value", "in"), ("value",), _check_api_key, _apply_api_key, {"in": "header"}
    ),
    "standard_webhooks": AuthKind(
        "Standard Webhooks signature",
        ("secrets",),
        ("secrets",),
        _check_standard_webhooks,
        _apply_standard_webhooks,
    ),
}


def auth_choices() -> list[tuple[str, str]]:
    return [(name, kind.label) for name, kind in AUTH_KINDS.items()]


def validate_auth(config: Any, *, where: str = "auth") -> Config:
    """A clean auth config, or ConfigError with problems keyed by field path ("auth.password")."""
    if config is None:
        return {"kind": "none"}
    if not isinstance(config, dict):
        raise ConfigError({where: "must be an object with a kind"})
    kind = AUTH_KINDS.get(str(config.get("kind")))
    if kind is None:
        raise ConfigError({f"{where}.kind": f"must be one of {', '.join(AUTH_KINDS)}"})
    clean = {"kind": config["kind"], **(kind.defaults or {}), **config}
    problems = {field: "unknown field" for field in set(config) - {"kind", *kind.fields}}
    for field in kind.secret_fields:
        if _is_masked(clean.get(field)):
            problems[field] = "is masked: send the secret itself, or omit it to keep the stored one"
    problems = {**kind.check(clean), **problems}
    if problems:
        raise ConfigError({f"{where}.{field}": problem for field, problem in sorted(problems.items())})
    return clean


def apply_auth(
    config: Config, request: OutgoingRequest, *, message_id: str | None = None, timestamp: int | None = None
) -> OutgoingRequest:
    """The request with credentials added. Pass the same message_id on every retry of one message."""
    msg_id = message_id or "msg_" + random_tokens.token_urlsafe(18)
    ts = int(time.time()) if timestamp is None else timestamp
    return AUTH_KINDS[config.get("kind", "none")].apply(config, request, msg_id, ts)


def secret_header_names(config: Config) -> set[str]:
    """Headers that carry a secret, to drop when a redirect leaves the origin (outbound.send)."""
    kind = config.get("kind", "none")
    if kind in ("basic", "bearer"):
        return {"authorization"}
    if kind == "api_key" and config.get("in", "header") == "header":
        return {str(config["name"]).lower()}
    return set()


def _fingerprint(secret: str) -> str:
    return MASK + hashlib.sha256(secret.encode()).hexdigest()[:8]


def _is_masked(value: Any) -> bool:
    if isinstance(value, list):
        return any(_is_masked(item) for item in value)
    return isinstance(value, str) and value.startswith(MASK)


def _secret_fields(config: Config) -> tuple[str, ...]:
    kind = AUTH_KINDS.get(config.get("kind", "none"))
    return kind.secret_fields if kind else ()


def mask_auth(config: Config) -> Config:
    masked = dict(config)
    masked["set"] = {}
    for field in _secret_fields(config):
        value = config.get(field)
        if value:
            masked[field] = [_fingerprint(s) for s in value] if isinstance(value, list) else MASK
            masked["set"][field] = True
    return masked


def merge_auth(stored: Config | None, incoming: Config) -> Config:
    merged = {k: v for k, v in incoming.items() if k != "set"}
    if not stored or stored.get("kind") != merged.get("kind"):
        return merged
    for field in _secret_fields(merged):
        old, new = stored.get(field), merged.get(field, MASK)
        if isinstance(old, list) and isinstance(new, list):
            by_print = {_fingerprint(s): s for s in old}
            merged[field] = [by_print.get(item, item) if _is_masked(item) else item for item in new]
        elif old is not None and new == MASK:
            merged[field] = old
    return merged


def _convert(config: Config, change: Callable[[str], str]) -> Config:
    converted = dict(config)
    for field in _secret_fields(config):
        value = config.get(field)
        if isinstance(value, list):
            converted[field] = [change(item) for item in value]
        elif isinstance(value, str) and value:
            converted[field] = change(value)
    return converted


def encrypt_auth(config: Config) -> Config:
    return _convert(config, encrypt)


def decrypt_auth(config: Config) -> Config:
    return _convert(config, decrypt)
