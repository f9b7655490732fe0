"""Turning raw observations into per-run figures; shared by the scenarios."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench import loadgen
from bench.stats import spread_ms


def latency_to_receiver(result: loadgen.LoadResult, first_seen: dict[int, float]) -> dict[str, Any]:
    """Webhook accepted (its 202 read by the sender) → the step's request received, per run. Both
    clocks are this machine's wall clock."""
    seen = [first_seen[a.run_id] - a.accepted_at for a in result.accepted if a.run_id in first_seen]
    return spread_ms(seen)


def probe_per_run(totals: dict[str, Any], runs: int) -> dict[str, Any]:
    """The worker probe's totals (bench/probe.py) per run."""
    tasks = totals["tasks"].get("workflows.execute_run", [0, 0.0])
    statements = totals["statements"]
    count = sum(c for c, _ in statements.values())
    seconds = sum(s for _, s in statements.values())
    per = max(runs, 1)
    return {
        "execute_tasks": tasks[0],
        # Messages for runs that another message had already run: the sweeper's re-sends.
        "duplicate_tasks": tasks[0] - runs,
        "task_ms": round(1000 * tasks[1] / max(tasks[0], 1), 1),
        "db_statements": round(count / per, 2),
        "db_ms": round(1000 * seconds / per, 1),
        "db_by_verb": {
            verb: {"per_run": round(c / per, 2), "ms_each": round(1000 * s / max(c, 1), 2)}
            for verb, (c, s) in sorted(statements.items())
        },
        "db_connections_opened": totals["connections"],
    }


def per_run(
    before: Mapping[str, float], after: Mapping[str, float], runs: int, scale: float = 1
) -> dict[str, float]:
    """(after - before) / runs for each counter, times ``scale`` (1000 for seconds → ms)."""
    return {name: round(scale * (after[name] - before.get(name, 0)) / max(runs, 1), 2) for name in after}
