"""Make the local demo: a superuser "demo" and a published workflow whose webhook calls /echo/.

Idempotent, so that `make run` can call it on every start: it reuses the user, the workflow and its
webhook (the URL stays the same across runs), and only brings the echo step in line with the current
PUBLIC_BASE_URL. The password and the API token are new each time, because neither can be read back
from the database to be shown again.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from orchestrator.accounts.services import api_token_issue
from triggers.services import trigger_ensure, trigger_webhook_url
from workflows.models import Step, Workflow
from workflows.services import (
    PublishError,
    step_create,
    step_update,
    step_validate,
    workflow_create,
    workflow_publish,
)

USERNAME = "demo"
WORKFLOW_NAME = "Demo: echo"
STEP_NAME = "echo"


def echo_step_config() -> dict[str, Any]:
    # The worker calls the web server that is also receiving the webhook: the demo needs nothing else.
    return {
        "method": "POST",
        "url": f"{settings.PUBLIC_BASE_URL}/echo/",
        "body": {"message": "Hello from the demo workflow"},
    }


def demo_user_ensure(*, password: str) -> User:
    user, _ = User.objects.get_or_create(username=USERNAME, defaults={"email": "demo@localhost"})
    # Superuser so that the whole admin is open to the person trying the product.
    user.is_active = user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    return user


def demo_workflow_ensure(*, user: User) -> Workflow:
    workflow = Workflow.objects.filter(owner=user, name=WORKFLOW_NAME).order_by("id").first()
    if workflow is None:
        workflow = workflow_create(
            owner=user, name=WORKFLOW_NAME, description="Made by `make run`: posts to the built-in /echo/."
        )
    trigger_ensure(workflow=workflow)
    wanted = step_validate(type="http_request", config=echo_step_config())
    step = Step.objects.filter(workflow=workflow, name=STEP_NAME).first()
    if step is None:
        step_create(workflow=workflow, name=STEP_NAME, type="http_request", config=wanted)
    elif step.type != "http_request" or step.config != wanted:
        # PORT may differ from the last run; the step must follow it or the demo run would fail.
        step_update(step=step, type="http_request", config=wanted)
    # Publishing an unchanged draft reuses the latest version, so reruns add no versions.
    workflow_publish(workflow=workflow, user=user)
    return workflow


class Command(BaseCommand):
    help = "Create or refresh the local demo user and workflow, and print how to use them."

    def handle(self, *args: Any, **options: Any) -> None:
        password = secrets.token_urlsafe(12)
        try:
            with transaction.atomic():
                user = demo_user_ensure(password=password)
                workflow = demo_workflow_ensure(user=user)
                token = api_token_issue(user=user, replace=True)
        except PublishError as exc:
            raise CommandError(f"Could not publish {WORKFLOW_NAME!r}: {exc.detail}") from None
        assert token is not None  # replace=True always issues one
        base = settings.PUBLIC_BASE_URL
        runs_url = f"{base}/api/workflows/{workflow.pk}/runs/"
        webhook_url = trigger_webhook_url(trigger=workflow.trigger)
        version = workflow.versions.order_by("-number").values_list("number", flat=True).first()
        lines = [
            f"Admin:          {base}/admin/  (user {USERNAME}, password {password})",
            f"API token:      {token}",
            f"Demo workflow:  {WORKFLOW_NAME!r} v{version}, posts to {base}/echo/",
            f"Trigger it:     curl -X POST '{webhook_url}'",
            f"See its runs:   curl -H 'Authorization: Token {token}' {runs_url}",
        ]
        self.stdout.write("\n".join(lines))
