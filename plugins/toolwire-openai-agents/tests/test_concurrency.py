"""Parallel calls, toolwire's sequential policy, and the SDK's cancellation reaching toolwire."""

from __future__ import annotations

import asyncio

import toolwire
from agents import Runner
from agents.testing import ScriptedModel, assistant_message, function_call
from toolwire_openai_agents import function_tools

from .conftest import MakeDispatcher, agent_with, tool_outputs


def two_calls(name: str) -> ScriptedModel:
    """A model that calls ``name`` twice in one response, then answers."""
    return ScriptedModel(
        [
            [
                function_call(name, {"tag": "first"}, call_id="c1"),
                function_call(name, {"tag": "second"}, call_id="c2"),
            ],
            [assistant_message("done")],
        ]
    )


async def test_parallel_calls_stay_parallel(make: MakeDispatcher) -> None:
    """Two calls of one response run at once: each waits until the other has started."""
    pack = toolwire.Toolset("meet")
    started: list[str] = []
    both = asyncio.Event()

    @pack.tool
    async def rendezvous(tag: str) -> str:
        """Wait for the other call."""
        started.append(tag)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), timeout=10)  # never set when run one at a time
        return f"met as {tag}"

    model = two_calls("rendezvous")
    await Runner.run(agent_with(model, function_tools(make(pack))), "meet")

    assert tool_outputs(model) == {"c1": "met as first", "c2": "met as second"}


async def test_a_sequential_tool_runs_its_calls_one_at_a_time(make: MakeDispatcher) -> None:
    """Calls of a tool toolwire's policy marks sequential never overlap, and keep call order."""
    pack = toolwire.Toolset("ledger")
    running: list[str] = []
    overlaps: list[list[str]] = []
    order: list[str] = []

    @pack.tool(sequential=True)
    async def append_entry(tag: str) -> str:
        """Append to the ledger."""
        running.append(tag)
        if len(running) > 1:
            overlaps.append(list(running))
        order.append(tag)
        await asyncio.sleep(0.01)  # room for the other call to start, were it allowed to
        running.remove(tag)
        return tag

    model = two_calls("append_entry")
    await Runner.run(agent_with(model, function_tools(make(pack))), "append")

    assert overlaps == []
    assert order == ["first", "second"]
    assert tool_outputs(model) == {"c1": "first", "c2": "second"}


async def test_cancelling_the_run_cancels_the_call(make: MakeDispatcher) -> None:
    """A run the host cancels cancels the tool toolwire is running for it."""
    pack = toolwire.Toolset("waiting")
    started, cancelled = asyncio.Event(), asyncio.Event()

    @pack.tool
    async def wait_forever(tag: str) -> str:
        """Wait until cancelled."""
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return tag

    model = ScriptedModel([[function_call("wait_forever", {"tag": "x"}, call_id="c1")]])
    agent = agent_with(model, function_tools(make(pack)))
    run = asyncio.create_task(Runner.run(agent, "wait"))
    await asyncio.wait_for(started.wait(), timeout=10)
    run.cancel()

    done, _ = await asyncio.wait([run], timeout=10)
    assert done == {run} and run.cancelled()
    await asyncio.wait_for(cancelled.wait(), timeout=10)
