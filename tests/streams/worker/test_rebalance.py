"""Workers join and leave a deployment while events flow: nothing lost, nothing doubled.

Two workers share the input partitions; a third joins while the first half of the events is being
applied, and one of the first two leaves while the second half is. Each change moves partitions
between workers mid-stream; the state and the alerts must still be those of every event applied
exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scoring.simulate import simulate
from tests.support.faults import FaultRun
from tests.support.worker import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]

RUNNING_OR_STOPPED = (None, -15)  # no worker here is killed: one that died fails the test


def test_a_worker_added_and_one_removed_under_load(
    start_worker: Callable[..., WorkerProcess],
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    events = simulate(2000, 30, 31, end=datetime.now(UTC) - timedelta(minutes=1)).events
    assert len(events) >= 20_000
    first = start_worker(LEADSCORE_BATCH_SIZE="200")
    second = start_worker(LEADSCORE_BATCH_SIZE="200")
    scenario = FaultRun(kafka_bootstrap, redis_url, first.env, events, tmp_path, [first, second])
    halves = events[: len(events) // 2], events[len(events) // 2 :]

    scenario.produce(halves[0])
    scenario.wait_applied(len(halves[0]) // 2, exits=RUNNING_OR_STOPPED)
    third = start_worker(LEADSCORE_BATCH_SIZE="200")  # joins mid-stream; waits for its partitions
    scenario.workers.append(third)
    scenario.produce(halves[1])
    scenario.wait_applied(len(halves[0]) + len(halves[1]) // 3, exits=RUNNING_OR_STOPPED)
    second.stop()  # leaves while the second half flows
    scenario.workers.remove(second)
    scenario.wait_applied(len(events), exits=RUNNING_OR_STOPPED)

    figures = scenario.verify("rebalance_worker_added_and_removed")
    assert figures["lost"] == figures["doubled"] == 0
    assert third.handled() > 0  # the new worker took partitions over and read from them
