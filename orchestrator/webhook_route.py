"""The webhook URL, answered beside Django's middleware stack and URL resolver instead of through them.

A webhook needs almost nothing of the stack: no session, user, CSRF token or messages (the URL's key
is the credential). Going through it anyway cost ~0.1 ms of CPU per webhook, a seventh of the receive
path (bench/README.md). So ``orchestrator.wsgi`` puts this route in front: it builds Django's own
request, and does what the stack does that matters for this URL, with Django's own code: the
request_started/request_finished signals (which recycle database connections), the Host check of
``ALLOWED_HOSTS``, the SecurityMiddleware (HTTPS redirect, HSTS and the other security headers), the
X-Frame-Options header, Content-Length, and the 503 for an unreachable database. A request it is not
sure to answer exactly as the stack would (any other path, a Host that is not allowed, settings that
change what CommonMiddleware does) goes through the stack, which routes webhooks to the same pipeline
(triggers/views.py). tests/unit/test_webhook_route.py compares both answers, header by header.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_path_info, get_script_name
from django.http import HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix

from orchestrator.unavailable import UNAVAILABLE, unavailable_response
from triggers.views import WEBHOOK_PATH, webhook_response

logger = logging.getLogger(__name__)

_HOOK = re.compile("^/" + WEBHOOK_PATH)

StartResponse = Callable[..., Any]


class WebhookRoute:
    def __init__(self, django: WSGIHandler):
        self.django = django

        def unused(request: Any) -> HttpResponse:  # the middleware below are only asked for their hooks
            raise AssertionError("never called")

        self.security = SecurityMiddleware(unused)
        self.frame_options = XFrameOptionsMiddleware(unused)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = _HOOK.match(get_path_info(environ))
        if match is None or settings.PREPEND_WWW or settings.DISALLOWED_USER_AGENTS:
            return self.django(environ, start_response)  # (with those two, CommonMiddleware would act)
        set_script_prefix(get_script_name(environ))
        request = WSGIRequest(environ)
        try:
            request.get_host()
        except DisallowedHost:
            return self.django(environ, start_response)  # its 400, logged as Django logs it
        signals.request_started.send(sender=WSGIHandler, environ=environ)
        redirect = self.security.process_request(request)  # HTTPS only: the stack stops here too
        if redirect is not None:
            response = self.security.process_response(request, redirect)
        else:
            response = self._answer(request, match)
            # What the stack's middleware add to a JSON answer, innermost first.
            response = self.frame_options.process_response(request, response)
            if not response.has_header("Content-Length"):  # CommonMiddleware
                response.headers["Content-Length"] = str(len(response.content))
            response = self.security.process_response(request, response)
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return _Finishing(response.content)

    def _answer(self, request: WSGIRequest, match: re.Match[str]) -> HttpResponse:
        try:
            return webhook_response(request, **match.groupdict())
        except UNAVAILABLE as exc:
            logger.warning("database unavailable on webhook %s: %s", match["public_id"], exc)
            return unavailable_response()
        except Exception:
            # A bug, never bad input (the pipeline answers that). Logged without the URL: it holds the key.
            logger.exception("webhook %s failed", match["public_id"])
            return JsonResponse(
                {"error": "server_error", "detail": "The webhook could not be processed; retry later."},
                status=500,
            )


class _Finishing:
    """The body; closing it ends the request as Django's response does (request_finished)."""

    def __init__(self, content: bytes):
        self.content = content

    def __iter__(self) -> Iterator[bytes]:
        yield self.content

    def close(self) -> None:
        signals.request_finished.send(sender=WSGIHandler)
