from __future__ import annotations

from typing import Any

from rest_framework import serializers

from triggers.models import Delivery, WebhookTrigger
from triggers.payload_schema import trigger_payload_schema_view
from triggers.rate_limit import trigger_rate_limit
from triggers.services import trigger_webhook_url
from triggers.trigger_signature import trigger_signature_view

BODY_PREVIEW_BYTES = 64 * 1024


class TriggerSerializer(serializers.ModelSerializer):
    webhook_url = serializers.SerializerMethodField()
    payload_schema = serializers.SerializerMethodField()
    signature = serializers.SerializerMethodField()
    effective_rate_limit_per_minute = serializers.SerializerMethodField(
        help_text="The limit that applies: the trigger's own, else the default; 0 is unlimited."
    )

    class Meta:
        model = WebhookTrigger
        fields = [
            "id",
            "webhook_url",
            "payload_schema",
            "filters",
            "signature",
            "dedupe_field",
            "dedupe_window_seconds",
            "rate_limit_per_minute",
            "effective_rate_limit_per_minute",
            "key_rotated_at",
            "created_at",
            "updated_at",
        ]

    def get_webhook_url(self, trigger: WebhookTrigger) -> str:
        return trigger_webhook_url(trigger=trigger)

    def get_signature(self, trigger: WebhookTrigger) -> dict[str, Any]:
        return trigger_signature_view(trigger=trigger)

    def get_payload_schema(self, trigger: WebhookTrigger) -> dict[str, Any]:
        return trigger_payload_schema_view(trigger=trigger)

    def get_effective_rate_limit_per_minute(self, trigger: WebhookTrigger) -> int:
        return trigger_rate_limit(trigger=trigger)


class TriggerWithWarningsSerializer(TriggerSerializer):
    """The answer to setting filters: the trigger, and warnings such as a field the preview does not show."""

    warnings = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()), read_only=True
    )

    class Meta(TriggerSerializer.Meta):
        fields = [*TriggerSerializer.Meta.fields, "warnings"]


class DeliverySerializer(serializers.ModelSerializer):
    run_ids = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField()
    version = serializers.IntegerField(source="version.number", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "received_at",
            "outcome",
            "status_code",
            "error",
            "detail",
            "method",
            "content_type",
            "body_size",
            "body",
            "headers",
            "query_string",
            "version",
            "run_ids",
        ]

    def get_run_ids(self, delivery: Delivery) -> list[int]:
        return [run.pk for run in delivery.runs.all()]

    def get_body(self, delivery: Delivery) -> str:
        return bytes(delivery.body[:BODY_PREVIEW_BYTES]).decode("utf-8", errors="replace")
