"""What the database holds of each secret: never the secret itself."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from orchestrator.accounts.models import ApiToken
from orchestrator.crypto import DecryptionError, decrypt, encrypt, mask, secret_digest
from tests.support.builders import create_workflow
from triggers.models import WebhookTrigger

pytestmark = pytest.mark.django_db


def test_the_webhook_key_is_stored_only_as_a_digest_and_ciphertext(alice_api: APIClient) -> None:
    workflow = create_workflow(alice_api)
    key = workflow["trigger"]["webhook_url"].rsplit("/", 1)[1]
    assert len(key) >= 22  # at least 128 bits of url-safe base64
    trigger = WebhookTrigger.objects.get()
    assert trigger.key_digest == secret_digest(key)
    assert key not in trigger.key_encrypted
    assert decrypt(trigger.key_encrypted) == key


def test_encryption_keys_can_rotate(settings: object) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]  # type: ignore[attr-defined]
    token = encrypt("s3cret")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # type: ignore[attr-defined]
    assert decrypt(token) == "s3cret"
    settings.FIELD_ENCRYPTION_KEYS = [new]  # type: ignore[attr-defined]
    with pytest.raises(DecryptionError):
        decrypt(token)


def test_api_tokens_are_stored_as_digests_and_printed_once(
    alice: User, capsys: pytest.CaptureFixture
) -> None:
    call_command("drf_create_token", "alice")
    token = capsys.readouterr().out.split()[2]
    stored = ApiToken.objects.get(user=alice)
    assert stored.digest == secret_digest(token) and token not in stored.digest
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/workflows/").status_code == 200


def test_a_second_token_needs_reset_and_kills_the_first(alice: User, capsys: pytest.CaptureFixture) -> None:
    call_command("drf_create_token", "alice")
    first = capsys.readouterr().out.split()[2]
    with pytest.raises(Exception, match="cannot be shown again"):
        call_command("drf_create_token", "alice")
    call_command("drf_create_token", "alice", "-r")
    second = capsys.readouterr().out.split()[2]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert api.get("/api/workflows/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {second}")
    assert api.get("/api/workflows/").status_code == 200


def test_masks_show_only_a_prefix() -> None:
    assert mask("abcdefgh") == "abcd…••••••••"
    assert "efgh" not in mask("abcdefgh")
