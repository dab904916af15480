"""One ``execute_tool`` span and two metrics per call, per the GenAI semantic conventions.

The span opens in a middleware, the outermost layer of the onion, and is made current
around the rest of it: whatever the tool does (its HTTP client, its database driver) starts
its spans as children, also for plain functions on toolwire's threads, which run in a copy of
the caller's context variables. It ends in ``toolwire_call_finished``, with the outcome the
model gets. A call that ends before execution (unknown tool, invalid arguments, a denial)
never reaches the middleware; its span is made in ``toolwire_call_finished``, starting when
the call did.

What a span says about a call's content goes through the log's redaction
(``toolwire.types.Redaction``): arguments by key, and every text (the status description, the
events, a recorded exception, the result) with the call's secret values masked. Text from the
model is made encodable first: a lone surrogate is written as its ``\\uXXXX`` escape, so that
no exporter fails on it.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Final

import toolwire
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from toolwire.types import Redaction

from ._settings import Settings

#: The instrumentation scope every span and metric is reported under.
SCOPE: Final = "toolwire_otel"

#: Histogram buckets in seconds: the GenAI conventions' advice for durations, with finer
#: steps below 10 ms, where most tool calls end.
DURATION_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64,
    1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip

#: Error kinds that are a refusal by policy rather than a failure; each adds a span event.
DENIALS: Final = frozenset({"permission_denied", "rejected", "approval_denied"})

#: The tool-name value of metrics for a name that matched no tool: a model may send any
#: string, and each distinct value would be a time series of its own.
OTHER_TOOL: Final = "_OTHER"

#: Open spans kept at most; a call its caller cancelled never ends its span, and the oldest
#: such spans are ended (``toolwire.abandoned``) past this.
_MAX_OPEN: Final = 100_000


class _Open:
    """A call's span from the middleware to the end of the call."""

    __slots__ = ("context", "exception", "last_error", "span")

    def __init__(self, context: toolwire.CallContext, span: Span) -> None:
        self.context = context
        self.span = span
        self.last_error: str | None = None
        #: What the tool (or a middleware) raised, other than a ``ToolError``: the exception
        #: the log renders with its traceback.
        self.exception: Exception | None = None


class OtelPlugin:
    """Traces and measures every call through the OpenTelemetry API.

    With no providers given, the global ones are used: whatever SDK the host configured
    (``opentelemetry.trace.set_tracer_provider``, ``opentelemetry-instrument``...). Whether
    one is configured is checked when a dispatcher starts: with none, the plugin puts no
    middleware on any tool and returns at once from its one per-call hook, so a call costs
    what it costs without the plugin. Configure the SDK before the dispatcher starts.

    Args:
        tracer_provider: Report spans here instead of the global tracer provider.
        meter_provider: Report metrics here instead of the global meter provider.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.settings = Settings()
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._live = False
        self._measure = False
        self._open: dict[int, _Open] = {}
        self._static: dict[str, dict[str, Any]] = {}  # tool name -> attributes fixed per tool
        # Every enabled tool, as the span layer is asked about each at start: a call answered
        # before it was resolved (past the batch limit, cut off) still names its tool.
        self._known: dict[str, toolwire.Tool] = {}
        from importlib.metadata import PackageNotFoundError, version

        try:
            own = version("toolwire-otel")
        except PackageNotFoundError:  # imported from a source tree
            own = "0+unknown"
        self._tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(SCOPE, own)
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(SCOPE, own)
        self._duration = meter.create_histogram(
            "gen_ai.execute_tool.duration",
            unit="s",
            description="Duration of tool execution, from the call's dispatch to its result",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._calls = meter.create_counter(
            "toolwire.calls", unit="{call}", description="Tool calls, by tool and outcome"
        )
        self.span_layer = SpanLayer(self)
        self.attempt_layer = AttemptLayer(self)

    # -- start -----------------------------------------------------------------------------

    @toolwire.hookimpl
    def toolwire_configure(self, config: toolwire.Config) -> None:
        self.settings = Settings.from_config(config)
        self._static.clear()
        self._known.clear()
        self.check_sdk()

    @toolwire.hookimpl
    def toolwire_register_middleware(self, register: Callable[[Any], None]) -> None:
        register(self.span_layer)
        register(self.attempt_layer)

    def check_sdk(self) -> bool:
        """Whether an SDK receives what this plugin reports; decided again at each start.

        True when a provider was passed in, or when the host has set a global tracer or
        meter provider (the API's placeholder providers do not count).
        """
        # Each half apart: metrics nobody receives are not built per call.
        self._measure = self._meter_provider is not None or not _is_placeholder(
            metrics.get_meter_provider()
        )
        self._live = (
            self._tracer_provider is not None
            or not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
            or self._measure
        )
        return self._live

    # -- per call --------------------------------------------------------------------------

    def open_span(self, call: toolwire.ToolCall, context: toolwire.CallContext) -> _Open:
        """The call's span, started now, or the one a former attempt of it started."""
        key = id(context)
        opened = self._open.get(key)
        if opened is not None and opened.context is context:
            return opened  # run again by a retry layer outside this one
        name, attributes = self._start_attributes(call, context)
        span = self._tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
        opened = _Open(context, span)
        if len(self._open) >= _MAX_OPEN:
            # Another thread may change the dict meanwhile: then it shrank or grew by one.
            with contextlib.suppress(RuntimeError, StopIteration, KeyError):
                _abandon(self._open.pop(next(iter(self._open))))
        self._open[key] = opened
        return opened

    @toolwire.hookimpl
    def toolwire_call_finished(
        self,
        call: toolwire.ToolCall,
        result: toolwire.DispatchResult,
        context: toolwire.CallContext,
    ) -> None:
        if not self._live:
            return
        error = result.error
        kind = error.kind if error is not None else None
        opened = self._open.pop(id(context), None)
        exception = None
        if opened is not None and opened.context is context:
            span = opened.span
            exception = opened.exception
        else:
            name, attributes = self._start_attributes(call, context, kind)
            started = time.time_ns() - int(result.elapsed_ms * 1_000_000)
            span = self._tracer.start_span(
                name, kind=SpanKind.INTERNAL, attributes=attributes, start_time=started
            )
        try:
            self._finish(span, call, result, exception)
        finally:
            span.end()
        if not self._measure:
            return
        tool = self._tool_of(call, context, kind)
        measured: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool.name if tool is not None else OTHER_TOOL,
        }
        if kind is not None:
            measured["error.type"] = kind
        self._duration.record(result.elapsed_ms / 1000.0, measured)
        counted = {
            "gen_ai.tool.name": measured["gen_ai.tool.name"],
            "toolwire.outcome": "ok" if kind is None else "error",
        }
        if kind is not None:
            counted["error.type"] = kind
        self._calls.add(1, counted)

    def _finish(
        self,
        span: Span,
        call: toolwire.ToolCall,
        result: toolwire.DispatchResult,
        exception: Exception | None,
    ) -> None:
        if not span.is_recording():
            return
        error = result.error
        span.set_attribute("toolwire.attempts", int(result.attempts))
        approval = _approval_id(getattr(result, "approval", None))
        if approval is not None:
            span.set_attribute("toolwire.approval.id", approval)
        capture = self.settings.capture_content
        denied = error is not None and error.kind in DENIALS
        if not (capture or denied):
            if error is not None:
                span.set_attribute("error.type", error.kind)
                span.set_status(Status(StatusCode.ERROR))
            return
        redaction = self.settings.redaction
        # The texts that show this call's secrets, masked in everything written below, as
        # the log masks them.
        secrets = redaction.secret_values(call.arguments)

        def masked(text: str) -> str:
            return _encodable(str(redaction.mask(text, secrets)))

        if capture:
            arguments = _arguments_text(call.arguments, redaction, secrets)
            if arguments is not None:
                span.set_attribute("gen_ai.tool.call.arguments", arguments)
        if error is None:
            span.set_attribute(
                "gen_ai.tool.call.result", _content_text(result.result, redaction, secrets)
            )
            return
        if denied:
            span.add_event(
                "toolwire.denied",
                {"error.type": error.kind, "toolwire.reason": masked(error.message)},
            )
        span.set_attribute("error.type", error.kind)
        if capture and exception is not None:
            span.add_event(
                "exception",
                {
                    "exception.type": _error_type(exception),
                    "exception.message": masked(str(exception)),
                    "exception.stacktrace": masked(
                        "".join(traceback.format_exception(exception)).rstrip("\n")
                    ),
                },
            )
        span.set_status(Status(StatusCode.ERROR, masked(error.message) if capture else None))

    def know(self, tool: toolwire.Tool) -> None:
        """Remember an enabled tool (the span layer is asked about each one at start)."""
        self._known[tool.name] = tool

    def _tool_of(
        self, call: toolwire.ToolCall, context: toolwire.CallContext, kind: str | None
    ) -> toolwire.Tool | None:
        """The call's tool: resolved, or, for a call answered before resolution (past the batch
        limit, cut off), the enabled tool its name names; ``None`` for a name that matches none."""
        if context.tool is not None:
            return context.tool
        if kind == "unknown_tool" or not isinstance(call.name, str):
            return None
        return self._known.get(call.name)

    def _start_attributes(
        self, call: toolwire.ToolCall, context: toolwire.CallContext, kind: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        tool = self._tool_of(call, context, kind)
        if tool is None:
            sent = _encodable(call.name[:200]) if isinstance(call.name, str) else ""
            static: dict[str, Any] = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": sent,
                "gen_ai.tool.type": "function",
            }
            name = "execute_tool"
        else:
            found = self._static.get(tool.name)
            if found is None:
                found = self._static[tool.name] = {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": tool.name,
                    "gen_ai.tool.type": "function",
                    "gen_ai.tool.description": tool.description,
                }
            static = found
            name = f"execute_tool {tool.name}"
        attributes = {**static, "gen_ai.tool.call.id": _encodable(str(context.call_id))}
        if context.role is not None:
            attributes["toolwire.role"] = str(context.role)
        caller = getattr(context, "caller", None)
        if caller is not None:
            attributes["toolwire.caller"] = str(caller)  # "direct", "program" or "unknown"
        plugin = context.plugin
        if plugin is not None:
            attributes["toolwire.plugin"] = plugin
        executor = getattr(context.policy, "executor", None)
        if executor is not None:
            attributes["toolwire.executor"] = str(executor)
        return name, attributes


class SpanLayer:
    """The middleware that opens a call's span and makes it current around the rest.

    Attributes:
        order: Outermost (lowest) of toolwire's layers: the span covers every attempt, every
            wait for a rate limit or a concurrency slot, and every deadline.
    """

    order: Final = 0

    def __init__(self, plugin: OtelPlugin) -> None:
        self._plugin = plugin

    def applies_to(self, tool: toolwire.Tool, policy: toolwire.ToolPolicy) -> bool:
        self._plugin.know(tool)
        return self._plugin.check_sdk()

    async def __call__(
        self,
        call: toolwire.ToolCall,
        context: toolwire.CallContext,
        call_next: Callable[[toolwire.ToolCall, toolwire.CallContext], Any],
    ) -> Any:
        opened = self._plugin.open_span(call, context)
        token = otel_context.attach(trace.set_span_in_context(opened.span))
        try:
            return await call_next(call, context)
        except toolwire.ToolError:
            raise
        except Exception as exc:
            opened.exception = exc  # recorded (masked) when the call ends, with capture_content
            raise
        finally:
            otel_context.detach(token)


class AttemptLayer:
    """The middleware inside the retry layer: each attempt after the first is a span event.

    Attributes:
        order: Just inside retries (100), outside rate limits (200), concurrency (300) and
            deadlines (400), so it sees each attempt and the error each one ended with.
    """

    order: Final = 150

    def __init__(self, plugin: OtelPlugin) -> None:
        self._plugin = plugin

    def applies_to(self, tool: toolwire.Tool, policy: toolwire.ToolPolicy) -> bool:
        return bool(getattr(policy, "retries", 0)) and self._plugin.check_sdk()

    async def __call__(
        self,
        call: toolwire.ToolCall,
        context: toolwire.CallContext,
        call_next: Callable[[toolwire.ToolCall, toolwire.CallContext], Any],
    ) -> Any:
        opened = self._plugin.open_span(call, context)
        if context.attempt:
            event: dict[str, Any] = {"toolwire.attempt": context.attempt + 1}
            if opened.last_error is not None:
                event["error.type"] = opened.last_error
            opened.span.add_event("toolwire.retry", event)
        try:
            return await call_next(call, context)
        except BaseException as exc:
            opened.last_error = _error_type(exc)
            raise


def _abandon(opened: _Open) -> None:
    opened.span.set_attribute("toolwire.abandoned", True)
    opened.span.end()


def _error_type(exc: BaseException) -> str:
    """The ``error.type`` of an exception: low-cardinality, one rule everywhere.

    A ``toolwire.ToolError`` (a missed deadline, a rate limit, a tool's own refusal) is its
    toolwire error kind (``timeout``, ``rate_limited``...), the same value as a failed call's
    ``error.type``. Any other exception is its class's fully qualified name, as the
    OpenTelemetry conventions ask, by its public path: modules whose name starts with ``_``
    are left out (``httpx._exceptions.ConnectError`` is ``httpx.ConnectError``,
    ``toolwire._errors.TransientError`` is ``toolwire.TransientError``), and built-in
    exceptions have their bare name (``ConnectionError``).
    """
    if isinstance(exc, toolwire.ToolError):
        return exc.kind
    cls = type(exc)
    module = getattr(cls, "__module__", None)
    if not isinstance(module, str) or module == "builtins":
        return cls.__qualname__
    public = []
    for part in module.split("."):
        if part.startswith("_"):
            break
        public.append(part)
    return ".".join([*public, cls.__qualname__])


def _is_placeholder(provider: metrics.MeterProvider) -> bool:
    """Whether the meter provider is the API's stand-in, used until a host sets one.

    The API exports no name for its stand-in (the tracing side does: ``ProxyTracerProvider``),
    so it is known by its class name.
    """
    return isinstance(provider, metrics.NoOpMeterProvider) or type(provider).__name__ == (
        "_ProxyMeterProvider"
    )


def _approval_id(approval: Any) -> str | None:
    if approval is None:
        return None
    if isinstance(approval, str):
        return approval
    value = getattr(approval, "id", None)
    return None if value is None else str(value)


def _plain(value: Any) -> Any:
    """A redacted copy of arguments or a result as plain JSON data.

    Non-finite numbers become ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has no words
    for them); keys become text; other values JSON cannot hold, their ``repr``. The redaction
    has already cut off containers nested deeper than 100 levels (a cyclic one is).
    """
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, str | int | float):
        return value
    return repr(value)


def _arguments_text(arguments: Any, redaction: Redaction, secrets: tuple[str, ...]) -> str | None:
    """The arguments as JSON text, redacted by key and their secret values masked wherever
    else they show; ``None`` when they are not a JSON object.

    Redaction works by key: text that is not a JSON object (cut off, an array, a string,
    ``NaN``, which JSON has no word for) cannot be redacted, so it is never written.
    """
    if isinstance(arguments, bytes | bytearray):
        try:
            arguments = bytes(arguments).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            return None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        return None
    return _json(redaction.mask(_plain(redaction.redact(arguments)), secrets))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _content_text(value: Any, redaction: Redaction, secrets: tuple[str, ...]) -> str:
    """A result as text: redacted by key (as JSON) and its secret values masked."""
    if isinstance(value, str):
        return _encodable(str(redaction.mask(value, secrets)))
    return _json(redaction.mask(_plain(redaction.redact(value)), secrets))


def _json(value: Any) -> str:
    return _encodable(json.dumps(value, ensure_ascii=False))


def _encodable(text: str) -> str:
    """``text``, its lone surrogates (which no exporter can encode) as ``\\uXXXX`` escapes."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
