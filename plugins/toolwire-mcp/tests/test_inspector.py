"""``toolwire mcp serve`` driven by the MCP Inspector's command-line mode, over stdio and HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp_helpers import served_config, wait_until
from toolwire.testing import free_port

TOOLWIRE = [sys.executable, "-m", "toolwire.cli", "mcp", "serve"]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The demo pack, and a token per role for HTTP."""
    tokens = '[plugins.mcp.serve.tokens]\nadmin = "TW_INSPECT_ADMIN"\nuser = "TW_INSPECT_USER"\n'
    return served_config(tmp_path, ["mcp", "demo"], tokens)


def inspect(npm_bin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(npm_bin / "mcp-inspector"), "--cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_inspector_over_stdio(npm_bin: Path, config: Path) -> None:
    """The Inspector lists the demo tools and calls one, and sees a toolwire error as isError."""
    server = ["-e", f"TOOLWIRE_CONFIG={config}", *TOOLWIRE]
    listed = inspect(npm_bin, *server, "--method", "tools/list")
    assert listed.returncode == 0, listed.stderr
    tools = {t["name"]: t for t in json.loads(listed.stdout)["tools"]}
    assert set(tools) == {"get_weather", "search_database", "search_products"}
    assert tools["get_weather"]["annotations"] == {"readOnlyHint": True, "openWorldHint": False}

    called = inspect(
        npm_bin, *server, "--method", "tools/call", "--tool-name", "get_weather",
        "--tool-arg", "location=Paris",
    )  # fmt: skip
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)
    assert result["isError"] is False and result["structuredContent"]["location"] == "Paris"

    failed = inspect(
        npm_bin, *server, "--method", "tools/call", "--tool-name", "get_weather",
        "--tool-arg", "location= ",
    )  # fmt: skip
    assert failed.returncode != 0
    answer = json.loads(failed.stdout.split("\n}\n")[0] + "\n}")
    assert answer["isError"] is True
    assert json.loads(answer["content"][0]["text"])["error"] == "execution_error"


@pytest.fixture
def http_server(config: Path) -> Iterator[str]:
    """``toolwire mcp serve --transport http`` on a free loopback port; its endpoint URL."""
    port = free_port()
    env = {**os.environ, "TW_INSPECT_ADMIN": "adm-77", "TW_INSPECT_USER": "usr-88"}
    process = subprocess.Popen(
        [*TOOLWIRE, "--transport", "http", "--port", str(port), "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"

    def answers() -> bool:
        try:
            return httpx2.post(url, json={}).status_code == 401
        except httpx2.HTTPError:
            return False

    try:
        assert wait_until(answers, 30), "toolwire mcp serve did not start"
        yield url
    finally:
        process.terminate()
        process.wait(20)


@pytest.mark.slow
def test_inspector_over_http_sees_its_role_only(npm_bin: Path, http_server: str) -> None:
    """Over HTTP, the admin token lists delete_user, the user token does not, no token is refused."""
    lists = {}
    for who, token in (("admin", "adm-77"), ("user", "usr-88")):
        done = inspect(
            npm_bin, http_server, "--transport", "http", "--header",
            f"Authorization: Bearer {token}", "--method", "tools/list",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        lists[who] = {t["name"] for t in json.loads(done.stdout)["tools"]}
    assert "delete_user" in lists["admin"]
    assert "delete_user" not in lists["user"] and "get_weather" in lists["user"]
    refused = inspect(
        npm_bin, http_server, "--transport", "http", "--stored-auth-only", "--method", "tools/list"
    )
    assert refused.returncode != 0
    assert json.loads(refused.stderr or refused.stdout)["error"]["code"] == "auth_required"
