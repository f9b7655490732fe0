"""Turning a stored delivery back into the trigger data a run sees."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from triggers.models import Delivery


def trigger_data(*, delivery: Delivery | None) -> dict[str, Any]:
    if delivery is None:
        return {"body": None, "headers": {}, "query": {}}
    query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(delivery.query_string).items()}
    return {"body": None, "headers": delivery.headers, "query": query}
