from __future__ import annotations

from django.contrib import admin

from orchestrator.accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "prefix", "created_at", "last_used_at"]
    search_fields = ["user__username", "prefix"]
    raw_id_fields = ["user"]
    # Only the digest is stored; the admin shows neither it nor, of course, the token.
    fields = ["user", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def has_add_permission(self, request: object) -> bool:
        return False  # made with `manage.py drf_create_token`, which prints the token once
