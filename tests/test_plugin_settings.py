"""toolwire.settings: a plugin's table checked against its JSON Schema, paths resolved against
the config file, secrets under one rule; and toolwire.testing's real redis-server."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import toolwire
from toolwire import settings
from toolwire.testing import REQUIRE_REDIS, RedisServer, running_redis

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": settings.PATH,
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 5,
            "x-expected": "a positive number of seconds",
        },
        "token": {"type": "string", "pattern": "^[A-Z_]+$", "x-secret": True},
        "nested": {
            "type": "object",
            "default": {},
            "properties": {"depth": {"type": "integer", "default": 3}},
        },
    },
}


def config_file(tmp_path: Path, table: str) -> toolwire.Config:
    """A config file holding ``[plugins.demo]``, loaded as a host loads it."""
    file = tmp_path / "conf" / "toolwire.toml"
    file.parent.mkdir(exist_ok=True)
    file.write_text(f"[plugins]\nautoload = false\n\n[plugins.demo]\n{table}\n")
    return toolwire.load_config(file, env={})


def test_every_problem_is_reported_at_once_naming_key_and_file(tmp_path: Path) -> None:
    """An unknown key (with the closest known one) and a wrong value are both reported, under the file's name."""
    config = config_file(tmp_path, 'path = "a.log"\ntimout = 3\ntimeout = 0\n')
    with pytest.raises(toolwire.ConfigError) as caught:
        settings.read_settings(config, "demo", SCHEMA)
    message = str(caught.value)
    assert message.startswith(f"{config.source}: 2 problem(s):")
    assert "unknown key [plugins.demo] timout; did you mean 'timeout'?" in message
    assert "[plugins.demo] timeout: 0 is not a positive number of seconds" in message
    assert len(caught.value.problems) == 2


def test_a_missing_required_key_says_what_to_give_or_to_disable_the_plugin(
    tmp_path: Path,
) -> None:
    """A required key that is absent is named, with what to give and the way out."""
    with pytest.raises(toolwire.ConfigError) as caught:
        settings.read_settings(config_file(tmp_path, "timeout = 2"), "demo", SCHEMA)
    assert "[plugins.demo] path is not set: give a file name, or disable the demo plugin" in str(
        caught.value
    )


def test_a_secret_value_never_appears_in_the_message(tmp_path: Path) -> None:
    """A value marked x-secret is refused without being shown."""
    config = config_file(tmp_path, 'path = "a.log"\ntoken = "hunter2-is-my-password"\n')
    with pytest.raises(toolwire.ConfigError) as caught:
        settings.read_settings(config, "demo", SCHEMA)
    assert "[plugins.demo] token" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_table_marked_secret_hides_every_value_inside_it(tmp_path: Path) -> None:
    """x-secret on a table keeps each value in it out of the message, as on the value itself."""
    schema = settings.table(
        {"vault": {"type": "object", "x-secret": True, "properties": {"x": {"type": "integer"}}}}
    )
    config = config_file(tmp_path, '[plugins.demo.vault]\nx = "hunter2-TOPSECRET"\n')
    with pytest.raises(toolwire.ConfigError) as caught:
        settings.read_settings(config, "demo", schema)
    assert "[plugins.demo.vault] x" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_every_path_in_a_list_is_resolved_and_recorded(tmp_path: Path) -> None:
    """A list of paths resolves each entry against the config file's folder, and each is
    recorded for `toolwire check` under its own key."""
    schema = settings.table({"dirs": {"type": "array", "items": settings.PATH}})
    config = config_file(tmp_path, 'dirs = ["a", "b"]\n')
    values = settings.read_settings(config, "demo", schema)
    folder = tmp_path / "conf"
    assert values["dirs"] == [folder / "a", folder / "b"]
    assert config.resolved_paths["plugins.demo.dirs[0]"] == folder / "a"
    assert config.resolved_paths["plugins.demo.dirs[1]"] == folder / "b"


def test_defaults_fill_missing_keys_and_nested_tables(tmp_path: Path) -> None:
    """Missing keys get the schema's defaults, in nested tables too; what was given is kept."""
    values = settings.read_settings(config_file(tmp_path, 'path = "a.log"'), "demo", SCHEMA)
    assert values["timeout"] == 5 and values["nested"] == {"depth": 3}


def test_a_relative_path_resolves_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path in a file is taken from the file's directory, whatever the working
    directory, and recorded for toolwire check."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = config_file(tmp_path, 'path = "logs/a.log"')
    values = settings.read_settings(config, "demo", SCHEMA)
    assert values["path"] == tmp_path / "conf" / "logs" / "a.log"
    assert config.resolved_paths["plugins.demo.path"] == values["path"]


def test_a_relative_path_in_code_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Config given in code has no file: its relative paths are taken from the working directory."""
    monkeypatch.chdir(tmp_path)
    config = toolwire.Config(data={"plugins": {"demo": {"path": "a.log"}}})
    assert settings.read_settings(config, "demo", SCHEMA)["path"] == tmp_path / "a.log"


def test_a_table_elsewhere_is_named_where_it_is(tmp_path: Path) -> None:
    """``at`` reads another table (an executor's), and its problems name that table."""
    config = config_file(tmp_path, 'path = "a.log"')
    with pytest.raises(toolwire.ConfigError, match=r"unknown key \[executors\.fleet\] pth"):
        settings.read_settings(
            config, "demo", SCHEMA, at=("executors", "fleet"), table={"path": "x", "pth": 1}
        )


def test_the_plugins_own_check_runs_on_valid_values(tmp_path: Path) -> None:
    """Problems the schema cannot express come from ``check``, which sees resolved values."""
    seen: list[Any] = []

    def check(values: dict[str, Any]) -> list[str]:
        seen.append(values["path"])
        return ["[plugins.demo] path: the disk is full"]

    config = config_file(tmp_path, 'path = "a.log"')
    with pytest.raises(toolwire.ConfigError, match="the disk is full"):
        settings.read_settings(config, "demo", SCHEMA, check=check)
    assert seen == [tmp_path / "conf" / "a.log"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "the environment variable DEMO_KEY is not set; set it to a secret of at least 16"),
        ("", "the environment variable DEMO_KEY is not set"),
        ("short", "DEMO_KEY holds 5 bytes; a demo key needs at least 16"),
        (" " * 20, "holds a key anyone could guess"),
        ("ab" * 20, "holds a key anyone could guess"),
        # Keys with variety enough that a guesser still tries early: words, sequences, repeats.
        ("0123456789abcdef", "a guesser tries early"),
        ("abcdefghijklmnop", "a guesser tries early"),
        ("passwordpassword123!", "a guesser tries early"),
        ("changeme-changeme-changeme-2024", "a guesser tries early"),
        ("Password1234567890", "a guesser tries early"),
        ("toolwire-taskiq-key", "a guesser tries early"),
        # Random-looking, but hex or base64 of words, or the well-known digest of one.
        ("70617373776f72643132333435363738", "a guesser tries early"),
        ("cGFzc3dvcmQxMjM0NTY3OA==", "a guesser tries early"),
        ("d41d8cd98f00b204e9800998ecf8427e", "a guesser tries early"),
        (
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
            "a guesser tries early",
        ),
    ],
)
def test_a_missing_or_weak_secret_is_refused(value: str | None, problem: str) -> None:
    """An unset, short, blank or repetitive secret stops the start, saying how to make one,
    and never shows the value."""
    environ = {} if value is None else {"DEMO_KEY": value}
    with pytest.raises(toolwire.ConfigError) as caught:
        settings.read_secret(
            "DEMO_KEY", "[plugins.demo] key_env", what="a demo key", environ=environ
        )
    message = str(caught.value)
    assert message.startswith("[plugins.demo] key_env: ") and problem in message
    assert settings.MAKE_A_SECRET in message
    if value and value.strip():
        assert value not in message


@pytest.mark.parametrize(
    "key",
    [secrets.token_hex(32), secrets.token_hex(16), secrets.token_urlsafe(32)],
    ids=["token_hex(32)", "token_hex(16)", "token_urlsafe(32)"],
)
def test_a_random_secret_is_read_as_its_utf8_text(key: str) -> None:
    """A random secret, as the docs make one, passes and is used as its text."""
    assert settings.read_secret("K", "[plugins.demo] key_env", environ={"K": key}) == key.encode()


def test_a_refusal_never_shows_a_negative_figure() -> None:
    """A secret of one repeated character is refused with 0 bits, never "-0"."""
    with pytest.raises(toolwire.ConfigError) as caught:
        settings.read_secret("K", "[plugins.demo] key_env", environ={"K": "x" * 20})
    assert "about 0 bits" in str(caught.value)


def test_toolwire_check_lists_plugin_paths_resolved_against_the_config_file(
    tmp_path: Path,
) -> None:
    """Run from another directory, ``toolwire check --json`` lists the audit trail and the MCP
    servers file as they resolve against the config file's directory."""
    pytest.importorskip("toolwire_audit", reason="the audit plugin is not installed")
    pytest.importorskip("toolwire_mcp", reason="the mcp plugin is not installed")
    folder = tmp_path / "deploy"
    (folder / "logs").mkdir(parents=True)
    (folder / "mcp.json").write_text('{"mcpServers": {}}')
    (folder / "toolwire.toml").write_text(
        '[plugins]\nautoload = false\nenable = ["audit", "mcp"]\n\n'
        '[plugins.audit]\npath = "logs/audit.jsonl"\n\n'
        '[plugins.mcp]\nconfig = "mcp.json"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLWIRE_")}
    env["TOOLWIRE_AUDIT_KEY"] = secrets.token_hex(32)
    done = subprocess.run(
        [sys.executable, "-m", "toolwire.cli", "--config", str(folder / "toolwire.toml"),
         "check", "--json"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    paths = json.loads(done.stdout)["paths"]
    assert paths["plugins.audit.path"] == str(folder / "logs" / "audit.jsonl")
    assert paths["plugins.mcp.config"] == str(folder / "mcp.json")
    assert not (elsewhere / "logs").exists()


def test_running_redis_is_a_real_server_gone_after(tmp_path: Path) -> None:
    """running_redis yields a redis-server that answers on loopback, and ends it on exit."""
    with running_redis(tmp_path) as server:
        assert server.url == f"redis://127.0.0.1:{server.port}"
        assert server.command("SET", "k", "v") == "+OK" and server.count("k") == 1
        process = server.process
    assert process.poll() is not None


def test_the_redis_fixture_gives_a_server(toolwire_redis: RedisServer) -> None:
    """The toolwire_redis fixture of the pytest plugin hands the test a server that answers."""
    assert toolwire_redis.ping()


def test_without_redis_server_the_test_skips_naming_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No redis-server on PATH: a skip that names the package, or a failure when
    TOOLWIRE_TEST_REQUIRE_REDIS says Redis must be tested."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(REQUIRE_REDIS, raising=False)
    with (
        pytest.raises(pytest.skip.Exception, match="install the redis-server package"),
        running_redis(),
    ):
        pass
    monkeypatch.setenv(REQUIRE_REDIS, "1")
    with pytest.raises(pytest.fail.Exception, match=REQUIRE_REDIS), running_redis():
        pass
