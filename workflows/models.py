from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q


class Workflow(models.Model):
    """The draft a user edits. Publishing freezes it into a numbered ``WorkflowVersion``."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    # The version the webhook runs; null while the workflow is a draft (never published or unpublished).
    published_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "-id"], name="workflow_owner_newest")]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        return "published" if self.published_version_id else "draft"


class WorkflowVersion(models.Model):
    """An immutable snapshot of the trigger configuration and the steps, as published."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workflow", "number"], name="version_number_unique")]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"

    @property
    def steps(self) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = self.snapshot.get("steps", [])
        return steps


class Step(models.Model):
    """One action of the draft; ``config`` is validated by the action type named in ``type``."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=50)
    position = models.IntegerField(default=0)
    config = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["workflow", "name"], name="step_name_unique")]

    def __str__(self) -> str:
        return f"{self.workflow}: {self.name}"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting", "waiting to retry a step"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


UNFINISHED = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)


class Run(models.Model):
    """One execution of a published version. The row, not the broker message, is the truth."""

    # Indexes are paid for on every accepted webhook: the workflow has none of its own (run_workflow_newest
    # starts with it) and replay_of only a partial one (it is null but for replays).
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs", db_index=False)
    version = models.ForeignKey(WorkflowVersion, on_delete=models.PROTECT, related_name="runs")
    delivery = models.ForeignKey(
        "triggers.Delivery", null=True, blank=True, on_delete=models.CASCADE, related_name="runs"
    )
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Claiming: a worker owns a running run until its lease expires; a new claim gets a new token.
    claim_token = models.UUIDField(null=True, blank=True)
    claims = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_dispatched_at = models.DateTimeField(null=True, blank=True)
    # A waiting run's next attempt is due then: retries wait in the database, not in the broker.
    due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workflow", "-id"], name="run_workflow_newest"),
            # Only unfinished runs are swept; the partial index stays small however many runs finish.
            models.Index(
                fields=["status", "created_at"],
                condition=Q(status__in=["queued", "running", "waiting"]),
                name="run_unfinished",
            ),
            models.Index(fields=["replay_of"], condition=Q(replay_of__isnull=False), name="run_replay_of"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)


class StepStatus(models.TextChoices):
    RUNNING = "running"
    WAITING = "waiting", "waiting to retry"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class StepResult(models.Model):
    """What one step of a run did: recorded before the step acts, updated when it is done."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="step_results")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=50)
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.RUNNING)
    attempts = models.PositiveIntegerField(default=0)
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # The same key on every attempt of this step, so that receivers can drop duplicates.
    idempotency_key = models.CharField(max_length=64, blank=True, default="")
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    # Attempts made before the last manual retry: a retried step gets a fresh retry budget.
    attempts_before_retry = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="step_result_unique")]

    def __str__(self) -> str:
        return f"{self.run}: {self.name} ({self.status})"


class AttemptStatus(models.TextChoices):
    SENDING = "sending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class StepAttempt(models.Model):
    """One try of a step: written before the request is sent, completed when the answer (or the error)
    is known. A row left ``sending`` is a try whose worker died mid-request."""

    step_result = models.ForeignKey(StepResult, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=AttemptStatus.choices, default=AttemptStatus.SENDING)
    request = models.JSONField(default=dict, blank=True, help_text="As sent, secrets masked.")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="")
    response_truncated = models.BooleanField(default=False)
    duration_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    retry_at = models.DateTimeField(null=True, blank=True, help_text="When the next attempt is due, if any.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["step_result", "number"], name="attempt_number_unique")
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.step_result}"
