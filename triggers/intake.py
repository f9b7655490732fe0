"""The webhook receive path: find the trigger, check the request, validate, then commit the delivery
and its queued run in one transaction and wake a worker after the commit. Nothing slow happens here.

Stages raise ``Rejection``; every rejection of a request that reached a real trigger is logged.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db import transaction

from orchestrator.jsonsafe import json_safe
from triggers.dedupe import Duplicate, dedupe_claim, dedupe_key
from triggers.inbound import InboundRequest, Rejection, Response, read_body
from triggers.intake_store import Found, store_accepted
from triggers.models import Delivery, DeliveryOutcome, WebhookTrigger
from triggers.parsing import PayloadError, is_empty_body, parse_payload
from triggers.payload_schema import trigger_capture_sample, trigger_is_listening, version_validator
from triggers.rate_limit import Refusal, trigger_rate_limit, trigger_rate_limit_check
from triggers.services import trigger_key_matches
from triggers.trigger_cache import trigger_find
from triggers.trigger_filters import version_filter
from triggers.trigger_signature import trigger_check_signature
from workflows.dispatch import run_dispatch_on_commit
from workflows.models import Run, WorkflowVersion

logger = logging.getLogger(__name__)

# Headers that carry credentials are never stored: a delivery log is read by people.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token", "x-webhook-key"}
)


class _Recheck(Exception):
    """Raised where a decision taken on a cached trigger is about to be answered or written, except
    an accepted webhook's, which the database confirms itself (triggers/trigger_cache.py)."""


NOT_FOUND = Response(
    404,
    {
        "error": "not_found",
        "detail": "No webhook at this URL. Copy the URL again from the workflow's trigger: "
        "it changes when the key is regenerated.",
    },
)


def webhook_receive(*, public_id: str, key: str, request: InboundRequest) -> Response:
    found = trigger_find(public_id=public_id)
    if found is not None and found.cached:
        try:
            return _receive(found, key, request)
        except _Recheck:
            found = trigger_find(public_id=public_id, fresh=True)
    if found is None:
        return NOT_FOUND
    return _receive(found, key, request)


def _confirm(found: Found) -> None:
    if found.cached:
        raise _Recheck


def _receive(found: Found, key: str, request: InboundRequest) -> Response:
    trigger, version = found.trigger, found.version
    body = b""
    try:
        if not trigger_key_matches(trigger=trigger, key=key):
            # Logged against the real trigger, but answered exactly like an unknown URL: no oracle.
            raise Rejection(404, "invalid_key", NOT_FOUND.body["detail"])
        refusal = _rate_limit(trigger, request)
        if refusal is not None:
            _confirm(found)
            return _rate_limited(trigger, version, request, refusal)
        _check_request(request)
        if trigger.signature:
            body = read_body(request)
            _check_signature(trigger, request, body)
        if trigger.listen_until is not None and trigger_is_listening(trigger=trigger):
            _confirm(found)
            body = body or read_body(request)
            captured = _capture(trigger, version, request, body)
            if captured is not None:
                return captured
        if version is None:
            raise Rejection(
                409,
                "workflow_not_published",
                "This workflow is not published, so its webhook is off. "
                "Publish the workflow to accept requests.",
            )
        body = body or read_body(request)
        payload = _validate(version, request, body)
        filtered = _filter(version, request, payload)
    except Rejection as rejection:
        _confirm(found)
        _log_rejection(trigger, version, request, body, rejection)
        if rejection.error == "invalid_key":
            return NOT_FOUND
        return Response(rejection.status, rejection.body(), rejection.headers)
    if filtered is not None:
        _confirm(found)
        _delivery(
            trigger,
            version,
            request,
            body,
            outcome=DeliveryOutcome.FILTERED,
            status_code=200,
            detail={"failed_condition": json_safe(filtered)},
        ).save()
        return Response(200, {"status": "filtered", "detail": filtered.get("message", "")})
    return _accept(found, request, body, payload)


def _rate_limit(trigger: WebhookTrigger, request: InboundRequest) -> Refusal | None:
    limit = trigger_rate_limit(trigger=trigger)
    # Counted once, unless the second pass (a fresh read of the trigger) finds another limit: a limit
    # changed meanwhile applies at once, to this request too, which the new limit then counts again
    # (the one request that meets the change is counted under both).
    if request.limit_checked is None or request.limit_checked[0] != limit:
        first = request.limit_checked[1] if request.limit_checked else None
        refusal = trigger_rate_limit_check(trigger=trigger, limit=limit)
        if refusal is not None and first is not None and first.report > refusal.report:
            # The first pass took this window's report; the refusal recorded must carry it.
            refusal = replace(refusal, report=first.report)
        request.limit_checked = (limit, refusal)
    return request.limit_checked[1]


def _rate_limited(
    trigger: WebhookTrigger, version: WorkflowVersion | None, request: InboundRequest, refusal: Refusal
) -> Response:
    """429 before anything else of the request is looked at, its body unread. Only the first refusal
    of a minute is recorded as a delivery, with the number refused since the last one recorded: a
    flood must not flood the delivery log."""
    detail = (
        f"This webhook accepts at most {refusal.limit} requests a minute. "
        f"Retry after {refusal.retry_after} seconds."
    )
    if refusal.report:
        _delivery(
            trigger,
            version,
            request,
            b"",
            outcome=DeliveryOutcome.REJECTED,
            status_code=429,
            error="rate_limited",
            detail={"detail": detail, "refused_since_last_recorded": refusal.report},
        ).save()
    return Response(
        429,
        {"error": "rate_limited", "detail": detail, "retry_after": refusal.retry_after},
        {"Retry-After": str(refusal.retry_after)},
    )


def _check_request(request: InboundRequest) -> None:
    if request.method != "POST":
        raise Rejection(
            405,
            "method_not_allowed",
            f"Webhooks accept POST only, not {request.method}.",
            headers={"Allow": "POST"},
        )
    cap = settings.WEBHOOK_MAX_BODY_BYTES
    if request.declared_length is not None and request.declared_length > cap:
        raise Rejection(413, "payload_too_large", f"The body is larger than the limit of {cap} bytes.")
    if request.chunked_unsupported:
        raise Rejection(
            411,
            "length_required",
            "This server cannot read chunked bodies; send the request with a Content-Length.",
        )


def _parse(request: InboundRequest, body: bytes) -> Any:
    try:
        return parse_payload(
            body,
            request.content_type,
            max_depth=settings.WEBHOOK_MAX_DEPTH,
            max_keys=settings.WEBHOOK_MAX_KEYS,
        )
    except PayloadError as exc:
        raise Rejection(exc.status, exc.code, exc.detail) from None


def _validate(version: WorkflowVersion, request: InboundRequest, body: bytes) -> Any:
    """The payload stage: returns the parsed payload, or raises the rejection that explains why not."""
    validator = version_validator(version=version)
    if validator is None:
        if body:  # without a schema the body must be empty, whatever its content type
            raise Rejection(
                422,
                "body_not_allowed",
                "This trigger has no payload schema, so the body must be empty. "
                "Add a payload schema to the trigger to accept data.",
            )
        return None
    if is_empty_body(body):
        raise Rejection(
            422,
            "body_required",
            "This trigger expects a payload that matches its schema, and the body is empty.",
        )
    payload = _parse(request, body)
    errors = validator.errors(payload, limit=settings.WEBHOOK_MAX_REPORTED_ERRORS)
    if errors:
        first = errors[0]
        where = first["path"] or "the payload"
        raise Rejection(
            422,
            "payload_invalid",
            f"The payload does not match the trigger's schema: at {where}, {first['message']}",
            errors=errors,
        )
    return payload


def _check_signature(trigger: WebhookTrigger, request: InboundRequest, body: bytes) -> None:
    result = trigger_check_signature(trigger=trigger, headers=request.headers, body=body)
    if result is not None and not result.ok:
        # The reason helps an honest sender fix its setup and holds no secret and no expected value.
        raise Rejection(401, "signature_invalid", f"The request's signature was refused: {result.reason}.")


def _filter(version: WorkflowVersion, request: InboundRequest, payload: Any) -> dict[str, Any] | None:
    """None when the request passes the version's filters, else the condition that stopped it.

    Answered 200, not 4xx: the request was fine, the user chose not to act on it, and a sender must
    not retry it."""
    compiled = version_filter(version=version)
    if compiled is None:
        return None
    try:
        result = compiled.evaluate(payload, request.headers, request.query)
    except Exception:
        # Fail open: an accepted event can be inspected and replayed; a dropped one is gone.
        logger.exception("filter evaluation failed for version %s; accepting the request", version.pk)
        return None
    if result.passed:
        return None
    return result.failed_condition or {"message": "the filters did not pass"}


def _capture(
    trigger: WebhookTrigger, version: WorkflowVersion | None, request: InboundRequest, body: bytes
) -> Response | None:
    """While the trigger listens, the next request's payload becomes its sample and starts no run."""
    if is_empty_body(body):
        raise Rejection(
            400,
            "sample_empty",
            "The trigger is listening for a sample: send a JSON or form payload to capture.",
        )
    payload = _parse(request, body)
    if not trigger_capture_sample(trigger=trigger, payload=payload):
        return None  # another request was captured first: handle this one normally
    _delivery(trigger, version, request, body, outcome=DeliveryOutcome.CAPTURED, status_code=202).save()
    return Response(202, {"status": "captured", "detail": "Sample captured; publish the workflow to use it."})


def _request_fields(request: InboundRequest, body: bytes) -> dict[str, Any]:
    """The request's part of its delivery row."""
    return {
        "method": request.method[:10],
        "content_type": request.content_type[:200],
        "body": body,
        "body_size": len(body) if body else (request.declared_length or 0),
        "headers": {k: v for k, v in request.headers.items() if k not in SECRET_HEADERS},
        "query_string": request.query_string,
    }


def _delivery(
    trigger: WebhookTrigger,
    version: WorkflowVersion | None,
    request: InboundRequest,
    body: bytes,
    **fields: Any,
) -> Delivery:
    return Delivery(
        workflow_id=trigger.workflow_id,
        trigger=trigger,
        version_id=version.pk if version else None,
        **_request_fields(request, body),
        **fields,
    )


def _log_rejection(
    trigger: WebhookTrigger,
    version: WorkflowVersion | None,
    request: InboundRequest,
    body: bytes,
    rejection: Rejection,
) -> None:
    detail: dict[str, Any] = {"detail": rejection.detail}
    if rejection.errors is not None:
        detail["errors"] = rejection.errors
    detail = json_safe(detail)  # error paths and messages quote the sender's keys and values
    _delivery(
        trigger,
        version,
        request,
        body,
        outcome=DeliveryOutcome.REJECTED,
        status_code=rejection.status,
        error=rejection.error,
        detail=detail,
    ).save()


def _accept(found: Found, request: InboundRequest, body: bytes, payload: Any) -> Response:
    """Commit the delivery and its queued run together; a repeated delivery id gets the first run."""
    trigger, version = found.trigger, found.version
    assert version is not None
    dedupe = (version.snapshot.get("trigger") or {}).get("dedupe")
    key = dedupe_key(config=dedupe, headers=request.headers, query=request.query,
                     payload=payload)  # fmt: skip
    if not (key and dedupe):
        # The common case, in one statement: see triggers/intake_store.py.
        run_id = store_accepted(found=found, fields=_request_fields(request, body))
        if run_id is None:  # the cached trigger or workflow changed: nothing was written
            raise _Recheck
        run_dispatch_on_commit(run_id=run_id, workflow_id=trigger.workflow_id)
        return Response(202, {"run_id": run_id, "status": "queued"})
    _confirm(found)
    try:
        with transaction.atomic():
            delivery = _delivery(
                trigger, version, request, body, outcome=DeliveryOutcome.ACCEPTED, status_code=202
            )
            delivery.save()
            run = Run.objects.create(workflow_id=trigger.workflow_id, version=version, delivery=delivery)
            dedupe_claim(trigger_id=trigger.pk, key=key, run_id=run.pk, window_seconds=dedupe["window"])
            run_dispatch_on_commit(run_id=run.pk, workflow_id=trigger.workflow_id)
    except Duplicate as duplicate:
        detail = {"detail": "a delivery with this id was accepted before", "key": duplicate.key,
                  "original_run": duplicate.run_id}  # fmt: skip
        _delivery(
            trigger, version, request, body, outcome=DeliveryOutcome.DUPLICATE, status_code=200, detail=detail
        ).save()
        return Response(200, {"run_id": duplicate.run_id, "status": "duplicate"})
    return Response(202, {"run_id": run.pk, "status": "queued"})
