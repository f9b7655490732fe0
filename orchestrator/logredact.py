"""Webhook URLs carry their key in the path, and Django and gunicorn log paths: redact them in logs.

Query-string values go too: a step may send an API key as a query parameter, and urllib3 logs each
request line (with its query) at DEBUG in the worker."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

_HOOK_KEY = re.compile(r"(/hooks/[A-Za-z0-9_-]{1,32}/)[^/\s\"'?]+")
_QUERY_VALUE = re.compile(r"([?&][^=&\s\"'#]+=)[^&\s\"'#]*")


def redact(text: str) -> str:
    if "%" in text:
        decoded = unquote(text)
        if decoded != text and "/hooks/" in decoded:
            # The server decodes a path once before routing it: "/hook%73/id/key" and "/hooks/id%2Fkey"
            # reach the webhook too, and access logs print the raw form. Redact what it decodes to,
            # with control characters escaped so that a decoded line cannot pass for two.
            text = decoded.encode("unicode_escape").decode("ascii")
    if "/hooks/" not in text and "?" not in text and "&" not in text:
        return text  # what both patterns need: most log lines and access log atoms have neither
    return _QUERY_VALUE.sub(r"\1[redacted]", _HOOK_KEY.sub(r"\1[redacted]", text))


class RedactWebhookKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
