"""MCP tasks on the wire: the status notification reaching the official client (stdio and
streamable HTTP), and which protocol revisions have tasks (only 2025-11-25)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import httpx2
import mcp_types as types
import pytest
import toolwire
import toolwire_mcp
from mcp import Client, StdioServerParameters
from mcp.client._memory import InMemoryTransport
from mcp.client.extension import ClientExtension, NotificationBinding
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_helpers import SERVERS, serving
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from toolwire_mcp import _tasks
from toolwire_mcp._settings import ServeSettings

STATUS = "notifications/tasks/status"


class RawCall(types.Request[dict[str, Any], Literal["tools/call"]]):
    """A tools/call whose params go out as written, checked by nobody but the server."""

    method: Literal["tools/call"] = "tools/call"
    params: dict[str, Any]


class StatusWatch(ClientExtension):
    """How the SDK's client hears a notification its core tables leave out: a binding."""

    identifier = "dev.toolwire.tests/task-status"

    def __init__(self) -> None:
        self.heard: list[types.TaskStatusNotificationParams] = []

    def notifications(self) -> list[NotificationBinding[Any]]:
        async def heard(params: types.TaskStatusNotificationParams) -> None:
            self.heard.append(params)

        return [
            NotificationBinding(
                method=STATUS, params_type=types.TaskStatusNotificationParams, handler=heard
            )
        ]


def _pack() -> toolwire.Toolset:
    pack = toolwire.Toolset("long")

    @pack.tool(task=True)
    async def slow_sum(a: int, b: int, pause: float = 0.0) -> int:
        """Add two numbers, after a pause."""
        await asyncio.sleep(pause)
        return a + b

    return pack


def _dispatcher() -> toolwire.Dispatcher:
    return toolwire.Dispatcher(
        {"plugins": {"autoload": False}, "approvals": {"store": "memory://"}}
    ).add(_pack())


def _task_call(arguments: dict[str, Any]) -> types.CallToolRequest:
    return types.CallToolRequest(
        params=types.CallToolRequestParams(
            name="slow_sum", arguments=arguments, task=types.TaskMetadata(ttl=60_000)
        )
    )


async def _heard(watch: StatusWatch, status: str) -> types.TaskStatusNotificationParams:
    async with asyncio.timeout(20):
        while not any(n.status == status for n in watch.heard):
            await asyncio.sleep(0.02)
    return next(n for n in watch.heard if n.status == status)


@asynccontextmanager
async def _connected(transport: str, tmp_path: Path, **options: Any) -> AsyncIterator[Client]:
    """The official client on a task server over ``transport`` (a real process over stdio, a
    real HTTP server on a loopback port)."""
    if transport == "stdio":
        config = tmp_path / "toolwire.toml"
        config.write_text(
            '[plugins]\nautoload = false\n[approvals]\nstore = "sqlite:///approvals.sqlite3"\n'
        )
        server = StdioServerParameters(
            command=sys.executable,
            args=[str(SERVERS / "tasks_host.py"), str(config)],
            env=dict(os.environ),
        )
        async with Client(server, mode="legacy", **options) as client:
            yield client
        return
    dispatcher = _dispatcher()
    app = toolwire_mcp.asgi_app(dispatcher, settings=ServeSettings(anonymous_role="guest"))
    try:
        with serving(app) as base:
            http = httpx2.AsyncClient(timeout=httpx2.Timeout(30.0))
            async with (
                http,
                Client(
                    streamable_http_client(f"{base}/mcp", http_client=http),
                    mode="legacy",
                    **options,
                ) as client,
            ):
                yield client
    finally:
        dispatcher.close()


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_terminal_status_notification_reaches_the_official_client(
    transport: str, tmp_path: Path
) -> None:
    """When a task ends, the client that created it hears notifications/tasks/status (completed,
    its id) through a notification binding of the SDK's client; its message_handler does not
    (the SDK's 2025-11-25 tables leave the method out), which is why the binding is needed."""
    watch = StatusWatch()
    raw: list[Any] = []

    async def message_handler(message: Any) -> None:
        raw.append(message)

    async with _connected(
        transport, tmp_path, extensions=[watch], message_handler=message_handler
    ) as client:
        created = await client.session.send_request(
            _task_call({"a": 1, "b": 2, "pause": 0.2}), types.CreateTaskResult
        )
        heard = await _heard(watch, "completed")
        assert heard.task_id == created.task.task_id
    assert not any(getattr(m, "method", None) == STATUS for m in raw)


async def test_cancel_is_heard_as_a_cancelled_status() -> None:
    """A tasks/cancel ends the task and the client hears it as a cancelled status notification."""
    watch = StatusWatch()
    dispatcher = _dispatcher()
    async with Client(toolwire_mcp.server(dispatcher), mode="legacy", extensions=[watch]) as client:
        created = await client.session.send_request(
            _task_call({"a": 1, "b": 2, "pause": 3600}), types.CreateTaskResult
        )
        await client.session.send_request(
            types.CancelTaskRequest(
                params=types.CancelTaskRequestParams(task_id=created.task.task_id)
            ),
            types.CancelTaskResult,
        )
        heard = await _heard(watch, "cancelled")
        assert heard.task_id == created.task.task_id
    dispatcher.close()


async def _plain_everywhere(session: ClientSession) -> None:
    """On a revision without tasks: no tool is listed with task support, a call carrying
    params.task is a plain call, and tasks/get is a method this server does not have."""
    listed = await session.send_request(types.ListToolsRequest(), types.ListToolsResult)
    assert listed.tools and all(tool.execution is None for tool in listed.tools)
    result = await session.send_request(_task_call({"a": 1, "b": 2}), types.CallToolResult)
    assert not result.is_error and result.content[0].text == "3"  # type: ignore[union-attr]
    with pytest.raises(MCPError) as missing:
        await session.send_request(
            types.GetTaskRequest(params=types.GetTaskRequestParams(task_id="A" * 32)),
            types.GetTaskResult,
        )
    assert missing.value.error.code == types.METHOD_NOT_FOUND


@pytest.mark.parametrize(
    "revision", [v for v in HANDSHAKE_PROTOCOL_VERSIONS if v not in _tasks.REVISIONS]
)
async def test_older_handshake_revision_gets_plain_calls(revision: str) -> None:
    """A client that settles on a handshake revision before 2025-11-25 is offered no tasks and
    its call of a task tool is a plain call, even if it sends params.task."""
    dispatcher = _dispatcher()
    async with (
        InMemoryTransport(toolwire_mcp.server(dispatcher)) as (read, write),
        ClientSession(read, write) as session,
    ):
        init = await session.send_request(
            types.InitializeRequest(
                params=types.InitializeRequestParams(
                    protocol_version=revision,
                    capabilities=types.ClientCapabilities(),
                    client_info=types.Implementation(name="pinned", version="1"),
                )
            ),
            types.InitializeResult,
        )
        assert init.protocol_version == revision
        assert init.capabilities.tasks is None
        session.adopt(init)
        await session.send_notification(types.InitializedNotification())
        await _plain_everywhere(session)
    dispatcher.close()


@pytest.mark.parametrize("revision", list(MODERN_PROTOCOL_VERSIONS))
async def test_modern_revision_gets_plain_calls(revision: str) -> None:
    """A client pinned to 2026-07-28 (tasks left the core protocol there) is offered no tasks
    and its call of a task tool is a plain call, even if it sends params.task."""
    dispatcher = _dispatcher()
    async with Client(toolwire_mcp.server(dispatcher), mode=revision) as client:  # type: ignore[arg-type]
        assert client.session.protocol_version == revision
        assert client.server_capabilities.tasks is None
        await _plain_everywhere(client.session)
    dispatcher.close()


async def test_2025_11_25_client_gets_a_task_and_a_bad_task_field_is_refused() -> None:
    """A client pinned to 2025-11-25 is offered tasks and gets one; a params.task that is not
    task metadata is an invalid-params error, not a crash or a silent plain call."""
    dispatcher = _dispatcher()
    async with Client(toolwire_mcp.server(dispatcher), mode="legacy") as client:
        assert client.session.protocol_version == "2025-11-25"
        assert client.server_capabilities.tasks is not None
        created = await client.session.send_request(
            _task_call({"a": 1, "b": 2}), types.CreateTaskResult
        )
        assert created.task.status == "working"
        bad = {"name": "slow_sum", "arguments": {"a": 1, "b": 2}, "task": {"ttl": "soon"}}
        with pytest.raises(MCPError) as refused:
            await client.session.send_request(RawCall(params=bad), types.CallToolResult)
        assert refused.value.error.code == types.INVALID_PARAMS
    dispatcher.close()
