"""Scenarios by name. A scenario is a module with ``QUESTION`` (what it answers) and
``run(context) -> ScenarioResult``; it starts the stack it needs and measures one or more
configurations, each a row of its results."""

from __future__ import annotations

from types import ModuleType

from bench.scenarios import http_steps

SCENARIOS: dict[str, ModuleType] = {"http_steps": http_steps}
