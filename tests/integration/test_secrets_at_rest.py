"""A copy of the database (a backup, a dump handed to support, a stolen replica) must not be enough to
call a webhook or the API: keys and tokens are stored only as digests and ciphertext."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from orchestrator.accounts.services import api_token_issue
from tests.integration.flow import post_webhook, wait_for_finished_run
from tests.integration.processes import CeleryCluster
from tests.support.builders import create_workflow

pytestmark = pytest.mark.django_db(transaction=True)


def dump_database(directory: Path) -> str:
    """The test database as ``pg_dump`` writes it: every committed row, as plain SQL."""
    pg_dump = shutil.which("pg_dump")
    assert pg_dump is not None, "pg_dump is not installed"
    db = connection.settings_dict
    path = directory / "dump.sql"
    command = [pg_dump, "--data-only", "--no-owner", "--file", str(path), "--dbname", db["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db[key]:
            command += [option, str(db[key])]
    env = {**os.environ, **({"PGPASSWORD": db["PASSWORD"]} if db["PASSWORD"] else {})}
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)
    return path.read_text()


# The first characters of each are stored on purpose, so that people can recognise them.
KEY_SHOWN = 4  # WebhookTrigger.key_prefix
TOKEN_SHOWN = 8  # ApiToken.prefix


def assert_not_in_dump(secret: str, dump: str, what: str, *, shown: int) -> None:
    """Not the secret, nor any part beyond what is shown; in plain text, nor in hex (the form in
    which bytea columns, such as a delivery's body, are dumped)."""
    hidden = secret[shown:]
    assert len(hidden) >= 20, "too short to be found by chance: not a real secret"
    for form in (hidden, hidden.encode().hex()):
        assert form not in dump, f"the {what} is in the database dump"


def test_a_database_dump_holds_no_webhook_key_and_no_api_token(
    alice: User,
    workers: CeleryCluster,
    public_base_url: str,
    http: requests.Session,
    tmp_path: Path,
) -> None:
    token = api_token_issue(user=alice, replace=True)
    assert token is not None
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    workflow = create_workflow(api)
    webhook_url = workflow["trigger"]["webhook_url"]
    public_id, key = webhook_url.rsplit("/", 2)[1:]
    # A delivery too: request logs are where a URL's key most easily ends up by accident.
    response = post_webhook(http, webhook_url)
    assert response.status_code == 202, response.text
    assert wait_for_finished_run(api, response.json()["run_id"])["status"] == "succeeded"

    dump = dump_database(tmp_path)

    # The control: the dump is of the right database and holds this trigger and this token's owner,
    # so the absence checks below are not vacuous.
    assert public_id in dump
    assert "alice@example.com" in dump
    assert_not_in_dump(key, dump, "webhook key", shown=KEY_SHOWN)
    assert_not_in_dump(token, dump, "API token", shown=TOKEN_SHOWN)


def test_a_regenerated_key_is_not_in_a_database_dump_and_nor_is_the_old_one(
    alice_api: APIClient, public_base_url: str, tmp_path: Path
) -> None:
    workflow = create_workflow(alice_api)
    old_url = workflow["trigger"]["webhook_url"]
    regenerated = alice_api.post(f"/api/workflows/{workflow['id']}/trigger/regenerate/")
    assert regenerated.status_code == 200, regenerated.content
    new_url = regenerated.json()["webhook_url"]
    public_id, old_key = old_url.rsplit("/", 2)[1:]
    new_key = new_url.rsplit("/", 1)[1]
    assert new_key != old_key

    dump = dump_database(tmp_path)

    assert public_id in dump
    assert_not_in_dump(old_key, dump, "old webhook key", shown=KEY_SHOWN)
    assert_not_in_dump(new_key, dump, "new webhook key", shown=KEY_SHOWN)
