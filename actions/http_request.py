"""Send HTTP Request: the action that tells other systems that something happened."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from actions import outbound
from actions.registry import ConfigError, StepContext, StepOutcome, register

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


class HttpRequestAction:
    type = "http_request"
    label = "Send HTTP Request"

    def validate_config(self, config: Any) -> dict[str, Any]:
        if not isinstance(config, dict):
            raise ConfigError({"config": "must be an object"})
        errors: dict[str, str] = {}
        unknown = set(config) - {"method", "url", "headers", "body", "timeout"}
        for key in sorted(unknown):
            errors[key] = "unknown field"
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
        if errors:
            raise ConfigError(errors)
        clean = {"method": method, "url": url, "headers": headers, "body": config.get("body")}
        clean["timeout"] = timeout
        return clean

    def timeout_seconds(self, config: dict[str, Any]) -> float:
        return float(config.get("timeout", settings.HTTP_ACTION_DEFAULT_TIMEOUT_SECONDS))

    def execute(self, config: dict[str, Any], context: StepContext) -> StepOutcome:
        headers = dict(config.get("headers") or {})
        body = config.get("body")
        data = None
        if body is not None and config["method"] not in ("GET", "HEAD"):
            data = json.dumps(body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        request_record = {"method": config["method"], "url": config["url"], "headers": headers, "body": body}
        try:
            response = outbound.send(
                method=config["method"],
                url=config["url"],
                headers=headers,
                data=data,
                timeout=self.timeout_seconds(config),
            )
        except outbound.OutboundError as exc:
            return StepOutcome(succeeded=False, input=request_record, error=str(exc))
        stored = settings.HTTP_ACTION_STORED_BODY_BYTES
        output = {
            "status": response.status,
            "headers": response.headers,
            "body": response.body[:stored].decode("utf-8", errors="replace"),
            "body_truncated": response.truncated or len(response.body) > stored,
            "duration_ms": round(response.duration_ms, 1),
        }
        if 200 <= response.status < 300:
            return StepOutcome(succeeded=True, input=request_record, output=output)
        return StepOutcome(
            succeeded=False, input=request_record, output=output, error=f"receiver answered {response.status}"
        )


register(HttpRequestAction())
