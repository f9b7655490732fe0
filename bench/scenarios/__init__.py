"""Scenarios by name. A scenario is a module with ``QUESTION`` (what it answers) and
``run(context) -> ScenarioResult``; it starts the stack it needs and measures one or more
configurations, each a row of its results.

- receive: (a) the bare DRF view, (b) receive without schema, (c) receive with schema and filters, at
  1-64 senders, without and with a worker running; (f) the web process's memory.
- async_commit: (b) and (c) with the opt-in WEBHOOK_ASYNC_COMMIT=1 beside the durable default.
- growth: (e) (b) on an empty database, then with 100,000 triggers and 1,000,000 runs.
- http_steps: (d) end to end, webhooks through Send HTTP Request steps; (f) the worker's memory.
- loadgen: whether the load generator limits the figures (wrk, asyncio, threads on (a)).
"""

from __future__ import annotations

from types import ModuleType

from bench.scenarios import async_commit, growth, http_steps, loadgen, receive

SCENARIOS: dict[str, ModuleType] = {
    "receive": receive,
    "async_commit": async_commit,
    "growth": growth,
    "http_steps": http_steps,
    "loadgen": loadgen,
}
