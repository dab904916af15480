"""``mcpServers`` files as other MCP clients write them: variables with defaults as shells
expand them, other clients' keys honoured or read past with one note, real typos refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog
import toolwire
from mcp_helpers import SERVERS, MakeDispatcher
from toolwire_mcp import McpPlugin, Settings


def read(tmp_path: Path, servers: dict[str, Any], environ: dict[str, str] | None = None) -> Any:
    """The servers of an mcpServers file holding ``servers``, read as a start reads them."""
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": servers}))
    path = tmp_path / "toolwire.toml"
    path.write_text('[plugins.mcp]\nconfig = "mcp.json"\n')
    return Settings.from_config(toolwire.load_config(path), environ or {}).servers


@pytest.mark.parametrize(
    ("written", "environ", "expanded"),
    [
        ("${HOST:-localhost}", {}, "localhost"),
        ("${HOST:-localhost}", {"HOST": ""}, "localhost"),
        ("${HOST:-localhost}", {"HOST": "db"}, "db"),
        ("${HOST-localhost}", {}, "localhost"),
        ("${HOST-localhost}", {"HOST": ""}, ""),
        ("${HOST}", {"HOST": ""}, ""),
        ("${HOST:-}", {}, ""),
        ("${URL:-http://a:1/x?y=1}", {}, "http://a:1/x?y=1"),
        ("pre-${A:-1}-${B:-2}-post", {"B": "b"}, "pre-1-b-post"),
    ],
)
def test_variables_expand_as_shells_expand_them(
    tmp_path: Path, written: str, environ: dict[str, str], expanded: str
) -> None:
    """${VAR:-default} uses the default when VAR is unset or empty, ${VAR-default} only when
    unset, ${VAR} gives an empty value as it is; a default is taken as written."""
    found = read(tmp_path, {"s": {"command": "run", "args": [written]}}, environ)
    assert found["s"].args == (expanded,)


def test_variables_expand_in_every_field_that_takes_them(tmp_path: Path) -> None:
    """command, args, env and cwd of a command, url and headers of a URL are all expanded."""
    found = read(
        tmp_path,
        {
            "local": {
                "command": "${BIN:-uvx}",
                "args": ["${PKG:-mcp-server-git}"],
                "env": {"TOKEN": "${GIT_TOKEN:-none}"},
                "cwd": "${WORK:-/tmp}",
            },
            "remote": {
                "url": "${MCP_URL:-http://127.0.0.1:9/mcp}",
                "headers": {"Authorization": "Bearer ${KEY:-anonymous}"},
            },
        },
        {"GIT_TOKEN": "t0k"},
    )
    local, remote = found["local"], found["remote"]
    assert (local.command, local.args, local.env, local.cwd) == (
        "uvx",
        ("mcp-server-git",),
        {"TOKEN": "t0k"},
        "/tmp",
    )
    assert (remote.url, remote.headers) == (
        "http://127.0.0.1:9/mcp",
        {"Authorization": "Bearer anonymous"},
    )


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("${MISSING}", r"'MISSING' is not set .*\$\{MISSING:-default\}"),
        ("${}", "names no environment variable"),
        ("${not a name}", "names no environment variable"),
        ("${A:=x}", "names no environment variable"),
    ],
)
def test_a_variable_that_cannot_be_expanded_stops_the_load(
    tmp_path: Path, written: str, message: str
) -> None:
    """An unset variable without a default, or ${...} that names none, is an error that says
    what to write; never an empty or literal value passed to the server."""
    with pytest.raises(toolwire.ConfigError, match=message):
        read(tmp_path, {"s": {"command": "run", "args": [written]}})


def started(tmp_path: Path, servers: dict[str, Any]) -> Any:
    """The MCP plugin configured as a start configures it, from an mcpServers file holding
    ``servers``; returns its settings."""
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": servers}))
    path = tmp_path / "toolwire.toml"
    path.write_text('[plugins.mcp]\nconfig = "mcp.json"\n')
    plugin = McpPlugin()
    plugin.toolwire_configure(toolwire.load_config(path))
    return plugin.settings


def test_other_clients_keys_are_read_past_with_one_note(tmp_path: Path) -> None:
    """autoApprove, alwaysAllow, trust and description load without error; a start logs one
    note for the whole file naming them; none of them approves anything."""
    with structlog.testing.capture_logs() as logs:
        settings = started(
            tmp_path,
            {
                "cline": {"command": "a", "autoApprove": ["search"], "description": "x"},
                "roo": {"command": "b", "alwaysAllow": ["search"]},
                "gemini": {"command": "c", "trust": True},
            },
        )
    assert set(settings.servers) == {"cline", "roo", "gemini"}
    notes = [e for e in logs if e["event"] == "toolwire_mcp.keys_ignored"]
    assert len(notes) == 1
    assert notes[0]["keys"] == ["alwaysAllow", "autoApprove", "description", "trust"]
    assert notes[0]["file"].endswith("mcp.json") and notes[0]["log_level"] == "info"


def test_a_file_with_only_toolwire_keys_logs_nothing(tmp_path: Path) -> None:
    """No other client's key, no note."""
    with structlog.testing.capture_logs() as logs:
        started(tmp_path, {"s": {"command": "a"}})
    assert not [e for e in logs if e["event"] == "toolwire_mcp.keys_ignored"]


def test_known_keys_with_a_meaning_are_honoured(tmp_path: Path) -> None:
    """disabled leaves the server out, timeout (seconds, as Cline writes it) is its call
    timeout, type is checked, and the tool lists of Roo Code and Gemini CLI filter tools."""
    found = read(
        tmp_path,
        {
            "off": {"command": "a", "disabled": True},
            "on": {"command": "b", "disabled": False, "timeout": 90, "type": "stdio"},
            "roo": {"command": "c", "disabledTools": ["drop"]},
            "gem": {"command": "d", "excludeTools": ["x"], "includeTools": ["y", "z"]},
        },
    )
    assert set(found) == {"on", "roo", "gem"}
    assert found["on"].timeout == 90.0
    assert found["roo"].exclude == frozenset({"drop"})
    assert (found["gem"].include, found["gem"].exclude) == (frozenset({"y", "z"}), {"x"})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"command": "a", "autoAprove": []}, "autoAprove"),
        ({"command": "a", "timeot": 5}, "did you mean 'timeout'"),
        ({"command": "a", "disabled": "yes"}, "disabled must be true or false"),
        ({"command": "a", "timeout": 60000}, "for 60000 ms write 60"),
        ({"command": "a", "type": "sse"}, "not supported"),
        ({"command": "a", "disabledTools": "x"}, "expected a list of tool names"),
        ({"command": "a", "include": ["a"], "includeTools": ["b"]}, "keep one"),
    ],
)
def test_a_truly_unknown_or_wrong_key_still_stops_the_load(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    """A misspelt key is refused with the closest known one, and a known key with a value that
    cannot mean what was meant (milliseconds where seconds are read) says what to write."""
    with pytest.raises(toolwire.ConfigError, match=message):
        read(tmp_path, {"s": entry})


@pytest.mark.slow
def test_a_cline_style_file_loads_a_real_server(make: MakeDispatcher, tmp_path: Path) -> None:
    """A file as Cline writes it (autoApprove, disabled, timeout, a variable with a default)
    loads the real server: its tools are offered, a disabled entry's are not."""
    (tmp_path / "mcp.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "wild": {
                        "command": "${PYTHON:-" + sys.executable + "}",
                        "args": [str(SERVERS / "wild.py")],
                        "autoApprove": ["media"],
                        "disabled": False,
                        "timeout": 60,
                        "prefix": "",
                    },
                    "gone": {"command": "no-such-program", "disabled": True},
                }
            }
        )
    )
    dispatcher = make(f'[plugins.mcp]\nconfig = "{tmp_path / "mcp.json"}"\n')
    names = {t.name for t in dispatcher.tools()}
    assert {"media", "book", "drive_search"} <= names
    assert dispatcher.policy("media").approval is False  # autoApprove changed nothing


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"command": "a", "disable": True}, "did you mean 'disabled'"),
        ({"command": "a", "autoapprove": []}, "did you mean 'autoApprove'"),
        ({"command": "a", "disabledtools": []}, "did you mean 'disabledTools'"),
        ({"command": "a", "typ": "stdio"}, "did you mean 'type'"),
        ({"command": "a", "args": ["${HOME"]}, "without its closing"),
        ({"url": "http://127.0.0.1:1/mcp", "type": "stdio"}, "type is 'stdio' but a url"),
        ({"command": "a", "type": "http"}, "but a command is given"),
        ({"command": "a", "cwd": "no/such/dir"}, "cwd 'no/such/dir' is not a directory"),
    ],
)
def test_other_clients_typos_and_contradictions_stop_the_load(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    """A misspelt key of another client gets "did you mean"; an unclosed ${, a stdio type with
    a url, an http type with a command and a cwd that does not exist each say what is wrong."""
    with pytest.raises(toolwire.ConfigError, match=message):
        read(tmp_path, {"s": entry})


def test_type_is_read_in_any_case_and_gemini_http_url_is_a_url(tmp_path: Path) -> None:
    """type STDIO is stdio, and Gemini CLI's httpUrl is the server's url."""
    found = read(
        tmp_path,
        {
            "a": {"command": "x", "type": "STDIO"},
            "b": {"httpUrl": "http://127.0.0.1:1/mcp"},
        },
    )
    assert found["a"].command == "x"
    assert found["b"].url == "http://127.0.0.1:1/mcp"


def test_ignored_keys_are_noted_once_per_start_however_often_the_file_is_read(
    tmp_path: Path,
) -> None:
    """Reading the settings again (a check, then serving) logs nothing more: the note is the
    start's, once, and nothing is kept between starts but the settings themselves."""
    with structlog.testing.capture_logs() as logs:
        read(tmp_path, {"s": {"command": "a", "trust": True}})
        read(tmp_path, {"s": {"command": "a", "trust": True}})
    assert not [e for e in logs if e["event"] == "toolwire_mcp.keys_ignored"]
    with structlog.testing.capture_logs() as logs:
        started(tmp_path, {"s": {"command": "a", "trust": True}})
    assert len([e for e in logs if e["event"] == "toolwire_mcp.keys_ignored"]) == 1


@pytest.mark.slow
def test_a_stale_disabled_tools_entry_is_a_note_and_excludes_name_the_files_key(
    make: MakeDispatcher, tmp_path: Path
) -> None:
    """A disabledTools entry the server no longer offers loads the server with a note; an
    excludeTools typo still keeps the server out, naming the file's own key."""
    wild = {"command": sys.executable, "args": [str(SERVERS / "wild.py")], "prefix": ""}
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"w": {**wild, "disabledTools": ["gone"]}}}))
    with structlog.testing.capture_logs() as logs:
        dispatcher = make(f'[plugins.mcp]\nconfig = "{config}"\n')
    assert "media" in {t.name for t in dispatcher.tools()}
    stale = [e for e in logs if e["event"] == "toolwire_mcp.exclude_stale"]
    assert stale and stale[0]["tools"] == ["gone"]
    assert "mcpServers.w.disabledTools" in stale[0]["reason"]
    config.write_text(json.dumps({"mcpServers": {"w": {**wild, "excludeTools": ["mdia"]}}}))
    with structlog.testing.capture_logs() as logs:
        refused = make(f'[plugins.mcp]\nconfig = "{config}"\n')
    assert "media" not in {t.name for t in refused.tools()}
    failed = [e for e in logs if e["event"] == "toolwire.plugin_failed_to_load"]
    assert "mcpServers.w.excludeTools in " in failed[0]["error"]
    assert "'mdia' (did you mean 'media'?)" in failed[0]["error"]
