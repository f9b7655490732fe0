"""REST API views: thin. Each validates input, calls one service and serializes the result.
Everything is looked up through the requesting user's own workflows: another user's id is a 404."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from rest_framework import generics, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triggers import payload_schema
from triggers.models import Delivery, WebhookTrigger
from triggers.serializers import DeliverySerializer, TriggerSerializer
from triggers.services import trigger_delete, trigger_ensure, trigger_regenerate_key
from workflows import services
from workflows.models import Run, Step, Workflow
from workflows.serializers import RunDetailSerializer, RunSerializer, StepSerializer, WorkflowSerializer


def owned_workflows(request: Request) -> QuerySet[Workflow]:
    return Workflow.objects.filter(owner_id=request.user.pk)


class OwnedWorkflowMixin(APIView):
    def get_workflow(self) -> Workflow:
        return get_object_or_404(owned_workflows(self.request), pk=self.kwargs["workflow_id"])


class WorkflowViewSet(viewsets.ModelViewSet):
    serializer_class = WorkflowSerializer
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self) -> QuerySet[Workflow]:
        return (
            owned_workflows(self.request)
            .select_related("published_version", "trigger")
            .prefetch_related("steps")
            .order_by("-id")
        )

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.workflow_create(owner=self.request.user, **serializer.validated_data)  # type: ignore[arg-type]

    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        workflow = self.get_object()
        try:
            services.workflow_publish(workflow=workflow, user=request.user)
        except services.PublishError as exc:
            return Response({"error": exc.code, "detail": exc.detail}, status=status.HTTP_400_BAD_REQUEST)
        return Response(WorkflowSerializer(self.get_object()).data)

    @action(detail=True, methods=["post"])
    def unpublish(self, request: Request, pk: str) -> Response:
        services.workflow_unpublish(workflow=self.get_object())
        return Response(WorkflowSerializer(self.get_object()).data)


class TriggerView(OwnedWorkflowMixin):
    def _trigger(self) -> WebhookTrigger:
        return get_object_or_404(WebhookTrigger, workflow=self.get_workflow())

    def get(self, request: Request, workflow_id: int) -> Response:
        return Response(TriggerSerializer(self._trigger()).data)

    def put(self, request: Request, workflow_id: int) -> Response:
        trigger, created = trigger_ensure(workflow=self.get_workflow())
        return Response(TriggerSerializer(trigger).data, status=201 if created else 200)

    def delete(self, request: Request, workflow_id: int) -> Response:
        trigger_delete(trigger=self._trigger())
        return Response(status=status.HTTP_204_NO_CONTENT)


class TriggerRegenerateView(TriggerView):
    http_method_names = ["post"]

    def post(self, request: Request, workflow_id: int) -> Response:
        trigger = trigger_regenerate_key(trigger=self._trigger(), user=request.user)
        return Response(TriggerSerializer(trigger).data)


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


class StepViewSet(viewsets.ModelViewSet, OwnedWorkflowMixin):
    serializer_class = StepSerializer
    http_method_names = ["get", "post", "patch", "delete"]
    pagination_class = None  # a workflow's steps are few and always wanted whole, in order

    def get_queryset(self) -> QuerySet[Step]:
        return Step.objects.filter(workflow=self.get_workflow()).order_by("position", "id")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "workflow": self.get_workflow()}

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.step_create(workflow=self.get_workflow(), **serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.step_update(step=serializer.instance, **serializer.validated_data)


class WorkflowRunList(generics.ListAPIView, OwnedWorkflowMixin):
    serializer_class = RunSerializer

    def get_queryset(self) -> QuerySet[Run]:
        return Run.objects.filter(workflow=self.get_workflow()).select_related("version")


class RunDetail(generics.RetrieveAPIView):
    serializer_class = RunDetailSerializer

    def get_queryset(self) -> QuerySet[Run]:
        return (
            Run.objects.filter(workflow__owner_id=self.request.user.pk)
            .select_related("version", "delivery")
            .prefetch_related("step_results")
        )


class WorkflowDeliveryList(generics.ListAPIView, OwnedWorkflowMixin):
    serializer_class = DeliverySerializer

    def get_queryset(self) -> QuerySet[Delivery]:
        return (
            Delivery.objects.filter(workflow=self.get_workflow())
            .select_related("version")
            .prefetch_related("runs")
        )
