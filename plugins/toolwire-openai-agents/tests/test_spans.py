"""toolwire's execute_tool span, under the agent's span when the SDK's spans are OpenTelemetry's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import agents
import pytest
import toolwire
import toolwire_otel
from agents import AgentSpanData, Runner
from agents.testing import ScriptedModel, assistant_message, function_call
from agents.tracing import TracingProcessor
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from toolwire_openai_agents import function_tools

from .conftest import MakeDispatcher, agent_with, tool_outputs


class AgentSpansAsOtel(TracingProcessor):
    """A bridge as OpenTelemetry instrumentations of the SDK are: each SDK agent span is an
    OpenTelemetry span, current while the agent runs."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        self.open: dict[str, tuple[trace.Span, object]] = {}

    def on_span_start(self, span: Any) -> None:
        if isinstance(span.span_data, AgentSpanData):
            otel_span = self.tracer.start_span(f"invoke_agent {span.span_data.name}")
            token = otel_context.attach(trace.set_span_in_context(otel_span))
            self.open[span.span_id] = (otel_span, token)

    def on_span_end(self, span: Any) -> None:
        opened = self.open.pop(span.span_id, None)
        if opened is not None:
            otel_span, token = opened
            otel_context.detach(token)  # type: ignore[arg-type]
            otel_span.end()

    def on_trace_start(self, trace: Any) -> None:
        pass

    def on_trace_end(self, trace: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans in memory."""
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """A tracer provider of the test's own, exporting to memory."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def sdk_traced(provider: TracerProvider) -> Iterator[None]:
    """The SDK's tracing on, its spans going to the bridge alone (nothing leaves the process)."""
    agents.set_trace_processors([AgentSpansAsOtel(provider.get_tracer("bridge"))])
    agents.set_tracing_disabled(False)
    yield
    agents.set_tracing_disabled(True)
    agents.set_trace_processors([])


def tool_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")]


def traced(make: MakeDispatcher, provider: TracerProvider) -> toolwire.Dispatcher:
    dispatcher = make()
    dispatcher.add(toolwire_otel.OtelPlugin(tracer_provider=provider), name="otel")
    return dispatcher


def weather_model() -> ScriptedModel:
    return ScriptedModel(
        [
            [
                function_call("get_weather", {"city": "Paris"}, call_id="w1"),
                function_call("get_weather", {"city": "Oslo"}, call_id="w2"),
            ],
            [assistant_message("mild")],
        ]
    )


@pytest.mark.usefixtures("sdk_traced")
async def test_the_tool_span_nests_under_the_agent_span(
    make: MakeDispatcher, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Each call's one execute_tool span is a child of the SDK agent's OpenTelemetry span."""
    model = weather_model()
    await Runner.run(agent_with(model, function_tools(traced(make, provider))), "Weather?")

    (agent,) = [s for s in exporter.get_finished_spans() if s.name == "invoke_agent Assistant"]
    calls = tool_spans(exporter)
    assert sorted(s.attributes["gen_ai.tool.call.id"] for s in calls) == ["w1", "w2"]
    assert {s.name for s in calls} == {"execute_tool get_weather"}
    for span in calls:
        assert span.parent is not None and span.parent.span_id == agent.context.span_id
        assert span.context.trace_id == agent.context.trace_id
    assert tool_outputs(model)["w1"]["city"] == "Paris"


async def test_the_tool_span_nests_under_the_hosts_span(
    make: MakeDispatcher, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """With the SDK's tracing off, the span current around the run is the calls' parent."""
    model = weather_model()
    tools = function_tools(traced(make, provider))
    with provider.get_tracer("host").start_as_current_span("handle request") as host:
        await Runner.run(agent_with(model, tools), "Weather?")

    calls = tool_spans(exporter)
    assert len(calls) == 2
    assert {s.parent.span_id for s in calls if s.parent} == {host.get_span_context().span_id}
