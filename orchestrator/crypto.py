"""Secrets at rest: HMAC digests to verify inbound keys, Fernet to keep what must be shown again.

Both derive from settings, never from the database, so a dump of the database alone neither
reveals a key nor lets anyone call a webhook.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _derive(purpose: str) -> bytes:
    return _derived(settings.SECRET_KEY, purpose)


@cache  # keyed by the secret too: tests change it, and a digest must follow
def _derived(secret_key: str, purpose: str) -> bytes:
    return hmac.digest(secret_key.encode(), purpose.encode(), hashlib.sha256)


def secret_digest(value: str) -> str:
    """A keyed digest of a secret: what we store to recognise it later."""
    return hmac.digest(_derive("orchestrator.secret-digest.v1"), value.encode(), hashlib.sha256).hex()


@cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if keys:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    derived = base64.urlsafe_b64encode(_derive("orchestrator.field-encryption.v1"))
    return MultiFernet([Fernet(derived)])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(value: str) -> str:
    return _current().encrypt(value.encode()).decode()


class DecryptionError(Exception):
    """The value was encrypted with a key that is no longer configured."""


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("cannot decrypt: the encryption key was changed or removed") from None


def mask(value: str, *, visible: int = 4) -> str:
    """What a person may see of a secret: its first characters, never the rest."""
    if not value:
        return ""
    return value[:visible] + "…" + "•" * 8
