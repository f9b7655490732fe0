from __future__ import annotations

import secrets

from django.contrib.auth.models import User
from django.db import transaction

from orchestrator.accounts.models import ApiToken
from orchestrator.crypto import secret_digest

TOKEN_PREFIX = "orc_"  # noqa: S105  (a public marker, not a secret)


def api_token_issue(*, user: User, replace: bool = False) -> str | None:
    """Make the user's API token and return it in plain text, the only time it is ever seen.

    Returns None when the user already has one and ``replace`` is false: we cannot show it again.
    """
    with transaction.atomic():
        existing = ApiToken.objects.select_for_update().filter(user=user).first()
        if existing and not replace:
            return None
        token = TOKEN_PREFIX + secrets.token_urlsafe(30)
        ApiToken.objects.update_or_create(
            user=user, defaults={"prefix": token[:8], "digest": secret_digest(token), "last_used_at": None}
        )
    return token


def api_token_user(*, token: str) -> User | None:
    found = ApiToken.objects.select_related("user").filter(digest=secret_digest(token)).first()
    if found is None or not found.user.is_active:
        return None
    return found.user
