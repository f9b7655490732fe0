"""Webhook triggers: creating them, their secret URL, and rotating its key."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from actions.registry import ConfigError
from orchestrator.crypto import decrypt, encrypt, secret_digest
from triggers.dedupe import dedupe_snapshot
from triggers.filter_paths import PathError, parse_field
from triggers.models import WebhookTrigger
from triggers.payload_schema import trigger_payload_snapshot
from triggers.rate_limit import rate_limit_validate
from workflows.models import Workflow

logger = logging.getLogger("orchestrator.audit")


def _new_key() -> str:
    # 32 bytes from the OS CSPRNG: 256 bits, far above the 128 the design asks for.
    return secrets.token_urlsafe(32)


def _key_fields(key: str) -> dict[str, Any]:
    return {
        "key_digest": secret_digest(key),
        "key_prefix": key[:4],
        "key_encrypted": encrypt(key),
        "key_rotated_at": timezone.now(),
    }


def trigger_ensure(*, workflow: Workflow) -> tuple[WebhookTrigger, bool]:
    """Create the workflow's webhook trigger, or return the one it has (PUT is idempotent)."""
    with transaction.atomic():
        existing = WebhookTrigger.objects.select_for_update().filter(workflow=workflow).first()
        if existing is not None:
            return existing, False
        trigger = WebhookTrigger.objects.create(
            workflow=workflow, public_id=secrets.token_urlsafe(12), **_key_fields(_new_key())
        )
    return trigger, True


def trigger_regenerate_key(*, trigger: WebhookTrigger, user: User | AnonymousUser) -> WebhookTrigger:
    """Give the trigger a new key. The old URL is refused from the moment this commits."""
    for field, value in _key_fields(_new_key()).items():
        setattr(trigger, field, value)
    trigger.save(update_fields=["key_digest", "key_prefix", "key_encrypted", "key_rotated_at", "updated_at"])
    logger.info(
        "webhook key regenerated trigger=%s workflow=%s by user=%s",
        trigger.public_id,
        trigger.workflow_id,
        user.pk,
    )
    return trigger


def trigger_delete(*, trigger: WebhookTrigger) -> None:
    trigger.delete()


def trigger_key_matches(*, trigger: WebhookTrigger, key: str) -> bool:
    return secrets.compare_digest(secret_digest(key), trigger.key_digest)


def trigger_webhook_url(*, trigger: WebhookTrigger) -> str:
    return f"{settings.PUBLIC_BASE_URL}/hooks/{trigger.public_id}/{decrypt(trigger.key_encrypted)}"


def trigger_snapshot(*, trigger: WebhookTrigger | None) -> dict[str, Any] | None:
    """The part of the trigger's configuration that is frozen when the workflow is published."""
    if trigger is None:
        return None
    return {
        "payload_schema": trigger_payload_snapshot(trigger=trigger),
        "filters": trigger.filters,
        "dedupe": dedupe_snapshot(field=trigger.dedupe_field, window_seconds=trigger.dedupe_window_seconds),
    }


MAX_DEDUPE_WINDOW = 30 * 24 * 3600


def trigger_update_settings(*, trigger: WebhookTrigger, changes: dict[str, Any]) -> WebhookTrigger:
    """Change the trigger's own settings; ConfigError keyed by field. Deduplication is part of the draft
    (it applies once published); the rate limit applies at once."""
    errors: dict[str, str] = {}
    unknown = set(changes) - {"dedupe_field", "dedupe_window_seconds", "rate_limit_per_minute"}
    errors.update({name: "unknown or read-only field" for name in sorted(unknown)})
    field = changes.get("dedupe_field", trigger.dedupe_field)
    if not isinstance(field, str):
        errors["dedupe_field"] = "must be a field path such as headers.X-Request-Id or event.id"
    elif field:
        try:
            parse_field(field)
        except PathError as exc:
            errors["dedupe_field"] = str(exc)
    window = changes.get("dedupe_window_seconds", trigger.dedupe_window_seconds)
    if isinstance(window, bool) or not isinstance(window, int) or not 0 <= window <= MAX_DEDUPE_WINDOW:
        errors["dedupe_window_seconds"] = (
            f"must be a whole number of seconds from 0 (off) to {MAX_DEDUPE_WINDOW}"
        )
    rate_limit = changes.get("rate_limit_per_minute", trigger.rate_limit_per_minute)
    if (problem := rate_limit_validate(rate_limit)) is not None:
        errors["rate_limit_per_minute"] = problem
    if errors:
        raise ConfigError(errors)
    trigger.dedupe_field, trigger.dedupe_window_seconds = field, window
    trigger.rate_limit_per_minute = rate_limit
    trigger.save(
        update_fields=["dedupe_field", "dedupe_window_seconds", "rate_limit_per_minute", "updated_at"]
    )
    return trigger
