"""Does the receive path slow down as the database grows?

(b) of the receive scenario (empty POSTs to a webhook without schema or filters, no worker running),
at 16 senders, first on an empty database, then again after bench/seed.py has added 100,000 other
workflows with published versions and webhook triggers, and 1,000,000 past deliveries with their
succeeded runs (quick mode: 1,000 and 10,000), followed by VACUUM ANALYZE as autovacuum would have
run and a CHECKPOINT (so that writing the seed's pages out is not measured). Same stack, same gunicorn
processes, same settings; the measured trigger is the real one created through the API.
Options: growth_level (16), triggers, runs, and those of receive.
"""

from __future__ import annotations

from typing import Any

from bench import measure
from bench.api import api_for_new_user
from bench.context import Column, Context, ScenarioResult
from bench.seed import seed
from bench.stack import Stack
from bench.stack_config import StackConfig
from bench.workloads import prepare

QUESTION = (
    "Is the receive path (b) as fast with 100,000 triggers and 1,000,000 past runs and deliveries in "
    "the database as on an empty one?"
)


def run(context: Context) -> ScenarioResult:
    settings = measure.LoadSettings.from_context(context)
    options, quick = context.options, context.quick
    level = int(options.get("growth_level", 16))
    triggers = int(options.get("triggers", 1_000 if quick else 100_000))
    runs = int(options.get("runs", 10_000 if quick else 1_000_000))
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    notes: list[str] = []
    with Stack(StackConfig(), context.work_dir) as stack:
        api = api_for_new_user(stack)
        endpoint = prepare(stack, "b", api)["b"]

        def one(database: str) -> None:
            # No clean-up between runs: the seeded history must stay (a few thousand rows more are nothing).
            row, runs = measure.measure_repeated(
                stack, endpoint, level, settings, context, extra={"database": database}
            )
            rows.append(row)
            for each in runs:
                errors.extend(measure.problems(each, endpoint))
            context.say(f"{database}: {measure.one_line(row)} (runs: {row['per_s_each']}/s)")

        one("empty")
        stack.reset_data()
        stack.manage("createsuperuser", "--noinput", "--username", "seeded", "--email", "seeded@example.com")
        owner = int(stack.sql("SELECT id FROM auth_user WHERE username = 'seeded'")[0][0])
        template = int(stack.sql("SELECT max(id) FROM workflows_workflowversion")[0][0])
        context.say(f"seeding {triggers:,} triggers and {runs:,} runs and deliveries")
        seeded = seed(stack, owner_id=owner, template_version_id=template, triggers=triggers, runs=runs)
        context.say(f"seeded in {seeded.seconds} s, VACUUM ANALYZE {seeded.vacuum_seconds} s: {seeded.rows}")
        if seeded.filled:
            notes.append(f"seed.py gave these NOT NULL columns a neutral value: {', '.join(seeded.filled)}")
        if seeded.checkpoint is False:
            notes.append("CHECKPOINT after the seed was refused (not superuser): the grown measurement "
                         "may have paid for writing the seed's pages")  # fmt: skip
        if seeded.missing:
            notes.append(f"seed.py names columns the schema no longer has: {', '.join(seeded.missing)}")
        one(f"{triggers:,} triggers, {runs:,} runs")
        rows[-1]["seed"] = seeded.__dict__
        memory = {"web": stack.web_peak_rss_mb()}
    empty, grown = rows[0], rows[-1]
    conclusion = ""
    if empty["per_s"] and grown["per_s"]:
        change = 100 * (grown["per_s"] / empty["per_s"] - 1)
        conclusion = (
            f"{grown['per_s']}/s with the history against {empty['per_s']}/s on the empty database "
            f"({change:+.0f}%); p99 {grown['latency_ms']['p99']} against {empty['latency_ms']['p99']} ms."
        )
    return ScenarioResult(
        name="growth",
        question=QUESTION,
        settings={
            **settings.__dict__,
            "level": level,
            "triggers": triggers,
            "runs": runs,
            "stack": StackConfig().public(),
        },
        rows=rows,
        columns=COLUMNS,
        conclusion=conclusion,
        notes=notes,
        errors=errors,
        peak_rss_mb=memory,
    )


COLUMNS = [
    Column("database", "database"),
    *measure.LOAD_COLUMNS,
    Column("seed.seconds|seed.vacuum_seconds", "seed s / VACUUM ANALYZE s"),
    Column("loadgen_cpu_pct", "loadgen CPU %"),
    Column("cpu_pct.other", "others' CPU %"),
]
