"""What the receive scenarios send, and the workflows that receive it, set up through the REST API.

- (a) ``baseline``: POST bench/noop/ (orchestrator/bench_views.py), a DRF view that does nothing.
- (b) ``no_schema``: empty POSTs to a published workflow's webhook; no payload schema, no filters.
- (c) ``schema_filters``: a 5.5 KB Stripe ``invoice.paid`` event (bench/payloads/) to a webhook with
  a JSON Schema (draft 2020-12, $refs, patterns, enums, ~90 keywords) and three filter conditions,
  all of which pass, so every request is accepted and starts a run.

Each workflow has one Send HTTP Request step to the receiver (answers after 50 ms), as in the end to
end scenario; it only runs when workers are running.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.api import Api, api_for_new_user
from bench.stack import Stack

PAYLOADS = Path(__file__).resolve().parent / "payloads"

# Three conditions over the payload (triggers/filters.py), all passing for the payload sent.
FILTERS: dict[str, Any] = {
    "all": [
        {"field": "type", "op": "equals", "value": "invoice.paid"},
        {"field": "data.object.amount_paid", "op": "gte", "value": 1000},
        {
            "field": "data.object.lines.data[*].price.recurring.interval",
            "op": "in",
            "value": ["month", "year"],
        },
    ]
}


# Each bench trigger's own rate limit: the highest the API accepts, so that the limiter does its work
# on every request (one round trip to Redis) but never refuses one at these rates. The default
# (WEBHOOK_RATE_LIMIT_PER_MINUTE, 6,000 a minute) would answer 429 once its burst is spent.
RATE_LIMIT_PER_MINUTE = 1_000_000
TRIGGER_SETTINGS = {
    "rate_limit_per_minute": f"{RATE_LIMIT_PER_MINUTE:,} on the bench's triggers (where the product has "
    "per-trigger limits): the limiter runs on every request and never refuses at these rates",
}


def lift_rate_limits(stack: Stack) -> bool:
    """Give every trigger the bench created ``RATE_LIMIT_PER_MINUTE``. In SQL, as the column is there
    whether or not the API lets it be set yet (like the key, the setting applies at once). False when
    the product has no per-trigger limit."""
    has_column = stack.sql(
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'triggers_webhooktrigger'"
        " AND column_name = 'rate_limit_per_minute'"
    )
    if has_column:
        stack.sql(f"UPDATE triggers_webhooktrigger SET rate_limit_per_minute = {RATE_LIMIT_PER_MINUTE}")  # noqa: S608
    return bool(has_column)


@dataclass(frozen=True)
class Endpoint:
    key: str  # "a", "b", "c": the names
    name: str
    url: str
    body: bytes = b""
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    expected: tuple[str, ...] = ("202",)  # the statuses that mean it worked
    outcome: str | None = "accepted"  # every delivery it leaves must have this outcome (None: none)

    @property
    def label(self) -> str:
        return f"({self.key}) {self.name}"


def http_step(stack: Stack) -> dict[str, Any]:
    return {
        "name": "notify receiver",
        "type": "http_request",
        "config": {
            "method": "POST",
            "url": f"{stack.receiver_url}/hook",
            # The receiver matches each request to its run by this header.
            "headers": {"X-Bench-Run": "{{ run.id }}"},
            "body": {"run": "{{ run.id }}", "workflow": "{{ workflow.name }}"},
            "timeout": 10,
        },
    }


def create_workflow(
    api: Api,
    name: str,
    steps: list[dict[str, Any]],
    *,
    schema: dict[str, Any] | None = None,
    filters: dict[str, Any] | None = None,
) -> tuple[int, str]:
    """Create, give a webhook trigger (and a schema and filters), add the steps, publish: as a user
    does. Returns the workflow's id and its webhook URL."""
    workflow = api.call("POST", "/workflows/", {"name": name})
    base = f"/workflows/{workflow['id']}"
    trigger = api.call("PUT", f"{base}/trigger/")
    if schema is not None:
        api.call("PUT", f"{base}/trigger/schema/", {"kind": "json_schema", "schema": schema})
    if filters is not None:
        api.call("PUT", f"{base}/trigger/filters/", filters)
    for position, step in enumerate(steps):
        api.call("POST", f"{base}/steps/", {**step, "position": position})
    api.call("POST", f"{base}/publish/")
    url: str = trigger["webhook_url"]
    return int(workflow["id"]), url


def payload() -> bytes:
    return (PAYLOADS / "stripe_invoice_paid.json").read_bytes()


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PAYLOADS / "stripe_invoice_paid.schema.json").read_text())
    return loaded


def prepare(stack: Stack, keys: str = "abc", api: Api | None = None) -> dict[str, Endpoint]:
    """The endpoints named in ``keys``, their workflows created and published."""
    api = api or api_for_new_user(stack)
    endpoints: dict[str, Endpoint] = {}
    if "a" in keys:
        endpoints["a"] = Endpoint(
            "a", "baseline: bare DRF view", f"{stack.web_url}/bench/noop/", expected=("200",), outcome=None
        )
    if "b" in keys:
        _, url = create_workflow(api, "bench: receive, no schema", [http_step(stack)])
        endpoints["b"] = Endpoint("b", "receive, no schema", url)
    if "c" in keys:
        _, url = create_workflow(
            api, "bench: receive, schema + filters", [http_step(stack)], schema=schema(), filters=FILTERS
        )
        endpoints["c"] = Endpoint(
            "c",
            "receive, schema + 3 filters",
            url,
            body=payload(),
            content_type="application/json",
            # As Stripe sends them (a delivery keeps its headers, so they are part of the work).
            headers={"Stripe-Signature": "t=1717200463,v1=" + "0" * 64, "User-Agent": "Stripe/1.0"},
        )
    lift_rate_limits(stack)
    return endpoints
