from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from actions.registry import action_choices
from triggers.serializers import TriggerSerializer
from workflows.models import Run, Step, StepAttempt, StepResult, Workflow
from workflows.services import step_public_config, workflow_has_unpublished_changes

MAX_POSITION = 1_000_000_000
# PostgreSQL's jsonb refuses NUL, and no JSON encoder writes an unpaired surrogate as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def has_unstorable_text(value: Any) -> bool:
    """Whether any key or string in a JSON value holds a NUL character or an unpaired surrogate."""
    stack = [value]
    while stack:  # without recursion: the value may be any JSON the API was sent
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return True
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return False


class StepSerializer(serializers.ModelSerializer):
    type = serializers.ChoiceField(choices=[])
    # Bounded well inside the column's 32-bit range, so that the next step's automatic position
    # (the highest plus one) still fits: an unbounded integer reached the database and answered 500.
    position = serializers.IntegerField(required=False, min_value=-MAX_POSITION, max_value=MAX_POSITION)

    class Meta:
        model = Step
        fields = ["id", "name", "type", "position", "config", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = action_choices()  # type: ignore[attr-defined]

    def validate_name(self, name: str) -> str:
        workflow = self.context["workflow"]
        clash = Step.objects.filter(workflow=workflow, name=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError(
                "Another step of this workflow has this name; names must be unique."
            )
        return name

    def validate_config(self, config: Any) -> Any:
        if has_unstorable_text(config):
            raise serializers.ValidationError(
                "Text in a step's configuration cannot hold NUL characters or unpaired surrogates."
            )
        return config

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The configuration is checked by the step services, which also seal its secrets.
        if self.instance is None and "type" not in attrs:
            raise serializers.ValidationError({"type": "This field is required."})
        if self.instance is None and "config" not in attrs:
            attrs["config"] = {}
        return attrs

    def to_representation(self, instance: Step) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["config"] = step_public_config(step_type=instance.type, config=instance.config)
        return data


class WorkflowSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)
    version = serializers.SerializerMethodField()
    has_unpublished_changes = serializers.SerializerMethodField()
    trigger = serializers.SerializerMethodField()
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = Workflow
        fields = [
            "id",
            "name",
            "description",
            "status",
            "version",
            "has_unpublished_changes",
            "trigger",
            "steps",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_version(self, workflow: Workflow) -> int | None:
        version = workflow.published_version
        return version.number if version else None

    def get_has_unpublished_changes(self, workflow: Workflow) -> bool:
        return workflow_has_unpublished_changes(workflow=workflow)

    def get_trigger(self, workflow: Workflow) -> dict[str, Any] | None:
        trigger = getattr(workflow, "trigger", None)
        return TriggerSerializer(trigger).data if trigger is not None else None


class StepAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = StepAttempt
        fields = [
            "number",
            "status",
            "request",
            "response_status",
            "response_headers",
            "response_body",
            "response_truncated",
            "duration_ms",
            "error",
            "retry_at",
            "started_at",
            "finished_at",
        ]


class StepResultSerializer(serializers.ModelSerializer):
    attempt_log = StepAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = StepResult
        fields = [
            "position",
            "name",
            "type",
            "status",
            "attempts",
            "idempotency_key",
            "input",
            "output",
            "error",
            "next_attempt_at",
            "started_at",
            "finished_at",
            "attempt_log",
        ]


class RunSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "workflow",
            "version",
            "status",
            "error",
            "delivery",
            "replay_of",
            "created_at",
            "started_at",
            "finished_at",
            "due_at",
        ]


class RunDetailSerializer(RunSerializer):
    step_results = StepResultSerializer(many=True, read_only=True)
    trigger = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "trigger", "step_results"]

    def get_trigger(self, run: Run) -> dict[str, Any]:
        from triggers.payload import trigger_data

        return trigger_data(delivery=run.delivery)
