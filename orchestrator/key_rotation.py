"""Re-encrypting every secret at rest with the first of FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first and keep the old one after it (both decrypt), run
`manage.py rotate_encryption_keys`, then drop the old key. Each row is rewritten in its own short
transaction, so the command can run while the service is up.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from actions.registry import ConfigError, get_action
from orchestrator.crypto import decrypt, encrypt
from triggers.models import WebhookTrigger
from workflows.models import Step, WorkflowVersion

logger = logging.getLogger("orchestrator.audit")


def _reseal(step_type: str, config: dict[str, Any]) -> dict[str, Any]:
    try:
        action = get_action(step_type)
    except ConfigError:
        return config
    return action.seal_config(action.open_config(config))


def secrets_reencrypt() -> dict[str, int]:
    counts = {"webhook keys": 0, "steps": 0, "published versions": 0}
    for trigger_id in WebhookTrigger.objects.values_list("id", flat=True).iterator():
        with transaction.atomic():
            trigger = WebhookTrigger.objects.select_for_update().get(id=trigger_id)
            trigger.key_encrypted = encrypt(decrypt(trigger.key_encrypted))
            trigger.save(update_fields=["key_encrypted"])
            counts["webhook keys"] += 1
    for step_id in Step.objects.values_list("id", flat=True).iterator():
        with transaction.atomic():
            step = Step.objects.select_for_update().get(id=step_id)
            step.config = _reseal(step.type, step.config)
            step.save(update_fields=["config"])
            counts["steps"] += 1
    for version_id in WorkflowVersion.objects.values_list("id", flat=True).iterator():
        with transaction.atomic():
            version = WorkflowVersion.objects.select_for_update().get(id=version_id)
            for step in version.snapshot.get("steps", []):
                step["config"] = _reseal(step["type"], step["config"])
            version.save(update_fields=["snapshot"])
            counts["published versions"] += 1
    logger.info("secrets re-encrypted with the current key: %s", counts)
    return counts
