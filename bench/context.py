"""What the runner hands a scenario, and what a scenario hands back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import cell


@dataclass
class Context:
    quick: bool
    work_dir: Path  # logs and scratch files of this scenario
    deadline: float  # time.monotonic() by which the scenario must have finished
    options: dict[str, str] = field(default_factory=dict)  # --set KEY=VALUE from the command line

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def say(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Column:
    # A key of each row, dotted for nested values ("latency_paced_ms.p99"); "a|b" shows "a / b".
    key: str
    header: str


@dataclass
class ScenarioResult:
    name: str
    question: str
    settings: dict[str, Any]
    rows: list[dict[str, Any]]  # one per measured configuration
    columns: list[Column]  # what the Markdown table shows of each row
    conclusion: str = ""
    notes: list[str] = field(default_factory=list)
    # What went wrong with the harness (not the product's speed): the run then exits non-zero.
    errors: list[str] = field(default_factory=list)
    # The largest peak RSS seen, in MB, of one process of each kind: "web" (a gunicorn worker),
    # "worker" (a Celery worker process).
    peak_rss_mb: dict[str, float | None] = field(default_factory=dict)

    def cell(self, row: dict[str, Any], key: str) -> Any:
        if "|" in key:
            return " / ".join(cell(self.cell(row, part)) for part in key.split("|"))
        value: Any = row
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value
