"""Pydantic AI: one small tool called through ToolwireToolset, against the same function as a
Pydantic AI tool, both through the agent loop with Pydantic AI's FunctionModel.

Each run is one model response that calls the tool ``CALLS`` times, then a text answer. A
call's cost is what a run with calls takes beyond the same run with none (the model requests,
the graph), divided by the calls: the framework's whole tool-calling path (argument parsing,
hooks, events, the result part) plus the tool, and for the adapter toolwire's pipeline. In a
round each run is timed ``REPEATS`` times, the two sides alternating so both see the same
machine, and the fastest of each counts (a busy neighbour only slows a run down); the figure
is the median over the rounds of each round's ratio. The target is at most 1.3x.

Run: ``python bench/adapter_pydantic_ai.py`` where toolwire-pydantic-ai is installed.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from typing import Any

import toolwire
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from toolwire_pydantic_ai import ToolwireToolset

CALLS = 50
ROUNDS = 9
REPEATS = 3


async def get_weather(location: str, units: str = "celsius") -> dict[str, Any]:
    """Get the current weather for a location."""
    return {"location": location, "units": units, "temperature": 21}


def model(calls: int) -> FunctionModel:
    """A model that calls get_weather ``calls`` times in its first response, then answers."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) > 1 or calls == 0:
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(
            parts=[ToolCallPart("get_weather", {"location": f"city {i}"}) for i in range(calls)]
        )

    return FunctionModel(respond)


async def timed(agent: Agent[None, str], calls: int) -> float:
    gc.collect()
    start = time.perf_counter()
    await agent.run("weather?", model=model(calls))
    return time.perf_counter() - start


async def ratios() -> list[float]:
    pack = toolwire.Toolset("weather")
    pack.tool(get_weather)
    with toolwire.Dispatcher().add(pack) as dispatcher:
        adapter = Agent(model(0), toolsets=[ToolwireToolset(dispatcher)])
        native = Agent(model(0), tools=[get_weather])
        for agent in (adapter, native):  # warm up: plans, validators, schemas
            await timed(agent, CALLS)
        found = []
        for _ in range(ROUNDS):
            fastest = [[float("inf")] * 2 for _ in range(2)]  # [with calls, without], per side
            for _ in range(REPEATS):
                for agent, best in zip((adapter, native), fastest, strict=True):
                    best[0] = min(best[0], await timed(agent, CALLS))
                    best[1] = min(best[1], await timed(agent, 0))
            (with_calls, without), (native_with, native_without) = fastest
            found.append((with_calls - without) / (native_with - native_without))
        return found


def figure() -> float:
    """The figure ``bench/run.py adapters`` reports: the median of the rounds' ratios."""
    return statistics.median(asyncio.run(ratios()))


def main() -> None:
    print(f"Pydantic AI adapter / native tool per call: {figure():.2f}x")


if __name__ == "__main__":
    main()
