"""MCP servers nobody here wrote, loaded as tool packs from config and used in provider round trips."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest
from anthropic.types import MessageParam
from mcp_helpers import MakeDispatcher, sdk_validate, toml_server
from openai.types.responses import FunctionToolParam, ResponseInputParam
from toolwire.testing import build_response

#: ``mcp-server-time`` (PyPI) is a test dependency, installed beside this Python.
TIME_PROGRAM = (
    shutil.which("mcp-server-time", path=str(Path(sys.executable).parent)) or "mcp-server-time"
)
TIME = toml_server("time", TIME_PROGRAM, ["--local-timezone", "Europe/Paris"])


@pytest.fixture
def time_server() -> None:
    """The ``mcp-server-time`` program, which the test dependencies install."""
    if not Path(TIME_PROGRAM).exists():
        pytest.fail("mcp-server-time is not installed (pip install mcp-server-time)")


@pytest.mark.slow
@pytest.mark.usefixtures("time_server")
def test_time_server_is_a_pack_with_its_schemas(make: MakeDispatcher) -> None:
    """mcp-server-time becomes the plugin mcp.time, its tools prefixed, with the server's schemas."""
    dispatcher = make(TIME)
    row = next(p for p in dispatcher.plugins() if p.name == "mcp.time")
    assert (row.status, row.tools, row.distribution) == ("enabled", 2, "toolwire-mcp")
    tools = {t.name: t for t in dispatcher.tools()}
    assert set(tools) == {"time_get_current_time", "time_convert_time"}
    current = tools["time_get_current_time"]
    assert current.pack == "mcp.time"
    assert "timezone" in current.parameters["properties"]
    assert current.parameters["required"] == ["timezone"]
    assert "time" in current.description.lower()
    # The server's hints are kept, but without trust_annotations the policy assumes the worst.
    policy = dispatcher.policy("time_get_current_time")
    assert policy.options["mcp_annotations"]["read_only_hint"] is True
    assert (policy.read_only, policy.destructive) == (False, True)


@pytest.mark.slow
@pytest.mark.usefixtures("time_server")
def test_time_server_in_an_openai_responses_round_trip(make: MakeDispatcher) -> None:
    """A Responses API turn calling the time server gets SDK-valid outputs, errors included."""
    dispatcher = make(TIME)
    for definition in dispatcher.tool_definitions("openai-responses"):
        sdk_validate(FunctionToolParam, definition)
    response = build_response(
        "openai-responses",
        [
            (
                "time_convert_time",
                {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
            ),
            ("time_get_current_time", {"timezone": "Not/AZone"}),
            ("time_get_current_time", {"zone": "UTC"}),
        ],
    )
    items = asyncio.run(dispatcher.process_response(response))
    sdk_validate(ResponseInputParam, items)
    converted, bad_zone, bad_arguments = (json.loads(i["output"]) for i in items[-3:])
    assert converted["target"]["datetime"].startswith("20") and converted["target"][
        "datetime"
    ].endswith("T21:00:00+09:00")
    assert bad_zone["error"] == "execution_error" and "Not/AZone" in bad_zone["message"]
    assert bad_arguments["error"] == "invalid_arguments"


@pytest.mark.slow
@pytest.mark.usefixtures("time_server")
def test_time_server_in_an_anthropic_round_trip_from_dispatch_sync(make: MakeDispatcher) -> None:
    """An Anthropic turn through process_response_sync (no event loop) gets SDK-valid blocks."""
    dispatcher = make(TIME)
    response = build_response(
        "anthropic", [("time_get_current_time", {"timezone": "Europe/Oslo"}, "toolu_1")]
    )
    items = dispatcher.process_response_sync(response)
    for item in items:
        sdk_validate(MessageParam, item)
    block = items[-1]["content"][0]
    assert block["tool_use_id"] == "toolu_1" and "is_error" not in block
    assert json.loads(block["content"])["timezone"] == "Europe/Oslo"


@pytest.fixture
def filesystem(npm_bin: Path, tmp_path: Path) -> tuple[str, Path]:
    """@modelcontextprotocol/server-filesystem over a directory of its own, as a config table."""
    root = tmp_path / "files"
    root.mkdir()
    (root / "notes.txt").write_text("first line\nsecond line\n")
    table = toml_server(
        "fs",
        str(npm_bin / "mcp-server-filesystem"),
        [str(root)],
        include=["read_text_file", "list_directory", "write_file"],
    )
    return table, root


@pytest.mark.slow
def test_filesystem_server_in_provider_round_trips(
    make: MakeDispatcher, filesystem: tuple[str, Path]
) -> None:
    """The npm filesystem server, limited by include, answers inside Responses and Anthropic turns."""
    table, root = filesystem
    dispatcher = make(table)
    assert {t.name for t in dispatcher.tools()} == {
        "fs_read_text_file",
        "fs_list_directory",
        "fs_write_file",
    }
    notes = str(root / "notes.txt")
    response = build_response(
        "openai-responses",
        [("fs_read_text_file", {"path": notes}), ("fs_read_text_file", {"path": "/etc/passwd"})],
    )
    items = asyncio.run(dispatcher.process_response(response))
    sdk_validate(ResponseInputParam, items)
    assert "second line" in items[-2]["output"]
    denied = json.loads(items[-1]["output"])
    assert denied["error"] == "execution_error" and "denied" in denied["message"].lower()

    written = root / "out.txt"
    response = build_response(
        "anthropic",
        [
            ("fs_write_file", {"path": str(written), "content": "hello"}, "toolu_w"),
            ("fs_list_directory", {"path": str(root)}, "toolu_l"),
        ],
    )
    items = dispatcher.process_response_sync(response)
    for item in items:
        sdk_validate(MessageParam, item)
    assert written.read_text() == "hello"
    assert "notes.txt" in items[-1]["content"][1]["content"]


@pytest.mark.slow
@pytest.mark.usefixtures("time_server")
def test_trusted_annotations_become_the_policy(make: MakeDispatcher) -> None:
    """With trust_annotations = true, the server's hints are the tools' policy hints."""
    dispatcher = make(TIME.rstrip("\n") + "\ntrust_annotations = true\n")
    policy = dispatcher.policy("time_get_current_time")
    assert (policy.read_only, policy.destructive, policy.idempotent, policy.open_world) == (
        True,
        False,
        True,
        False,
    )
