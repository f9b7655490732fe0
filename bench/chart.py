"""The chart of the receive scenario: latency p50 and p99 against concurrent senders for (a), (b) and
(c) with no worker running, and answers per second against senders (with a worker running too).
matplotlib with the Agg backend: no display needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLOURS = {"a": "tab:blue", "b": "tab:orange", "c": "tab:green"}
NAMES = {"a": "(a) bare DRF view", "b": "(b) receive, no schema", "c": "(c) receive, schema + filters"}


def draw(report: dict[str, Any], path: Path) -> bool:
    """Write the PNG; False when there is nothing to draw (no receive rows)."""
    rows = report.get("scenarios", {}).get("receive", {}).get("rows", [])
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(13, 5.2))
    for key in "abc":
        for workers in (False, True):
            series = sorted(
                (r for r in rows if r["endpoint"] == key and bool(r.get("workers")) == workers),
                key=lambda r: r["concurrency"],
            )
            if not series:
                continue
            senders = [r["concurrency"] for r in series]
            colour = COLOURS[key]
            if not workers:
                for percentile, style in (("p50", "-"), ("p99", "--")):
                    values = [r["latency_ms"].get(percentile) for r in series]
                    latency.plot(
                        senders, values, style, marker="o", color=colour, label=f"{NAMES[key]} {percentile}"
                    )
            label = NAMES[key] + (" + worker running" if workers else "")
            throughput.plot(
                senders,
                [r["per_s"] for r in series],
                ":" if workers else "-",
                marker="s" if workers else "o",
                color=colour,
                label=label,
            )
    latency.axhline(15, color="grey", linewidth=0.8, linestyle="-.", label="target: (b) p99 ≤ 15 ms")
    for axis in (latency, throughput):
        axis.set_xscale("log", base=2)
        axis.set_xticks(sorted({r["concurrency"] for r in rows}))
        axis.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.set_xlabel("concurrent senders (closed loop)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    latency.set_yscale("log")
    latency.set_ylabel("latency, ms (request sent → answer read)")
    latency.set_title("Latency, no worker running")
    throughput.set_ylabel("answers per second")
    throughput.set_title("Throughput")
    throughput.set_ylim(bottom=0)
    machine = report.get("machine", {})
    figure.suptitle(
        f"Receive path vs bare DRF view: {report.get('started_at', '')} ({report.get('mode', '')} mode), "
        f"{machine.get('nproc', '?')} cores, commit {report.get('versions', {}).get('commit', '?')}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
