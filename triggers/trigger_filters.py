"""A trigger's filters: saving them against the payload preview, dry runs, and the compiled filters the
receive path uses, once per filter tree."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from orchestrator.compiled_cache import CompiledCache
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


_FILTERS: CompiledCache[CompiledFilter] = CompiledCache(lambda text: compile_filter(json.loads(text)))


def version_filter(*, version: WorkflowVersion) -> CompiledFilter | None:
    """The version's compiled filter, or None when it has none (compiled once per filter text)."""
    tree = (version.snapshot.get("trigger") or {}).get("filters")
    return _FILTERS.get(json.dumps(tree, sort_keys=True)) if tree else None
