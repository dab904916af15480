"""``[plugins.mcp]`` and ``mcpServers`` files: read as written, every mistake a clear ConfigError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import toolwire
from mcp_helpers import MakeDispatcher, flaky
from toolwire_mcp import Settings


def settings(tmp_path: Path, toml: str, environ: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "toolwire.toml"
    path.write_text(toml)
    return Settings.from_config(toolwire.load_config(path), environ or {})


def test_a_server_table_is_read_with_defaults(tmp_path: Path) -> None:
    """command/args/env/cwd are kept, ${VAR} expanded; prefix defaults to NAME_, timeout to 30 s."""
    found = settings(
        tmp_path,
        '[plugins.mcp.servers.git]\ncommand = "uvx"\nargs = ["mcp-server-git", "--repository", "${REPO}"]\n'
        'env = { GIT_TOKEN = "${TOKEN}" }\ncwd = "/tmp"\n',
        {"REPO": "/src/app", "TOKEN": "t0k"},
    ).servers["git"]
    assert (found.command, found.args, found.cwd) == (
        "uvx",
        ("mcp-server-git", "--repository", "/src/app"),
        "/tmp",
    )
    assert found.env == {"GIT_TOKEN": "t0k"}
    assert (found.prefix, found.timeout, found.trust_annotations, found.include) == (
        "git_",
        30.0,
        False,
        None,
    )


def test_mcp_json_is_read_with_variables(tmp_path: Path) -> None:
    """An mcpServers file beside the config is read; disabled entries are skipped; url + headers work."""
    (tmp_path / "mcp.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "time": {"command": "mcp-server-time", "args": []},
                    "remote": {
                        "type": "http",
                        "url": "https://mcp.example/mcp",
                        "headers": {"Authorization": "Bearer ${API_KEY}"},
                    },
                    "off": {"command": "nothing", "disabled": True},
                }
            }
        )
    )
    found = settings(tmp_path, '[plugins.mcp]\nconfig = "mcp.json"\n', {"API_KEY": "k-1"}).servers
    assert set(found) == {"time", "remote"}
    assert found["remote"].headers == {"Authorization": "Bearer k-1"}
    assert found["remote"].url == "https://mcp.example/mcp"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[plugins.mcp.servers.a]\ncomand = "x"\n', "did you mean 'command'"),
        ("[plugins.mcp]\nserver = {}\n", "did you mean 'servers'"),
        ('[plugins.mcp.servers.a]\ncommand = "x"\nurl = "http://h/mcp"\n', "not both"),
        ("[plugins.mcp.servers.a]\nargs = []\n", "either command"),
        (
            '[plugins.mcp.servers.a]\ncommand = "x"\nargs = ["${MISSING_VAR}"]\n',
            "'MISSING_VAR' is not set",
        ),
        ('[plugins.mcp.servers.a]\ncommand = "x"\ntimeout = 0\n', "positive number"),
        ('[plugins.mcp.servers."a b"]\ncommand = "x"\n', "server name"),
        (
            '[plugins.mcp.serve.tokens]\nadmin = "s3cr3t-t0ken!"\n',
            "NAME of an environment variable",
        ),
        ('[plugins.mcp.serve]\nanonymous = "guest"\n', "did you mean 'anonymous_role'"),
        (
            '[plugins.mcp.serve.oauth]\nissuer = "https://a"\nresource = "https://b/mcp"\n',
            "role_claim",
        ),
        ('[plugins.mcp]\nconfig = "missing.json"\n', "cannot read"),
    ],
)
def test_mistakes_are_config_errors(tmp_path: Path, toml: str, message: str) -> None:
    """Each mistake stops the start with a message naming it."""
    with pytest.raises(toolwire.ConfigError, match=message):
        settings(tmp_path, toml)


def test_a_server_in_both_places_is_an_error(tmp_path: Path) -> None:
    """A server named in mcp.json and in [plugins.mcp.servers] is refused, naming both."""
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": {"a": {"command": "x"}}}))
    with pytest.raises(toolwire.ConfigError, match="configured twice"):
        settings(
            tmp_path, '[plugins.mcp]\nconfig = "mcp.json"\n[plugins.mcp.servers.a]\ncommand = "y"\n'
        )


def test_a_bad_mcp_table_stops_the_dispatcher(make: MakeDispatcher) -> None:
    """A mistake in [plugins.mcp] is fatal at start, strict or not."""
    with pytest.raises(toolwire.PluginError, match="refused its settings"):
        make('[plugins.mcp.servers.a]\ncomand = "x"\n')


def test_env_is_added_to_the_inherited_environment(
    make: MakeDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server's env adds to what the host inherited (PATH and the rest stay)."""
    monkeypatch.setenv("TW_INHERITED", "from-host")
    dispatcher = make(flaky(env={"TW_ADDED": "from-config"}))
    seen = dispatcher.dispatch_sync(
        "flaky_env", {"names": ["TW_INHERITED", "TW_ADDED", "PATH"]}
    ).result
    assert (
        seen["TW_INHERITED"] == "from-host" and seen["TW_ADDED"] == "from-config" and seen["PATH"]
    )


def test_relative_paths_resolve_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mcpServers file and a server's cwd, given relative, are taken from the config
    file's directory (not the working directory) and recorded for toolwire check."""
    (tmp_path / "mcp.json").write_text('{"mcpServers": {}}')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "work" / "run").mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    path = tmp_path / "toolwire.toml"
    path.write_text(
        '[plugins.mcp]\nconfig = "mcp.json"\n'
        '[plugins.mcp.servers.a]\ncommand = "x"\ncwd = "${WORK}/run"\n'
    )
    config = toolwire.load_config(path)
    found = Settings.from_config(config, {"WORK": "work"}).servers
    assert found["a"].cwd == str(tmp_path / "work" / "run")
    assert config.resolved_paths == {
        "plugins.mcp.config": tmp_path / "mcp.json",
        "plugins.mcp.servers.a.cwd": tmp_path / "work" / "run",
    }
