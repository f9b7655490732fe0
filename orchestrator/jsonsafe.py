from __future__ import annotations

from typing import Any


def json_safe(value: Any) -> Any:
    """A copy that every database's JSON column accepts: PostgreSQL's jsonb refuses \\u0000 in strings."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {json_safe(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
