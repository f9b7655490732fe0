"""A trigger's inbound signature check: saving it (secrets write-only, encrypted) and applying it."""

from __future__ import annotations

from typing import Any

from triggers.inbound_signatures import (
    SignatureResult,
    decrypt_signature_config,
    encrypt_signature_config,
    mask_signature_config,
    merge_signature_config,
    validate_signature_config,
    verify_signature,
)
from triggers.models import WebhookTrigger


def trigger_set_signature(*, trigger: WebhookTrigger, config: Any) -> WebhookTrigger:
    """Save the check (ConfigError keyed by field); a secret sent back masked keeps the stored one."""
    stored = decrypt_signature_config(trigger.signature) if trigger.signature else None
    merged = merge_signature_config(stored, config) if isinstance(config, dict) else config
    clean = validate_signature_config(merged)
    trigger.signature = None if clean["scheme"] == "none" else encrypt_signature_config(clean)
    trigger.save(update_fields=["signature", "updated_at"])
    return trigger


def trigger_signature_view(*, trigger: WebhookTrigger) -> dict[str, Any]:
    if not trigger.signature:
        return {"scheme": "none"}
    return mask_signature_config(decrypt_signature_config(trigger.signature))


def trigger_check_signature(
    *, trigger: WebhookTrigger, headers: dict[str, str], body: bytes
) -> SignatureResult | None:
    """None when the trigger checks no signature, else the verdict over the raw body."""
    if not trigger.signature:
        return None
    return verify_signature(decrypt_signature_config(trigger.signature), headers, body)
