"""Helpers for toolwire-mcp's tests: config tables, the process table, SDK type checks."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
