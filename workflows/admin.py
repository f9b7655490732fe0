from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from orchestrator.admin_scope import OwnerScopedMixin
from workflows.models import Run, Step, StepAttempt, StepResult, Workflow, WorkflowVersion
from workflows.services import step_public_config


class PublicConfigMixin:
    """Step configs hold encrypted secrets: the admin shows them masked and never edits them raw
    (an edit here would bypass validation and encryption; use the API or the UI)."""

    @admin.display(description="config")
    def config_shown(self, step: Step) -> str:
        return json.dumps(
            step_public_config(step_type=step.type, config=step.config), indent=2, ensure_ascii=False
        )


class StepInline(OwnerScopedMixin, PublicConfigMixin, admin.TabularInline):
    owner_path = "workflow__owner"
    model = Step
    extra = 0
    fields = ["position", "name", "type", "config_shown"]
    readonly_fields = ["config_shown"]


@admin.register(Workflow)
class WorkflowAdmin(OwnerScopedMixin, admin.ModelAdmin):
    owner_path = "owner"
    list_display = ["id", "name", "owner", "status", "published_version", "updated_at"]
    list_filter = [("published_version", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "description", "owner__username"]
    raw_id_fields = ["owner", "published_version"]
    inlines = [StepInline]


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(OwnerScopedMixin, admin.ModelAdmin):
    owner_path = "workflow__owner"
    list_display = ["id", "workflow", "number", "created_at", "created_by"]
    search_fields = ["workflow__name"]
    raw_id_fields = ["workflow", "created_by"]
    readonly_fields = ["workflow", "number", "snapshot", "created_at", "created_by"]


@admin.register(Step)
class StepAdmin(OwnerScopedMixin, PublicConfigMixin, admin.ModelAdmin):
    owner_path = "workflow__owner"
    list_display = ["id", "workflow", "position", "name", "type"]
    list_filter = ["type"]
    search_fields = ["name", "workflow__name"]
    raw_id_fields = ["workflow"]
    fields = ["workflow", "position", "name", "type", "config_shown"]
    readonly_fields = ["type", "config_shown"]


class StepResultInline(OwnerScopedMixin, admin.TabularInline):
    owner_path = "run__workflow__owner"
    model = StepResult
    extra = 0
    can_delete = False
    readonly_fields = [
        "position",
        "name",
        "type",
        "status",
        "attempts",
        "input",
        "output",
        "error",
        "started_at",
        "finished_at",
    ]


@admin.register(Run)
class RunAdmin(OwnerScopedMixin, admin.ModelAdmin):
    owner_path = "workflow__owner"
    list_display = ["id", "workflow", "version", "status", "created_at", "finished_at", "claims"]
    list_filter = ["status", "created_at"]
    search_fields = ["id", "workflow__name", "error"]
    raw_id_fields = ["workflow", "version", "delivery", "replay_of"]
    readonly_fields = [
        "claim_token",
        "claims",
        "lease_expires_at",
        "last_dispatched_at",
        "started_at",
        "finished_at",
        "created_at",
    ]
    inlines = [StepResultInline]
    actions = ["requeue"]

    @admin.action(description="Send the selected unfinished runs to the workers again")
    def requeue(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        from workflows.dispatch import run_dispatch

        # The queryset is the user's own runs only (OwnerScopedMixin), whatever ids were posted.
        run_ids = list(queryset.filter(status__in=["queued", "running"]).values_list("pk", "workflow_id"))
        sent = sum(run_dispatch(run_id=run_id, workflow_id=workflow_id) for run_id, workflow_id in run_ids)
        self.message_user(request, f"Sent {sent} of {len(run_ids)} unfinished runs to the workers again.")


@admin.register(StepResult)
class StepResultAdmin(OwnerScopedMixin, admin.ModelAdmin):
    owner_path = "run__workflow__owner"
    list_display = ["id", "run", "position", "name", "type", "status", "attempts", "finished_at"]
    list_filter = ["status", "type"]
    search_fields = ["name", "error", "run__workflow__name"]
    raw_id_fields = ["run"]
    readonly_fields = StepResultInline.readonly_fields


@admin.register(StepAttempt)
class StepAttemptAdmin(OwnerScopedMixin, admin.ModelAdmin):
    owner_path = "step_result__run__workflow__owner"
    list_display = ["id", "step_result", "number", "status", "response_status", "duration_ms", "started_at"]
    list_filter = ["status", "started_at"]
    search_fields = ["error", "step_result__name"]
    raw_id_fields = ["step_result"]
    readonly_fields = [f.name for f in StepAttempt._meta.fields]
