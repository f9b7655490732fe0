"""Action types by name. The API's choices, validation and the engine all read this one table.

An action works in two halves so that the engine can record each attempt before it acts:
``prepare`` renders the request from the run's data (a failure there is final: retrying would render
the same thing), and ``send`` performs it once and reports whether a retry could help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from actions.retry import RetryPolicy  # retry imports ConfigError from here


class ConfigError(Exception):
    """A step configuration is invalid; ``fields`` maps a path inside the config to what is wrong."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class StepFailed(Exception):
    """The step cannot be performed at all (e.g. a template names data the run does not have)."""


@dataclass
class StepContext:
    """What a step can see of its run."""

    run_id: int
    workflow_name: str
    trigger: dict[str, Any]
    steps: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    """A rendered request. ``record`` is what the attempt log shows (secrets masked)."""

    record: dict[str, Any]
    payload: Any = None


@dataclass
class Sent:
    """What one attempt did. ``output`` is what later steps see as ``steps.<name>.response``."""

    succeeded: bool
    output: dict[str, Any] | None = None
    error: str = ""
    status: int | None = None
    retryable: bool = False
    retry_after: str | None = None
    duration_ms: float | None = None


class Action(Protocol):
    type: str
    label: str

    def validate_config(self, config: Any) -> dict[str, Any]: ...

    # Secrets: merge an update with the stored config (masked secrets keep their value), seal the
    # clean config for storage (encrypt), open it for use (decrypt), and show it (masked).
    def merge_config(self, previous: dict[str, Any] | None, incoming: Any) -> Any: ...

    def seal_config(self, clean: dict[str, Any]) -> dict[str, Any]: ...

    def open_config(self, stored: dict[str, Any]) -> dict[str, Any]: ...

    def public_config(self, stored: dict[str, Any]) -> dict[str, Any]: ...

    def timeout_seconds(self, config: dict[str, Any]) -> float: ...

    def retry_policy(self, config: dict[str, Any]) -> RetryPolicy: ...

    def prepare(self, config: dict[str, Any], context: StepContext) -> Prepared: ...

    def send(self, prepared: Prepared, *, idempotency_key: str) -> Sent: ...


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
