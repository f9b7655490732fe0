"""The receive pipeline's fuzzing, shared by tests/unit/test_receive_pipeline_fuzz.py (hypothesis, in
CI) and tests/fuzz/receive_atheris.py (atheris, by hand): the five triggers, the request strategies,
and the checks each answer must pass. What is checked is described in the test module's docstring."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from tests.support.receive_fuzz_requests import (  # fmt: skip
    BODY_CAP,
    MAX_DEPTH,
    MAX_KEYS,
    SAMPLE,
    SECRET,
    Sent,
)
from triggers.intake import NOT_FOUND, SECRET_HEADERS
from triggers.models import Delivery, DeliveryOutcome
from workflows.models import Run

# README, "The webhook URL": every documented error code and its status.
STATUS_OF_ERROR = {
    "invalid_json": 400,
    "invalid_encoding": 400,
    "invalid_form": 400,
    "too_deep": 400,
    "too_many_keys": 400,
    "signature_invalid": 401,
    "not_found": 404,
    "method_not_allowed": 405,
    "workflow_not_published": 409,
    "length_required": 411,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "unsupported_charset": 415,
    "body_not_allowed": 422,
    "body_required": 422,
    "payload_invalid": 422,
    "rate_limited": 429,
}

JSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "action": {"type": "string", "maxLength": 20},
        "n": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "id": {"type": ["string", "integer"]},
    },
    "patternProperties": {"^x-": {"type": "string", "pattern": "^[a-z]*$"}},
    # Any key but a float: an error's path then names whatever key the sender chose.
    "additionalProperties": {"type": ["string", "integer", "boolean", "null", "array", "object"]},
    "required": ["action"],
}

FILTERS = {
    "all": [
        {"not": {"field": "action", "op": "equals", "value": "skip"}},
        {
            "any": [
                {"field": "n", "op": "gte", "value": 0},
                {"field": "headers.x-event", "op": "in", "value": ["push", "ping"]},
                {"field": "query.force", "op": "is_true"},
                {"field": "tags[*]", "op": "equals", "value": "urgent", "case_sensitive": False},
            ]
        },
    ]
}


@dataclass(frozen=True)
class Hook:
    kind: str
    path: str
    workflow_id: int

    @property
    def public_id(self) -> str:
        return self.path.split("/")[2]


@dataclass
class Ledger:
    """What the test has seen accepted so far, across examples: none of it may be lost later."""

    accepted: dict[int, bytes] = field(default_factory=dict)  # run id -> the body that was accepted

    def __repr__(self) -> str:
        return f"Ledger({len(self.accepted)} accepted runs)"


# --- the triggers ---------------------------------------------------------------------------------


def configure(api: APIClient, workflow: dict[str, Any], *, publish: bool = True, **parts: Any) -> None:
    base = f"/api/workflows/{workflow['id']}/trigger"
    for part, body in parts.items():
        if part == "settings":
            response = api.patch(f"{base}/", body, format="json")
        else:
            response = api.put(f"{base}/{part}/", body, format="json")
        assert response.status_code == 200, (part, response.content)
    if publish:
        assert api.post(f"/api/workflows/{workflow['id']}/publish/").status_code == 200


def build_hooks(api: APIClient) -> dict[str, Hook]:
    """The five triggers, built and published through the API as a user would."""
    plain = create_workflow(api, name="no schema")
    with_schema = create_workflow(api, name="json schema and filters", publish=False)
    configure(
        api,
        with_schema,
        schema={"kind": "json_schema", "schema": JSON_SCHEMA},
        filters=FILTERS,
    )
    sampled = create_workflow(api, name="sample", publish=False)
    configure(api, sampled, schema={"kind": "sample", "samples": [SAMPLE, {"action": "closed"}]})
    signed = create_workflow(api, name="signed and deduplicated", publish=False)
    configure(
        api,
        signed,
        schema={"kind": "sample", "samples": [SAMPLE]},
        settings={"dedupe_field": "id", "dedupe_window_seconds": 3600},
        signature={"scheme": "github", "secrets": [SECRET]},
    )
    draft = create_workflow(api, name="draft", publish=False)
    configure(api, draft, publish=False, schema={"kind": "sample", "samples": [SAMPLE]})
    built = {"plain": plain, "json_schema": with_schema, "sample": sampled, "signed": signed, "draft": draft}
    return {
        kind: Hook(kind, webhook_path(api.get(f"/api/workflows/{w['id']}/").json()), w["id"])
        for kind, w in built.items()
    }


def apply_small_limits(settings: Any) -> None:
    settings.WEBHOOK_MAX_BODY_BYTES = BODY_CAP
    settings.WEBHOOK_MAX_KEYS = MAX_KEYS
    settings.WEBHOOK_MAX_DEPTH = MAX_DEPTH


def request_path(sent: Sent, hook: Hook) -> str:
    if sent.target == "unknown":
        return "/hooks/nosuchtrigger0000/" + hook.path.split("/")[3]
    if sent.target == "wrong_key":
        return f"/hooks/{hook.public_id}/{sent.wrong_key}"
    return hook.path + ("/" if sent.target == "valid/" else "")


def send_and_check(
    client: Client, hooks: dict[str, Hook], ledger: Ledger, sent: Sent, *, recheck_ledger: bool = True
) -> str:
    """Send ``sent`` and assert every invariant; returns "<status> <error or status word>".

    ``recheck_ledger``: also check that every run accepted so far is still there (a query over all of
    them: long fuzzing sessions do it now and then rather than every time)."""
    hook = hooks[sent.kind]
    last_delivery = Delivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    last_run = Run.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    response = client.generic(sent.method, request_path(sent, hook), sent.body, **sent.environ())

    status = response.status_code
    assert status < 500, response.content
    assert response["Content-Type"] == "application/json"
    # A HEAD answer has its body removed on the way out, as HTTP requires; every other answer has one.
    answer: dict[str, Any] | None = json.loads(response.content) if response.content else None
    if sent.method.upper() != "HEAD":
        assert isinstance(answer, dict), response.content
    error = (answer or {}).get("error")
    if 400 <= status < 500 and answer is not None:
        assert isinstance(error, str) and STATUS_OF_ERROR.get(error) == status, (status, answer)

    deliveries = list(Delivery.objects.filter(pk__gt=last_delivery))
    runs = list(Run.objects.filter(pk__gt=last_run))
    if sent.target in ("unknown", "wrong_key"):
        # The same answer either way, so that it reveals nothing.
        assert (status, answer or NOT_FOUND.body) == (404, NOT_FOUND.body)
    if sent.target == "unknown":
        assert (deliveries, runs) == ([], [])
    elif sent.target == "wrong_key":
        assert runs == []
        assert [(d.outcome, d.status_code, d.error) for d in deliveries] == [("rejected", 404, "invalid_key")]
    elif status == 429:
        # Only the first refusal of each minute is recorded (README): not a flood of rows in a flood.
        assert runs == []
        assert [(d.outcome, d.error) for d in deliveries] in ([], [("rejected", "rate_limited")])
    else:
        assert len(deliveries) == 1, deliveries
        check_logged(sent, hook, status, answer, deliveries[0], runs, ledger)
    if recheck_ledger:
        check_nothing_lost(ledger)
    return f"{status} {error or (answer or {}).get('status')}"


def check_logged(
    sent: Sent,
    hook: Hook,
    status: int,
    answer: dict[str, Any] | None,
    delivery: Delivery,
    runs: list[Run],
    ledger: Ledger,
) -> None:
    """The one delivery a request with a valid key leaves, and the run it may have started."""
    assert (delivery.workflow_id, delivery.status_code) == (hook.workflow_id, status)
    assert delivery.method == sent.method.upper()[:10]
    assert delivery.query_string == sent.query
    assert not SECRET_HEADERS & set(delivery.headers), delivery.headers
    stored = bytes(delivery.body)
    if status == 202:
        assert delivery.outcome == DeliveryOutcome.ACCEPTED
        assert len(runs) == 1, runs
        run = runs[0]
        assert (run.delivery_id, run.status, run.workflow_id) == (delivery.pk, "queued", hook.workflow_id)
        assert answer in (None, {"run_id": run.pk, "status": "queued"})
        assert stored == sent.body
        assert delivery.body_size == len(sent.body)
        ledger.accepted[run.pk] = sent.body
        return
    assert runs == []
    if status == 200:
        assert delivery.outcome in (DeliveryOutcome.FILTERED, DeliveryOutcome.DUPLICATE)
        assert stored == sent.body
        if delivery.outcome == DeliveryOutcome.DUPLICATE:
            assert answer is None or answer["run_id"] in ledger.accepted
        return
    assert 400 <= status < 500
    assert delivery.outcome == DeliveryOutcome.REJECTED
    assert answer is None or delivery.error == answer["error"]
    # A rejected body is kept as it came, or not at all when it was refused before being read.
    assert stored in (b"", sent.body)


def check_nothing_lost(ledger: Ledger) -> None:
    found = {
        run.pk: bytes(run.delivery.body) if run.delivery else None
        for run in Run.objects.filter(pk__in=ledger.accepted).select_related("delivery")
    }
    assert found == ledger.accepted
