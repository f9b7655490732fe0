from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from orchestrator.key_rotation import secrets_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt every secret at rest with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = secrets_reencrypt()
        self.stdout.write("Re-encrypted " + ", ".join(f"{n} {what}" for what, n in counts.items()))
