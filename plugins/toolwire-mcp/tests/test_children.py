"""A stdio server's own children end with it: after Dispatcher.close() neither the server nor a
process it started is left, whether they exit, ignore SIGTERM, or the SDK cannot say who they are."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
import toolwire
from mcp_helpers import SERVERS, MakeDispatcher, toml_server, wait_until

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")


def parent(*options: str) -> str:
    """The server that starts a child, as a config table."""
    return toml_server("parent", sys.executable, [str(SERVERS / "parent.py"), *options])


def ended(pid: int) -> bool:
    """Whether the process is gone from the process table or is a zombie (dead, not reaped)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _closed_ends_both(make: MakeDispatcher, options: tuple[str, ...], within: float) -> None:
    """Close a dispatcher whose server has a child: the server and its child are both ended."""
    dispatcher = make(parent(*options))
    found = family(dispatcher)
    dispatcher.close()
    assert wait_until(lambda: ended(found["server"]), within)
    assert wait_until(lambda: ended(found["child"]), within), "the server's child outlived close()"


def family(dispatcher: toolwire.Dispatcher) -> dict[str, int]:
    """The server's pid and its child's, both running."""
    result = dispatcher.dispatch_sync("parent_family", {})
    assert result.success, result.output
    found: dict[str, int] = result.result
    assert not ended(found["server"]) and not ended(found["child"])
    assert psutil.Process(found["child"]).ppid() == found["server"]
    return found


def test_close_ends_the_child_of_a_server_that_exits_in_time(make: MakeDispatcher) -> None:
    """A server that exits when its stdin closes: its child, still running, is ended with it."""
    _closed_ends_both(make, (), 10)


@pytest.mark.slow
def test_a_child_deaf_to_sigterm_is_killed_after_the_grace(make: MakeDispatcher) -> None:
    """A child that ignores SIGTERM, of a server that exits in time: SIGKILL after the grace."""
    _closed_ends_both(make, ("--deaf-child",), 10)


@pytest.mark.slow
def test_a_server_deaf_to_stdin_and_sigterm_is_killed_with_its_child(
    make: MakeDispatcher,
) -> None:
    """A server that ignores the end of its stdin and SIGTERM, its child too: both are killed."""
    _closed_ends_both(make, ("--stubborn", "--deaf-child"), 15)


@pytest.mark.slow
def test_a_session_that_ends_ends_the_group_before_the_next_one(make: MakeDispatcher) -> None:
    """A server killed from outside: its child is ended with the session, before a restart."""
    dispatcher = make(parent())
    found = family(dispatcher)
    os.kill(found["server"], signal.SIGKILL)
    assert wait_until(lambda: ended(found["child"]), 15), "the child outlived its session"
    again = family(dispatcher)  # the next call starts the server again
    assert again["server"] != found["server"]


@pytest.mark.slow
def test_a_host_that_exits_without_close_leaves_no_child(tmp_path: Path) -> None:
    """A host that never calls close(): at the interpreter's exit the server's child ends too."""
    config = tmp_path / "toolwire.toml"
    config.write_text('[plugins]\nautoload = false\nenable = ["mcp"]\n' + parent())
    out = tmp_path / "family.json"
    host = tmp_path / "host.py"
    host.write_text(
        textwrap.dedent(
            f"""
            import json, toolwire
            dispatcher = toolwire.Dispatcher.from_config({str(config)!r})
            result = dispatcher.dispatch_sync("parent_family", {{}})
            open({str(out)!r}, "w").write(json.dumps(result.result))
            """
        )
    )
    log = tmp_path / "stderr"
    with log.open("w") as stderr:  # a file, not a pipe: reading a pipe would wait for the child
        done = subprocess.run([sys.executable, str(host)], stderr=stderr, timeout=60)
    assert done.returncode == 0, log.read_text()
    found = json.loads(out.read_text())
    assert wait_until(lambda: ended(found["server"]) and ended(found["child"]), 10)


def test_a_server_whose_pid_the_sdk_does_not_report_does_not_start(
    make: MakeDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SDK whose spawn no longer reports the server's pid: the server fails to start, saying
    why, rather than run with a process group nobody can end."""
    from mcp.client import stdio

    spawn = stdio._create_platform_compatible_process
    spawn = getattr(spawn, "__wrapped__", spawn)

    async def silent_spawn(*args: object, **kwargs: object) -> object:
        return await spawn(*args, **kwargs)

    silent_spawn._toolwire_notes = True  # type: ignore[attr-defined]
    monkeypatch.setattr(stdio, "_create_platform_compatible_process", silent_spawn)
    dispatcher = make(parent())
    plugins = {p.name: p for p in dispatcher.plugins()}
    failed = plugins["mcp.parent"]
    assert failed.status == "failed"
    assert "did not report the server's process id" in (failed.error or "")
