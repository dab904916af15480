"""Living in a host: loaded through its entry point, and left alone by commands that only read."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import toolwire
import toolwire_audit
from toolwire.testing import process_environment, run_toolwire
from toolwire_audit import AuditTrail, rotated_files

KEY = "7c1e0f3a9b5d2e8c4a6f0b1d3e5c7a9f"


def config_file(directory: Path, trail: Path) -> Path:
    """A toolwire.toml that loads the installed audit and demo plugins by name."""
    path = directory / "toolwire.toml"
    path.write_text(
        "[plugins]\nautoload = false\nenable = ['audit', 'demo']\n\n"
        f"[plugins.audit]\npath = '{trail}'\nhmac_key_env = 'AUDIT_TEST_KEY'\n"
    )
    return path


def run(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``toolwire`` command, in ``directory``, with the key it needs."""
    return run_toolwire(*args, cwd=directory, env=process_environment(AUDIT_TEST_KEY=KEY))


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key in the variable the test config names."""
    monkeypatch.setenv("AUDIT_TEST_KEY", KEY)


@pytest.mark.usefixtures("key")
def test_a_start_touches_no_file_until_the_first_record(tmp_path: Path) -> None:
    """Starting a dispatcher and listing its tools and plugins creates, locks and renames nothing; the first call creates the trail."""
    trail = tmp_path / "audit.jsonl"
    dispatcher = toolwire.Dispatcher.from_config(config_file(tmp_path, trail))
    dispatcher.start()
    assert {t.name for t in dispatcher.tools()} >= {"get_weather"}
    assert {p.name: p.status for p in dispatcher.plugins()}["audit"] == "enabled"
    assert sorted(tmp_path.iterdir()) == [tmp_path / "toolwire.toml"]
    assert dispatcher.dispatch_sync("get_weather", {"location": "Paris"}).success
    assert toolwire_audit.verify([trail]).records == 1
    dispatcher.close()


@pytest.mark.usefixtures("key")
def test_stats_of_a_plugin_loaded_by_its_entry_point(tmp_path: Path) -> None:
    """toolwire_audit.stats(path) reports the trail of a plugin the host never held, until its dispatchers close."""
    trail = tmp_path / "audit.jsonl"
    with toolwire.Dispatcher.from_config(config_file(tmp_path, trail)) as dispatcher:
        assert toolwire_audit.stats(trail) == {"records": 0, "failures": 0, "lost": 0, "seq": 0}
        dispatcher.dispatch_sync("get_weather", {"location": "Paris"})
        dispatcher.dispatch_sync("get_wether", {"location": "Paris"})
        assert toolwire_audit.stats(str(trail)) == {
            "records": 2,
            "failures": 0,
            "lost": 0,
            "seq": 2,
        }
    with pytest.raises(KeyError, match="no audit trail is open"):
        toolwire_audit.stats(trail)


def test_installed_but_not_configured_it_stops_the_start(tmp_path: Path) -> None:
    """Enabled without a [plugins.audit] table, the plugin fails closed: the start stops and says what to set."""
    config = tmp_path / "toolwire.toml"
    config.write_text("[plugins]\nautoload = false\nenable = ['audit']\n")
    with pytest.raises(toolwire.PluginError) as caught:
        toolwire.Dispatcher.from_config(config)
    assert "[plugins.audit] path is not set" in str(caught.value)


@pytest.mark.slow
def test_read_only_commands_leave_a_running_hosts_trail_alone(tmp_path: Path) -> None:
    """While a host writes the trail, toolwire plugins, tools and check succeed and change nothing on disk."""
    trail = tmp_path / "audit.jsonl"
    host = AuditTrail(trail)
    host.append({"event": "call", "call_id": "c1", "tool": "echo", "outcome": "ok"})  # open now
    config_file(tmp_path, trail)
    try:
        before = trail.read_bytes()
        for command in (["plugins"], ["tools"], ["tools", "--json"], ["check"]):
            done = run(tmp_path, *command)
            assert done.returncode == 0, (command, done.stderr)
            assert "trail's lock" not in done.stderr
        assert trail.read_bytes() == before
        assert rotated_files(trail) == []
    finally:
        host.close()


@pytest.mark.slow
def test_read_only_commands_leave_a_torn_trail_for_the_writer(tmp_path: Path) -> None:
    """After a crash left an incomplete last line, toolwire tools neither renames the file nor starts a new one; the next writer does."""
    trail = tmp_path / "audit.jsonl"
    writer = AuditTrail(trail)
    writer.append({"event": "call", "call_id": "c1", "tool": "echo", "outcome": "ok"})
    writer.close()
    with trail.open("ab") as file:
        file.write(b'{"event":"call","call_id":"c2"')
    before = trail.read_bytes()
    config_file(tmp_path, trail)
    done = run(tmp_path, "tools")
    assert done.returncode == 0, done.stderr
    assert trail.read_bytes() == before and rotated_files(trail) == []
    called = run(tmp_path, "call", "get_weather", '{"location": "Oslo"}')
    assert called.returncode == 0, called.stderr
    (set_aside,) = rotated_files(trail)
    assert set_aside.read_bytes() == before
    assert toolwire_audit.verify(toolwire_audit.trail_files(trail)).ok
