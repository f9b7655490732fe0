"""Forgetting old history: deliveries, runs, step results and attempts past RETENTION_DAYS.

Deleted oldest first in small batches, each its own short transaction, so that the receive path
(which only inserts) never waits behind a long delete. Runs still unfinished are kept whatever their
age, with their delivery: their data is still needed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from triggers.models import Delivery, DeliveryKey
from workflows.models import UNFINISHED, Run

logger = logging.getLogger(__name__)


def history_purge(*, max_batches: int = 100) -> int:
    """Delete up to ``max_batches`` batches of expired history; returns how many deliveries went."""
    if not settings.RETENTION_DAYS:
        return 0
    cutoff = timezone.now() - timedelta(days=settings.RETENTION_DAYS)
    purged = 0
    for _ in range(max_batches):
        batch = _purge_batch(cutoff, settings.RETENTION_BATCH_SIZE)
        purged += batch
        if batch < settings.RETENTION_BATCH_SIZE:
            break
    DeliveryKey.objects.filter(expires_at__lt=timezone.now()).delete()
    if purged:
        logger.info("retention: purged %s deliveries older than %s", purged, cutoff.isoformat())
    return purged


def _purge_batch(cutoff: object, size: int) -> int:
    with transaction.atomic():
        busy = Run.objects.filter(status__in=UNFINISHED, delivery_id__isnull=False).values("delivery_id")
        ids = list(
            Delivery.objects.filter(received_at__lt=cutoff)
            .exclude(id__in=busy)
            .order_by("id")
            .values_list("id", flat=True)[:size]
        )
        if not ids:
            return 0
        # Runs (and through them step results and attempts) go with their delivery.
        Run.objects.filter(delivery_id__in=ids).delete()
        Delivery.objects.filter(id__in=ids).delete()
        return len(ids)
