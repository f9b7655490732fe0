from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from triggers import api as triggers_api
from workflows import api

router = SimpleRouter()
router.register("workflows", api.WorkflowViewSet, basename="workflow")

steps = api.StepViewSet.as_view({"get": "list", "post": "create"})
step = api.StepViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"})

urlpatterns = [
    *router.urls,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("workflows/<int:workflow_id>/trigger/", triggers_api.TriggerView.as_view(), name="workflow-trigger"),
    path(
        "workflows/<int:workflow_id>/trigger/regenerate/",
        triggers_api.TriggerRegenerateView.as_view(),
        name="workflow-trigger-regenerate",
    ),
    path(
        "workflows/<int:workflow_id>/trigger/schema/",
        triggers_api.TriggerSchemaView.as_view(),
        name="workflow-trigger-schema",
    ),
    path(
        "workflows/<int:workflow_id>/trigger/listen/",
        triggers_api.TriggerListenView.as_view(),
        name="workflow-trigger-listen",
    ),
    path(
        "workflows/<int:workflow_id>/trigger/filters/",
        triggers_api.TriggerFiltersView.as_view(),
        name="workflow-trigger-filters",
    ),
    path(
        "workflows/<int:workflow_id>/trigger/filters/test/",
        triggers_api.TriggerFiltersTestView.as_view(),
        name="workflow-trigger-filters-test",
    ),
    path(
        "workflows/<int:workflow_id>/trigger/signature/",
        triggers_api.TriggerSignatureView.as_view(),
        name="workflow-trigger-signature",
    ),
    path("workflows/<int:workflow_id>/steps/", steps, name="workflow-steps"),
    path("workflows/<int:workflow_id>/steps/<int:pk>/", step, name="workflow-step"),
    path("workflows/<int:workflow_id>/runs/", api.WorkflowRunList.as_view(), name="workflow-runs"),
    path(
        "workflows/<int:workflow_id>/deliveries/",
        triggers_api.WorkflowDeliveryList.as_view(),
        name="workflow-deliveries",
    ),
    path("runs/<int:pk>/", api.RunDetail.as_view(), name="run-detail"),
    path("runs/<int:pk>/replay/", api.RunReplay.as_view(), name="run-replay"),
    path("runs/<int:pk>/retry/", api.RunRetry.as_view(), name="run-retry"),
]
