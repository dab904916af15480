"""Fixtures: dispatchers built from config files, the process table, npm-installed MCP programs."""

from __future__ import annotations

import collections.abc
import functools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pydantic
import pytest
import toolwire

HERE = Path(__file__).parent
SERVERS = HERE / "servers"
REPO_ROOT = HERE.parent.parent.parent
#: Where the npm packages the tests drive are installed (``.ci/run`` installs them there too).
NPM_PREFIX = Path(os.environ.get("TOOLWIRE_MCP_NPM_PREFIX", REPO_ROOT / ".nox" / "npm-mcp"))
NPM_PACKAGES = {
    "@modelcontextprotocol/server-filesystem": "2026.8.31",
    "@modelcontextprotocol/inspector": "2.12.0",
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


@pytest.fixture
def make(tmp_path: Path) -> Iterator[MakeDispatcher]:
    """Build dispatchers from config text (only the ``mcp`` plugin and those named), closed after."""
    made: list[toolwire.Dispatcher] = []

    def build(
        toml: str = "", *, enable: tuple[str, ...] = (), strict: bool = False
    ) -> toolwire.Dispatcher:
        path = tmp_path / f"toolwire-{len(made)}.toml"
        plugins = ", ".join(_toml(p) for p in ("mcp", *enable))
        head = f"[plugins]\nautoload = false\nenable = [{plugins}]\nstrict = {_toml(strict)}\n"
        path.write_text(head + toml)
        dispatcher = toolwire.Dispatcher.from_config(path)
        made.append(dispatcher)
        return dispatcher

    yield build
    for dispatcher in made:
        dispatcher.close()


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


@pytest.fixture(autouse=True)
def no_child_left() -> Iterator[None]:
    """Every test leaves the process table as it found it: no MCP server outlives its test."""
    before = children()
    yield
    assert wait_until(lambda: not (children() - before), 15.0), (
        f"processes left behind: {sorted(children() - before)}"
    )


@pytest.fixture(scope="session")
def npm_bin() -> Path:
    """The ``node_modules/.bin`` with the npm packages installed (installed on first use)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("node and npm are needed for the npm MCP packages (apt-get install nodejs npm)")
    bin_dir = NPM_PREFIX / "node_modules" / ".bin"
    wanted = [f"{name}@{version}" for name, version in NPM_PACKAGES.items()]
    installed = all(
        (NPM_PREFIX / "node_modules" / name / "package.json").exists() for name in NPM_PACKAGES
    )
    if not installed:
        NPM_PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund", *wanted],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return bin_dir


@functools.cache
def _adapter(type_: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(list[type_], config=pydantic.ConfigDict(extra="forbid"))


def _exhaust(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _exhaust(v) for k, v in value.items()}
    if isinstance(value, str | bytes | pydantic.BaseModel):
        return value
    if isinstance(value, collections.abc.Iterable):
        return [_exhaust(v) for v in value]
    return value


def sdk_validate(type_: Any, value: Any) -> Any:
    """Validate against an SDK param type, unknown keys refused; raises ``ValidationError``."""
    return _exhaust(_adapter(type_).validate_python([value]))[0]
