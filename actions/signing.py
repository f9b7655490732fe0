"""Standard Webhooks signatures (https://www.standardwebhooks.com), so receivers can check that a request
came from us, unchanged, recently.

Rules:
- Signed content is f"{msg_id}.{timestamp}." + body, signed with HMAC-SHA256; the header value is
  "v1,<base64 signature>". Several signatures are space-separated (key rotation: sign with old and new).
- A secret is "whsec_" + base64 of the key bytes (24 to 64 bytes); generated ones have 32.
- The message id stays the same on every retry of one message, so receivers can deduplicate; the
  timestamp is the time of each attempt.
- verify() accepts a timestamp at most `tolerance` seconds away in either direction (replay and clock
  skew), and compares signatures in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

PREFIX = "whsec_"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64


class SecretError(ValueError):
    pass


def generate_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_problem(secret: object) -> str | None:
    """Why a value is not a usable secret (for config validation), or None."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        return f'must be a secret starting with "{PREFIX}"'
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return f'must be "{PREFIX}" followed by base64'
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        return f"must hold {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes of key, not {len(key)}"
    return None


def _key(secret: str) -> bytes:
    problem = secret_problem(secret)
    if problem:
        raise SecretError(f"webhook secret {problem}")
    return base64.b64decode(secret[len(PREFIX) :])


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    if not secrets:
        raise SecretError("at least one webhook secret is needed to sign")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets),
    }


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, tolerance: int = 300, now: float | None = None
) -> bool:
    """True if one of the request's v1 signatures was made with secret over this body, recently."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return False
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, msg_id, timestamp, body).encode()
    found = False
    for candidate in lowered.get("webhook-signature", "").split():
        # Check them all, not the first match: the time taken must not depend on which one matched.
        found |= candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected)
    return found
