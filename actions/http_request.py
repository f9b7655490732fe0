"""Send HTTP Request: the action that tells other systems that something happened.

``prepare`` renders the configuration's templates against the run's data (a failure names the
expression and is final); ``send`` adds the idempotency key and credentials (a Standard Webhooks
signature is made fresh for each attempt, over the same message id) and goes through the one
outbound door, ``actions.outbound``, which owns timeouts, the SSRF guard, redirects and size caps.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from actions import outbound
from actions.auth import OutgoingRequest, apply_auth, secret_header_names
from actions.http_config import (
    merge_http_config,
    open_http_config,
    parse_statuses,
    public_http_config,
    seal_http_config,
    validate_http_config,
)
from actions.registry import Prepared, Sent, StepContext, StepFailed, register
from actions.retry import RetryPolicy, validate_policy
from actions.templating import (
    TemplateError,
    build_context,
    render_header,
    render_json_body,
    render_text,
    render_url,
)


class HttpRequestAction:
    type = "http_request"
    label = "Send HTTP Request"

    validate_config = staticmethod(validate_http_config)
    merge_config = staticmethod(merge_http_config)
    seal_config = staticmethod(seal_http_config)
    open_config = staticmethod(open_http_config)
    public_config = staticmethod(public_http_config)

    def timeout_seconds(self, config: dict[str, Any]) -> float:
        return float(config["timeout"])

    def retry_policy(self, config: dict[str, Any]) -> RetryPolicy:
        return validate_policy(config.get("retry"))

    def prepare(self, config: dict[str, Any], context: StepContext) -> Prepared:
        data = build_context(
            trigger=context.trigger,
            steps=context.steps,
            run_id=context.run_id,
            workflow_name=context.workflow_name,
        )
        try:
            url = render_url(config["url"], data)
            query = {name: render_text(value, data) for name, value in config["query"].items()}
            headers = {name: render_header(value, data) for name, value in config["headers"].items()}
            body, content_type = _render_body(config, data)
        except TemplateError as exc:
            raise StepFailed(f"template failed: {exc}") from None
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        if content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type
        record = {
            "method": config["method"],
            "url": url,
            "headers": headers,
            "body": body.decode("utf-8", errors="replace") if body else "",
            "auth": config["auth"].get("kind", "none"),  # the kind only: credentials are never logged
        }
        return Prepared(
            record=record, payload={"config": config, "url": url, "headers": headers, "body": body}
        )

    def send(self, prepared: Prepared, *, idempotency_key: str) -> Sent:
        config, auth = prepared.payload["config"], prepared.payload["config"]["auth"]
        request = OutgoingRequest(
            method=config["method"],
            url=prepared.payload["url"],
            headers={"Idempotency-Key": idempotency_key, **prepared.payload["headers"]},
            body=prepared.payload["body"],
        )
        request = apply_auth(auth, request, message_id=idempotency_key)
        try:
            response = outbound.send(
                method=request.method,
                url=request.url,
                headers=request.headers,
                data=request.body or None,
                timeout=float(config["timeout"]),
                follow_redirects=config["follow_redirects"],
                secret_headers=secret_header_names(auth),
            )
        except outbound.OutboundError as exc:
            return Sent(succeeded=False, error=str(exc), retryable=exc.retryable)
        stored = settings.HTTP_ACTION_STORED_BODY_BYTES
        output = {
            "status": response.status,
            "headers": response.headers,
            "body": _parsed(response.body[:stored], response.headers),
            "body_truncated": response.truncated or len(response.body) > stored,
            "duration_ms": round(response.duration_ms, 1),
        }
        ok = response.status in (parse_statuses(config["success_statuses"]) or ())
        return Sent(
            succeeded=ok,
            output=output,
            error="" if ok else f"receiver answered {response.status}",
            status=response.status,
            retry_after=_header(response.headers, "retry-after"),
            duration_ms=response.duration_ms,
        )


def _render_body(config: dict[str, Any], data: dict[str, Any]) -> tuple[bytes, str]:
    body_type, body = config["body_type"], config["body"]
    if body_type == "none" or body is None or config["method"] in ("GET", "HEAD"):
        return b"", ""
    if body_type == "text":
        return render_text(body, data).encode(), config["content_type"]
    if body_type == "form":
        fields = {name: render_text(value, data) for name, value in body.items()}
        return urlencode(fields).encode(), "application/x-www-form-urlencoded"
    rendered = render_json_body(body, data)
    try:
        return json.dumps(rendered, separators=(",", ":"), allow_nan=False).encode(), "application/json"
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"the body is not JSON after rendering: {exc}") from None


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _parsed(raw: bytes, headers: dict[str, str]) -> Any:
    """JSON responses are parsed, so later steps can use ``steps.<name>.response.body.id``."""
    text = raw.decode("utf-8", errors="replace")
    if "json" in (_header(headers, "content-type") or ""):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


register(HttpRequestAction())
