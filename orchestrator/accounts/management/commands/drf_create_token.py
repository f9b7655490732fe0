"""Same name and output as DRF's command, but the token is stored as a digest, never in plain text."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator.accounts.services import api_token_issue


class Command(BaseCommand):
    help = "Create an API token for a user (printed once; only its digest is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "-r", "--reset", action="store_true", help="Replace the user's token; the old one stops working."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"Cannot create the Token: user {username} does not exist") from None
        token = api_token_issue(user=user, replace=options["reset"])
        if token is None:
            raise CommandError(
                f"User {username} already has a token, and it cannot be shown again. Use -r to replace it."
            )
        self.stdout.write(f"Generated token {token} for user {username}")
