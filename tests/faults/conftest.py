"""The fault suite: one production-like stack on loopback for the whole session, owned by the suite
and torn down at the end, failure or not. Without PostgreSQL server binaries or redis-server the suite
is skipped and says why, unless REQUIRE_SERVICES=1, where that is an error.

FAULTS_KEEP_DIR=1 keeps the stack's directory (logs of every process) after the session.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import WEBHOOKS, Scenario
from tests.faults.processes import missing_services
from tests.faults.services import Stack, make_root
from tests.integration.processes import log_tail

HERE = Path(__file__).resolve().parent
STACK = pytest.StashKey[Stack]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in item.path.parents]
    if not ours:
        return
    missing = missing_services()
    if not missing:
        return
    if os.environ.get("REQUIRE_SERVICES") == "1":
        raise pytest.UsageError("REQUIRE_SERVICES=1 but the fault suite cannot run: " + "; ".join(missing))
    skip = pytest.mark.skip(reason="fault suite skipped: " + "; ".join(missing))
    for item in ours:
        item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    # What the services said is usually the only way to see why a run never finished.
    stack = item.config.stash.get(STACK, None)
    if report.failed and stack is not None and HERE in item.path.parents:
        for log in stack.log_files():
            report.sections.append((f"{log.name} (last lines)", log_tail(log, 40)))
    return report


@pytest.fixture(scope="session")
def stack(pytestconfig: pytest.Config) -> Iterator[Stack]:
    began = time.monotonic()
    root = make_root()
    stack = Stack(root, webhooks_per_scenario=WEBHOOKS)
    pytestconfig.stash[STACK] = stack
    try:
        stack.start()
        where = f"web {stack.web_url}, receiver {stack.receiver_url}, logs {stack.logs}"
        print(f"\n[faults] stack up in {time.monotonic() - began:.1f} s: {where}", flush=True)
        yield stack
    finally:
        stack.close()
        if os.environ.get("FAULTS_KEEP_DIR") == "1":
            print(f"\n[faults] kept {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def scenario(stack: Stack, request: pytest.FixtureRequest) -> Scenario:
    """A scenario named after its test (``test_worker_sigkill`` → ``worker_sigkill``), on a stack
    whose every process is running, whatever an earlier test left behind."""
    stack.ensure_running()
    return Scenario(stack, request.node.name.removeprefix("test_"))
