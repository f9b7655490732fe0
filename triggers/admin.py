from __future__ import annotations

from django.contrib import admin

from orchestrator.admin_scope import OwnerScopedMixin
from orchestrator.crypto import mask
from triggers.models import Delivery, DeliveryKey, WebhookTrigger


@admin.register(WebhookTrigger)
class WebhookTriggerAdmin(OwnerScopedMixin, admin.ModelAdmin):
    owner_path = "workflow__owner"
    list_display = ["id", "public_id", "workflow", "key_masked", "key_rotated_at"]
    search_fields = ["public_id", "workflow__name"]
    raw_id_fields = ["workflow"]
    # The key itself is never shown: only its first characters. Regenerate it through the API or UI.
    fields = [
        "workflow", "public_id", "key_masked", "key_rotated_at", "rate_limit_per_minute",
        "created_at", "updated_at",
    ]  # fmt: skip
    readonly_fields = ["public_id", "key_masked", "key_rotated_at", "created_at", "updated_at"]

    @admin.display(description="key")
    def key_masked(self, trigger: WebhookTrigger) -> str:
        return mask(trigger.key_prefix)

    def has_add_permission(self, request: object) -> bool:
        return False  # triggers are made by the trigger service, which generates the key


@admin.register(Delivery)
class DeliveryAdmin(OwnerScopedMixin, admin.ModelAdmin):
    owner_path = "workflow__owner"
    list_display = ["id", "workflow", "received_at", "outcome", "status_code", "error", "body_size"]
    list_filter = ["outcome", "status_code", "received_at"]
    search_fields = ["workflow__name", "error"]
    raw_id_fields = ["workflow", "trigger", "version"]
    exclude = ["body"]
    readonly_fields = [
        "workflow",
        "trigger",
        "version",
        "received_at",
        "outcome",
        "status_code",
        "error",
        "detail",
        "method",
        "content_type",
        "body_size",
        "headers",
        "query_string",
        "body_text",
    ]

    @admin.display(description="body")
    def body_text(self, delivery: Delivery) -> str:
        return bytes(delivery.body[:65536]).decode("utf-8", errors="replace")

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(DeliveryKey)
class DeliveryKeyAdmin(OwnerScopedMixin, admin.ModelAdmin):
    owner_path = "trigger__workflow__owner"
    list_display = ["id", "trigger", "key", "run", "expires_at"]
    search_fields = ["key", "trigger__public_id"]
    list_filter = ["expires_at"]
    raw_id_fields = ["trigger", "run"]
    readonly_fields = ["trigger", "key", "run", "expires_at"]
