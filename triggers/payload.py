"""Turning a stored delivery back into the trigger data a run sees."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from triggers.models import Delivery
from triggers.parsing import PayloadError, parse_payload

# The body was checked against the limits when it was accepted; here it is only read back.
_READ_BACK_DEPTH = 10_000


def trigger_data(*, delivery: Delivery | None) -> dict[str, Any]:
    if delivery is None:
        return {"body": None, "headers": {}, "query": {}}
    query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(delivery.query_string).items()}
    return {"body": _body(delivery), "headers": delivery.headers, "query": query}


def _body(delivery: Delivery) -> Any:
    try:
        return parse_payload(
            bytes(delivery.body), delivery.content_type, max_depth=_READ_BACK_DEPTH, max_keys=10**9
        )
    except PayloadError:
        return None  # a rejected delivery's body may not parse; an accepted one always does
