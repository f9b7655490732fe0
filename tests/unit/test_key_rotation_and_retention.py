"""Operating secrets and history: encryption keys rotate without downtime; old history is purged."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from actions.auth import decrypt_auth
from orchestrator.crypto import DecryptionError
from tests.support.builders import create_workflow, http_step, webhook_path
from triggers.models import Delivery, DeliveryKey
from workflows.models import Run, Step, WorkflowVersion
from workflows.retention import history_purge

pytestmark = pytest.mark.django_db


def test_rotating_the_encryption_key_keeps_every_secret_usable(
    alice_api: APIClient, settings: object
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]  # type: ignore[attr-defined]
    step = http_step("http://127.0.0.1:9/", auth={"kind": "bearer", "token": "tok-rot"})
    workflow = create_workflow(alice_api, steps=[step])
    url = workflow["trigger"]["webhook_url"]

    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # type: ignore[attr-defined]
    call_command("rotate_encryption_keys", stdout=open(os.devnull, "w"))  # noqa: SIM115
    settings.FIELD_ENCRYPTION_KEYS = [new]  # type: ignore[attr-defined]  # the old key is gone

    assert alice_api.get(f"/api/workflows/{workflow['id']}/trigger/").json()["webhook_url"] == url
    assert decrypt_auth(Step.objects.get().config["auth"])["token"] == "tok-rot"
    snapshot_auth = WorkflowVersion.objects.get().snapshot["steps"][0]["config"]["auth"]
    assert decrypt_auth(snapshot_auth)["token"] == "tok-rot"
    settings.FIELD_ENCRYPTION_KEYS = [old]  # type: ignore[attr-defined]
    with pytest.raises(DecryptionError):
        decrypt_auth(Step.objects.get().config["auth"])


def test_old_finished_history_is_purged_in_batches(
    alice_api: APIClient, client: Client, settings: object
) -> None:
    settings.RETENTION_DAYS, settings.RETENTION_BATCH_SIZE = 30, 2  # type: ignore[attr-defined]
    workflow = create_workflow(alice_api)
    ids = [client.generic("POST", webhook_path(workflow), HTTP_IDEMPOTENCY_KEY=f"k{i}").json()["run_id"]
           for i in range(6)]  # fmt: skip
    Run.objects.filter(id__in=ids[:5]).update(status="succeeded")
    old = timezone.now() - timedelta(days=31)
    Delivery.objects.filter(runs__id__in=[*ids[:4], ids[5]]).update(received_at=old)
    DeliveryKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert history_purge() == 4
    # Kept: the recent finished run, and the old run that is still queued (its data is still needed).
    assert sorted(Run.objects.values_list("id", flat=True)) == [ids[4], ids[5]]
    assert Delivery.objects.count() == 2
    assert not DeliveryKey.objects.exists()


def test_check_deploy_is_clean_with_production_settings() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "orchestrator.settings",
        "SECRET_KEY": Fernet.generate_key().decode() * 2,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "hooks.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "SESSION_COOKIE_SECURE": "true",
        "CSRF_COOKIE_SECURE": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout
