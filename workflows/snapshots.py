"""Published versions are immutable, so a version's parsed snapshot can be cached by its text.

The hot paths (the receive path's trigger lookup, the engine's claim) read the snapshot as text in
the same statement as the rest of their row, and take the parsed dict from here: keyed by the text
itself, like compiled schemas (orchestrator/compiled_cache.py), so an entry can never go stale.
The dicts handed out are shared: callers read them and never change them.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator.compiled_cache import CompiledCache
from workflows.models import WorkflowVersion

_SNAPSHOTS: CompiledCache[dict[str, Any]] = CompiledCache(json.loads, size=4096)


def version_from_text(
    *, version_id: int, workflow_id: int, snapshot: str | dict[str, Any]
) -> WorkflowVersion:
    """A version holding what the hot paths read (id, workflow id, snapshot); not a full row."""
    if not isinstance(snapshot, str):  # SQLite may hand JSON back parsed already
        snapshot = json.dumps(snapshot)
    return WorkflowVersion(id=version_id, workflow_id=workflow_id, snapshot=_SNAPSHOTS.get(snapshot))
