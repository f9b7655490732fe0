"""Executing a run: claim it, run the steps of its version in order, record every step.

Safe to call twice for the same run: only one caller wins the claim, and a run taken over after a
worker died skips the steps that already succeeded.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from actions.registry import ConfigError, StepContext, StepOutcome, get_action
from orchestrator.jsonsafe import json_safe
from triggers.payload import trigger_data
from workflows.models import Run, RunStatus, StepResult, StepStatus

logger = logging.getLogger(__name__)


def run_claim(*, run_id: int) -> tuple[Run, uuid.UUID] | None:
    """Take the run if it is queued, or running under an expired lease. One row changes, or none."""
    now = timezone.now()
    token = uuid.uuid4()
    claimed = (
        Run.objects.filter(id=run_id)
        .filter(Q(status=RunStatus.QUEUED) | Q(status=RunStatus.RUNNING, lease_expires_at__lt=now))
        .filter(claims__lt=settings.RUN_MAX_CLAIMS)
        .update(
            status=RunStatus.RUNNING,
            claim_token=token,
            claims=F("claims") + 1,
            started_at=Coalesce(F("started_at"), now),
            lease_expires_at=now + timedelta(seconds=settings.RUN_LEASE_GRACE_SECONDS),
        )
    )
    if not claimed:
        return None
    return Run.objects.select_related("version", "workflow", "delivery").get(id=run_id), token


def run_execute(*, run_id: int) -> str | None:
    """Claim and execute the run; returns its final status, or None if another worker has it."""
    claim = run_claim(run_id=run_id)
    if claim is None:
        logger.info("run %s not claimed: finished, or another worker holds it", run_id)
        return None
    run, token = claim
    context = StepContext(
        run_id=run.pk, workflow_name=run.workflow.name, trigger=trigger_data(delivery=run.delivery)
    )
    previous = {r.position: r for r in run.step_results.all()}
    for position, step in enumerate(run.version.steps):
        prior = previous.get(position)
        if prior is not None and prior.status == StepStatus.SUCCEEDED:
            context.steps[step["name"]] = {"response": prior.output}
            continue
        outcome = _run_step(run, token, position, step, context, prior)
        if outcome is None:
            return None  # lease lost to another worker: it owns the run now
        if not outcome.succeeded:
            return _finish(run, token, RunStatus.FAILED, f"step {step['name']!r} failed: {outcome.error}")
        context.steps[step["name"]] = {"response": outcome.output}
    return _finish(run, token, RunStatus.SUCCEEDED, "")


def _run_step(
    run: Run, token: uuid.UUID, position: int, step: dict, context: StepContext, prior: StepResult | None
) -> StepOutcome | None:
    try:
        action = get_action(step["type"])
        config = action.validate_config(step["config"])
    except ConfigError as exc:
        outcome = StepOutcome(succeeded=False, input={}, error=f"invalid configuration: {exc}")
        _record(run, position, step, prior, outcome)
        return outcome
    if not _renew_lease(run, token, action.timeout_seconds(config)):
        return None
    result = _record_start(run, position, step, prior)
    try:
        outcome = action.execute(config, context)
    except Exception as exc:  # a bug in an action must fail the step visibly, not leave it running
        logger.exception("step %s of run %s raised", step["name"], run.pk)
        outcome = StepOutcome(succeeded=False, input={}, error=f"internal error: {type(exc).__name__}")
    _record_end(result, outcome)
    return outcome


def _renew_lease(run: Run, token: uuid.UUID, step_timeout: float) -> bool:
    lease = timezone.now() + timedelta(seconds=step_timeout + settings.RUN_LEASE_GRACE_SECONDS)
    return bool(Run.objects.filter(id=run.pk, claim_token=token).update(lease_expires_at=lease))


def _record_start(run: Run, position: int, step: dict, prior: StepResult | None) -> StepResult:
    """Written before the step acts, so a step cut short by a dead worker still shows that it began."""
    result = prior or StepResult(run=run, position=position, name=step["name"], type=step["type"])
    result.status = StepStatus.RUNNING
    result.attempts += 1
    result.started_at = timezone.now()
    result.finished_at = None
    result.error = ""
    result.save()
    return result


def _record_end(result: StepResult, outcome: StepOutcome) -> None:
    result.status = StepStatus.SUCCEEDED if outcome.succeeded else StepStatus.FAILED
    result.input = json_safe(outcome.input)
    result.output = json_safe(outcome.output)
    result.error = outcome.error
    result.finished_at = timezone.now()
    result.save()


def _record(run: Run, position: int, step: dict, prior: StepResult | None, outcome: StepOutcome) -> None:
    _record_end(_record_start(run, position, step, prior), outcome)


def _finish(run: Run, token: uuid.UUID, status: str, error: str) -> str | None:
    finished = Run.objects.filter(id=run.pk, claim_token=token, status=RunStatus.RUNNING).update(
        status=status, error=error, finished_at=timezone.now(), lease_expires_at=None
    )
    return status if finished else None
