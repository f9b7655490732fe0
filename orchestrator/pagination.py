from __future__ import annotations

from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    """Cursor pages stay fast on millions of rows, where page numbers would need OFFSET scans."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 200
