"""Executing a run: claim it, run the steps of its version in order, record every attempt.

Safe to call twice for the same run: only one caller wins the claim, and a run taken over after a
worker died skips the steps that already succeeded. A step that failed in a way a retry can fix parks
the run as ``waiting`` with a due time in the database; the sweeper wakes it when it is due, so no
retry ever rides on a long broker countdown (which Redis can deliver twice).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from actions.registry import ConfigError, Sent, StepContext, StepFailed, get_action
from orchestrator import fastsave
from orchestrator.jsonsafe import json_safe
from triggers.payload import trigger_data
from workflows.models import AttemptStatus, Run, RunStatus, StepAttempt, StepResult, StepStatus
from workflows.run_store import run_claim_row, run_end

logger = logging.getLogger(__name__)


# Writes go through orchestrator/fastsave.py (no per-call SQL compilation), and only what changed is
# written: a full save re-serialises and rewrites every JSON column (the step's request, its input,
# is written once when the attempt starts, and it can be large). On PostgreSQL an attempt's start is
# one statement for the step's row and the attempt's, and their end goes with the next statement.
_ATTEMPT_START_FIELDS = ["status", "attempts", "started_at", "first_attempt_at", "next_attempt_at", "input"]
_ATTEMPT_END_FIELDS = [
    "status", "response_status", "response_headers", "response_body", "response_truncated",
    "duration_ms", "error", "retry_at", "finished_at",
]  # fmt: skip
_STEP_END_FIELDS = ["status", "next_attempt_at", "finished_at", "output", "error"]


@dataclass
class _StepEnd:
    """How a step ended for now: done (succeeded or not), or waiting until ``due``."""

    succeeded: bool
    output: dict[str, Any] | None = None
    error: str = ""
    due: datetime | None = None
    # The step's and its attempt's end, not written yet: with the run's end when the run ends here,
    # otherwise before the next step acts (one statement fewer per run).
    unsaved: tuple[fastsave.Update, ...] = ()


def run_claim(*, run_id: int) -> tuple[Run, uuid.UUID] | None:
    """Take the run if it is queued, due, or running under an expired lease. One row changes, or none."""
    now = timezone.now()
    token = uuid.uuid4()
    run = run_claim_row(
        run_id=run_id,
        token=token,
        now=now,
        lease_until=now + _claim_lease(),
        max_claims=settings.RUN_MAX_CLAIMS,
    )
    return None if run is None else (run, token)


def _claim_lease() -> timedelta:
    return timedelta(seconds=settings.RUN_LEASE_GRACE_SECONDS)


def run_execute(*, run_id: int) -> str | None:
    """Claim and execute the run; returns its status after this pass, or None if it was not ours."""
    claim = run_claim(run_id=run_id)
    if claim is None:
        logger.info("run %s not claimed: finished, not due, or another worker holds it", run_id)
        return None
    run, token = claim
    context = StepContext(
        run_id=run.pk, workflow_name=run.workflow.name, trigger=trigger_data(delivery=run.delivery)
    )
    # A run started for the first time by this claim has no step results yet: skip the query.
    # (The claim set both from one clock reading, and started_at only if it was empty.)
    lease = run.lease_expires_at
    first_start = run.claims == 1 and lease is not None and run.started_at == lease - _claim_lease()
    previous = {} if first_start else {r.position: r for r in run.step_results.all()}
    failures: list[str] = []
    unsaved: tuple[fastsave.Update, ...] = ()
    for position, step in enumerate(run.version.steps):
        prior = previous.get(position)
        if prior is not None and prior.status in (StepStatus.SUCCEEDED, StepStatus.FAILED):
            # Done in an earlier pass: a failure that was allowed to continue stays a failure.
            if prior.status == StepStatus.FAILED:
                failures.append(f"step {step['name']!r} failed: {prior.error}")
            context.steps[step["name"]] = {"response": prior.output}
            continue
        fastsave.update_all(unsaved)  # the previous step's end, before this one acts
        end = _run_step(run, token, position, step, context, prior)
        if end is None:
            return None  # lease lost to another worker: it owns the run now
        unsaved = end.unsaved
        if end.due is not None:
            return _park(run, token, end.due, unsaved)
        context.steps[step["name"]] = {"response": end.output}
        if not end.succeeded:
            failures.append(f"step {step['name']!r} failed: {end.error}")
            if not step["config"].get("continue_on_failure"):
                return _finish(run, token, RunStatus.FAILED, failures[-1], unsaved)
    if failures:
        return _finish(run, token, RunStatus.SUCCEEDED, "; ".join(failures), unsaved)
    return _finish(run, token, RunStatus.SUCCEEDED, "", unsaved)


def _run_step(
    run: Run, token: uuid.UUID, position: int, step: dict, context: StepContext, prior: StepResult | None
) -> _StepEnd | None:
    result = prior or StepResult(
        run=run,
        position=position,
        name=step["name"],
        type=step["type"],
        idempotency_key=f"msg_{uuid.uuid4().hex}",
    )
    try:
        action = get_action(step["type"])
        config = action.validate_config(action.open_config(step["config"]))
        policy = action.retry_policy(config)
    except ConfigError as exc:
        return _end_step(result, _StepEnd(False, error=f"invalid configuration: {exc}"))
    if not _renew_lease(run, token, action.timeout_seconds(config)):
        return None
    try:
        prepared = action.prepare(config, context)
    except StepFailed as exc:
        return _end_step(result, _StepEnd(False, error=str(exc)))
    attempt = _record_attempt_start(result, prepared.record)
    try:
        sent = action.send(prepared, idempotency_key=result.idempotency_key)
    except Exception as exc:  # a bug in an action must fail the step visibly, not leave it sending
        logger.exception("step %s of run %s raised", step["name"], run.pk)
        sent = Sent(succeeded=False, error=f"internal error: {type(exc).__name__}")
    end = _plan(result, attempt, sent, policy)
    stored_output = json_safe(sent.output)  # the attempt keeps its headers and body, the step all of it
    _attempt_ended(attempt, sent, stored_output, end.due)
    _step_ended(result, end, stored_output)
    end.unsaved = ((attempt, _ATTEMPT_END_FIELDS), (result, _STEP_END_FIELDS))
    return end


def _plan(result: StepResult, attempt: StepAttempt, sent: Sent, policy: Any) -> _StepEnd:
    if sent.succeeded:
        return _StepEnd(True, output=sent.output)
    first = result.first_attempt_at or attempt.started_at
    elapsed = (timezone.now() - first).total_seconds()
    delay = policy.plan(
        attempt.number - result.attempts_before_retry,
        status=sent.status,
        retryable_error=sent.retryable if sent.status is None else None,
        elapsed=elapsed,
        retry_after=sent.retry_after,
    )
    if delay is None:
        return _StepEnd(False, output=sent.output, error=sent.error)
    return _StepEnd(
        False, output=sent.output, error=sent.error, due=timezone.now() + timedelta(seconds=delay)
    )


def _renew_lease(run: Run, token: uuid.UUID, step_timeout: float) -> bool:
    """Make the lease outlast the step's timeout plus the grace; False if another worker took the run.

    Skipped while the lease held still outlasts the timeout by half the grace (a first short step
    right after the claim): the margin left covers the bookkeeping after a timed-out request, and
    the lease can only have been taken over once it expired, which it has not."""
    now = timezone.now()
    grace = settings.RUN_LEASE_GRACE_SECONDS
    held = run.lease_expires_at
    if held is not None and held >= now + timedelta(seconds=step_timeout + grace / 2):
        return True
    lease = now + timedelta(seconds=step_timeout + grace)
    renewed = Run.objects.filter(id=run.pk, claim_token=token).update(lease_expires_at=lease)
    if renewed:
        run.lease_expires_at = lease
    return bool(renewed)


def _record_attempt_start(result: StepResult, request: dict[str, Any]) -> StepAttempt:
    """Written before the request is sent, so a try cut short by a dead worker still shows."""
    now = timezone.now()
    result.status = StepStatus.RUNNING
    result.attempts += 1
    result.started_at = result.started_at or now
    result.first_attempt_at = result.first_attempt_at or now
    result.next_attempt_at = None
    # The latest attempt's request, and this attempt's: the same value, made storable once.
    result.input = stored_request = json_safe(request)
    attempt = StepAttempt(number=result.attempts, request=stored_request, started_at=now)
    # The counter is saved with the row or before it, so a number is never reused, even by a try
    # whose worker died in between.
    if result.pk is None:
        fastsave.insert_with_parent(
            result, fastsave.all_fields(StepResult), attempt, fastsave.all_fields(StepAttempt), "step_result"
        )
    else:
        fastsave.update(result, _ATTEMPT_START_FIELDS)
        attempt.step_result = result
        fastsave.insert(attempt, fastsave.all_fields(StepAttempt))
    return attempt


def _attempt_ended(
    attempt: StepAttempt, sent: Sent, stored_output: dict[str, Any] | None, retry_at: datetime | None
) -> None:
    """How the attempt went, on the instance; written with the step's end (_run_step)."""
    output = stored_output or {}
    attempt.status = AttemptStatus.SUCCEEDED if sent.succeeded else AttemptStatus.FAILED
    attempt.response_status = sent.status
    attempt.response_headers = output.get("headers")
    attempt.response_body = output.get("body") or ""
    attempt.response_truncated = bool(output.get("body_truncated"))
    attempt.duration_ms = sent.duration_ms
    attempt.error = sent.error
    attempt.retry_at = retry_at
    attempt.finished_at = timezone.now()


def _step_ended(result: StepResult, end: _StepEnd, stored_output: Any) -> None:
    if end.due is not None:
        result.status, result.next_attempt_at = StepStatus.WAITING, end.due
    else:
        result.status = StepStatus.SUCCEEDED if end.succeeded else StepStatus.FAILED
        result.finished_at = timezone.now()
    result.output = stored_output
    result.error = end.error


def _end_step(result: StepResult, end: _StepEnd) -> _StepEnd:
    """A step that ended before any attempt (bad configuration or template)."""
    _step_ended(result, end, json_safe(end.output))
    if result.pk is None:
        fastsave.insert(result, fastsave.all_fields(StepResult))
    else:  # a step retried after an earlier attempt
        fastsave.update(result, _STEP_END_FIELDS)
    return end


def _park(run: Run, token: uuid.UUID, due: datetime, unsaved: tuple[fastsave.Update, ...] = ()) -> str | None:
    parked = run_end(
        run_id=run.pk, token=token, status=RunStatus.WAITING, error="", finished_at=None, due=due,
        also=unsaved,
    )  # fmt: skip
    return RunStatus.WAITING if parked else None


def _finish(
    run: Run, token: uuid.UUID, status: str, error: str, unsaved: tuple[fastsave.Update, ...] = ()
) -> str | None:
    finished = run_end(
        run_id=run.pk, token=token, status=status, error=error, finished_at=timezone.now(), due=None,
        also=unsaved,
    )  # fmt: skip
    return status if finished else None
