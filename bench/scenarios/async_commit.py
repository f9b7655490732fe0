"""What does the opt-in WEBHOOK_ASYNC_COMMIT buy, the setting with which a 202 no longer waits for
the delivery to reach the disk (README, "Faster, less durable")?

(b) and (c) of the receive scenario at 16 senders (option levels), no worker running, on two stacks
running side by side: one with production's settings, one with WEBHOOK_ASYNC_COMMIT=1. The
measurements alternate between them (durable (b), asynchronous (b), durable (c), ...), so that a drift
in the machine's load touches both alike. Options: levels (16), and those of receive.
"""

from __future__ import annotations

import contextlib
from typing import Any

from bench import measure
from bench.context import Column, Context, ScenarioResult
from bench.stack import Stack
from bench.stack_config import StackConfig
from bench.workloads import prepare

QUESTION = (
    "How many more webhooks per second does the receive path accept when a 202 does not wait for "
    "the disk (WEBHOOK_ASYNC_COMMIT=1, opt-in), against the durable default, side by side?"
)

ASYNC = (("WEBHOOK_ASYNC_COMMIT", "1"),)


def run(context: Context) -> ScenarioResult:
    settings = measure.LoadSettings.from_context(context)
    if "levels" not in context.options:
        settings.levels = [16]
    durable_config = StackConfig()
    # Its own database: named like the runner's, so that a killed run's is dropped as stale too.
    async_config = StackConfig(
        database=durable_config.database.replace("_bench_", "_bench_async_"), settings=ASYNC
    )
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    with contextlib.ExitStack() as stacks:
        durable = stacks.enter_context(Stack(durable_config, context.work_dir / "durable"))
        relaxed = stacks.enter_context(Stack(async_config, context.work_dir / "async"))
        context.say(f"stacks up: durable {durable.web_url}, asynchronous commit {relaxed.web_url}")
        endpoints = {"durable": prepare(durable, "bc"), "async": prepare(relaxed, "bc")}
        for level in settings.levels:
            for key in ("b", "c"):
                for commit, stack in (("durable", durable), ("async", relaxed)):
                    endpoint = endpoints[commit][key]
                    row, runs = measure.measure_repeated(
                        stack, endpoint, level, settings, context, extra={"commit": commit},
                        between=stack.reset_data,
                    )  # fmt: skip
                    rows.append(row)
                    for each in runs:
                        errors.extend(measure.problems(each, endpoint))
                    context.say(f"{commit}: {measure.one_line(row)} (runs: {row['per_s_each']}/s)")
                    stack.reset_data()
    return ScenarioResult(
        name="async_commit",
        question=QUESTION,
        settings={
            **settings.__dict__,
            "stack": durable_config.public(),
            "async_stack": async_config.public(),
        },
        rows=rows,
        columns=COLUMNS,
        conclusion=_conclusion(rows),
        notes=[],
        errors=errors,
    )


def _conclusion(rows: list[dict[str, Any]]) -> str:
    at = {(row["endpoint"], row["concurrency"], row["commit"]): row for row in rows}
    parts = []
    for (key, level, commit), row in at.items():
        durable = at.get((key, level, "durable"))
        if commit == "async" and durable and durable["per_s"] and row["per_s"]:
            parts.append(
                f"({key}) at {level} senders: {row['per_s']}/s against {durable['per_s']}/s durable "
                f"({100 * (row['per_s'] / durable['per_s'] - 1):+.0f}%), p99 {row['latency_ms']['p99']} "
                f"against {durable['latency_ms']['p99']} ms"
            )
    return "; ".join(parts) + "." if parts else ""


COLUMNS = [
    Column("label", "endpoint"),
    Column("commit", "commit"),
    *measure.LOAD_COLUMNS,
    Column("loadgen_cpu_pct", "loadgen CPU %"),
    Column("cpu_pct.other", "others' CPU %"),
]
