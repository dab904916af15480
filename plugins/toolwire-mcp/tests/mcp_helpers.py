"""Helpers for toolwire-mcp's tests: config tables, the process table, SDK type checks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mcp_types as types
import psutil
import toolwire
from toolwire.testing import free_port
from toolwire.testing import sdk_validate as sdk_validate  # the tests import it from here

HERE = Path(__file__).parent
SERVERS = HERE / "servers"
REPO_ROOT = HERE.parent.parent.parent
#: Where the npm packages the tests drive are installed (``.ci/run`` installs them there too).
NPM_PREFIX = Path(os.environ.get("TOOLWIRE_MCP_NPM_PREFIX", REPO_ROOT / ".nox" / "npm-mcp"))
NPM_PACKAGES = {
    "@modelcontextprotocol/server-filesystem": "2026.8.31",
    "@modelcontextprotocol/inspector": "2.12.0",
    "@modelcontextprotocol/server-everything": "2026.8.31",
}

MakeDispatcher = Callable[..., toolwire.Dispatcher]


def toml_server(name: str, command: str, args: list[str], **extra: Any) -> str:
    """A ``[plugins.mcp.servers.NAME]`` table."""
    lines = [
        f"[plugins.mcp.servers.{name}]",
        f"command = {_toml(command)}",
        f"args = {_toml(args)}",
    ]
    lines += [f"{key} = {_toml(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def flaky(name: str = "flaky", *options: str, **extra: Any) -> str:
    """The misbehaving test server, as a config table."""
    return toml_server(name, sys.executable, [str(SERVERS / "flaky.py"), *options], **extra)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def children() -> set[int]:
    """The pids of every live descendant of this process (zombies excluded)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@contextlib.contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a loopback port (a free one unless ``port`` is given), in
    a thread; its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_until(lambda: server.started, 20)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def served_config(tmp_path: Path, plugins: list[str], extra: str = "") -> Path:
    """A ``toolwire.toml`` in ``tmp_path`` that enables only ``plugins``, then ``extra``."""
    path = tmp_path / "toolwire.toml"
    path.write_text(f"[plugins]\nautoload = false\nenable = {_toml(plugins)}\n{extra}")
    return path


# -- MCP tasks, as a client drives them (2025-11-25): the SDK's client has no task helper -----


async def call_as_task(client: Any, name: str, arguments: dict[str, Any]) -> types.Task:
    """``tools/call`` with ``params.task`` (a ttl of a minute): the task created."""
    created = await client.session.send_request(
        types.CallToolRequest(
            params=types.CallToolRequestParams(
                name=name, arguments=arguments, task=types.TaskMetadata(ttl=60_000)
            )
        ),
        types.CreateTaskResult,
    )
    return created.task


async def get_task(client: Any, task_id: str) -> types.GetTaskResult:
    """``tasks/get``."""
    return await client.session.send_request(
        types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task_id)),
        types.GetTaskResult,
    )


async def task_result(client: Any, task_id: str) -> types.CallToolResult:
    """``tasks/result``."""
    return await client.session.send_request(
        types.GetTaskPayloadRequest(params=types.GetTaskPayloadRequestParams(task_id=task_id)),
        types.CallToolResult,
    )


async def poll_task(client: Any, task_id: str, timeout: float = 30.0) -> types.GetTaskResult:
    """``tasks/get`` until the task is no longer working (at most ``timeout`` seconds)."""
    async with asyncio.timeout(timeout):
        while (task := await get_task(client, task_id)).status == "working":
            await asyncio.sleep(0.05)
    return task


# -- toolwire mcp serve over HTTP, as an operator starts it ------------------------------------


class ServedHttp:
    """A running ``toolwire mcp serve --transport http --port 0`` process: its endpoint (read
    from the line it writes to stderr when it listens) and what it wrote to stderr."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        assert wait_until(lambda: bool(self.lines) or process.poll() is not None, 60)
        found = re.search(r"on (http://\S+)", self.lines[0] if self.lines else "")
        if found is None:
            self.stop()
            raise AssertionError(f"toolwire mcp serve did not start: {self.lines}")
        self.url = found.group(1)
        self.port = int(self.url.split(":")[2].split("/")[0])

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self._reader.join(10)
        assert self.process.stderr is not None
        self.process.stderr.close()


# -- a pack whose deletions wait for a person -----------------------------------------------


def deletions_pack(ran: list[str]) -> toolwire.Toolset:
    """``delete_file(path, api_key="")`` and ``delete_dir(path)``; each notes what it deleted
    in ``ran``."""
    pack = toolwire.Toolset("files")

    @pack.tool
    def delete_file(path: str, context: toolwire.CallContext, api_key: str = "") -> str:
        """Delete a file."""
        ran.append(path)
        context.report_progress(1, 1, f"deleted {path}")
        return f"deleted {path}"

    @pack.tool
    def delete_dir(path: str) -> str:
        """Delete a directory."""
        ran.append(f"dir {path}")
        return f"deleted dir {path}"

    return pack


class DeletionsNeedAPerson:
    """Every ``delete_*`` call needs a person's approval."""

    @toolwire.hookimpl
    def toolwire_check_permission(self, call: Any, context: Any) -> Any:
        if call.name.startswith("delete_"):
            return toolwire.RequireApproval("deleting needs a person")
        return None
