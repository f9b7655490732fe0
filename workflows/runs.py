"""Replaying a run and retrying a failed one: the user's second chances."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from workflows.dispatch import run_dispatch_on_commit
from workflows.models import Run, RunStatus, StepResult, StepStatus


class RunActionError(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code, self.detail = code, detail


def run_replay(*, run: Run) -> Run:
    """A new run with the same trigger data, on the version published now."""
    version = run.workflow.published_version
    if version is None:
        raise RunActionError("workflow_not_published", "Publish the workflow to replay its runs.")
    with transaction.atomic():
        replay = Run.objects.create(
            workflow=run.workflow, version=version, delivery=run.delivery, replay_of=run
        )
        run_dispatch_on_commit(run_id=replay.pk, workflow_id=replay.workflow_id)
    return replay


def run_retry(*, run: Run) -> Run:
    """Run a failed run again from its failed step: steps that succeeded are not repeated, and the
    failed step gets a fresh retry budget (and keeps its idempotency key: it is the same message)."""
    with transaction.atomic():
        reopened = Run.objects.filter(pk=run.pk, status=RunStatus.FAILED).update(
            status=RunStatus.QUEUED, error="", finished_at=None, claims=0, claim_token=None, due_at=None
        )
        if not reopened:
            raise RunActionError("run_not_failed", "Only a failed run can be retried; replay it instead.")
        StepResult.objects.filter(run=run, status=StepStatus.FAILED).update(
            status=StepStatus.WAITING,
            error="",
            first_attempt_at=None,
            finished_at=None,
            attempts_before_retry=F("attempts"),
        )
        run_dispatch_on_commit(run_id=run.pk, workflow_id=run.workflow_id)
    run.refresh_from_db()
    return run
