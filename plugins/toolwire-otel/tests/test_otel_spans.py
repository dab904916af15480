"""The execute_tool span: names, attributes, events and parentage, per the GenAI conventions."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import toolwire
from opentelemetry.trace import SpanKind, StatusCode

if TYPE_CHECKING:
    from conftest import Telemetry

MakeDispatcher = Callable[..., toolwire.Dispatcher]


def weather_pack(telemetry: Telemetry) -> toolwire.Toolset:
    """Tools that trace what they do with the test's own tracer, as an instrumented client would."""
    pack = toolwire.Toolset("weather")
    tracer = telemetry.tracer_provider.get_tracer("weather-client")

    @pack.tool
    def get_weather(location: str, api_key: str = "") -> dict[str, object]:
        """Get the current weather for a location.

        Args:
            location: City name.
            api_key: The weather service's key.
        """
        with tracer.start_as_current_span("GET /weather"):
            return {"location": location, "temperature": 21, "thread": threading.get_ident()}

    @pack.tool
    async def forecast(location: str) -> str:
        """Get tomorrow's forecast."""
        with tracer.start_as_current_span("GET /forecast"):
            await asyncio.sleep(0)
            return f"sunny in {location}"

    @pack.tool
    def broken() -> str:
        """Always fails."""
        raise toolwire.ToolError("the weather service is down")

    return pack


def test_a_call_gets_one_span_named_and_attributed_per_the_conventions(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """A successful call is one INTERNAL span `execute_tool NAME` with the GenAI and toolwire attributes."""
    dispatcher = make(weather_pack(telemetry))
    result = dispatcher.dispatch_sync(
        "get_weather", {"location": "Paris"}, call_id="call_1", role="user"
    )
    assert result.success
    (span,) = telemetry.tool_spans()
    assert span.name == "execute_tool get_weather"
    assert span.kind is SpanKind.INTERNAL
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.description": "Get the current weather for a location.",
        "gen_ai.tool.type": "function",
        "toolwire.role": "user",
        "toolwire.plugin": "weather",
        "toolwire.attempts": 1,
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.start_time is not None and span.end_time is not None
    assert span.start_time <= span.end_time


def test_a_failed_call_sets_error_type_and_error_status(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """A call that fails carries error.type = the toolwire error kind and status ERROR, without its message."""
    dispatcher = make(weather_pack(telemetry))
    result = dispatcher.dispatch_sync("broken", {})
    assert result.error is not None and result.error.kind == "execution_error"
    (span,) = telemetry.tool_spans()
    assert span.attributes is not None and span.attributes["error.type"] == "execution_error"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is None  # the message is content: only with capture_content


class Gatekeeper:
    """Denies one tool by permission and rejects another in its before hook."""

    @toolwire.hookimpl
    def toolwire_check_permission(
        self, call: toolwire.ToolCall, context: toolwire.CallContext
    ) -> toolwire.Deny | None:
        return toolwire.Deny("forecasts are for admins") if call.name == "forecast" else None

    @toolwire.hookimpl
    def toolwire_before_call(self, call: toolwire.ToolCall, context: toolwire.CallContext) -> None:
        if call.name == "broken":
            raise toolwire.Reject("maintenance window")


def test_calls_that_never_ran_get_a_span_from_their_start(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """Unknown tools, invalid arguments, denials and rejections each get a span, their error kind and a start time."""
    dispatcher = make(weather_pack(telemetry), Gatekeeper())
    before = time.time_ns()
    results = [
        dispatcher.dispatch_sync("get_wether", {"location": "Paris"}, call_id="c1"),
        dispatcher.dispatch_sync("get_weather", '{"city": "Paris"}', call_id="c2"),
        dispatcher.dispatch_sync("forecast", {"location": "Paris"}, call_id="c3"),
        dispatcher.dispatch_sync("broken", {}, call_id="c4"),
    ]
    after = time.time_ns()
    kinds = [r.error.kind for r in results if r.error is not None]
    assert kinds == ["unknown_tool", "invalid_arguments", "permission_denied", "rejected"]
    spans = {s.attributes["gen_ai.tool.call.id"]: s for s in telemetry.tool_spans()}  # type: ignore[index]
    assert sorted(spans) == ["c1", "c2", "c3", "c4"]
    assert spans["c1"].name == "execute_tool"  # a name the model made up is not a span name
    assert spans["c1"].attributes["gen_ai.tool.name"] == "get_wether"  # type: ignore[index]
    assert spans["c2"].name == "execute_tool get_weather"
    for call_id, result in zip(("c1", "c2", "c3", "c4"), results, strict=True):
        span = spans[call_id]
        assert span.attributes["error.type"] == result.error.kind  # type: ignore[index, union-attr]
        assert span.attributes["toolwire.attempts"] == 0  # type: ignore[index]
        assert span.status.status_code is StatusCode.ERROR
        assert span.start_time is not None and span.end_time is not None
        assert before <= span.start_time <= span.end_time <= after
    denied = [(e.name, dict(e.attributes or {})) for e in spans["c3"].events]
    assert denied == [
        (
            "toolwire.denied",
            {"error.type": "permission_denied", "toolwire.reason": "forecasts are for admins"},
        )
    ]
    rejected = [(e.name, dict(e.attributes or {})) for e in spans["c4"].events]
    assert rejected == [
        ("toolwire.denied", {"error.type": "rejected", "toolwire.reason": "maintenance window"})
    ]
    assert spans["c1"].events == () and spans["c2"].events == ()


class ResetError(ConnectionError):
    """A client library's exception, defined in a private module as most libraries do."""


ResetError.__module__ = "acme_http._exceptions"


def test_retries_are_span_events_with_one_error_type_rule(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """Each retry is a toolwire.retry event naming the attempt and what the one before failed with: toolwire's error kind for a ToolError (a missed deadline), else the exception's public qualified class name."""
    pack = toolwire.Toolset("flaky")
    failures: list[BaseException | None] = [
        ConnectionError("reset"),
        ResetError("reset by peer"),
        toolwire.TransientError("busy"),
        None,  # this attempt misses its deadline
    ]

    @pack.tool(retries=5, timeout=0.05)
    async def fetch() -> str:
        """Fetch something over a flaky network."""
        if failures:
            failure = failures.pop(0)
            if failure is None:
                await asyncio.sleep(5)
            else:
                raise failure
        return "fetched"

    dispatcher = make(pack)
    result = dispatcher.dispatch_sync("fetch", {})
    assert result.success and result.attempts == 5
    (span,) = telemetry.tool_spans()
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    assert events == [
        ("toolwire.retry", {"toolwire.attempt": 2, "error.type": "ConnectionError"}),
        ("toolwire.retry", {"toolwire.attempt": 3, "error.type": "acme_http.ResetError"}),
        ("toolwire.retry", {"toolwire.attempt": 4, "error.type": "toolwire.TransientError"}),
        ("toolwire.retry", {"toolwire.attempt": 5, "error.type": "timeout"}),
    ]
    assert span.attributes is not None and span.attributes["toolwire.attempts"] == 5


def test_calls_answered_before_resolution_keep_their_tool_name(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """A call past max_batch_calls that names an enabled tool gets that tool's span name; only a name matching no tool is left bare."""
    dispatcher = make(weather_pack(telemetry), config={"limits": {"max_batch_calls": 1}})
    results = dispatcher.dispatch_many_sync(
        [
            toolwire.ToolCall("forecast", {"location": "Oslo"}, "c1"),
            toolwire.ToolCall("get_weather", {"location": "Oslo"}, "c2"),
            toolwire.ToolCall("get_wether", {"location": "Oslo"}, "c3"),
        ]
    )
    assert [r.error.kind if r.error else None for r in results] == [None, "rejected", "rejected"]
    spans = {s.attributes["gen_ai.tool.call.id"]: s for s in telemetry.tool_spans()}  # type: ignore[index]
    assert spans["c2"].name == "execute_tool get_weather"
    assert spans["c2"].attributes["gen_ai.tool.description"].startswith("Get the current")  # type: ignore[index, union-attr]
    assert spans["c3"].name == "execute_tool"
    assert spans["c3"].attributes["gen_ai.tool.name"] == "get_wether"  # type: ignore[index]


def test_the_span_is_the_parent_of_what_a_plain_function_does_on_a_toolwire_thread(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """A plain-function tool runs on a toolwire thread, and the span its client starts there is a child of the call's span."""
    dispatcher = make(weather_pack(telemetry))

    async def main() -> toolwire.DispatchResult:
        return await dispatcher.dispatch("get_weather", {"location": "Oslo"})

    result = asyncio.run(main())
    assert result.success and result.result["thread"] != threading.get_ident()
    (call_span,) = telemetry.tool_spans()
    (client_span,) = [s for s in telemetry.spans() if s.name == "GET /weather"]
    assert client_span.parent is not None
    assert client_span.parent.span_id == call_span.context.span_id
    assert client_span.context.trace_id == call_span.context.trace_id


def test_the_span_is_the_parent_of_what_an_async_tool_does_and_the_child_of_the_host_span(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """An async tool's spans nest under the call's span, which nests under the span the host had open."""
    dispatcher = make(weather_pack(telemetry))
    host = telemetry.tracer_provider.get_tracer("host")

    async def main() -> toolwire.DispatchResult:
        with host.start_as_current_span("invoke_agent planner"):
            return await dispatcher.dispatch("forecast", {"location": "Oslo"})

    assert asyncio.run(main()).success
    by_name = {s.name: s for s in telemetry.spans()}
    agent, call, client = (
        by_name["invoke_agent planner"],
        by_name["execute_tool forecast"],
        by_name["GET /forecast"],
    )
    assert call.parent is not None and call.parent.span_id == agent.context.span_id
    assert client.parent is not None and client.parent.span_id == call.context.span_id


def test_concurrent_calls_each_parent_their_own_work(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """In one batch of concurrent calls, each tool's span is the child of its own call's span."""
    dispatcher = make(weather_pack(telemetry))
    calls = [
        toolwire.ToolCall("get_weather", {"location": f"city {i}"}, f"c{i}") for i in range(16)
    ]
    results = dispatcher.dispatch_many_sync(calls)
    assert all(r.success for r in results)
    call_spans = {s.context.span_id: s for s in telemetry.tool_spans()}
    assert len(call_spans) == 16
    clients = [s for s in telemetry.spans() if s.name == "GET /weather"]
    assert len(clients) == 16
    assert {c.parent.span_id for c in clients if c.parent is not None} == set(call_spans)


def test_a_timed_out_call_ends_its_one_span(make: MakeDispatcher, telemetry: Telemetry) -> None:
    """A call cut off by its deadline gets exactly one span, with error.type timeout."""
    pack = toolwire.Toolset("slow")

    @pack.tool(timeout=0.05)
    async def crawl() -> str:
        """Takes too long."""
        await asyncio.sleep(5)
        return "never"

    dispatcher = make(pack)
    result = dispatcher.dispatch_sync("crawl", {})
    assert result.error is not None and result.error.kind == "timeout"
    (span,) = telemetry.tool_spans()
    assert span.attributes is not None and span.attributes["error.type"] == "timeout"


def test_content_is_recorded_only_when_opted_in_and_then_redacted(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """capture_content adds the arguments and result as JSON with [logging] redact applied, and the error message."""
    pack = weather_pack(telemetry)
    quiet = make(pack)
    assert quiet.dispatch_sync("get_weather", {"location": "Rome", "api_key": "s3cret"}).success
    (plain_span,) = telemetry.tool_spans()
    assert "gen_ai.tool.call.arguments" not in (plain_span.attributes or {})
    assert "gen_ai.tool.call.result" not in (plain_span.attributes or {})
    telemetry.exporter.clear()

    loud = make(
        weather_pack(telemetry),
        config={"plugins": {"otel": {"capture_content": True}}, "logging": {"redact": ["KEY"]}},
    )
    assert loud.dispatch_sync("get_weather", {"location": "Rome", "api_key": "s3cret"}).success
    assert not loud.dispatch_sync("broken", {}).success
    ok_span, failed_span = telemetry.tool_spans()
    attributes = ok_span.attributes or {}
    assert json.loads(str(attributes["gen_ai.tool.call.arguments"])) == {
        "location": "Rome",
        "api_key": "[redacted]",
    }
    assert json.loads(str(attributes["gen_ai.tool.call.result"]))["location"] == "Rome"
    assert "s3cret" not in json.dumps(dict(attributes))
    assert failed_span.status.description == "the weather service is down"


@pytest.mark.parametrize(
    "arguments",
    [
        '{"data": {"password": "S5"',  # cut off
        '[{"password": "S5"}, "S5"]',
        '"password S5"',
        '{"password": "S5", "n": NaN}',
        b'{"password": "S5"',
        b"\xff",
        ["password", "S5"],
    ],
    ids=["cut-off", "array", "string", "nan-text", "bytes", "not-utf8", "list"],
)
def test_arguments_that_are_not_a_json_object_are_never_captured(
    make: MakeDispatcher, telemetry: Telemetry, arguments: object
) -> None:
    """With capture_content, arguments that are not a JSON object cannot be redacted by key, so they are left out."""
    dispatcher = make(
        weather_pack(telemetry),
        config={"plugins": {"otel": {"capture_content": True}}, "logging": {"redact": ["pass"]}},
    )
    result = dispatcher.dispatch_sync("get_weather", arguments)  # type: ignore[arg-type]
    assert result.error is not None and result.error.kind == "invalid_arguments"
    (span,) = telemetry.tool_spans()
    assert "gen_ai.tool.call.arguments" not in (span.attributes or {})
    assert "S5" not in json.dumps(dict(span.attributes or {}))


def test_captured_arguments_are_always_valid_json(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """Arguments a host passed with NaN, infinities or a cycle are captured as strict JSON: "NaN", "Infinity", and a cut-off marker."""
    dispatcher = make(
        weather_pack(telemetry), config={"plugins": {"otel": {"capture_content": True}}}
    )
    looped: dict[str, object] = {"location": "Oslo", "limits": [float("inf"), float("-inf")]}
    looped["self"] = looped
    dispatcher.dispatch_sync("get_weather", {"location": "Oslo", "ratio": float("nan")})
    dispatcher.dispatch_sync("get_weather", looped)
    first, second = telemetry.tool_spans()

    def strict(text: object) -> object:
        return json.loads(str(text), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))

    assert strict(first.attributes["gen_ai.tool.call.arguments"]) == {  # type: ignore[index]
        "location": "Oslo",
        "ratio": "NaN",
    }
    captured = strict(second.attributes["gen_ai.tool.call.arguments"])  # type: ignore[index]
    assert captured["limits"] == ["Infinity", "-Infinity"]  # type: ignore[index]
    assert "[nested too deep]" in json.dumps(captured)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"capture_contents": True}, "unknown key [plugins.otel] capture_contents; did you mean 'capture_content'?"),
        ({"capture_content": "yes"}, "[plugins.otel] capture_content: 'yes' is not true or false"),
    ],
)  # fmt: skip
def test_a_wrong_setting_stops_the_start(
    make: MakeDispatcher, table: dict[str, object], problem: str
) -> None:
    """An unknown or mistyped [plugins.otel] key stops the start with a ConfigError naming it."""
    with pytest.raises(toolwire.ConfigError) as caught:
        make(toolwire.Toolset("empty"), config={"plugins": {"otel": table}})
    assert problem in str(caught.value)
