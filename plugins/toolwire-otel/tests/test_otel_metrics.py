"""The metrics: gen_ai.execute_tool.duration by tool and error type, toolwire.calls by tool and outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import toolwire
from toolwire_otel import DURATION_BUCKETS, OTHER_TOOL

if TYPE_CHECKING:
    from conftest import Telemetry

MakeDispatcher = Callable[..., toolwire.Dispatcher]


def arithmetic() -> toolwire.Toolset:
    pack = toolwire.Toolset("arithmetic")

    @pack.tool
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        if b == 0:
            raise toolwire.ToolError("cannot divide by zero")
        return a / b

    return pack


def _counted(tool: str, error: str | None = None) -> tuple[tuple[str, str], ...]:
    """The attributes of a toolwire.calls point: the tool, the outcome, the error's kind."""
    outcome = (("gen_ai.tool.name", tool), ("toolwire.outcome", "ok" if error is None else "error"))
    return outcome if error is None else (("error.type", error), *outcome)


def test_duration_histogram_in_seconds_by_tool_and_error_type(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """Each call records its duration in seconds, keyed by tool name and, on failure, error.type."""
    dispatcher = make(arithmetic())
    results = [
        dispatcher.dispatch_sync("divide", {"a": 1, "b": 2}),
        dispatcher.dispatch_sync("divide", {"a": 1, "b": 4}),
        dispatcher.dispatch_sync("divide", {"a": 1, "b": 0}),
    ]
    points = telemetry.by_attributes("gen_ai.execute_tool.duration")
    ok = (("gen_ai.operation.name", "execute_tool"), ("gen_ai.tool.name", "divide"))
    failed = (("error.type", "execution_error"), *ok)
    assert set(points) == {ok, failed}
    assert points[ok].count == 2 and points[failed].count == 1
    assert abs(points[ok].sum - sum(r.elapsed_ms for r in results[:2]) / 1000) < 1e-9
    assert tuple(points[ok].explicit_bounds) == DURATION_BUCKETS
    data = telemetry.reader.get_metrics_data()
    assert data is not None
    (metric,) = [
        m
        for r in data.resource_metrics
        for s in r.scope_metrics
        for m in s.metrics
        if m.name == "gen_ai.execute_tool.duration"
    ]
    assert metric.unit == "s"


def test_call_counter_by_tool_and_outcome(make: MakeDispatcher, telemetry: Telemetry) -> None:
    """toolwire.calls counts calls by tool and outcome; a name that matched no tool counts as _OTHER."""
    dispatcher = make(arithmetic())
    dispatcher.dispatch_sync("divide", {"a": 1, "b": 2})
    dispatcher.dispatch_sync("divide", {"a": 1, "b": 0})
    dispatcher.dispatch_sync("divide", {"a": 1, "b": 0})
    dispatcher.dispatch_sync("multiply", {"a": 1, "b": 0})
    dispatcher.dispatch_sync("subtract", {})
    counts = {k: p.value for k, p in telemetry.by_attributes("toolwire.calls").items()}
    assert counts == {
        _counted("divide"): 1,
        _counted("divide", "execution_error"): 2,
        _counted(OTHER_TOOL, "unknown_tool"): 2,
    }


def test_calls_past_the_batch_limit_are_counted_under_their_tool(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """A call refused by max_batch_calls is counted under the tool it names when that tool is enabled, else as _OTHER."""
    dispatcher = make(arithmetic(), config={"limits": {"max_batch_calls": 1}})
    dispatcher.dispatch_many_sync(
        [
            {"name": "divide", "arguments": {"a": 1, "b": 2}},
            {"name": "divide", "arguments": {"a": 1, "b": 4}},
            {"name": "multiply", "arguments": {"a": 1, "b": 4}},
        ]
    )
    counts = {k: p.value for k, p in telemetry.by_attributes("toolwire.calls").items()}
    assert counts == {
        _counted("divide"): 1,
        _counted("divide", "rejected"): 1,
        _counted(OTHER_TOOL, "rejected"): 1,
    }
