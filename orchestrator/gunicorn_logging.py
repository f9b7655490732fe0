"""gunicorn's access log prints request paths, and a webhook path carries its key: redact it."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from orchestrator.logredact import redact


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        # Every atom: besides the request line and path, gunicorn exposes each environ value as
        # "{raw_uri}e", "{path_info}e"... for custom formats.
        return {name: redact(value) if isinstance(value, str) else value for name, value in atoms.items()}
