"""Fixtures: the OpenTelemetry SDK's in-memory exporter and metric reader, and dispatchers traced into them.

No test here sets the global tracer or meter provider: that can be done once per process, and
the tests that need it run a process of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import toolwire
import toolwire_otel
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from toolwire.testing import closing_all, make_dispatcher


@dataclass
class Telemetry:
    """An SDK of the test's own: spans and metrics land in memory."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def tool_spans(self) -> list[ReadableSpan]:
        """The spans toolwire-otel made (the tools' own spans left out)."""
        return [s for s in self.spans() if s.instrumentation_scope.name == "toolwire_otel"]

    def points(self, metric: str) -> list[Any]:
        """Every data point of one metric, over all scopes."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data is not None else []:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found.extend(item.data.data_points)
        return found

    def by_attributes(self, metric: str) -> dict[tuple[tuple[str, Any], ...], Any]:
        """One metric's data points keyed by their attributes (sorted name-value pairs)."""
        return {tuple(sorted((p.attributes or {}).items())): p for p in self.points(metric)}


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """A tracer and a meter provider exporting to memory, shut down after the test."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(exporter, reader, tracer_provider, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


MakeDispatcher = Callable[..., toolwire.Dispatcher]


@pytest.fixture
def make(telemetry: Telemetry) -> Iterator[MakeDispatcher]:
    """Dispatchers with the otel plugin reporting to the test's SDK, closed after the test."""

    def build(*objs: Any, config: Mapping[str, Any] | None = None) -> toolwire.Dispatcher:
        base = {"plugins": {"policy": {"retry_initial_delay": 0.001, "retry_max_delay": 0.002}}}
        merged = {**base, **(config or {})}
        merged["plugins"] = {**base["plugins"], **dict((config or {}).get("plugins", {}))}
        dispatcher = make_dispatcher(*objs, config=merged)
        plugin = toolwire_otel.OtelPlugin(
            tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
        )
        return dispatcher.add(plugin, name="otel")

    yield from closing_all(build)
