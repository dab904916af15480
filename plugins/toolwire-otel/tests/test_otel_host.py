"""Living in a host: no SDK, the global SDK through the entry point, trace context across hops."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import toolwire
import toolwire_otel
from opentelemetry import trace
from toolwire.testing import run_process

if TYPE_CHECKING:
    from conftest import Telemetry

MakeDispatcher = Callable[..., toolwire.Dispatcher]


def test_without_an_sdk_no_tool_gets_middleware() -> None:
    """With no SDK configured by the host, a plain function still runs inline in the caller's thread: the plugin adds no layer."""
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider), (
        "a test set the global tracer provider; the no-SDK case cannot be checked"
    )
    pack = toolwire.Toolset("where")

    @pack.tool
    def where() -> int:
        """The thread the tool runs in."""
        return threading.get_ident()

    plugin = toolwire_otel.OtelPlugin()
    with toolwire.Dispatcher().add(pack).add(plugin, name="otel") as dispatcher:
        result = dispatcher.dispatch_sync("where", {})
        assert result.success and result.result == threading.get_ident()
        assert plugin.check_sdk() is False
        assert "otel" in {p.name for p in dispatcher.plugins() if p.status == "enabled"}


HOST = """
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import toolwire

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

pack = toolwire.Toolset("host-pack")


@pack.tool
def lookup(key: str) -> str:
    \"\"\"Look a key up.\"\"\"
    with trace.get_tracer("client").start_as_current_span("SELECT"):
        return key.upper()


dispatcher = toolwire.Dispatcher.from_config("toolwire.toml")
dispatcher.add(pack)
assert dispatcher.dispatch_sync("lookup", {"key": "a"}, call_id="k1").success
rows = {p.name: [p.status, p.distribution] for p in dispatcher.plugins()}
spans = {s.name: [s.context.span_id, s.parent.span_id if s.parent else None, dict(s.attributes)]
         for s in exporter.get_finished_spans()}
print(json.dumps({"rows": rows, "spans": spans}))
"""


@pytest.mark.slow
def test_loaded_through_its_entry_point_it_reports_to_the_global_sdk(tmp_path: Path) -> None:
    """Enabled by name in config, the installed plugin traces into the SDK the host set globally."""
    (tmp_path / "toolwire.toml").write_text(
        "[plugins]\nautoload = false\nenable = ['otel']\n\n[plugins.otel]\ncapture_content = true\n"
    )
    done = run_process([sys.executable, "-c", textwrap.dedent(HOST)], cwd=tmp_path, env=os.environ)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["rows"]["otel"] == ["enabled", "toolwire-otel"]
    call_id, _, attributes = report["spans"]["execute_tool lookup"]
    _, parent, _ = report["spans"]["SELECT"]
    assert parent == call_id
    assert attributes["gen_ai.tool.call.id"] == "k1"
    assert attributes["gen_ai.tool.call.arguments"] == '{"key": "a"}'
    assert attributes["gen_ai.tool.call.result"] == "A"


def test_inject_inside_a_tool_carries_the_call_span(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """inject() inside a tool writes a traceparent naming the call's span, for a worker or MCP server to continue."""
    pack = toolwire.Toolset("hop")

    @pack.tool
    def hand_off() -> dict[str, str]:
        """Hand the work to a remote worker."""
        return dict(toolwire_otel.inject())

    dispatcher = make(pack)
    carrier = dispatcher.dispatch_sync("hand_off", {}).result
    (span,) = telemetry.tool_spans()
    version, trace_id, span_id, flags = carrier["traceparent"].split("-")
    assert version == "00" and int(flags, 16) & 1  # W3C Trace Context, sampled
    assert int(trace_id, 16) == span.context.trace_id
    assert int(span_id, 16) == span.context.span_id


def test_attached_makes_a_remote_caller_the_parent(
    make: MakeDispatcher, telemetry: Telemetry
) -> None:
    """A call dispatched inside attached(carrier) gets the carrier's span as its parent, as MCP `_meta.traceparent` would."""
    pack = toolwire.Toolset("remote")

    @pack.tool
    def ping() -> str:
        """Answer pong."""
        return "pong"

    dispatcher = make(pack)
    client = telemetry.tracer_provider.get_tracer("mcp-client")
    with client.start_as_current_span("tools/call ping") as remote:
        meta = toolwire_otel.inject({"progressToken": 7})
    assert meta["progressToken"] == 7 and "traceparent" in meta

    async def serve() -> toolwire.DispatchResult:
        with toolwire_otel.attached(meta):
            return await dispatcher.dispatch("ping", {})

    assert asyncio.run(serve()).success
    (span,) = telemetry.tool_spans()
    assert span.parent is not None and span.parent.is_remote
    assert span.parent.span_id == remote.get_span_context().span_id
    assert span.context.trace_id == remote.get_span_context().trace_id


class Unreadable(dict[str, str]):
    """A carrier whose items cannot be read."""

    def items(self) -> Any:
        raise RuntimeError("the transport lost this header block")


MALFORMED = [
    None,
    {},
    {"traceparent": 7},
    {"traceparent": "garbage"},
    {7: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    7,
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    b"traceparent",
    ["traceparent"],
    object(),
    Unreadable(traceparent="x"),
]


@pytest.mark.parametrize("carrier", MALFORMED, ids=lambda c: type(c).__name__)
def test_extract_and_attached_never_raise_on_what_came_over_the_wire(
    carrier: object, telemetry: Telemetry
) -> None:
    """A missing, empty or malformed carrier (of any type) yields a context with no span, never an exception."""
    extracted = toolwire_otel.extract(carrier)
    assert not trace.get_current_span(extracted).get_span_context().is_valid
    host = telemetry.tracer_provider.get_tracer("host")
    with host.start_as_current_span("host"), toolwire_otel.attached(carrier) as attached:
        assert not trace.get_current_span().get_span_context().is_valid
        assert not trace.get_current_span(attached).get_span_context().is_valid
