"""The ledger of one scenario: what the senders were told, what the database holds, what the receiver
saw, and every way in which those three disagree.

The rules (each breach is counted, and any count above zero fails the test):
- every webhook answered 2xx has exactly one accepted delivery and exactly one run, the run the answer
  named, and that run ends succeeded or failed;
- every run the database holds for an accepted delivery (answered or not: a web worker may die after
  the commit) reaches the receiver at least once, always with the same Idempotency-Key, the key the
  step result holds;
- nothing is half-stored: no accepted delivery without its run, no run without its accepted delivery,
  and nothing stored for a request answered 503 (whose body says "nothing was stored");
- no 5xx but a clear 503 (JSON ``service_unavailable`` with ``Retry-After``), and no other answer to
  a valid webhook.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from tests.faults.load import Load, Outcome

TERMINAL = ("succeeded", "failed")
EXAMPLES = 5  # problems listed per kind in the failure message


@dataclass
class RunRow:
    id: int
    delivery_id: int | None
    status: str
    claims: int
    resent: bool  # the sweeper sent it to the broker again at least once
    error: str


@dataclass
class Ledger:
    scenario: str
    sent: int = 0
    accepted: int = 0  # answered 2xx
    unavailable: int = 0  # answered 503
    connection_errors: int = 0  # no answer at all
    connection_error_kinds: dict[str, int] = field(default_factory=dict)  # refused, reset, ...
    other: int = 0  # any other answer (4xx, 3xx)
    server_errors: int = 0  # 5xx other than 503
    runs: int = 0
    runs_succeeded: int = 0
    runs_failed: int = 0
    lost: int = 0
    duplicated: int = 0
    half_stored: int = 0
    # Informational: how hard the fault hit.
    committed_unanswered: int = 0  # no answer, yet delivery and run committed (and completed)
    redelivered: int = 0  # receiver requests beyond the first of each run (same key: at-least-once)
    taken_over: int = 0  # runs claimed more than once (their worker died, or their lease ran out)
    resent_by_sweeper: int = 0
    fault: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    webhook_ms: dict[str, float] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)

    def problem(self, kind: str, text: str) -> None:
        self.problems.setdefault(kind, []).append(text)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        fault = " ".join(f"{k}={v}" for k, v in self.fault.items())
        seconds = " ".join(f"{k}={v:.1f}" for k, v in self.seconds.items())
        kinds = " ".join(f"{k}={v}" for k, v in sorted(self.connection_error_kinds.items()))
        kinds = f" ({kinds})" if kinds else ""
        latency = " ".join(f"{k}={v:.0f}" for k, v in self.webhook_ms.items())
        return (
            f"LEDGER {self.scenario}: sent={self.sent} accepted={self.accepted} "
            f"503={self.unavailable} connection_errors={self.connection_errors}{kinds} "
            f"other={self.other} "
            f"5xx={self.server_errors} runs={self.runs} succeeded={self.runs_succeeded} "
            f"failed={self.runs_failed} lost={self.lost} duplicated={self.duplicated} "
            f"half_stored={self.half_stored} | committed_unanswered={self.committed_unanswered} "
            f"redelivered={self.redelivered} taken_over={self.taken_over} "
            f"resent_by_sweeper={self.resent_by_sweeper} | fault: {fault} | webhook ms: {latency} "
            f"| seconds: {seconds}"
        )

    def report(self) -> str:
        lines = [self.line()]
        for kind, examples in self.problems.items():
            more = f" (and {len(examples) - EXAMPLES} more)" if len(examples) > EXAMPLES else ""
            lines.append(f"  {kind}: {len(examples)}{more}")
            lines.extend(f"    - {text}" for text in examples[:EXAMPLES])
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = {kind: len(examples) for kind, examples in self.problems.items()}
        return data

    def publish(self) -> None:
        """Print the ledger, and append it as one JSON line to FAULTS_LEDGER_FILE if set."""
        print(f"\n{self.report()}", flush=True)
        path = os.environ.get("FAULTS_LEDGER_FILE")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(self.as_json(), sort_keys=True) + "\n")


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50": at(0.5), "p99": at(0.99), "max": ordered[-1] * 1000}


def build(
    scenario: str,
    load: Load,
    connection: psycopg.Connection[Any],
    workflow_id: int,
    received: list[tuple[int, int, str]],
) -> Ledger:
    """Count everything, and note every disagreement between senders, database and receiver."""
    ledger = Ledger(scenario)
    outcomes = load.outcomes
    ledger.sent = len(outcomes)
    if ledger.sent != load.total:
        ledger.problem("not_sent", f"{load.total - ledger.sent} webhooks have no outcome")
    kinds = Counter(outcome.kind for outcome in outcomes.values())
    ledger.accepted, ledger.unavailable = kinds["accepted"], kinds["unavailable"]
    ledger.connection_errors, ledger.other = kinds["connection_error"], kinds["other"]
    ledger.server_errors = kinds["server_error"]
    ledger.connection_error_kinds = dict(Counter(o.error for o in outcomes.values() if o.status is None))
    ledger.webhook_ms = _percentiles([o.done_at - o.sent_at for o in outcomes.values() if o.status])
    for outcome in outcomes.values():
        _check_answer(ledger, outcome)

    deliveries = _deliveries(ledger, connection, workflow_id)  # delivery id → n, accepted ones
    runs = _runs(connection, workflow_id)
    keys = _step_keys(ledger, connection, workflow_id)
    ledger.runs = len(runs)
    ledger.runs_succeeded = sum(r.status == "succeeded" for r in runs.values())
    ledger.runs_failed = sum(r.status == "failed" for r in runs.values())
    ledger.taken_over = sum(r.claims > 1 for r in runs.values())
    ledger.resent_by_sweeper = sum(r.resent for r in runs.values())

    # Half-stored: a delivery without its run, a run without its delivery.
    runs_of: dict[int, list[RunRow]] = defaultdict(list)
    for run in runs.values():
        if run.delivery_id is None or run.delivery_id not in deliveries:
            ledger.half_stored += 1
            ledger.problem(
                "half_stored", f"run {run.id} has no accepted delivery (delivery {run.delivery_id})"
            )
        else:
            runs_of[run.delivery_id].append(run)
    delivery_of_n: dict[int, list[int]] = defaultdict(list)
    for delivery_id, n in deliveries.items():
        delivery_of_n[n].append(delivery_id)
        found = runs_of.get(delivery_id, [])
        if not found:
            ledger.half_stored += 1
            ledger.problem("half_stored", f"accepted delivery {delivery_id} (webhook {n}) has no run")
        elif len(found) > 1:
            ledger.duplicated += len(found) - 1
            ledger.problem(
                "duplicated", f"delivery {delivery_id} (webhook {n}) has runs {[r.id for r in found]}"
            )
    for n, ids in delivery_of_n.items():
        if len(ids) > 1:
            ledger.duplicated += len(ids) - 1
            ledger.problem("duplicated", f"webhook {n} (sent once) was stored as deliveries {ids}")

    # The senders' view against the database.
    for n, outcome in outcomes.items():
        stored = delivery_of_n.get(n, [])
        if outcome.kind == "accepted":
            answered = runs.get(outcome.run_id) if outcome.run_id is not None else None
            if answered is None or answered.delivery_id not in stored:
                ledger.lost += 1
                text = (
                    f"answered {outcome.status} with run {outcome.run_id}, which the database does not hold"
                )
                ledger.problem("lost", f"webhook {n} was {text} for it")
        elif stored:
            if outcome.kind == "connection_error":
                ledger.committed_unanswered += 1  # allowed: the process died between commit and answer
            else:
                ledger.half_stored += 1
                answer = f"{outcome.status} ({outcome.body[:80]!r})"
                ledger.problem(
                    "stored_but_refused", f"webhook {n} was answered {answer} but {stored} committed"
                )

    # Every committed run: finished, and seen by the receiver with one key, the step's.
    seen: dict[int, list[str]] = defaultdict(list)
    for run_id, n, key in received:
        target = runs.get(run_id)
        if target is None or target.delivery_id is None or deliveries.get(target.delivery_id) != n:
            ledger.problem(
                "unknown_request", f"the receiver got run {run_id} / webhook {n}, not in the ledger"
            )
            continue
        seen[run_id].append(key)
    for run in runs.values():
        if run.delivery_id not in deliveries:
            continue
        n = deliveries[run.delivery_id]
        if run.status not in TERMINAL:
            ledger.lost += 1
            ledger.problem("lost", f"run {run.id} (webhook {n}) is still {run.status}")
        elif not seen.get(run.id):
            ledger.lost += 1
            ledger.problem(
                "lost",
                f"run {run.id} (webhook {n}) is {run.status} ({run.error[:120]!r}) "
                "but its request never reached the receiver",
            )
        distinct = set(seen.get(run.id, []))
        ledger.redelivered += max(0, len(seen.get(run.id, [])) - 1)
        if len(distinct) > 1:
            ledger.duplicated += 1
            ledger.problem(
                "duplicated",
                f"run {run.id} reached the receiver with {len(distinct)} "
                f"idempotency keys: {sorted(distinct)}",
            )
        elif distinct and distinct != {keys.get(run.id)}:
            ledger.problem(
                "wrong_key", f"run {run.id} sent key {distinct} but its step holds {keys.get(run.id)!r}"
            )
    return ledger


def _check_answer(ledger: Ledger, outcome: Outcome) -> None:
    if outcome.kind == "accepted" and outcome.run_id is None:
        ledger.problem("accepted_without_run", f"webhook {outcome.n}: {outcome.status} {outcome.body!r}")
    elif outcome.kind == "unavailable" and not outcome.clear_503:
        ledger.problem(
            "unclear_503",
            f"webhook {outcome.n}: 503 without service_unavailable/Retry-After: {outcome.body[:200]!r}",
        )
    elif outcome.kind == "server_error":
        ledger.problem(
            "server_error",
            f"webhook {outcome.n} at {outcome.sent_at:.1f} s: {outcome.status} {outcome.body[:200]!r}",
        )
    elif outcome.kind == "other":
        ledger.problem("unexpected_answer", f"webhook {outcome.n}: {outcome.status} {outcome.body[:200]!r}")


def _deliveries(ledger: Ledger, connection: psycopg.Connection[Any], workflow_id: int) -> dict[int, int]:
    """Accepted deliveries as id → webhook number; any other delivery is a problem (every webhook
    sent is valid, so nothing may be rejected)."""
    accepted: dict[int, int] = {}
    rows = connection.execute(
        "SELECT id, outcome, status_code, body FROM triggers_delivery WHERE workflow_id = %s", (workflow_id,)
    ).fetchall()
    for delivery_id, outcome, status_code, body in rows:
        try:
            n = int(json.loads(bytes(body))["n"])
        except (ValueError, KeyError, TypeError):
            ledger.problem(
                "unexpected_delivery", f"delivery {delivery_id} has a body we never sent: {body!r}"
            )
            continue
        if outcome != "accepted":
            ledger.problem(
                "unexpected_delivery", f"delivery {delivery_id} (webhook {n}) is {outcome} {status_code}"
            )
            continue
        accepted[delivery_id] = n
    return accepted


def _runs(connection: psycopg.Connection[Any], workflow_id: int) -> dict[int, RunRow]:
    rows = connection.execute(
        "SELECT id, delivery_id, status, claims, last_dispatched_at IS NOT NULL, error "
        "FROM workflows_run WHERE workflow_id = %s",
        (workflow_id,),
    ).fetchall()
    return {row[0]: RunRow(*row) for row in rows}


def _step_keys(ledger: Ledger, connection: psycopg.Connection[Any], workflow_id: int) -> dict[int, str]:
    rows = connection.execute(
        "SELECT s.run_id, s.idempotency_key FROM workflows_stepresult s "
        "JOIN workflows_run r ON r.id = s.run_id WHERE r.workflow_id = %s",
        (workflow_id,),
    ).fetchall()
    keys: dict[int, str] = {}
    for run_id, key in rows:
        if run_id in keys:  # one step per run: the unique (run, position) constraint says so
            ledger.duplicated += 1
            ledger.problem("duplicated", f"run {run_id} has more than one step result")
        keys[run_id] = key
    return keys
