"""Send HTTP Request: the action that tells other systems that something happened."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from actions import outbound
from actions.registry import ConfigError, Prepared, Sent, StepContext, register
from actions.retry import RetryPolicy, validate_policy

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
FIELDS = {"method", "url", "headers", "body", "timeout", "retry", "continue_on_failure"}


class HttpRequestAction:
    type = "http_request"
    label = "Send HTTP Request"

    def validate_config(self, config: Any) -> dict[str, Any]:
        if not isinstance(config, dict):
            raise ConfigError({"config": "must be an object"})
        errors: dict[str, str] = {key: "unknown field" for key in sorted(set(config) - FIELDS)}
        method = str(config.get("method", "POST")).upper()
        if method not in METHODS:
            errors["method"] = f"must be one of {', '.join(METHODS)}"
        url = config.get("url")
        if not isinstance(url, str) or not url:
            errors["url"] = "is required"
        else:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                errors["url"] = "must be an absolute http:// or https:// URL"
        headers = config.get("headers", {})
        if not isinstance(headers, dict):
            errors["headers"] = "must be an object of header names to values"
        else:
            for name, value in headers.items():
                if not isinstance(value, str):
                    errors[f"headers.{name}"] = "must be a string"
                elif "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                    errors[f"headers.{name}"] = "must not contain line breaks"
        timeout = config.get("timeout", settings.HTTP_ACTION_DEFAULT_TIMEOUT_SECONDS)
        limit = settings.HTTP_ACTION_MAX_TIMEOUT_SECONDS
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= limit:
            errors["timeout"] = f"must be a number of seconds above 0 and at most {limit:g}"
        continue_on_failure = config.get("continue_on_failure", False)
        if not isinstance(continue_on_failure, bool):
            errors["continue_on_failure"] = "must be true or false"
        try:
            validate_policy(config.get("retry"))
        except ConfigError as exc:
            errors.update(exc.fields)
        if errors:
            raise ConfigError(errors)
        clean = {
            "method": method,
            "url": url,
            "headers": headers,
            "body": config.get("body"),
            "timeout": timeout,
        }
        if "retry" in config:
            clean["retry"] = config["retry"]
        if continue_on_failure:
            clean["continue_on_failure"] = True
        return clean

    def timeout_seconds(self, config: dict[str, Any]) -> float:
        return float(config.get("timeout", settings.HTTP_ACTION_DEFAULT_TIMEOUT_SECONDS))

    def retry_policy(self, config: dict[str, Any]) -> RetryPolicy:
        return validate_policy(config.get("retry"))

    def prepare(self, config: dict[str, Any], context: StepContext) -> Prepared:
        headers = dict(config.get("headers") or {})
        body = config.get("body")
        data = None
        if body is not None and config["method"] not in ("GET", "HEAD"):
            data = json.dumps(body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        record = {"method": config["method"], "url": config["url"], "headers": headers, "body": body}
        request = {**record, "data": data, "timeout": self.timeout_seconds(config)}
        return Prepared(record=record, payload=request)

    def send(self, prepared: Prepared, *, idempotency_key: str) -> Sent:
        request = prepared.payload
        headers = {"Idempotency-Key": idempotency_key, **request["headers"]}
        try:
            response = outbound.send(
                method=request["method"],
                url=request["url"],
                headers=headers,
                data=request["data"],
                timeout=request["timeout"],
            )
        except outbound.OutboundError as exc:
            return Sent(succeeded=False, error=str(exc), retryable=exc.retryable)
        stored = settings.HTTP_ACTION_STORED_BODY_BYTES
        output = {
            "status": response.status,
            "headers": response.headers,
            "body": _body(response.body[:stored], response.headers),
            "body_truncated": response.truncated or len(response.body) > stored,
            "duration_ms": round(response.duration_ms, 1),
        }
        ok = 200 <= response.status < 300
        return Sent(
            succeeded=ok,
            output=output,
            error="" if ok else f"receiver answered {response.status}",
            status=response.status,
            retry_after=_header(response.headers, "retry-after"),
            duration_ms=response.duration_ms,
        )


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _body(raw: bytes, headers: dict[str, str]) -> Any:
    """JSON responses are parsed, so later steps can use ``steps.<name>.response.body.id``."""
    text = raw.decode("utf-8", errors="replace")
    if "json" in (_header(headers, "content-type") or ""):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


register(HttpRequestAction())
