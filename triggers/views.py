from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.request import Request
from rest_framework.views import APIView

from triggers.inbound import InboundRequest
from triggers.intake import webhook_receive

# The webhook URL, under the site's root: with or without a trailing slash, as a redirect would turn a
# sender's POST into a GET. Routed by orchestrator/urls.py and, in front of the middleware stack, by
# orchestrator/webhook_route.py.
WEBHOOK_PATH = r"hooks/(?P<public_id>[A-Za-z0-9_-]{1,32})/(?P<key>[^/]{1,200})/?$"


def webhook_response(request: HttpRequest, *, public_id: str, key: str) -> HttpResponse:
    result = webhook_receive(public_id=public_id, key=key, request=_inbound(request))
    response = JsonResponse(result.body, status=result.status)
    for name, value in result.headers.items():
        response[name] = value
    return response


class WebhookView(APIView):
    """The hot path. No authentication classes, permissions, throttles or content negotiation:
    the URL's key is the credential, and the answer is always JSON, whatever the sender accepts."""

    authentication_classes = ()
    permission_classes = ()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        pass

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Every method reaches the pipeline, which answers 405 itself so that it can log the request.
        return webhook_response(request, public_id=kwargs["public_id"], key=kwargs["key"])


def _inbound(request: HttpRequest) -> InboundRequest:
    meta = request.META
    headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in meta.items() if k.startswith("HTTP_")}
    if meta.get("CONTENT_TYPE"):
        headers["content-type"] = meta["CONTENT_TYPE"]
    if meta.get("CONTENT_LENGTH"):
        headers["content-length"] = meta["CONTENT_LENGTH"]
    try:
        declared: int | None = int(meta["CONTENT_LENGTH"]) if meta.get("CONTENT_LENGTH") else None
    except ValueError:
        declared = None
    chunked = "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower() and declared is None
    read = request.read
    chunked_unsupported = False
    if chunked:
        # Django reads a body without Content-Length as empty. A server that de-chunks for us says so
        # with wsgi.input_terminated (gunicorn does); then the raw stream ends where the body ends.
        if meta.get("wsgi.input_terminated"):
            read = meta["wsgi.input"].read
        else:
            chunked_unsupported = True
    return InboundRequest(
        method=request.method or "",
        headers=headers,
        content_type=meta.get("CONTENT_TYPE", ""),
        declared_length=declared,
        query_string=meta.get("QUERY_STRING", ""),
        read=read,
        chunked_unsupported=chunked_unsupported,
    )
