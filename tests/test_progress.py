"""Progress from every executor: reports of a tool in a ``process`` worker reach the host."""

from __future__ import annotations

import asyncio
from typing import Any

from toolwire_fixtures import remote

from .conftest import MakeDispatcher

ON_PROCESS = {
    "plugins": {"autoload": False},
    "defaults": {"executor": "process"},
    "executors": {"process": {"workers": 1}},
}

Report = tuple[float, float | None, str | None]


async def test_process_worker_reports_reach_the_host_in_order(make: MakeDispatcher) -> None:
    """Each report of a tool in a process worker reaches progress=, in order, before the result."""
    dispatcher = make(remote.pack, config=ON_PROCESS)
    seen: list[Report] = []
    result = await dispatcher.dispatch(
        "count_up", {"n": 3, "pause": 0.05}, progress=lambda *r: seen.append(r)
    )
    assert result.success, result.error
    assert result.result == 3
    assert seen == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]


async def test_a_flood_of_reports_is_thinned_and_ends_with_the_last(make: MakeDispatcher) -> None:
    """A tool reporting in a tight loop reaches the host thinned, in order, the last report
    always included and arriving before the result."""
    dispatcher = make(remote.pack, config=ON_PROCESS)
    seen: list[Report] = []

    def listen(*report: Any) -> None:
        seen.append(report)

    result = await dispatcher.dispatch("count_up", {"n": 20000, "pause": 0}, progress=listen)
    at_result = len(seen)
    await asyncio.sleep(0.1)  # anything still on its way would arrive now
    assert result.success, result.error
    assert seen[-1] == (20000.0, 20000.0, "step 20000")
    assert len(seen) == at_result
    steps = [p for p, _, _ in seen]
    assert steps == sorted(set(steps))
    assert len(seen) < 20000


async def test_no_listener_no_reports_travel(make: MakeDispatcher) -> None:
    """Without progress=, a reporting tool in a process worker runs as any other."""
    dispatcher = make(remote.pack, config=ON_PROCESS)
    result = await dispatcher.dispatch("count_up", {"n": 5, "pause": 0})
    assert (result.success, result.result) == (True, 5)


def test_sync_dispatch_gets_process_reports(make: MakeDispatcher) -> None:
    """dispatch_sync's progress= hears a process worker's reports too."""
    dispatcher = make(remote.pack, config=ON_PROCESS)
    seen: list[Report] = []
    result = dispatcher.dispatch_sync(
        "count_up", {"n": 2, "pause": 0.05}, progress=lambda *r: seen.append(r)
    )
    assert result.success, result.error
    assert seen == [(1.0, 2.0, "step 1"), (2.0, 2.0, "step 2")]
