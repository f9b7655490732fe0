"""How much of the framework's ceiling does the webhook receive path keep, and at what latency?

Three endpoints on the same gunicorn, with the same configuration and middleware (bench/workloads.py):
(a) a bare DRF view that does nothing, the ceiling; (b) empty POSTs to a published workflow's webhook
without schema or filters; (c) a 5.5 KB Stripe event to a webhook with a JSON Schema and three filter
conditions. Each at 1, 4, 16 and 64 concurrent senders (closed loop: each sends its next request
when the previous answer is in), for a fixed duration after a warm-up, the levels interleaved
(a, b, c at 1 sender, then at 4, ...) so that a drift in the machine's load touches all three alike.

1. receive path alone: no Celery worker running. Runs pile up as queued in the database and the
   broker; after each measurement the queue is emptied and the run tables truncated, so every
   measurement starts from the same empty state.
2. with workers: (b) and (c) again, with the production workers (2 processes, threads, concurrency 32) running
   on the same machine, executing the runs' HTTP step as they arrive. It competes with gunicorn for
   the two cores, as it would on one machine. After each measurement the queue is emptied, the
   tasks the worker had already taken are let finish, and the tables truncated.

Figures per measurement: answers per second inside the window; latency (request written → answer
read, by the generator) p50/p90/p99/max; each role's CPU over exactly the window (the generator
marks its start and end), as a percentage of one core and per request; the generator's own CPU;
and the deliveries' outcomes in the database, which must all be "accepted" for (b) and (c).
Each measurement is three runs of a third of the duration, with fresh connections, of which the
median is reported (bench/measure.py measure_repeated: kept-alive connections stick to the gunicorn
process that accepted them, and one uneven split would otherwise skew a whole measurement).
Options: levels (1,4,16,64), duration, warmup, loadgen (wrk|python), quiet_wait, repeats (3),
with_workers (1/0),
worker_levels (the levels measured with a worker running: all of them; quick mode: 16).
"""

from __future__ import annotations

import time
from typing import Any

from bench import measure, observe
from bench.context import Column, Context, ScenarioResult
from bench.stack import Stack
from bench.stack_config import StackConfig, WorkerConfig
from bench.workloads import prepare

QUESTION = (
    "How many webhooks per second does the receive path accept, at what latency, against a bare DRF "
    "view on the same server (the framework's ceiling), without and with a worker on the machine?"
)


def run(context: Context) -> ScenarioResult:
    settings = measure.LoadSettings.from_context(context)
    with_workers = context.options.get("with_workers", "1") == "1"
    # With a worker running: every level; in quick mode 16 senders only (the path is what is checked).
    worker_levels = [
        int(v) for v in context.options.get("worker_levels", "16" if context.quick else "").split(",") if v
    ]
    worker_levels = worker_levels or settings.levels
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    notes: list[str] = []
    worker_config = WorkerConfig()
    memory: dict[str, float | None] = {}
    with Stack(StackConfig(), context.work_dir) as stack:
        context.say(f"stack up: web {stack.web_url}; load generator: {settings.engine}")
        endpoints = prepare(stack)

        def one(key: str, level: int, workers: bool) -> None:
            endpoint = endpoints[key]
            before = observe.finished_count(stack) if workers else 0
            # Between runs of one measurement, the same clean-up as after it.
            between = (lambda: _drain(stack, context)) if workers else stack.reset_data
            row, runs = measure.measure_repeated(
                stack, endpoint, level, settings, context, extra={"workers": workers}, between=between
            )
            if workers:  # over all of its runs
                row["runs_finished_meanwhile"] = observe.finished_count(stack) - before
            rows.append(row)
            for each in runs:
                errors.extend(measure.problems(each, endpoint))
            context.say(f"{measure.one_line(row)} (runs: {row['per_s_each']}/s)")

        for level in settings.levels:
            for key in ("a", "b", "c"):
                one(key, level, workers=False)
                stack.reset_data()
        if with_workers:
            workers = stack.start_workers(worker_config)
            for level in worker_levels:
                for key in ("b", "c"):
                    one(key, level, workers=True)
                    _drain(stack, context)
            memory["worker"] = workers.peak_rss_mb()
            stack.stop_workers()
        memory["web"] = stack.web_peak_rss_mb()
    return ScenarioResult(
        name="receive",
        question=QUESTION,
        settings={
            **settings.__dict__,
            "with_workers": with_workers,
            "worker": worker_config.label if with_workers else None,
            "stack": StackConfig().public(),
        },
        rows=rows,
        columns=COLUMNS,
        conclusion=_conclusion(rows),
        notes=notes,
        errors=errors,
        peak_rss_mb=memory,
    )


def _drain(stack: Stack, context: Context) -> None:
    """The queue emptied, the tasks already taken let finish (their acks empty "unacked"), then the
    tables truncated: the next measurement starts from nothing, with the worker idle."""
    stack.empty_queue(reserved_too=False)
    deadline = time.monotonic() + 30
    while stack.reserved() and time.monotonic() < deadline:
        time.sleep(0.2)
    if time.monotonic() >= deadline:
        context.say("the worker still held tasks after 30 s; truncating anyway")
    stack.reset_data()


def _conclusion(rows: list[dict[str, Any]]) -> str:
    at = {(r["endpoint"], r["concurrency"], r["workers"]): r for r in rows}
    baseline, hooks = at.get(("a", 16, False)), at.get(("b", 16, False))
    if not baseline or not hooks or not baseline["per_s"] or hooks["per_s"] is None:
        return ""
    ratio = hooks["per_s"] / baseline["per_s"]
    return (
        f"At 16 senders the receive path (b) answered {hooks['per_s']}/s, {100 * ratio:.0f}% of the bare "
        f"view's {baseline['per_s']}/s, p99 {hooks['latency_ms']['p99']} ms."
    )


COLUMNS = [
    Column("label", "endpoint"),
    Column("concurrency", "senders"),
    Column("workers", "worker running"),
    Column("per_s", "answers/s"),
    Column("latency_ms.p50|latency_ms.p90|latency_ms.p99|latency_ms.max", "ms p50 / p90 / p99 / max"),
    Column("ok_pct", "% expected status"),
    Column("cpu_pct.web", "web CPU %"),
    Column("cpu_ms_per_request.web", "web CPU ms /req"),
    Column("cpu_ms_per_request.pg_backends", "PG backends CPU ms /req"),
    Column("cpu_pct.worker", "worker CPU %"),
    Column("runs_finished_meanwhile", "runs the worker finished meanwhile"),
    Column("loadgen_cpu_pct|loadgen_machine_pct", "loadgen CPU % of a core / of the machine"),
    Column("cpu_pct.other", "others' CPU %"),
]
