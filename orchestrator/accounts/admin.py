from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest

from orchestrator.accounts.models import ApiToken
from orchestrator.admin_scope import OwnerScopedMixin, sees_everything


@admin.register(ApiToken)
class ApiTokenAdmin(OwnerScopedMixin, admin.ModelAdmin):
    owner_path = "user"
    list_display = ["user", "prefix", "created_at", "last_used_at"]
    search_fields = ["user__username", "prefix"]
    raw_id_fields = ["user"]
    # Only the digest is stored; the admin shows neither it nor, of course, the token.
    fields = ["user", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def has_add_permission(self, request: object) -> bool:
        return False  # made with `manage.py drf_create_token`, which prints the token once


# Django's own admins for users and groups, scoped like ours: a staff user who is not a superuser sees
# only their own account and the groups they belong to, and cannot raise their own privileges (become
# a superuser, or grant themselves permissions or groups): that would undo the scoping. Making accounts
# and changing groups is a superuser's job: an account a staff user made would not be theirs to see,
# and a group belongs to all its members.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class ScopedUserAdmin(OwnerScopedMixin, UserAdmin):
    owner_path = "pk"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        if sees_everything(request):
            return fields
        return [*fields, "is_staff", "is_superuser", "groups", "user_permissions"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return sees_everything(request) and super().has_add_permission(request)


@admin.register(Group)
class ScopedGroupAdmin(OwnerScopedMixin, GroupAdmin):
    owner_path = "user"

    # A group is shared by its members: only a superuser changes one.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return sees_everything(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return sees_everything(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return sees_everything(request) and super().has_delete_permission(request, obj)
