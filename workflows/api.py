"""REST API views: thin. Each validates input, calls one service and serializes the result.
Everything is looked up through the requesting user's own workflows: another user's id is a 404."""

from __future__ import annotations

from typing import Any

from django.db.models import ProtectedError, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import generics, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator.api_common import BAD_REQUEST, CONFLICT, NOT_FOUND, Conflict, config_errors_as_400
from workflows import runs, services
from workflows.models import Run, Step, Workflow
from workflows.serializers import RunDetailSerializer, RunSerializer, StepSerializer, WorkflowSerializer


def owned_workflows(request: Request) -> QuerySet[Workflow]:
    return Workflow.objects.filter(owner_id=request.user.pk)


class OwnedWorkflowMixin(APIView):
    def get_workflow(self) -> Workflow:
        return get_object_or_404(owned_workflows(self.request), pk=self.kwargs["workflow_id"])


RUN_ACCEPTED = inline_serializer(
    "RunAccepted", {"run_id": serializers.IntegerField(), "status": serializers.CharField()}
)


@extend_schema_view(destroy=extend_schema(responses={204: None, 404: NOT_FOUND, 409: CONFLICT}))
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

    def perform_destroy(self, instance: Workflow) -> None:
        try:
            services.workflow_delete(workflow=instance)
        except ProtectedError:  # a run was accepted in the meantime: the client may simply try again
            raise Conflict("The workflow received a run while it was being deleted; try again.") from None

    @extend_schema(request=None, responses={200: WorkflowSerializer, 400: BAD_REQUEST, 404: NOT_FOUND})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        workflow = self.get_object()
        try:
            services.workflow_publish(workflow=workflow, user=request.user)
        except services.PublishError as exc:
            return Response({"error": exc.code, "detail": exc.detail}, status=status.HTTP_400_BAD_REQUEST)
        return Response(WorkflowSerializer(self.get_object()).data)

    @extend_schema(request=None, responses={200: WorkflowSerializer, 404: NOT_FOUND})
    @action(detail=True, methods=["post"])
    def unpublish(self, request: Request, pk: str) -> Response:
        services.workflow_unpublish(workflow=self.get_object())
        return Response(WorkflowSerializer(self.get_object()).data)


class StepViewSet(viewsets.ModelViewSet, OwnedWorkflowMixin):
    serializer_class = StepSerializer
    http_method_names = ["get", "post", "patch", "delete"]
    pagination_class = None  # a workflow's steps are few and always wanted whole, in order

    def get_queryset(self) -> QuerySet[Step]:
        return Step.objects.filter(workflow=self.get_workflow()).order_by("position", "id")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "workflow": self.get_workflow()}

    def perform_create(self, serializer: Any) -> None:
        with config_errors_as_400():
            serializer.instance = services.step_create(
                workflow=self.get_workflow(), **serializer.validated_data
            )

    def perform_update(self, serializer: Any) -> None:
        with config_errors_as_400():
            serializer.instance = services.step_update(step=serializer.instance, **serializer.validated_data)


class WorkflowRunList(generics.ListAPIView, OwnedWorkflowMixin):
    serializer_class = RunSerializer

    def get_queryset(self) -> QuerySet[Run]:
        return Run.objects.filter(workflow=self.get_workflow()).select_related("version")


def owned_runs(request: Request) -> QuerySet[Run]:
    return Run.objects.filter(workflow__owner_id=request.user.pk)


class RunDetail(generics.RetrieveAPIView):
    serializer_class = RunDetailSerializer

    def get_queryset(self) -> QuerySet[Run]:
        return (
            owned_runs(self.request)
            .select_related("version", "delivery")
            .prefetch_related("step_results__attempt_log")
        )


@extend_schema_view(
    post=extend_schema(request=None, responses={202: RUN_ACCEPTED, 404: NOT_FOUND, 409: CONFLICT})
)
class RunReplay(APIView):
    def post(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(owned_runs(request).select_related("workflow__published_version"), pk=pk)
        try:
            replay = runs.run_replay(run=run)
        except runs.RunActionError as exc:
            return Response({"error": exc.code, "detail": exc.detail}, status=status.HTTP_409_CONFLICT)
        return Response({"run_id": replay.pk, "status": replay.status}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    post=extend_schema(request=None, responses={202: RUN_ACCEPTED, 404: NOT_FOUND, 409: CONFLICT})
)
class RunRetry(APIView):
    def post(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(owned_runs(request), pk=pk)
        try:
            retried = runs.run_retry(run=run)
        except runs.RunActionError as exc:
            return Response({"error": exc.code, "detail": exc.detail}, status=status.HTTP_409_CONFLICT)
        return Response({"run_id": retried.pk, "status": retried.status}, status=status.HTTP_202_ACCEPTED)
