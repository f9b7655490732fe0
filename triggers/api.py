"""REST API views of a workflow's webhook trigger and its delivery log: thin, like every view."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from orchestrator.api_common import BAD_REQUEST, NOT_FOUND, config_errors_as_400
from triggers import payload_schema, trigger_filters, trigger_signature
from triggers.filters import FilterError
from triggers.models import Delivery, WebhookTrigger
from triggers.rate_limit import MAX_RATE_LIMIT_PER_MINUTE
from triggers.serializers import DeliverySerializer, TriggerSerializer, TriggerWithWarningsSerializer
from triggers.services import (
    MAX_DEDUPE_WINDOW,
    trigger_delete,
    trigger_ensure,
    trigger_regenerate_key,
    trigger_update_settings,
)
from workflows.api import OwnedWorkflowMixin

# --- OpenAPI descriptions of the views that take or give plain JSON (no serializer of their own) ----------

TRIGGER_SETTINGS = inline_serializer(
    "TriggerSettingsRequest",
    {
        "dedupe_field": serializers.CharField(
            required=False, allow_blank=True, help_text="e.g. headers.X-Request-Id or event.id; '' is off."
        ),
        "dedupe_window_seconds": serializers.IntegerField(
            required=False, min_value=0, max_value=MAX_DEDUPE_WINDOW, help_text="0 is off."
        ),
        "rate_limit_per_minute": serializers.IntegerField(
            required=False,
            allow_null=True,
            min_value=0,
            max_value=MAX_RATE_LIMIT_PER_MINUTE,
            help_text="Requests a minute before the webhook answers 429; null: the default; 0: no limit.",
        ),
    },
)
PAYLOAD_SCHEMA_REQUEST = inline_serializer(
    "PayloadSchemaRequest",
    {
        "kind": serializers.ChoiceField(choices=["sample", "json_schema", "none"]),
        "schema": serializers.JSONField(required=False, help_text="A JSON Schema, for kind json_schema."),
        "samples": serializers.ListField(
            child=serializers.JSONField(), required=False, help_text="Up to 20 samples, for kind sample."
        ),
    },
)
FILTERS_TEST_REQUEST = inline_serializer(
    "FiltersTestRequest",
    {
        "filters": serializers.JSONField(required=False, help_text="Default: the draft's filters."),
        "payload": serializers.JSONField(required=False),
        "headers": serializers.DictField(child=serializers.CharField(), required=False),
        "query": serializers.DictField(required=False),
    },
)
FILTERS_TEST_RESPONSE = inline_serializer(
    "FiltersTestResult",
    {
        "passed": serializers.BooleanField(),
        "conditions": serializers.ListField(child=serializers.DictField()),
        "failed_condition": serializers.DictField(allow_null=True),
    },
)
LISTEN_STATE = inline_serializer(
    "ListenState",
    {
        "listening": serializers.BooleanField(),
        "listen_until": serializers.DateTimeField(allow_null=True),
        "captured_at": serializers.DateTimeField(allow_null=True),
        "captured": serializers.JSONField(allow_null=True),
    },
)


@extend_schema_view(
    get=extend_schema(responses={200: TriggerSerializer, 404: NOT_FOUND}),
    put=extend_schema(
        request=None, responses={200: TriggerSerializer, 201: TriggerSerializer, 404: NOT_FOUND}
    ),
    patch=extend_schema(
        request=TRIGGER_SETTINGS, responses={200: TriggerSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}
    ),
    delete=extend_schema(responses={204: None, 404: NOT_FOUND}),
)
class TriggerView(OwnedWorkflowMixin):
    def _trigger(self) -> WebhookTrigger:
        return get_object_or_404(WebhookTrigger, workflow=self.get_workflow())

    def get(self, request: Request, workflow_id: int) -> Response:
        return Response(TriggerSerializer(self._trigger()).data)

    def put(self, request: Request, workflow_id: int) -> Response:
        trigger, created = trigger_ensure(workflow=self.get_workflow())
        return Response(TriggerSerializer(trigger).data, status=201 if created else 200)

    def patch(self, request: Request, workflow_id: int) -> Response:
        changes = request.data if isinstance(request.data, dict) else {}
        with config_errors_as_400(field=None):
            trigger = trigger_update_settings(trigger=self._trigger(), changes=dict(changes))
        return Response(TriggerSerializer(trigger).data)

    def delete(self, request: Request, workflow_id: int) -> Response:
        trigger_delete(trigger=self._trigger())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(post=extend_schema(request=None, responses={200: TriggerSerializer, 404: NOT_FOUND}))
class TriggerRegenerateView(TriggerView):
    http_method_names = ["post"]

    def post(self, request: Request, workflow_id: int) -> Response:
        trigger = trigger_regenerate_key(trigger=self._trigger(), user=request.user)
        return Response(TriggerSerializer(trigger).data)


@extend_schema_view(
    put=extend_schema(
        request=PAYLOAD_SCHEMA_REQUEST, responses={200: TriggerSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}
    )
)
class TriggerSchemaView(TriggerView):
    http_method_names = ["put"]

    def put(self, request: Request, workflow_id: int) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        try:
            trigger = payload_schema.trigger_set_payload_schema(
                trigger=self._trigger(),
                kind=data.get("kind", ""),
                schema=data.get("schema"),
                samples=data.get("samples"),
            )
        except payload_schema.PayloadSchemaError as exc:
            return Response(
                {"error": "schema_invalid", "detail": exc.message, "path": exc.path},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(TriggerSerializer(trigger).data)


@extend_schema_view(
    put=extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: TriggerWithWarningsSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
        description="The body is the filter tree itself (all/any/not of conditions); {} removes the filters.",
    )
)
class TriggerFiltersView(TriggerView):
    http_method_names = ["put"]

    def put(self, request: Request, workflow_id: int) -> Response:
        """The body is the filter tree itself; an empty body or ``{}`` removes the filters."""
        try:
            trigger, warnings = trigger_filters.trigger_set_filters(
                trigger=self._trigger(), tree=request.data
            )
        except FilterError as exc:
            return Response(
                {"error": "filters_invalid", "detail": exc.errors[0]["message"], "errors": exc.errors},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response({**TriggerSerializer(trigger).data, "warnings": warnings})


@extend_schema_view(
    post=extend_schema(
        request=FILTERS_TEST_REQUEST,
        responses={200: FILTERS_TEST_RESPONSE, 400: BAD_REQUEST, 404: NOT_FOUND},
    )
)
class TriggerFiltersTestView(TriggerView):
    """Dry run: the result of every condition for a payload, against the draft's filters or given ones."""

    http_method_names = ["post"]

    def post(self, request: Request, workflow_id: int) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        trigger = self._trigger()
        tree = data.get("filters", trigger.filters)
        headers, query = data.get("headers") or {}, data.get("query") or {}
        if not isinstance(headers, dict) or not isinstance(query, dict):
            return Response(
                {"error": "validation_failed", "detail": "headers and query must be objects."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            result = trigger_filters.trigger_filters_dry_run(
                tree=tree, payload=data.get("payload"), headers=headers, query=query
            )
        except FilterError as exc:
            return Response(
                {"error": "filters_invalid", "detail": exc.errors[0]["message"], "errors": exc.errors},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(
            {
                "passed": result.passed,
                "conditions": result.conditions,
                "failed_condition": result.failed_condition,
            }
        )


@extend_schema_view(
    put=extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: TriggerSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
        description="The inbound signature check: {'scheme': ..., ...}; {'scheme': 'none'} turns it off.",
    )
)
class TriggerSignatureView(TriggerView):
    http_method_names = ["put"]

    def put(self, request: Request, workflow_id: int) -> Response:
        with config_errors_as_400(field=None):
            trigger = trigger_signature.trigger_set_signature(trigger=self._trigger(), config=request.data)
        return Response(TriggerSerializer(trigger).data)


@extend_schema_view(
    get=extend_schema(responses={200: LISTEN_STATE, 404: NOT_FOUND}),
    post=extend_schema(request=None, responses={202: LISTEN_STATE, 404: NOT_FOUND}),
    delete=extend_schema(request=None, responses={200: LISTEN_STATE, 404: NOT_FOUND}),
)
class TriggerListenView(TriggerView):
    http_method_names = ["get", "post", "delete"]

    def get(self, request: Request, workflow_id: int) -> Response:
        return Response(payload_schema.trigger_listen_view(trigger=self._trigger()))

    def post(self, request: Request, workflow_id: int) -> Response:
        trigger = payload_schema.trigger_listen_start(trigger=self._trigger())
        return Response(payload_schema.trigger_listen_view(trigger=trigger), status=status.HTTP_202_ACCEPTED)

    def delete(self, request: Request, workflow_id: int) -> Response:
        trigger = payload_schema.trigger_listen_stop(trigger=self._trigger())
        return Response(payload_schema.trigger_listen_view(trigger=trigger))


class WorkflowDeliveryList(generics.ListAPIView, OwnedWorkflowMixin):
    serializer_class = DeliverySerializer

    def get_queryset(self) -> QuerySet[Delivery]:
        return (
            Delivery.objects.filter(workflow=self.get_workflow())
            .select_related("version")
            .prefetch_related("runs")
        )
