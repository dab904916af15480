"""Spans: toolwire's execute_tool span nests under Pydantic AI's agent span, one per call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import toolwire
import toolwire_otel
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai import Agent
from pydantic_ai.capabilities import Instrumentation
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.test import TestModel
from toolwire.testing import make_dispatcher
from toolwire_pydantic_ai import ToolwireInstrumentation, ToolwireToolset


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """One SDK for both: Pydantic AI's instrumentation and toolwire-otel export into memory."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_provider
    tracer_provider.shutdown()


@pytest.fixture
def traced(provider: TracerProvider) -> Iterator[toolwire.Dispatcher]:
    """A dispatcher whose calls toolwire-otel traces."""
    pack = toolwire.Toolset("weather")

    @pack.tool
    def get_weather(location: str) -> str:
        """Get the weather."""
        return f"sunny in {location}"

    with make_dispatcher(pack) as dispatcher:
        dispatcher.add(toolwire_otel.OtelPlugin(tracer_provider=provider), name="otel")
        yield dispatcher


async def run_agent(dispatcher: toolwire.Dispatcher, capability: Instrumentation) -> None:
    agent = Agent(TestModel(), toolsets=[ToolwireToolset(dispatcher)], capabilities=[capability])

    @agent.tool_plain
    def native(x: int) -> int:
        """A Pydantic AI function tool beside toolwire's."""
        return x

    await agent.run("weather?")


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan | None:
    by_id = {s.context.span_id: s for s in spans}
    return by_id.get(span.parent.span_id) if span.parent is not None else None


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_toolwires_span_is_the_only_tool_span_and_nests_under_the_agents(
    traced: toolwire.Dispatcher, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """With ToolwireInstrumentation, a toolwire call has one execute_tool span, toolwire's, child
    of Pydantic AI's invoke_agent span; a native tool keeps Pydantic AI's own span."""
    settings = InstrumentationSettings(tracer_provider=provider)
    await run_agent(traced, ToolwireInstrumentation(settings=settings))
    spans: list[Any] = list(exporter.get_finished_spans())
    (agent,) = named(spans, "invoke_agent agent")
    (call,) = named(spans, "execute_tool get_weather")
    assert call.instrumentation_scope.name == "toolwire_otel"
    assert parent_of(call, spans) is agent
    assert call.context.trace_id == agent.context.trace_id
    (native,) = named(spans, "execute_tool native")
    assert native.instrumentation_scope.name == "pydantic-ai"
    assert parent_of(native, spans) is agent


async def test_pydantic_ais_own_instrumentation_adds_a_second_tool_span(
    traced: toolwire.Dispatcher, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Pydantic AI's Instrumentation wraps toolwire's span in one of its own: the duplicate
    ToolwireInstrumentation leaves out."""
    await run_agent(
        traced, Instrumentation(settings=InstrumentationSettings(tracer_provider=provider))
    )
    spans: list[Any] = list(exporter.get_finished_spans())
    framework, toolwires = sorted(
        named(spans, "execute_tool get_weather"), key=lambda s: s.instrumentation_scope.name
    )
    assert (framework.instrumentation_scope.name, toolwires.instrumentation_scope.name) == (
        "pydantic-ai",
        "toolwire_otel",
    )
    assert parent_of(toolwires, spans) is framework
