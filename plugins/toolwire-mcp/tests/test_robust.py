"""Servers that die, hang or print garbage: every call gets exactly one result, and the
dispatcher recovers; no server process outlives its dispatcher."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psutil
import pytest
import toolwire
from anthropic.types import MessageParam
from mcp_helpers import (
    SERVERS,
    MakeDispatcher,
    children,
    flaky,
    sdk_validate,
    toml_server,
    wait_until,
)
from openai.types.responses import ResponseInputParam
from toolwire.testing import build_response, registered_plugin


def _pid(dispatcher: toolwire.Dispatcher) -> int:
    result = dispatcher.dispatch_sync("flaky_pid", {})
    assert result.success, result.output
    return int(result.result["pid"])


@pytest.mark.slow
def test_a_server_killed_mid_call_gives_each_waiting_call_one_retryable_error(
    make: MakeDispatcher,
) -> None:
    """Killing the server under three waiting calls answers each once (retryable); the next call restarts it."""
    dispatcher = make(flaky())
    first = _pid(dispatcher)

    async def scenario() -> list[toolwire.DispatchResult]:
        calls = [dispatcher.dispatch("flaky_slow", {"seconds": 30}) for _ in range(3)]
        tasks = [asyncio.ensure_future(c) for c in calls]
        await asyncio.sleep(0.5)
        os.kill(first, signal.SIGKILL)
        return await asyncio.gather(*tasks)

    results = asyncio.run(scenario())
    assert [r.success for r in results] == [False, False, False]
    for result in results:
        assert result.error is not None and result.error.kind == "execution_error"
        assert result.error.retryable and "went away" in result.error.message
    second = _pid(dispatcher)
    assert second != first and not psutil.pid_exists(first)
    assert dispatcher.dispatch_sync("flaky_echo", {"text": "back"}).output == "back"


@pytest.mark.slow
def test_a_server_that_exits_by_itself_mid_call_is_restarted(make: MakeDispatcher) -> None:
    """A tool whose server exits during the call gets a retryable error; the following call works."""
    dispatcher = make(flaky())
    died = dispatcher.dispatch_sync("flaky_die", {})
    assert died.error is not None and died.error.retryable
    assert "flaky server starting" in died.error.message  # the server's stderr, for the operator
    assert dispatcher.dispatch_sync("flaky_echo", {"text": "again"}).output == "again"


@pytest.mark.slow
def test_a_hung_server_times_out_every_call_and_is_replaced(make: MakeDispatcher) -> None:
    """A server that stops answering: the call past its deadline times out, the waiting ones get a
    retryable error, the process is ended, and a later call starts a fresh one."""
    dispatcher = make(flaky(timeout=2))
    first = _pid(dispatcher)

    async def scenario() -> list[toolwire.DispatchResult]:
        waiting = [
            asyncio.ensure_future(dispatcher.dispatch("flaky_slow", {"seconds": 60}))
            for _ in range(2)
        ]
        await asyncio.sleep(0.3)
        hung = await dispatcher.dispatch("flaky_hang", {})
        return [hung, *await asyncio.gather(*waiting)]

    hung, *waiting = asyncio.run(scenario())
    assert hung.error is not None and hung.error.kind == "timeout" and hung.error.retryable
    for result in waiting:
        assert result.error is not None and result.error.retryable
    assert wait_until(
        lambda: (
            not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
        )
    )
    assert _pid(dispatcher) != first


def test_a_call_past_its_deadline_is_cancelled_on_the_server(make: MakeDispatcher) -> None:
    """The tool's timeout is the call's deadline: the call times out and the server is told."""
    dispatcher = make(flaky() + "[tools.flaky_slow]\ntimeout = 0.5\n")
    result = dispatcher.dispatch_sync("flaky_slow", {"seconds": 4})
    assert result.error is not None and result.error.kind == "timeout"
    plugin = registered_plugin(dispatcher, "mcp")
    link = plugin.links["flaky"]
    assert wait_until(lambda: any(line.startswith("cancelled ") for line in link._stderr), 10)
    assert dispatcher.dispatch_sync("flaky_echo", {"text": "still here"}).output == "still here"


@pytest.mark.slow
def test_garbage_on_stdout_does_not_break_the_session(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """A server printing non-protocol lines on stdout still answers every call correctly; the
    host's log gets toolwire's three short warnings, not a traceback per line from the SDK."""
    caplog.set_level(logging.DEBUG)
    dispatcher = make(flaky("noisy", "--garbage"))

    async def many() -> list[toolwire.DispatchResult]:
        return await asyncio.gather(
            *(dispatcher.dispatch("noisy_echo", {"text": str(i)}) for i in range(20))
        )

    results = asyncio.run(many())
    assert [r.output for r in results] == [str(i) for i in range(20)]
    assert not [r for r in caplog.records if r.exc_info or "Failed to parse" in r.getMessage()]


@pytest.mark.slow
def test_calls_from_many_loops_and_threads_share_one_session(make: MakeDispatcher) -> None:
    """dispatch_sync from threads and dispatch on separate event loops all use one server process."""
    dispatcher = make(flaky())
    pid = _pid(dispatcher)
    outputs: list[str] = []

    def worker(i: int) -> None:
        if i % 2:
            outputs.append(dispatcher.dispatch_sync("flaky_echo", {"text": f"t{i}"}).output)
        else:
            outputs.append(asyncio.run(dispatcher.dispatch("flaky_echo", {"text": f"t{i}"})).output)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outputs) == sorted(f"t{i}" for i in range(8))
    assert _pid(dispatcher) == pid


@pytest.mark.slow
def test_list_changed_refreshes_the_tool_list(make: MakeDispatcher) -> None:
    """notifications/tools/list_changed makes the plugin list the server's tools again."""
    dispatcher = make(flaky())
    plugin = registered_plugin(dispatcher, "mcp")
    link = plugin.links["flaky"]
    assert "extra" not in link.tools
    assert dispatcher.dispatch_sync("flaky_grow", {}).output == "grown"
    assert wait_until(lambda: "extra" in link.tools, 10)
    # The new tool is offered at once, through the whole pipeline, without a restart.
    assert wait_until(lambda: "flaky_extra" in {t.name for t in dispatcher.tools()}, 10)
    assert dispatcher.dispatch_sync("flaky_extra", {}).output == "extra here"
    (row,) = [p for p in dispatcher.plugins() if p.name == "mcp.flaky"]
    assert row.tools == 10


@pytest.mark.slow
def test_a_tool_added_later_is_still_filtered_by_include(make: MakeDispatcher) -> None:
    """include applies to what a server adds after the start too."""
    dispatcher = make(flaky(include=["grow", "echo"]))
    link = registered_plugin(dispatcher, "mcp").links["flaky"]
    assert dispatcher.dispatch_sync("flaky_grow", {}).output == "grown"
    assert wait_until(lambda: "extra" in link.tools, 10)
    assert "flaky_extra" not in {t.name for t in dispatcher.tools()}
    refused = dispatcher.dispatch_sync("flaky_extra", {})
    assert refused.error is not None and refused.error.kind == "unknown_tool"


def test_error_results_and_images_reach_the_providers(make: MakeDispatcher) -> None:
    """isError is an execution_error with the server's text; images are native where accepted."""
    dispatcher = make(flaky())
    failed = dispatcher.dispatch_sync("flaky_fail", {})
    assert failed.error is not None and (failed.error.kind, failed.error.message) == (
        "execution_error",
        "the widget is broken",
    )
    image = dispatcher.dispatch_sync("flaky_image", {})
    assert isinstance(image.result, toolwire.Content)
    assert image.output == "a red dot\n[image: image/png, 70 bytes]"

    items = asyncio.run(
        dispatcher.process_response(build_response("openai-responses", [("flaky_image", {})]))
    )
    sdk_validate(ResponseInputParam, items)
    output = items[-1]["output"]
    assert output[0] == {"type": "input_text", "text": image.output}
    assert output[1]["type"] == "input_image" and output[1]["image_url"].startswith(
        "data:image/png;base64,iVBOR"
    )

    items = asyncio.run(
        dispatcher.process_response(build_response("anthropic", [("flaky_image", {}, "toolu_i")]))
    )
    for item in items:
        sdk_validate(MessageParam, item)
    blocks = items[-1]["content"][0]["content"]
    assert blocks[1]["type"] == "image" and blocks[1]["source"]["media_type"] == "image/png"

    items = asyncio.run(
        dispatcher.process_response(build_response("openai-chat", [("flaky_image", {})]))
    )
    assert "[image: image/png, 70 bytes]" in json.dumps(items[-1])
    assert "iVBOR" not in json.dumps(items[-1])  # Chat Completions: described, not sent
    items = asyncio.run(
        dispatcher.process_response(build_response("gemini", [("flaky_image", {})]))
    )
    response = items[-1]["parts"][0]["functionResponse"]
    assert response["parts"][0]["inlineData"]["mimeType"] == "image/png"  # Gemini: native


def test_progress_from_the_server_reaches_the_host(make: MakeDispatcher) -> None:
    """notifications/progress from the server become the host's progress callback calls."""
    dispatcher = make(flaky())
    seen: list[tuple[float, float | None, str | None]] = []
    result = dispatcher.dispatch_sync(
        "flaky_slow", {"seconds": 0.2}, progress=lambda *r: seen.append(r)
    )
    assert result.success
    assert [p for p, _, _ in seen] == [0.0, 1.0, 2.0, 3.0] and seen[0][1] == 4.0


def test_a_server_that_does_not_start_is_a_failed_plugin(make: MakeDispatcher) -> None:
    """A server whose program fails is recorded as a failed plugin, with what went wrong; others load."""
    broken = flaky("broken").replace(str(SERVERS / "flaky.py"), str(SERVERS / "missing.py"))
    dispatcher = make(broken + flaky())
    rows = {p.name: p for p in dispatcher.plugins()}
    assert rows["mcp.broken"].status == "failed"
    assert "broken" in (rows["mcp.broken"].error or "") and "missing.py" in (
        rows["mcp.broken"].error or ""
    )
    assert rows["mcp.flaky"].status == "enabled"
    with pytest.raises(toolwire.PluginError, match=r"mcp\.broken"):
        make(broken, strict=True)


def test_a_misspelt_exclude_fails_closed(make: MakeDispatcher) -> None:
    """exclude naming a tool the server does not offer (a typo would leave the tool it meant
    offered): the server is not loaded, the message names the closest tool; fatal under strict."""
    dispatcher = make(flaky(exclude=["dei"]))
    (row,) = [p for p in dispatcher.plugins() if p.name == "mcp.flaky"]
    assert row.status == "failed"
    assert "'dei' (did you mean 'die'?)" in (row.error or "")
    assert not [t for t in dispatcher.tools() if t.name.startswith("flaky_")]
    with pytest.raises(toolwire.PluginError, match="did you mean 'die'"):
        make(flaky(exclude=["dei"]), strict=True)
    assert "flaky_die" not in {t.name for t in make(flaky(exclude=["die"])).tools()}


def test_two_servers_with_one_tool_name_stop_the_start(make: MakeDispatcher) -> None:
    """Without prefixes, two servers offering the same tool name are a duplicate, as for any pack."""
    with pytest.raises(toolwire.ConfigError, match="echo"):
        make(flaky("a", prefix="") + flaky("b", prefix=""))


def test_roles_and_policy_apply_to_loaded_tools(make: MakeDispatcher) -> None:
    """[tools.NAME] roles and enabled apply to a server's tools exactly as to local ones."""
    dispatcher = make(
        flaky() + '[tools.flaky_echo]\nroles = ["admin"]\n[tools.flaky_die]\nenabled = false\n'
    )
    assert "flaky_echo" not in {t.name for t in dispatcher.tools("user")}
    assert "flaky_die" not in {t.name for t in dispatcher.tools(all_roles=True)}
    denied = dispatcher.dispatch_sync("flaky_echo", {"text": "x"}, role="user")
    assert denied.error is not None and denied.error.kind == "permission_denied"
    assert dispatcher.dispatch_sync("flaky_echo", {"text": "x"}, role="admin").output == "x"


def test_close_ends_every_server_process(make: MakeDispatcher) -> None:
    """Dispatcher.close() leaves no server process in the process table."""
    before = children()
    dispatcher = make(flaky("one") + flaky("two"))
    started = children() - before
    assert len(started) >= 2
    dispatcher.close()
    assert wait_until(lambda: not (children() & started), 10)


@pytest.mark.slow
def test_a_cancelled_host_leaves_no_server_behind(tmp_path: Path) -> None:
    """A host whose task is cancelled mid-call and which exits without close() leaves no process."""
    config = tmp_path / "toolwire.toml"
    config.write_text('[plugins]\nautoload = false\nenable = ["mcp"]\n' + flaky())
    host = tmp_path / "host.py"
    host.write_text(
        textwrap.dedent(
            f"""
            import asyncio, toolwire
            dispatcher = toolwire.Dispatcher.from_config({str(config)!r})
            pid = dispatcher.dispatch_sync("flaky_pid", {{}}).result["pid"]
            open({str(tmp_path / "pid")!r}, "w").write(str(pid))

            async def main():
                task = asyncio.ensure_future(dispatcher.dispatch("flaky_slow", {{"seconds": 60}}))
                await asyncio.sleep(0.5)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

            asyncio.run(main())
            """
        )
    )
    done = subprocess.run([sys.executable, str(host)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    server = int((tmp_path / "pid").read_text())
    assert wait_until(lambda: not psutil.pid_exists(server), 10)


@pytest.mark.slow
def test_restarts_that_keep_failing_back_off(make: MakeDispatcher, tmp_path: Path) -> None:
    """A server that cannot be started again answers with a retryable error, then with retry_after
    while it backs off, until it can start."""
    script = tmp_path / "server.py"
    script.write_text((SERVERS / "flaky.py").read_text())
    dispatcher = make(flaky().replace(str(SERVERS / "flaky.py"), str(script)))
    first = _pid(dispatcher)
    hidden = script.rename(tmp_path / "elsewhere.py")
    os.kill(first, signal.SIGKILL)
    assert wait_until(
        lambda: (
            not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
        )
    )
    restart = dispatcher.dispatch_sync("flaky_echo", {"text": "x"})  # the immediate restart fails
    if restart.error is not None and "went away during the call" in restart.error.message:
        # On a busy machine the session may learn of the death only during this call.
        restart = dispatcher.dispatch_sync("flaky_echo", {"text": "x"})
    assert restart.error is not None and restart.error.retryable
    waiting = dispatcher.dispatch_sync("flaky_echo", {"text": "x"})
    assert waiting.error is not None and waiting.error.retryable
    assert waiting.error.details["retry_after"] >= 1 and "is down" in waiting.error.message
    hidden.rename(script)
    assert wait_until(
        lambda: dispatcher.dispatch_sync("flaky_echo", {"text": "y"}).output == "y", 15
    )


@pytest.mark.slow
def test_a_2026_server_announces_list_changes_on_its_listen_stream(make: MakeDispatcher) -> None:
    """On a 2026-07-28 session the plugin listens for tool list changes and lists again."""
    dispatcher = make(toml_server("modern", sys.executable, [str(SERVERS / "modern.py")]))
    plugin = registered_plugin(dispatcher, "mcp")
    link = plugin.links["modern"]
    assert set(link.tools) == {"grow"}
    assert dispatcher.dispatch_sync("modern_grow", {}).result == {"result": "grown"}
    assert wait_until(lambda: "extra" in link.tools, 10)
