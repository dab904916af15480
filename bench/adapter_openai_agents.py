"""The Agents SDK adapter's cost: one small tool called through ``toolwire_openai_agents``
against the same tool as the SDK's own ``@function_tool``, in one run.

Both go through the SDK's whole tool-calling path: ``Runner.run`` with the SDK's scripted model,
which asks for ``CALLS`` calls of the tool in one response and then answers. The tool is a plain
function both ways, so each side runs it on a thread (the SDK with ``asyncio.to_thread``, toolwire
on its own threads). Rounds of native and adapter runs alternate; the figure is the median over
rounds of (adapter time / native time) per call; the target is at most 1.30x.

``python bench/adapter_openai_agents.py`` prints one line.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import statistics
import time
from typing import Any

import toolwire
from agents import Agent, FunctionTool, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call
from toolwire_openai_agents import function_tools

CALLS = 8  # calls of the tool in one model response
RUNS = 15  # agent runs per round
ROUNDS = 7


def get_weather(location: str, units: str = "celsius") -> dict[str, Any]:
    """Get the current weather for a location.

    Args:
        location: The city.
        units: celsius or fahrenheit.
    """
    return {"location": location, "units": units, "temperature": 21}


def script() -> list[Any]:
    calls = [
        function_call("get_weather", {"location": f"city {i}", "units": "celsius"}, call_id=f"c{i}")
        for i in range(CALLS)
    ]
    return [calls, [assistant_message("done")]]


async def per_call(tool: FunctionTool) -> float:
    """Seconds per tool call over ``RUNS`` agent runs through the SDK's loop."""
    gc.collect()
    start = time.perf_counter()
    for _ in range(RUNS):
        model = ScriptedModel(script())
        agent = Agent(name="Assistant", instructions="Answer.", model=model, tools=[tool])
        result = await Runner.run(agent, "Weather?")
        assert result.final_output == "done"
    return (time.perf_counter() - start) / (RUNS * CALLS)


async def measure() -> float:
    native = function_tool(get_weather)
    dispatcher = toolwire.Dispatcher().add(toolwire.tool(get_weather))
    (adapter,) = function_tools(dispatcher)
    try:
        await per_call(native)  # warm both paths: imports, plans, threads
        await per_call(adapter)
        ratios = []
        for _ in range(ROUNDS):
            ratios.append(await per_call(adapter) / await per_call(native))
        return statistics.median(ratios)
    finally:
        dispatcher.close()


def figure() -> float:
    """The figure ``bench/run.py adapters`` reports."""
    set_tracing_disabled(True)  # the SDK's default exporter would send traces to OpenAI
    toolwire_logger = logging.getLogger("toolwire")
    level = toolwire_logger.level
    toolwire_logger.setLevel(logging.ERROR)  # no per-call log in the figure
    try:
        return asyncio.run(measure())
    finally:
        toolwire_logger.setLevel(level)


def main() -> None:
    print(f"openai-agents adapter / native tool per call: {figure():.2f}x")


if __name__ == "__main__":
    main()
