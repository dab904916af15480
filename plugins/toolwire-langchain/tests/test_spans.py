"""toolwire's ``execute_tool`` spans under the span an agent runs in, one per call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import toolwire
import toolwire_langchain
import toolwire_otel
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_helpers import MakeDispatcher, Ran, Run, calls, model, weather_pack
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """An SDK of the test's own, exporting spans to memory (the global provider untouched)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def test_tool_spans_nest_under_the_agent_span(
    make: MakeDispatcher, ran: Ran, run: Run, traced: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """Each call's ``execute_tool`` span is a child of the span the host runs the agent in,
    in its trace, and the adapter adds no tool span of its own."""
    provider, exporter = traced
    dispatcher: toolwire.Dispatcher = make(weather_pack(ran))
    dispatcher.add(toolwire_otel.OtelPlugin(tracer_provider=provider), name="otel")
    fake = model(
        calls(
            ("get_weather", {"location": "Paris"}, "call_1"),
            ("get_weather", {"location": "Oslo"}, "call_2"),
        ),
        AIMessage("done"),
    )
    agent = create_agent(fake, toolwire_langchain.tools(dispatcher))
    with provider.get_tracer("host").start_as_current_span("invoke_agent weather") as agent_span:
        run(agent, {"messages": [HumanMessage("go")]})
    spans = exporter.get_finished_spans()
    tool_spans = [s for s in spans if s.name.startswith("execute_tool")]
    assert sorted(s.name for s in spans) == [
        "execute_tool get_weather",
        "execute_tool get_weather",
        "invoke_agent weather",
    ]
    parent = agent_span.get_span_context()
    for span in tool_spans:
        assert span.parent is not None and span.parent.span_id == parent.span_id
        assert span.context.trace_id == parent.trace_id
    assert sorted(s.attributes["gen_ai.tool.call.id"] for s in tool_spans) == ["call_1", "call_2"]
