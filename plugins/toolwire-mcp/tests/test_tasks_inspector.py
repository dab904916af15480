"""MCP tasks of ``toolwire mcp serve`` driven by the MCP Inspector's connection CLI (``mcpdo``,
shipped in the Inspector's package), over stdio: a task-augmented call, then tasks/get and
tasks/result on the same connection."""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from mcp_helpers import served_config, wait_until

TOOLWIRE = [sys.executable, "-m", "toolwire.cli", "mcp", "serve"]


class Mcpdo:
    """``mcpdo`` with a daemon, catalog and home of the test's own."""

    def __init__(self, npm_bin: Path, home: Path) -> None:
        self.binary = str(npm_bin / "mcpdo")
        home.mkdir()
        self.env = {
            **os.environ,
            "HOME": str(home),
            "MCP_INSPECTOR_DAEMON_DIR": str(home / "daemon"),
            "MCP_INSPECTOR_DAEMON_TOKEN": secrets.token_urlsafe(24),
            "MCP_CATALOG_PATH": str(home / "catalog.json"),
            "MCP_INSPECTOR_SECRET_STORE": "memory",
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "--format", "json", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def stop(self) -> None:
        """Stop the daemon (and the servers it connected), and wait until it is gone."""
        status = subprocess.run(
            [self.binary, "daemon", "status"], env=self.env, capture_output=True, text=True
        )
        found = re.search(r"Daemon pid (\d+)", status.stdout)
        subprocess.run([self.binary, "daemon", "stop"], env=self.env, capture_output=True)
        if found is not None:
            pid = int(found.group(1))
            assert wait_until(lambda: not psutil.pid_exists(pid), 20), "mcpdo daemon left running"


@pytest.fixture
def mcpdo(npm_bin: Path, tmp_path: Path) -> Iterator[Mcpdo]:
    """The connection CLI, its daemon stopped after the test."""
    tool = Mcpdo(npm_bin, tmp_path / "home")
    try:
        yield tool
    finally:
        tool.stop()


@pytest.mark.slow
def test_inspector_calls_a_tool_as_a_task_and_reads_it(mcpdo: Mcpdo, tmp_path: Path) -> None:
    """mcpdo's ``tools/call --task`` gets a task from ``toolwire mcp serve`` and its result;
    ``tasks/get`` reads it completed and ``tasks/result`` gives the result again; a forged task
    id is an unknown task."""
    config = served_config(
        tmp_path,
        ["mcp", "remote"],
        '[approvals]\nstore = "sqlite:///approvals.sqlite3"\n[tools.add]\ntask = true\n',
    )
    connected = mcpdo.run(
        "connect", "-e", f"TOOLWIRE_CONFIG={config}", "--", *TOOLWIRE
    )  # fmt: skip
    assert connected.returncode == 0, connected.stderr
    name = json.loads(connected.stdout)["name"]
    on = ("--connection", name)

    called = mcpdo.run(*on, "tools/call", "add", "a:=20", "b:=22", "--task")
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)
    assert result["structuredContent"] == {"result": 42}
    task_id = result["_meta"]["io.modelcontextprotocol/related-task"]["taskId"]
    with sqlite3.connect(tmp_path / "approvals.sqlite3") as db:
        assert db.execute("SELECT status FROM mcp_tasks WHERE id = ?", (task_id,)).fetchone() == (
            "completed",
        )

    got = mcpdo.run(*on, "tasks/get", task_id)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["task"]["raw"]["status"] == "completed"
    again = mcpdo.run(*on, "tasks/result", task_id)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["structuredContent"] == {"result": 42}
    forged = mcpdo.run(*on, "tasks/get", "A" * 32)
    assert forged.returncode != 0
    assert "Unknown task" in forged.stderr + forged.stdout


@pytest.mark.slow
def test_inspector_one_shot_cli_has_no_tasks(npm_bin: Path, tmp_path: Path) -> None:
    """The Inspector's one-shot ``--cli`` mode (2.12.0) refuses tasks/get, and its tools/call of
    a tool offered as an optional task is a plain call: no task is recorded."""
    config = served_config(
        tmp_path,
        ["mcp", "remote"],
        '[approvals]\nstore = "sqlite:///approvals.sqlite3"\n[tools.add]\ntask = true\n',
    )
    server = ["-e", f"TOOLWIRE_CONFIG={config}", *TOOLWIRE]
    inspector = [str(npm_bin / "mcp-inspector"), "--cli"]
    env = {**os.environ, "HOME": str(tmp_path), "MCP_INSPECTOR_SECRET_STORE": "memory"}

    def inspect(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*inspector, *args], env=env, capture_output=True, text=True, timeout=120
        )

    refused = inspect(*server, "--method", "tasks/get")
    assert refused.returncode != 0
    assert "Unsupported method: tasks/get" in refused.stdout + refused.stderr
    called = inspect(
        "--task", "--method", "tools/call", "--tool-name", "add", "--tool-arg", "a=1", "b=2",
        *server,
    )  # fmt: skip
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout)["structuredContent"] == {"result": 3}
    with sqlite3.connect(tmp_path / "approvals.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM mcp_tasks").fetchone() == (0,)
