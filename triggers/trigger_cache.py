"""Triggers this process has read, so that an accepted webhook costs one database round trip, not two.

PostgreSQL only: there a lookup also reads the trigger's and its workflow's row versions (``xmin``,
see triggers/intake_store.py). A cached trigger is trusted for one decision only, accepting the
webhook, and the database confirms it in the statement that stores the accepted delivery: if either
row changed since it was read (a regenerated key, a new published version, new settings, a deletion),
nothing is written and the request is decided again on a fresh read. Every other answer (a wrong key,
a rejection, a filter, the rate limit, a captured sample) is also decided again on a fresh read before
anything is written or answered. So changes still take effect at once in every process, with no
invalidation message to lose.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import replace

from triggers.intake_store import Found, trigger_lookup

MAX_ENTRIES = 10_000

_entries: dict[str, Found] = {}
_lock = threading.Lock()


def trigger_find(*, public_id: str, fresh: bool = False) -> Found | None:
    """The trigger at ``public_id`` with its published version: from this process's memory unless
    ``fresh``, else read now (and remembered)."""
    if not fresh:
        entry = _entries.get(public_id)
        if entry is not None:
            return entry
    found = trigger_lookup(public_id=public_id)
    with _lock:
        if found is None or found.stamp is None:
            _entries.pop(public_id, None)
        else:
            if len(_entries) >= MAX_ENTRIES:
                del _entries[next(iter(_entries))]  # the oldest: dicts keep insertion order
            # A copy: the request that read it may change its own instance (capturing a sample does).
            _entries[public_id] = replace(found, trigger=copy.copy(found.trigger), cached=True)
    return found


def trigger_cache_clear() -> None:
    with _lock:
        _entries.clear()
