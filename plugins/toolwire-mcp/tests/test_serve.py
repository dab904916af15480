"""The demo pack served over MCP and driven by the official SDK client, over stdio and HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
import toolwire
import toolwire_mcp
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_helpers import SERVERS, served_config, serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from toolwire.testing import free_port
from toolwire_mcp._settings import OAuthSettings, ServeSettings

sys.path.insert(0, str(SERVERS))
import testing_pack

MODES = ["legacy", "auto"]  # 2025-11-25 (handshake) and 2026-07-28 (discover)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config serving the demo pack (delete_user is for admins) with two HTTP tokens."""
    tokens = '[plugins.mcp.serve.tokens]\nadmin = "TW_TEST_ADMIN"\nuser = "TW_TEST_USER"\n'
    return served_config(tmp_path, ["mcp", "demo"], tokens)


def _stdio(config: Path, role: str | None = None) -> StdioServerParameters:
    args = [str(SERVERS / "serve_host.py"), str(config), *([role] if role else [])]
    return StdioServerParameters(command=sys.executable, args=args, env=dict(os.environ))


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_stdio_lists_and_calls_through_the_pipeline(config: Path, mode: str) -> None:
    """Over stdio, in both protocol revisions: schemas, hints, output schema, results and errors."""
    async with Client(_stdio(config), mode=mode) as client:
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "delete_user" not in tools  # admins only; stdio serves the role given (none)
        weather = tools["get_weather"]
        assert weather.input_schema["properties"]["units"]["enum"] == ["celsius", "fahrenheit"]
        assert weather.input_schema["additionalProperties"] is False
        assert weather.annotations is not None and weather.annotations.read_only_hint is True
        assert weather.output_schema is not None and weather.output_schema["type"] == "object"
        listed = tools["search_products"].output_schema  # a list, wrapped as MCP requires
        assert listed is not None and listed["required"] == ["result"]

        result = await client.call_tool("get_weather", {"location": "Paris"})
        assert not result.is_error and result.structured_content is not None
        assert json.loads(result.content[0].text) == result.structured_content

        refused = await client.call_tool("get_weather", {"city": "Paris"})
        assert refused.is_error
        error = json.loads(refused.content[0].text)
        assert error["error"] == "invalid_arguments" and "city" in error["message"]

        failed = await client.call_tool("get_weather", {"location": " "})
        assert failed.is_error and json.loads(failed.content[0].text) == {
            "error": "execution_error",
            "message": "location must not be empty",
            "retryable": False,
        }

        with pytest.raises(MCPError) as unknown:
            await client.call_tool("get_wether", {"location": "Paris"})
        assert unknown.value.error.code == types.INVALID_PARAMS
        assert "get_weather" in unknown.value.error.message


@pytest.mark.slow
def test_stdio_stdout_carries_nothing_but_protocol(config: Path) -> None:
    """A tool that prints, logs and writes to fd 1 puts nothing on stdout but JSON-RPC."""
    process = subprocess.Popen(
        [sys.executable, str(SERVERS / "serve_host.py"), str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "chatty", "arguments": {}}},
    ]  # fmt: skip
    stdin = "".join(json.dumps(m) + "\n" for m in messages).encode()
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(stdin)
    process.stdin.flush()
    lines = []
    while len(lines) < 2:
        line = process.stdout.readline()
        assert line, "the server closed stdout early"
        lines.append(json.loads(line))  # every line is JSON: nothing else got in
    process.stdin.close()
    process.stdin = None  # closed: communicate() only reads what is left
    out, err = process.communicate(timeout=30)
    assert out.strip() == b""
    assert lines[1]["result"]["content"][0]["text"] == "quiet"
    for noise in (
        b"printed by a tool",
        b"written to sys.stdout",
        b"written to fd 1",
        b"logged by a tool",
    ):
        assert noise in err


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_stdio_progress_and_cancellation(config: Path, tmp_path: Path, mode: str) -> None:
    """Progress reaches a client that asked for it; a cancelled call is cancelled in the tool and
    the server goes on serving."""
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(_stdio(config), mode=mode) as client:
        result = await client.call_tool("count", {"n": 3}, progress_callback=on_progress)
        assert result.content[0].text == "counted to 3"
        assert seen == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]
        seen.clear()
        result = await client.call_tool(
            "report_and_return", {"n": 2}, progress_callback=on_progress
        )
        assert seen == [(1.0, 2.0, "step 1"), (2.0, 2.0, "step 2")]

        await _cancelled_while_running(client, tmp_path / "marker")
        again = await client.call_tool("get_weather", {"location": "Oslo"})
        assert not again.is_error


async def _cancelled_while_running(client: Client, marker: Path) -> None:
    """A ``wait`` call cancelled once its tool runs: the tool sees the cancellation."""
    call = asyncio.ensure_future(client.call_tool("wait", {"seconds": 60, "marker": str(marker)}))
    assert await _until(lambda: marker.exists())
    call.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await call
    assert await _until(lambda: marker.read_text() == "cancelled")


async def _until(check: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.05)
    return bool(check())


@contextlib.asynccontextmanager
async def http_client(url: str, token: str | None, mode: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        yield client


@pytest.fixture
def demo_dispatcher(config: Path) -> Iterator[toolwire.Dispatcher]:
    """The served dispatcher: the demo pack and the testing pack."""
    dispatcher = toolwire.Dispatcher.from_config(config).add(testing_pack.pack)
    yield dispatcher
    dispatcher.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_http_roles_come_from_tokens(
    demo_dispatcher: toolwire.Dispatcher, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Two tokens give two roles and two tool lists; no token or a wrong one gets 401."""
    monkeypatch.setenv("TW_TEST_ADMIN", "admin-token-1")
    monkeypatch.setenv("TW_TEST_USER", "user-token-2")
    with serving(toolwire_mcp.asgi_app(demo_dispatcher)) as base:
        url = f"{base}/mcp"
        async with http_client(url, "admin-token-1", mode) as admin:
            names = {t.name for t in (await admin.list_tools()).tools}
            assert "delete_user" in names
            deleted = await admin.call_tool("delete_user", {"user_id": 7})
            assert deleted.structured_content == {"deleted": 7, "by": "admin"}
        async with http_client(url, "user-token-2", mode) as user:
            assert "delete_user" not in {t.name for t in (await user.list_tools()).tools}
            with pytest.raises(MCPError) as refused:
                await user.call_tool("delete_user", {"user_id": 7})
            assert refused.value.error.code == types.INVALID_PARAMS
        async with httpx2.AsyncClient() as raw:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
            for headers in ({}, {"Authorization": "Bearer admin-token-X"}):
                answer = await raw.post(url, json=body, headers=headers)
                assert answer.status_code == 401
                assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.slow
async def test_http_anonymous_role_and_cancellation(
    demo_dispatcher: toolwire.Dispatcher, tmp_path: Path
) -> None:
    """With an anonymous role named, a caller without a token gets that role; closing the stream of
    a call cancels it in the tool."""
    app = toolwire_mcp.asgi_app(demo_dispatcher, settings=ServeSettings(anonymous_role="guest"))
    with serving(app) as base:
        async with http_client(f"{base}/mcp", None, "auto") as guest:
            assert "delete_user" not in {t.name for t in (await guest.list_tools()).tools}
            await _cancelled_while_running(guest, tmp_path / "marker")
            assert not (await guest.call_tool("get_weather", {"location": "Rome"})).is_error


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_http_progress_reaches_the_client_before_the_result(
    demo_dispatcher: toolwire.Dispatcher, mode: str
) -> None:
    """Over HTTP, in both revisions (a sessionless 2026-07-28 call is answered through the
    SDK's JSON mode), a call's progress reaches the client that asked for it, in order."""
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    app = toolwire_mcp.asgi_app(demo_dispatcher, settings=ServeSettings(anonymous_role="guest"))
    with serving(app) as base:
        async with http_client(f"{base}/mcp", None, mode) as guest:
            result = await guest.call_tool("count", {"n": 3}, progress_callback=on_progress)
            assert result.content[0].text == "counted to 3"
            assert seen == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]
            seen.clear()  # reports made with no await after them, the last just before the end
            result = await guest.call_tool(
                "report_and_return", {"n": 3}, progress_callback=on_progress
            )
            assert result.content[0].text == "reported 3"
            assert seen == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]
            quiet = await guest.call_tool("count", {"n": 2})  # no token asked: no event
            assert quiet.content[0].text == "counted to 2"


def _sessionless_call(name: str, arguments: dict[str, Any], progress: bool = False) -> Any:
    """A 2026-07-28 ``tools/call`` as its body and headers, a progress token asked if told."""
    meta: dict[str, Any] = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    if progress:
        meta["progressToken"] = "p-1"
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": meta},
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
    }
    return body, headers


def _events(text: str) -> list[Any]:
    """The JSON of each ``message`` event of an event stream, in order."""
    return [
        json.loads(line[len("data: ") :])
        for line in text.replace("\r\n", "\n").split("\n")
        if line.startswith("data: ")
    ]


@pytest.mark.slow
async def test_http_a_long_sessionless_call_becomes_a_stream_that_pings(
    demo_dispatcher: toolwire.Dispatcher, tmp_path: Path
) -> None:
    """A sessionless call that ends within ``sse_ping_interval`` is answered as JSON; one
    that runs longer is answered as an event stream, pinged every interval, its result the
    stream's last event; a progress report commits the stream at once; a client that accepts
    no stream is refused (406), as by the SDK's own server."""
    settings = ServeSettings(anonymous_role="guest", sse_ping_interval=0.3)
    with serving(toolwire_mcp.asgi_app(demo_dispatcher, settings=settings)) as base:
        url = f"{base}/mcp"
        async with httpx2.AsyncClient(timeout=30.0) as raw:
            body, headers = _sessionless_call("get_weather", {"location": "Oslo"})
            quick = await raw.post(url, json=body, headers=headers)
            assert quick.headers["content-type"] == "application/json"
            assert quick.json()["result"]["isError"] is False

            arguments = {"seconds": 1.2, "marker": str(tmp_path / "marker")}
            body, headers = _sessionless_call("wait", arguments)
            json_only = {**headers, "Accept": "application/json"}  # could not read a stream
            refused = await raw.post(url, json=body, headers=json_only)
            assert refused.status_code == 406  # as the SDK's own server answers it
            long = await raw.post(url, json=body, headers=headers)
            assert long.status_code == 200
            assert long.headers["content-type"] == "text/event-stream"
            assert long.text.count(": ping") >= 3, long.text
            (answer,) = _events(long.text)
            assert answer["id"] == 7
            assert answer["result"]["content"][0]["text"] == "waited"

            body, headers = _sessionless_call("count", {"n": 2}, progress=True)
            counted = await raw.post(url, json=body, headers=headers)
            assert counted.headers["content-type"] == "text/event-stream"
            *reports, answer = _events(counted.text)
            assert [r["params"] for r in reports] == [
                {"progressToken": "p-1", "progress": 1.0, "total": 2.0, "message": "step 1"},
                {"progressToken": "p-1", "progress": 2.0, "total": 2.0, "message": "step 2"},
            ]
            assert answer["result"]["content"][0]["text"] == "counted to 2"


@pytest.mark.slow
async def test_http_a_sessionless_client_that_leaves_cancels_its_call(
    demo_dispatcher: toolwire.Dispatcher, tmp_path: Path
) -> None:
    """A client that hangs up on a sessionless call, before the answer is a stream or after,
    has its call cancelled in the tool, and the server goes on serving."""
    settings = ServeSettings(anonymous_role="guest", sse_ping_interval=0.5)
    with serving(toolwire_mcp.asgi_app(demo_dispatcher, settings=settings)) as base:
        url = f"{base}/mcp"
        for hang_up_after in (0.0, 1.0):  # before the stream commits, and once it pinged
            marker = tmp_path / f"marker-{hang_up_after}"
            body, headers = _sessionless_call("wait", {"seconds": 60, "marker": str(marker)})
            async with httpx2.AsyncClient(timeout=30.0) as raw:
                call = asyncio.ensure_future(raw.post(f"{url}", json=body, headers=headers))
                assert await _until(lambda m=marker: m.exists())  # type: ignore[misc]
                await asyncio.sleep(hang_up_after)
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await call
            assert await _until(lambda m=marker: m.read_text() == "cancelled")  # type: ignore[misc]
        async with http_client(url, None, "auto") as guest:
            assert not (await guest.call_tool("get_weather", {"location": "Rome"})).is_error


@pytest.mark.slow
async def test_http_a_sessionless_client_gone_before_its_body_is_in_logs_nothing(
    demo_dispatcher: toolwire.Dispatcher,
) -> None:
    """A client that sends half its body and hangs up is nobody to answer: no error, no
    traceback in the server's log, and the server goes on serving."""
    seen: list[logging.LogRecord] = []
    catcher = logging.Handler(logging.WARNING)
    catcher.emit = seen.append  # type: ignore[method-assign]
    server_log = logging.getLogger("uvicorn.error")
    app = toolwire_mcp.asgi_app(demo_dispatcher, settings=ServeSettings(anonymous_role="guest"))
    try:
        with serving(app) as base:
            server_log.addHandler(catcher)  # once uvicorn has set its logging up
            body, headers = _sessionless_call("get_weather", {"location": "Oslo"})
            raw = json.dumps(body).encode()
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            request = (
                f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
                f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
            ).encode()
            port = int(base.rsplit(":", 1)[1])
            for _ in range(3):
                with socket.create_connection(("127.0.0.1", port)) as client:
                    client.sendall(request + raw[: len(raw) // 2])
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            async with http_client(f"{base}/mcp", None, "auto") as guest:
                assert not (await guest.call_tool("get_weather", {"location": "Rome"})).is_error
    finally:
        server_log.removeHandler(catcher)
    assert [record.getMessage() for record in seen] == []


def test_http_without_any_way_in_refuses_to_start(demo_dispatcher: toolwire.Dispatcher) -> None:
    """No tokens, no OAuth and no anonymous role: nobody could call, so nothing starts."""
    with pytest.raises(toolwire.ConfigError, match="anonymous_role"):
        toolwire_mcp.asgi_app(demo_dispatcher, settings=ServeSettings())
    with pytest.raises(toolwire.ConfigError, match="TW_NOT_SET"):
        toolwire_mcp.asgi_app(
            demo_dispatcher, settings=ServeSettings(tokens={"admin": "TW_NOT_SET"})
        )


@pytest.mark.slow
async def test_http_oauth_resource_server(demo_dispatcher: toolwire.Dispatcher) -> None:
    """OAuth: tokens checked by introspection, the role from the token's scopes, the protected
    resource metadata served, 401 naming it."""
    tokens = {
        "tok-admin": {
            "active": True,
            "scope": "tools.admin tools.use",
            "sub": "ada",
            "client_id": "c1",
        },
        "tok-user": {"active": True, "scope": "tools.use", "sub": "bob", "client_id": "c1"},
        "tok-none": {"active": True, "scope": "profile", "sub": "eve", "client_id": "c1"},
        "tok-old": {"active": False},
    }

    async def introspect(request: Request) -> JSONResponse:
        form = await request.form()
        found = tokens.get(str(form.get("token")), {"active": False})
        return JSONResponse({**found, "aud": resource})  # issued for this server

    authority = Starlette(routes=[Route("/introspect", introspect, methods=["POST"])])
    with serving(authority) as issuer:
        port = free_port()
        resource = f"http://127.0.0.1:{port}/mcp"
        oauth = OAuthSettings(
            issuer=issuer,
            resource=resource,
            introspection_endpoint=f"{issuer}/introspect",
            scopes={"tools.admin": "admin", "tools.use": "user"},
        )
        app = toolwire_mcp.asgi_app(demo_dispatcher, settings=ServeSettings(oauth=oauth))
        with serving(app, port):
            async with http_client(resource, "tok-admin", "auto") as admin:
                assert "delete_user" in {t.name for t in (await admin.list_tools()).tools}
            async with http_client(resource, "tok-user", "auto") as user:
                assert "delete_user" not in {t.name for t in (await user.list_tools()).tools}
            async with httpx2.AsyncClient() as raw:
                metadata = (
                    await raw.get(
                        f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"
                    )
                ).json()
                assert metadata["resource"] == resource and metadata["authorization_servers"][
                    0
                ].startswith(issuer)
                body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
                for token, status in (("tok-old", 401), ("tok-none", 403), (None, 401)):
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    answer = await raw.post(resource, json=body, headers=headers)
                    assert answer.status_code == status
                    assert "resource_metadata=" in answer.headers["www-authenticate"]


async def test_roles_from_a_claim_or_from_scopes() -> None:
    """role_from reads a named claim first, then the first listed scope the token carries."""
    from mcp.server.auth.provider import AccessToken

    token = AccessToken(token="t", client_id="c", scopes=["read", "write"], claims={"team": "ops"})
    assert toolwire_mcp.role_from("team")(token) == "ops"
    assert toolwire_mcp.role_from(scopes={"write": "editor", "read": "reader"})(token) == "editor"
    assert toolwire_mcp.role_from("missing", {"admin": "admin"})(token) is None


async def test_static_tokens_match_only_their_role() -> None:
    """A static token verifies as its own role; any other string verifies as nobody."""
    tokens = toolwire_mcp.StaticTokens({"admin": "a" * 32, "user": "b" * 32})
    admin = await tokens.verify_token("a" * 32)
    assert admin is not None and admin.claims == {"toolwire_role": "admin"}
    for wrong in ("a" * 31, "a" * 33, "", "b" * 31 + "a"):
        assert await tokens.verify_token(wrong) is None


@pytest.mark.slow
def test_a_served_dispatcher_loads_as_a_remote_pack(
    demo_dispatcher: toolwire.Dispatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamable HTTP server loads from url and headers (${VAR} expanded): here toolwire's own,
    so the admin token's tools arrive as the pack mcp.remote and answer through both pipelines."""
    monkeypatch.setenv("TW_TEST_ADMIN", "admin-token-9")
    monkeypatch.setenv("TW_TEST_USER", "user-token-9")
    monkeypatch.setenv("TW_REMOTE_TOKEN", "admin-token-9")
    with serving(toolwire_mcp.asgi_app(demo_dispatcher)) as base:
        config = tmp_path / "loader.toml"
        config.write_text(
            '[plugins]\nautoload = false\nenable = ["mcp"]\n'
            f'[plugins.mcp.servers.remote]\nurl = "{base}/mcp"\n'
            'headers = { Authorization = "Bearer ${TW_REMOTE_TOKEN}" }\n'
        )
        with toolwire.Dispatcher.from_config(config) as loader:
            names = {t.name for t in loader.tools()}
            assert {"remote_delete_user", "remote_get_weather"} <= names
            deleted = loader.dispatch_sync("remote_delete_user", {"user_id": 5})
            assert deleted.result == {"deleted": 5, "by": "admin"}
            refused = loader.dispatch_sync("remote_get_weather", {"location": " "})
            assert refused.error is not None and refused.error.kind == "execution_error"
            assert json.loads(refused.error.message)["message"] == "location must not be empty"


REMOTE_PARENT = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_a_client_s_meta_traceparent_is_the_parent_of_the_call_span(
    demo_dispatcher: toolwire.Dispatcher, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """``_meta.traceparent`` on ``tools/call`` makes the caller's span the parent of the
    ``execute_tool`` span, and the tool runs under that span."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from toolwire_otel import OtelPlugin

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    demo_dispatcher.add(OtelPlugin(tracer_provider=provider), name="traces")
    monkeypatch.setenv("TW_TEST_ADMIN", "admin-token-1")
    monkeypatch.setenv("TW_TEST_USER", "user-token-2")
    trace_id, parent_id = REMOTE_PARENT
    with serving(toolwire_mcp.asgi_app(demo_dispatcher)) as base:
        async with http_client(f"{base}/mcp", "admin-token-1", mode) as client:
            meta: Any = {"traceparent": f"00-{trace_id}-{parent_id}-01", "baggage": "k=v"}
            result = await client.call_tool("traced", {}, meta=meta)
    provider.shutdown()
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "execute_tool traced"]
    assert span.parent is not None and span.parent.is_remote
    assert (f"{span.context.trace_id:032x}", f"{span.parent.span_id:016x}") == REMOTE_PARENT
    assert result.structured_content is not None
    _version, seen_trace, seen_parent, _flags = result.structured_content["traceparent"].split("-")
    assert (seen_trace, seen_parent) == (trace_id, f"{span.context.span_id:016x}")
    assert result.structured_content["baggage"] == "k=v"


@pytest.mark.slow
@pytest.mark.parametrize("sync", [False, True], ids=["dispatch", "dispatch_sync"])
async def test_a_loaded_server_s_tool_runs_under_the_call_s_trace(
    config: Path, tmp_path: Path, sync: bool
) -> None:
    """A call to a loaded MCP server sends the current trace context as ``_meta.traceparent``:
    here the server is toolwire's own, over stdio, and its tool reports the context it ran
    under. No span current, no context sent."""
    from opentelemetry.sdk.trace import TracerProvider

    loader_config = tmp_path / "loader.toml"
    args = [str(SERVERS / "serve_host.py"), str(config)]
    loader_config.write_text(
        '[plugins]\nautoload = false\nenable = ["mcp"]\n'
        f"[plugins.mcp.servers.hop]\ncommand = {json.dumps(sys.executable)}\n"
        f"args = {json.dumps(args)}\n"
    )
    tracer = TracerProvider().get_tracer("host")
    with toolwire.Dispatcher.from_config(loader_config) as loader:

        async def call() -> toolwire.DispatchResult:
            if sync:
                return await asyncio.to_thread(loader.dispatch_sync, "hop_traced")
            return await loader.dispatch("hop_traced")

        assert (await call()).result == {}
        with tracer.start_as_current_span("agent turn") as span:
            result = await call()
    assert result.success, result.output
    context = span.get_span_context()
    _version, trace_id, parent_id, _flags = result.result["traceparent"].split("-")
    assert (trace_id, parent_id) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")
