"""Idempotent intake: a sender that sends the same event twice gets the first run's id, not a second run.

The event is recognised by the sender's own delivery id, never by a hash of the body (identical
bodies can be different events, e.g. two empty pings). By default the id is the first of the
``Idempotency-Key``, ``webhook-id`` (Standard Webhooks, Svix) and ``X-GitHub-Delivery`` headers; a
trigger may name any field instead (``headers.X-Request-Id``, ``event.id``, ``body.id``), in the
filters' path language. Ids are remembered for the trigger's window (24 h by default; 0 turns
deduplication off). The database enforces it: a unique (trigger, key) row is inserted in the same
transaction as the run, so concurrent copies serialise on the index and only one commits a run.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from triggers.filter_paths import PathError, Request, parse_field
from triggers.models import DeliveryKey

DEFAULT_HEADERS = ("idempotency-key", "webhook-id", "x-github-delivery")
MAX_KEY = 200
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Duplicate(Exception):
    def __init__(self, run_id: int, key: str):
        super().__init__(key)
        self.run_id, self.key = run_id, key


def dedupe_key(
    *, config: dict[str, Any] | None, headers: dict[str, str], query: dict[str, Any], payload: Any
) -> str:
    """The delivery id of this request, or "" when it has none (or deduplication is off)."""
    if not config or not config.get("window"):
        return ""
    field = config.get("field") or ""
    if field:
        try:
            values = parse_field(field).read(Request(payload, headers, query))
        except PathError:
            return ""
        value = values[0] if values else None
    else:
        value = next((headers[name] for name in DEFAULT_HEADERS if headers.get(name)), None)
    if value is None or isinstance(value, dict | list) or value == "":
        return ""
    text = str(value)
    # Long ids are hashed to fit the column; a collision of SHA-256 is not a practical concern.
    if len(text) <= MAX_KEY and not _UNSTORABLE.search(text):
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def dedupe_claim(*, trigger_id: int, key: str, run_id: int, window_seconds: int) -> None:
    """Record ``key`` for the new run, inside the caller's transaction; raise Duplicate with the
    original run's id when the key is already taken and not expired (the caller rolls back)."""
    now = timezone.now()
    expires = now + timedelta(seconds=window_seconds)
    try:
        with transaction.atomic():  # a savepoint: the conflict must not poison the caller's transaction
            DeliveryKey.objects.create(trigger_id=trigger_id, key=key, run_id=run_id, expires_at=expires)
            return
    except IntegrityError:
        pass
    # PostgreSQL raised only after the other transaction committed, so its row is visible now.
    existing = DeliveryKey.objects.select_for_update().get(trigger_id=trigger_id, key=key)
    if existing.expires_at > now:
        raise Duplicate(existing.run_id, key)
    existing.run_id, existing.expires_at = run_id, expires
    existing.save(update_fields=["run", "expires_at"])


def dedupe_snapshot(*, field: str, window_seconds: int) -> dict[str, Any] | None:
    return {"field": field, "window": window_seconds} if window_seconds else None
