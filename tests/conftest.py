"""Shared people and clients: alice owns things, bob tries to reach them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from orchestrator.accounts.services import api_token_issue
from tests.support.receiver import Receiver


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", "alice@example.com", "alice-password")


@pytest.fixture
def bob(db: None) -> User:
    return User.objects.create_user("bob", "bob@example.com", "bob-password")


def token_client(user: User) -> APIClient:
    client = APIClient()
    token = api_token_issue(user=user, replace=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def alice_api(alice: User) -> APIClient:
    return token_client(alice)


@pytest.fixture
def bob_api(bob: User) -> APIClient:
    return token_client(bob)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2's deliberate slowness protects real passwords; test users need none of it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
