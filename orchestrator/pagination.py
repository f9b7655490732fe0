from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request


class NewestFirstPagination(CursorPagination):
    """Cursor pages stay fast on millions of rows, where page numbers would need OFFSET scans."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        # DRF checks the cursor's syntax but not that its position is an id: a forged one would
        # reach the database as text and fail there (a 500) instead of being a bad cursor (a 404).
        if cursor is not None and cursor.position is not None and not _is_int(cursor.position):
            raise NotFound(self.invalid_cursor_message)
        return cursor


def _is_int(value: Any) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True
