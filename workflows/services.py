"""Workflows, their steps, and publishing. Every write to a workflow goes through here."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Max

from actions.registry import ConfigError, get_action
from triggers.models import WebhookTrigger
from triggers.services import trigger_snapshot
from workflows.models import Run, Step, Workflow, WorkflowVersion


class PublishError(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code, self.detail = code, detail


def workflow_create(*, owner: User, name: str, description: str = "") -> Workflow:
    return Workflow.objects.create(owner=owner, name=name, description=description)


def workflow_delete(*, workflow: Workflow) -> None:
    """The workflow goes with its runs, deliveries and versions. Its runs go first: a run protects the
    version it ran (no version is deleted under a run), which would refuse the cascade. Raises
    ProtectedError if a run is accepted meanwhile."""
    with transaction.atomic():
        Run.objects.filter(workflow=workflow).delete()
        workflow.delete()


def workflow_draft_snapshot(*, workflow: Workflow) -> dict[str, Any]:
    trigger = WebhookTrigger.objects.filter(workflow=workflow).first()
    steps = [
        {"id": s.pk, "name": s.name, "type": s.type, "config": s.config}
        for s in Step.objects.filter(workflow=workflow).order_by("position", "id")
    ]
    return {"trigger": trigger_snapshot(trigger=trigger), "steps": steps}


def workflow_has_unpublished_changes(*, workflow: Workflow) -> bool:
    latest = workflow.versions.order_by("-number").first()
    return latest is None or latest.snapshot != workflow_draft_snapshot(workflow=workflow)


def workflow_publish(*, workflow: Workflow, user: User | AnonymousUser) -> WorkflowVersion:
    """Freeze the draft into a new version (or reuse the latest if nothing changed) and switch the
    webhook to it. Runs already queued keep the version they were accepted with."""
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
        snapshot = workflow_draft_snapshot(workflow=workflow)
        if snapshot["trigger"] is None:
            raise PublishError(
                "trigger_missing", "Add a webhook trigger before publishing: nothing could start it."
            )
        for index, step in enumerate(snapshot["steps"]):
            try:
                action = get_action(step["type"])
                action.validate_config(action.open_config(step["config"]))
            except ConfigError as exc:
                raise PublishError(
                    "step_invalid", f"Step {index + 1} ({step['name']!r}) is invalid: {exc}"
                ) from None
        latest = workflow.versions.order_by("-number").first()
        if latest is None or latest.snapshot != snapshot:
            number = (workflow.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            latest = WorkflowVersion.objects.create(
                workflow=workflow,
                number=number,
                snapshot=snapshot,
                created_by=user if user.is_authenticated else None,
            )
        workflow.published_version = latest
        workflow.save(update_fields=["published_version", "updated_at"])
    return latest


def workflow_unpublish(*, workflow: Workflow) -> Workflow:
    workflow.published_version = None
    workflow.save(update_fields=["published_version", "updated_at"])
    return workflow


def step_validate(*, type: str, config: Any) -> dict[str, Any]:
    """The step's configuration as its action type cleans it; raises ConfigError with field paths."""
    return get_action(type).validate_config(config)


def _sealed_config(type: str, incoming: Any, previous: dict[str, Any] | None) -> dict[str, Any]:
    """Validate and store: masked secrets keep their stored values, secrets are encrypted at rest."""
    action = get_action(type)
    return action.seal_config(action.validate_config(action.merge_config(previous, incoming)))


def step_create(
    *, workflow: Workflow, name: str, type: str, config: Any, position: int | None = None
) -> Step:
    sealed = _sealed_config(type, config, None)
    if position is None:
        position = (workflow.steps.aggregate(p=Max("position"))["p"] or 0) + 1
    return Step.objects.create(workflow=workflow, name=name, type=type, config=sealed, position=position)


def step_update(*, step: Step, **fields: Any) -> Step:
    """Change a step. A config sent with its secrets masked (as the API shows it) keeps them."""
    old_type, old_config = step.type, step.config
    for name in ("name", "type", "position"):
        if name in fields:
            setattr(step, name, fields[name])
    if "config" in fields:
        previous = old_config if step.type == old_type else None
        step.config = _sealed_config(step.type, fields["config"], previous)
    elif step.type != old_type:
        # The new type must accept the old configuration (its secrets in the clear, to re-seal them).
        step.config = _sealed_config(step.type, get_action(old_type).open_config(old_config), None)
    step.save()
    return step


def step_public_config(*, step_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """The configuration as the API and the admin show it: secrets masked."""
    try:
        return get_action(step_type).public_config(config)
    except ConfigError:
        return config
