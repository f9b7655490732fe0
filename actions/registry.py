"""Action types by name. The API's choices, validation and the engine all read this one table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ConfigError(Exception):
    """A step configuration is invalid; ``fields`` maps a path inside the config to what is wrong."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass
class StepContext:
    """What a step can see of its run."""

    run_id: int
    workflow_name: str
    trigger: dict[str, Any]
    steps: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepOutcome:
    succeeded: bool
    input: dict[str, Any]
    output: dict[str, Any] | None = None
    error: str = ""


class Action(Protocol):
    type: str
    label: str

    def validate_config(self, config: Any) -> dict[str, Any]: ...

    def timeout_seconds(self, config: dict[str, Any]) -> float: ...

    def execute(self, config: dict[str, Any], context: StepContext) -> StepOutcome: ...


ACTIONS: dict[str, Action] = {}


def register(action: Action) -> Action:
    ACTIONS[action.type] = action
    return action


def get_action(type_name: str) -> Action:
    from actions import http_request  # noqa: F401  (registers itself; imported lazily to avoid cycles)

    try:
        return ACTIONS[type_name]
    except KeyError:
        raise ConfigError(
            {"type": f"unknown action type {type_name!r}; known: {', '.join(ACTIONS)}"}
        ) from None


def action_choices() -> list[tuple[str, str]]:
    from actions import http_request  # noqa: F401

    return [(a.type, a.label) for a in ACTIONS.values()]
