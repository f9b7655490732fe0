"""A trigger's filters: saving them against the payload preview, dry runs, and the compiled filters the
receive path uses, once per filter tree."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs

from triggers.filters import CompiledFilter, FilterResult, compile_filter, filter_validate, preview_paths
from triggers.models import WebhookTrigger
from triggers.payload_schema import trigger_payload_schema_view
from workflows.models import WorkflowVersion


def trigger_set_filters(*, trigger: WebhookTrigger, tree: Any) -> tuple[WebhookTrigger, list[dict[str, str]]]:
    """Save the draft's filters (FilterError with the path of each problem); return the warnings, e.g.
    a field the payload preview does not show (saved anyway: senders send more than samples show)."""
    preview = trigger_payload_schema_view(trigger=trigger)["preview"]
    known = preview_paths(preview) if preview else None
    tree, warnings = filter_validate(tree, known_paths=known)
    trigger.filters = tree if _is_active(tree) else None
    trigger.save(update_fields=["filters", "updated_at"])
    return trigger, warnings


def trigger_filters_dry_run(
    *, tree: Any, payload: Any, headers: dict[str, str] | None, query: dict[str, Any] | None
) -> FilterResult:
    """Evaluate every condition, for the UI's "test against the sample" button."""
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    return compile_filter(tree).evaluate(payload, lowered, query or {}, explain=True)


def query_params(query_string: str) -> dict[str, str | list[str]]:
    """A parameter given once is a string, given several times a list (as filters expect)."""
    return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(query_string, keep_blank_values=True).items()}


def _is_active(tree: Any) -> bool:
    return bool(tree) and tree != {"all": []}


_COMPILED: OrderedDict[str, CompiledFilter] = OrderedDict()
_COMPILED_LOCK = threading.Lock()
_COMPILED_MAX = 1024


def version_filter(*, version: WorkflowVersion) -> CompiledFilter | None:
    """The version's compiled filter, or None when it has none. Keyed by the tree's text, like the
    schema validators: never stale, shared by identical filters."""
    tree = (version.snapshot.get("trigger") or {}).get("filters")
    if not tree:
        return None
    text = json.dumps(tree, sort_keys=True)
    try:
        return _COMPILED[text]
    except KeyError:
        pass
    compiled = compile_filter(tree)
    with _COMPILED_LOCK:
        _COMPILED[text] = compiled
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
    return compiled
