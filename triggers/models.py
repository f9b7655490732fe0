from __future__ import annotations

from django.db import models


class PayloadKind(models.TextChoices):
    NONE = "none", "No payload (the body must be empty)"
    SAMPLE = "sample", "Sample payloads (structure inferred)"
    JSON_SCHEMA = "json_schema", "JSON Schema (precise rules)"


class WebhookTrigger(models.Model):
    """The webhook of one workflow. Its key is stored as a digest plus an encrypted copy, never plainly.

    The key is not part of the published snapshot: regenerating it takes effect at once.
    """

    workflow = models.OneToOneField("workflows.Workflow", on_delete=models.CASCADE, related_name="trigger")
    public_id = models.CharField(max_length=32, unique=True)
    key_digest = models.CharField(max_length=64)
    key_prefix = models.CharField(max_length=8)
    key_encrypted = models.TextField()
    key_rotated_at = models.DateTimeField()
    # The draft's payload schema. Kept as JSON text, not a JSON column: schemas and samples may hold
    # strings with \u0000, which PostgreSQL's jsonb refuses.
    payload_kind = models.CharField(max_length=20, choices=PayloadKind.choices, default=PayloadKind.NONE)
    payload_schema_json = models.TextField(blank=True, default="")
    payload_samples_json = models.TextField(blank=True, default="")
    # Which requests start a run (triggers/filters.py); null passes everything.
    filters = models.JSONField(null=True, blank=True)
    # Inbound signature check (triggers/inbound_signatures.py), secrets encrypted. Like the key, it
    # applies at once, not on publish: a security setting must not wait for a release.
    signature = models.JSONField(null=True, blank=True)
    # Deduplication on the sender's delivery id (triggers/dedupe.py): a field path such as
    # "headers.X-Request-Id" or "event.id"; empty means the usual headers. A window of 0 turns it off.
    dedupe_field = models.CharField(max_length=200, blank=True, default="")
    dedupe_window_seconds = models.PositiveIntegerField(default=24 * 3600)
    # Requests a minute the webhook accepts before answering 429 (triggers/rate_limit.py): null is the
    # default (WEBHOOK_RATE_LIMIT_PER_MINUTE), 0 is unlimited. Like the key, it applies at once.
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Requests a minute before the webhook answers 429; empty: the default; 0: no limit.",
    )
    # "Listen for a sample": the next request until then is captured as the sample.
    listen_until = models.DateTimeField(null=True, blank=True)
    sample_captured_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Webhook {self.public_id} ({self.workflow})"


class DeliveryOutcome(models.TextChoices):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CAPTURED = "captured", "captured as a sample"
    FILTERED = "filtered", "filtered out"
    DUPLICATE = "duplicate", "duplicate of an earlier delivery"


class Delivery(models.Model):
    """One request that reached a real trigger, accepted or not. Users debug from these rows."""

    # No index of its own: delivery_workflow_newest starts with it (one index less per accepted webhook).
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    trigger = models.ForeignKey(
        WebhookTrigger, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    version = models.ForeignKey(
        "workflows.WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=10, choices=DeliveryOutcome.choices)
    status_code = models.PositiveSmallIntegerField()
    error = models.CharField(max_length=50, blank=True, default="", help_text="Stable code of the rejection.")
    detail = models.JSONField(null=True, blank=True)
    method = models.CharField(max_length=10)
    content_type = models.CharField(max_length=200, blank=True, default="")
    # The body as received, bytes for bytes: JSON columns cannot hold every valid payload (\u0000).
    body = models.BinaryField(blank=True, default=b"")
    body_size = models.PositiveIntegerField(default=0)
    headers = models.JSONField(default=dict, blank=True)
    query_string = models.TextField(blank=True, default="")

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["workflow", "-id"], name="delivery_workflow_newest")]

    def __str__(self) -> str:
        return f"Delivery {self.pk} {self.outcome} {self.status_code}"


class DeliveryKey(models.Model):
    """A sender's delivery id, seen on a trigger: the unique constraint is what makes 100 concurrent
    copies of one event start exactly one run."""

    trigger = models.ForeignKey(WebhookTrigger, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    run = models.ForeignKey("workflows.Run", on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trigger", "key"], name="delivery_key_unique")]
        indexes = [models.Index(fields=["expires_at"], name="delivery_key_expiry")]

    def __str__(self) -> str:
        return f"{self.key} → run {self.run_id}"
