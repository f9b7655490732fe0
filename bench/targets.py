"""The targets of the performance issue, evaluated on a results report (bench/run.py's JSON).

Each target is shown with the figure measured and met / not met; a target whose figure is missing
(its scenario was not run, or failed) is "not measured". Speed never makes the run fail: only the
harness's own errors do.

The reference point is 16 concurrent senders with no worker running (the receive path alone), as
the issue states the ratios; (b) and (c) with a worker running are in the receive table beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

N8N_WEBHOOKS_PER_S = 85  # n8n's published webhook throughput on one instance, the comparison
REFERENCE_SENDERS = 16


@dataclass
class Target:
    name: str
    requirement: str
    measured: str
    met: bool | None  # None: not measured

    @property
    def verdict(self) -> str:
        return "not measured" if self.met is None else "met" if self.met else "NOT MET"


def receive_row(
    report: dict[str, Any], endpoint: str, senders: int = REFERENCE_SENDERS
) -> dict[str, Any] | None:
    rows = report.get("scenarios", {}).get("receive", {}).get("rows", [])
    for row in rows:
        if row["endpoint"] == endpoint and row["concurrency"] == senders and not row.get("workers"):
            found: dict[str, Any] = row
            return found
    return None


def ratios(report: dict[str, Any]) -> dict[str, float | None]:
    """(b)/(a) and (c)/(a) in answers per second at 16 senders, and (b)'s p99 there."""
    a, b, c = (receive_row(report, key) for key in "abc")

    def ratio(row: dict[str, Any] | None) -> float | None:
        if row is None or a is None or not a["per_s"] or row["per_s"] is None:
            return None
        return round(row["per_s"] / a["per_s"], 3)

    return {
        "a_per_s": a["per_s"] if a else None,
        "b_per_s": b["per_s"] if b else None,
        "c_per_s": c["per_s"] if c else None,
        "b_over_a": ratio(b),
        "c_over_a": ratio(c),
        "b_p99_ms": b["latency_ms"]["p99"] if b else None,
    }


def evaluate(report: dict[str, Any]) -> list[Target]:
    scenarios = report.get("scenarios", {})
    r = ratios(report)
    targets = [
        _at_least("(b) / (a) at 16 senders", "≥ 40% of the bare view", r["b_over_a"], 0.40, percent=True),
        _at_most("(b) p99 at 16 senders", "≤ 15 ms", r["b_p99_ms"], 15.0, " ms"),
        _at_least("(c) / (a) at 16 senders", "≥ 30% of the bare view", r["c_over_a"], 0.30, percent=True),
        *_end_to_end(scenarios.get("http_steps", {})),
        _growth(scenarios.get("growth", {})),
        *_memory(scenarios),
        _at_least(
            "(b) against n8n",
            f"≥ 20 x n8n's ~{N8N_WEBHOOKS_PER_S} webhooks/s = {20 * N8N_WEBHOOKS_PER_S:,}/s (at 16 senders)",
            r["b_per_s"],
            20 * N8N_WEBHOOKS_PER_S,
            "/s",
        ),
    ]
    return targets


def _at_least(
    name: str, requirement: str, value: float | None, floor: float, unit: str = "", *, percent: bool = False
) -> Target:
    if value is None:
        return Target(name, requirement, "-", None)
    shown = f"{100 * value:.1f}%" if percent else f"{value:,.1f}{unit}"
    if "n8n" in name:
        shown += f" ({value / N8N_WEBHOOKS_PER_S:.1f} x n8n)"
    return Target(name, requirement, shown, value >= floor)


def _at_most(name: str, requirement: str, value: float | None, ceiling: float, unit: str = "") -> Target:
    if value is None:
        return Target(name, requirement, "-", None)
    return Target(name, requirement, f"{value:,.1f}{unit}", value <= ceiling)


def _end_to_end(scenario: dict[str, Any]) -> list[Target]:
    rows = [row for row in scenario.get("rows", []) if not row.get("worker", "").endswith("(what-if)")]
    if not rows:
        return [
            Target("(d) all runs succeed", "every run succeeded", "-", None),
            Target("(d) HTTP steps/s drained", "≥ 300/s by one worker host", "-", None),
        ]
    # The README's production worker where it was measured, else any; its largest run: the full 10,000.
    rows = [row for row in rows if row.get("documented")] or rows
    row = max(rows, key=lambda r: r["webhooks_accepted"])
    succeeded, total = row["runs_succeeded"], row["runs_total"]
    all_ok = total > 0 and succeeded == total and not row.get("drain_unfinished")
    return [
        Target(
            "(d) all runs succeed",
            "every run succeeded",
            f"{succeeded:,} of {total:,} ({row['webhooks_accepted']:,} webhooks, {row['worker']})",
            all_ok,
        ),
        _at_least("(d) HTTP steps/s drained", "≥ 300/s by one worker host", row["steps_per_s"], 300, "/s"),
    ]


def _growth(scenario: dict[str, Any]) -> Target:
    requirement = "(b) with the history within 10% of (b) on an empty database (not below 90% of it)"
    rows = scenario.get("rows", [])
    if len(rows) < 2 or not rows[0]["per_s"] or rows[-1]["per_s"] is None:
        return Target("(e) growth", requirement, "-", None)
    empty, grown = rows[0], rows[-1]
    ratio = grown["per_s"] / empty["per_s"]
    measured = f"{grown['per_s']:,.1f}/s against {empty['per_s']:,.1f}/s ({100 * (ratio - 1):+.1f}%)"
    return Target("(e) growth", requirement, measured, ratio >= 0.90)


def peak_rss(scenarios: dict[str, Any], kind: str) -> float | None:
    values = [
        entry.get("peak_rss_mb", {}).get(kind)
        for entry in scenarios.values()
        if isinstance(entry, dict) and entry.get("peak_rss_mb")
    ]
    found = [value for value in values if value is not None]
    return round(max(found), 1) if found else None


def _memory(scenarios: dict[str, Any]) -> list[Target]:
    return [
        _at_most(
            "(f) web process peak RSS",
            "≤ 150 MB (one gunicorn worker)",
            peak_rss(scenarios, "web"),
            150,
            " MB",
        ),
        _at_most(
            "(f) worker process peak RSS",
            "≤ 200 MB (one Celery worker process)",
            peak_rss(scenarios, "worker"),
            200,
            " MB",
        ),
    ]
