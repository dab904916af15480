"""The LangChain adapter against LangChain's own tool, per call, through ``create_agent``.

One small tool, ``get_weather``, two ways: LangChain's ``@tool`` of the function, and the same
function in a toolwire pack given to the agent by ``toolwire_langchain.tools``. Each agent runs
the loop of LangChain's ``create_agent`` with LangChain's fake chat model: a turn that calls the
tool ``CALLS`` times, then an answer. Rounds of the two alternate, so both see the same machine;
the figure is the median over the rounds of the adapter's time per call over the native tool's.

Run with ``python bench/adapter_langchain.py`` (``ainvoke`` as an argument for the async loop)
where toolwire, toolwire-langchain and LangChain are installed.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

import toolwire
import toolwire_langchain
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool

CALLS = 20  # tool calls per model turn
RUNS = 5  # agent runs per round and side
ROUNDS = 9


def get_weather(location: str, units: str = "celsius") -> dict[str, Any]:
    """Get the current weather for a location."""
    return {"location": location, "units": units, "temperature": 21}


class FakeChatModel(GenericFakeChatModel):
    """LangChain's fake chat model, with the ``bind_tools`` a tool-calling model has."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> FakeChatModel:  # type: ignore[override]
        return self


def turns() -> Iterator[AIMessage]:
    """For ever: a turn calling the tool ``CALLS`` times, then the answer."""
    while True:
        yield AIMessage(
            "",
            tool_calls=[
                {"name": "get_weather", "args": {"location": "Paris"}, "id": f"call_{i}"}
                for i in range(CALLS)
            ],
        )
        yield AIMessage("21 degrees in Paris")


def agent(tools: list[Any]) -> Any:
    return create_agent(FakeChatModel(messages=turns()), tools)


def per_call(graph: Any, mode: str) -> float:
    """Seconds per tool call over ``RUNS`` agent runs."""
    question = {"messages": [HumanMessage("weather in Paris?")]}
    gc.collect()
    start = time.perf_counter()
    for _ in range(RUNS):
        if mode == "ainvoke":
            asyncio.run(graph.ainvoke(question))
        else:
            graph.invoke(question)
    return (time.perf_counter() - start) / (RUNS * CALLS)


def measure(mode: str = "invoke") -> float:
    """The median of the rounds' adapter / native time per call."""
    pack = toolwire.Toolset("bench")
    pack.tool(get_weather)
    dispatcher = toolwire.Dispatcher().add(pack)
    native = agent([tool(get_weather)])
    adapted = agent(toolwire_langchain.tools(dispatcher))
    for graph in (native, adapted):  # warm up: imports, first builds
        per_call(graph, mode)
    ratios = []
    for _ in range(ROUNDS):
        base = per_call(native, mode)
        ratios.append(per_call(adapted, mode) / base)
    dispatcher.close()
    return statistics.median(ratios)


def figure() -> float:
    """The figure ``bench/run.py adapters`` reports: the sync loop's."""
    return measure("invoke")


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "invoke"
    print(f"LangChain adapter / native tool per call: {measure(mode):.2f}x")


if __name__ == "__main__":
    main()
