"""The Send HTTP Request configuration: what a user may set, checked on save with the path of each
problem, and the write-only, encrypted-at-rest handling of its auth secrets.

```
{"method": "POST", "url": "https://api.example.com/items/{{ trigger.body.id }}",
 "query": {"source": "{{ workflow.name }}"},
 "headers": {"X-Request-Id": "{{ trigger.headers.x-request-id }}"},
 "body_type": "json" | "text" | "form" | "none", "body": ..., "content_type": "text/csv",
 "auth": {"kind": "bearer", "token": "..."}, "timeout": 10, "success_statuses": ["2xx", 304],
 "retry": {"max_attempts": 6, "schedule": [5, 30, 120]}, "follow_redirects": false,
 "continue_on_failure": false}
```
Every string may be a template (actions/templating.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from actions.auth import decrypt_auth, encrypt_auth, mask_auth, merge_auth, validate_auth
from actions.registry import ConfigError
from actions.retry import validate_policy
from actions.templating import template_errors

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
BODY_TYPES = ("json", "text", "form", "none")
FIELDS = {
    "method", "url", "query", "headers", "body_type", "body", "content_type", "auth", "timeout",
    "success_statuses", "retry", "follow_redirects", "continue_on_failure",
}  # fmt: skip


def validate_http_config(config: Any) -> dict[str, Any]:
    """The clean configuration (secrets in plain text), or ConfigError keyed by field path."""
    if not isinstance(config, dict):
        raise ConfigError({"config": "must be an object"})
    errors: dict[str, str] = {key: "unknown field" for key in sorted(set(config) - FIELDS)}
    clean: dict[str, Any] = {}
    clean["method"] = str(config.get("method", "POST")).upper()
    if clean["method"] not in METHODS:
        errors["method"] = f"must be one of {', '.join(METHODS)}"
    clean["url"] = config.get("url")
    errors.update(_url_problems(clean["url"]))
    for field in ("query", "headers"):
        clean[field] = config.get(field) or {}
        errors.update(_string_map_problems(clean[field], field, headers=field == "headers"))
    clean.update(_body(config, errors))
    clean["timeout"] = config.get("timeout", settings.HTTP_ACTION_DEFAULT_TIMEOUT_SECONDS)
    limit = settings.HTTP_ACTION_MAX_TIMEOUT_SECONDS
    timeout = clean["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= limit:
        errors["timeout"] = f"must be a number of seconds above 0 and at most {limit:g}"
    clean["success_statuses"] = config.get("success_statuses", ["2xx"])
    if parse_statuses(clean["success_statuses"]) is None:
        errors["success_statuses"] = 'must be a list of status codes (200) and classes ("2xx")'
    for flag in ("follow_redirects", "continue_on_failure"):
        clean[flag] = config.get(flag, False)
        if not isinstance(clean[flag], bool):
            errors[flag] = "must be true or false"
    for field, check in (("retry", validate_policy), ("auth", validate_auth)):
        try:
            check(config.get(field))
        except ConfigError as exc:
            errors.update(exc.fields)
    if config.get("retry") is not None:
        clean["retry"] = config["retry"]
    clean["auth"] = config.get("auth") or {"kind": "none"}
    errors.update(template_errors({k: clean[k] for k in ("url", "query", "headers", "body")}, path="")
                  if not errors.get("url") else {})  # fmt: skip
    if errors:
        raise ConfigError({key.lstrip("."): problem for key, problem in errors.items()})
    return clean


def parse_statuses(value: Any) -> frozenset[int] | None:
    """["2xx", 304] -> every status it names; None when the value is not such a list."""
    if not isinstance(value, list) or not value:
        return None
    statuses: set[int] = set()
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
            statuses.add(item)
        elif isinstance(item, str) and len(item) == 3 and item[0] in "12345" and item[1:].lower() == "xx":
            first = int(item[0]) * 100
            statuses.update(range(first, first + 100))
        else:
            return None
    return frozenset(statuses)


def _url_problems(url: Any) -> dict[str, str]:
    if not isinstance(url, str) or not url:
        return {"url": "is required"}
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "{{" in parts.scheme + parts.netloc:
        # Substituted values are URL-encoded, so the scheme and host must be written out.
        return {"url": "must be an absolute http:// or https:// URL whose host is written out"}
    return {}


def _string_map_problems(value: Any, field: str, *, headers: bool) -> dict[str, str]:
    if not isinstance(value, dict):
        return {field: "must be an object of names to text"}
    problems = {}
    for name, item in value.items():
        if not isinstance(item, str):
            problems[f"{field}.{name}"] = "must be text"
        elif headers and any(c in name + item for c in "\r\n\0"):
            problems[f"{field}.{name}"] = "must not contain line breaks"
    return problems


def _body(config: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    body_type = config.get("body_type", "json")
    body = config.get("body")
    if body_type not in BODY_TYPES:
        errors["body_type"] = f"must be one of {', '.join(BODY_TYPES)}"
    elif body_type == "text" and not isinstance(body, str):
        errors["body"] = "must be text when body_type is text"
    elif body_type == "form":
        errors.update(_string_map_problems(body, "body", headers=False) if body is not None else {})
    content_type = config.get("content_type", "text/plain; charset=utf-8")
    if not isinstance(content_type, str) or any(c in content_type for c in "\r\n\0"):
        errors["content_type"] = "must be a media type on one line"
    clean = {"body_type": body_type, "body": body}
    if body_type == "text":
        clean["content_type"] = content_type
    return clean


# --- Secrets: write-only in the API, encrypted at rest ---------------------------------------------


def merge_http_config(previous: dict[str, Any] | None, incoming: Any) -> Any:
    """An update that sends an auth secret back masked, or leaves it out, keeps the stored one."""
    if not isinstance(incoming, dict) or not isinstance(incoming.get("auth"), dict):
        return incoming
    merged = dict(incoming)
    stored_auth = (
        decrypt_auth(previous["auth"]) if previous and isinstance(previous.get("auth"), dict) else None
    )
    merged["auth"] = merge_auth(stored_auth, incoming["auth"])
    return merged


def seal_http_config(clean: dict[str, Any]) -> dict[str, Any]:
    return {**clean, "auth": encrypt_auth(clean["auth"])}


def open_http_config(stored: dict[str, Any]) -> dict[str, Any]:
    """The config with its secrets decrypted. Only the top level and auth are copies: the rest is
    shared with ``stored`` (a published snapshot, itself shared by every run), so it is read, never
    changed. (A deep copy per step cost ~4% of the engine's CPU per run.)"""
    config = dict(stored)
    if isinstance(config.get("auth"), dict):
        config["auth"] = decrypt_auth(config["auth"])
    return config


def public_http_config(stored: dict[str, Any]) -> dict[str, Any]:
    config = dict(stored)
    if isinstance(config.get("auth"), dict):
        config["auth"] = mask_auth(decrypt_auth(config["auth"]))
    return config
