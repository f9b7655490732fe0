"""A trigger's payload schema: setting it (sample, JSON Schema or none), showing it, listening for a
sample, and the validators the receive path uses, compiled once per published version."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from orchestrator.compiled_cache import CompiledCache
from triggers.models import PayloadKind, WebhookTrigger
from triggers.preview import preview_tree
from triggers.schemas import PayloadValidator, SchemaError, check_schema, compile_validator, infer_schema
from workflows.models import WorkflowVersion

MAX_SAMPLES = 20


class PayloadSchemaError(Exception):
    """The requested schema configuration is refused; ``path`` points at the problem in the request."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.message, self.path = message, path


def trigger_set_payload_schema(
    *, trigger: WebhookTrigger, kind: str, schema: Any = None, samples: Any = None
) -> WebhookTrigger:
    """Change the draft's payload schema; it takes effect when the workflow is published."""
    if kind == PayloadKind.SAMPLE:
        if not isinstance(samples, list) or not samples:
            raise PayloadSchemaError("Give at least one sample payload, as a list.", "/samples")
        if len(samples) > MAX_SAMPLES:
            raise PayloadSchemaError(f"Give at most {MAX_SAMPLES} samples.", "/samples")
        effective: Any = infer_schema(samples)
        samples_json = _dump(samples)
    elif kind == PayloadKind.JSON_SCHEMA:
        if not isinstance(schema, dict | bool):
            raise PayloadSchemaError("The schema must be a JSON object (or a boolean schema).", "/schema")
        try:
            check_schema(schema)
        except SchemaError as exc:
            raise PayloadSchemaError(exc.message, "/schema" + exc.path) from None
        effective, samples_json = schema, ""
    elif kind == PayloadKind.NONE:
        effective, samples_json = None, ""
    else:
        raise PayloadSchemaError("kind must be one of: none, sample, json_schema.", "/kind")
    trigger.payload_kind = kind
    trigger.payload_schema_json = "" if effective is None else _dump(effective)
    trigger.payload_samples_json = samples_json
    trigger.save(update_fields=["payload_kind", "payload_schema_json", "payload_samples_json", "updated_at"])
    return trigger


def trigger_payload_schema_view(*, trigger: WebhookTrigger) -> dict[str, Any]:
    """What the API shows: the kind, the effective JSON Schema, the samples and the preview tree."""
    schema = json.loads(trigger.payload_schema_json) if trigger.payload_schema_json else None
    samples = json.loads(trigger.payload_samples_json) if trigger.payload_samples_json else None
    preview = [] if schema is None else preview_tree(schema, samples)
    return {"kind": trigger.payload_kind, "schema": schema, "samples": samples, "preview": preview}


def trigger_payload_snapshot(*, trigger: WebhookTrigger) -> dict[str, Any] | None:
    """The schema as frozen into a published version: JSON text, safe for any JSON column."""
    if trigger.payload_kind == PayloadKind.NONE or not trigger.payload_schema_json:
        return None
    return {"kind": trigger.payload_kind, "schema": trigger.payload_schema_json}


# --- Listening for a sample -------------------------------------------------------------------------


def trigger_listen_start(*, trigger: WebhookTrigger) -> WebhookTrigger:
    trigger.listen_until = timezone.now() + timedelta(seconds=settings.TRIGGER_LISTEN_SECONDS)
    trigger.save(update_fields=["listen_until", "updated_at"])
    return trigger


def trigger_listen_stop(*, trigger: WebhookTrigger) -> WebhookTrigger:
    trigger.listen_until = None
    trigger.save(update_fields=["listen_until", "updated_at"])
    return trigger


def trigger_is_listening(*, trigger: WebhookTrigger) -> bool:
    return trigger.listen_until is not None and trigger.listen_until > timezone.now()


def trigger_capture_sample(*, trigger: WebhookTrigger, payload: Any) -> bool:
    """Make ``payload`` the trigger's sample, if it is still listening. Of concurrent requests only one
    wins: the conditional update ends the listening window in the same statement."""
    now = timezone.now()
    won = WebhookTrigger.objects.filter(pk=trigger.pk, listen_until__gt=now).update(
        listen_until=None, sample_captured_at=now, updated_at=now
    )
    if won:
        trigger_set_payload_schema(trigger=trigger, kind=PayloadKind.SAMPLE, samples=[payload])
    return bool(won)


def trigger_listen_view(*, trigger: WebhookTrigger) -> dict[str, Any]:
    samples = json.loads(trigger.payload_samples_json) if trigger.payload_samples_json else None
    return {
        "listening": trigger_is_listening(trigger=trigger),
        "listen_until": trigger.listen_until if trigger_is_listening(trigger=trigger) else None,
        "captured_at": trigger.sample_captured_at,
        "captured": samples[0] if samples and trigger.sample_captured_at else None,
    }


# --- Validators, compiled once per schema text ---------------------------------------------------------

_VALIDATORS: CompiledCache[PayloadValidator] = CompiledCache(lambda text: compile_validator(json.loads(text)))


def version_validator(*, version: WorkflowVersion) -> PayloadValidator | None:
    """The version's payload validator, or None when its trigger takes no payload."""
    snapshot = (version.snapshot.get("trigger") or {}).get("payload_schema")
    return _VALIDATORS.get(snapshot["schema"]) if snapshot else None


def _dump(value: Any) -> str:
    # ensure_ascii keeps \u0000 and lone surrogates as escapes: the text is safe in every database.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
