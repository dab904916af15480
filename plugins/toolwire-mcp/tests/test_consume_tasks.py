"""Loaded MCP servers' tasks followed and their requests for input answered, with real servers:
one written with the official SDK (``servers/consumed.py``) and the npm server-everything."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import toolwire
import toolwire_mcp
from mcp_helpers import SERVERS, wait_until
from toolwire_mcp import ElicitationAnswer, ElicitationRequest

Build = Callable[..., toolwire.Dispatcher]


@pytest.fixture
def events(tmp_path: Path) -> Path:
    """The file where the test server writes each task event it sees."""
    path = tmp_path / "events.txt"
    path.touch()
    return path


@pytest.fixture
def build(events: Path) -> Iterator[Build]:
    """Dispatchers loading ``consumed.py`` as ``c``, the mcp plugin built in code; closed after."""
    made: list[toolwire.Dispatcher] = []

    def make(
        elicitation: Any = None, tools: dict[str, Any] | None = None, **server: Any
    ) -> toolwire.Dispatcher:
        table = {"command": sys.executable, "args": [str(SERVERS / "consumed.py"), str(events)]}
        config = {
            "plugins": {"autoload": False, "mcp": {"servers": {"c": {**table, **server}}}},
            "tools": tools or {},
        }
        plugin = toolwire_mcp.McpPlugin(elicitation=elicitation)
        dispatcher = toolwire.Dispatcher(config).add(plugin, name="mcp")
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.close()


def _lines(events: Path) -> list[str]:
    return events.read_text().splitlines()


def test_required_task_followed_to_completion(build: Build, events: Path) -> None:
    """A tool whose taskSupport is "required" is called as a task, polled and its result read."""
    result = build().dispatch_sync("c_slow_sum", {"a": 2, "b": 3, "pause": 0.3})
    assert result.error is None and result.result == "5"
    assert _lines(events) == ["created task-1 slow_sum", "completed task-1", "result task-1"]


def test_task_cancelled_on_the_server_when_the_call_times_out(build: Build, events: Path) -> None:
    """A task still working at the call's timeout gets tasks/cancel before the call ends."""
    dispatcher = build(tools={"c_slow_sum": {"timeout": 1}})
    result = dispatcher.dispatch_sync("c_slow_sum", {"a": 1, "b": 1, "pause": 60})
    assert result.error is not None and result.error.kind == "timeout"
    assert "cancel task-1" in _lines(events)  # sent, answered, before the call's end
    assert wait_until(lambda: "run-cancelled task-1" in _lines(events), 10)


def test_task_cancelled_on_the_server_when_the_caller_cancels(build: Build, events: Path) -> None:
    """Cancelling the dispatch of a task tool sends tasks/cancel before the cancelled call ends."""
    dispatcher = build()
    dispatcher.start()

    async def cancel_midway() -> None:
        call = asyncio.ensure_future(
            dispatcher.dispatch("c_slow_sum", {"a": 1, "b": 1, "pause": 60})
        )
        while "created task-1 slow_sum" not in _lines(events):
            await asyncio.sleep(0.02)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert "cancel task-1" in _lines(events)

    asyncio.run(cancel_midway())


def test_a_task_is_followed_by_the_id_it_was_created_with(build: Build, events: Path) -> None:
    """A server whose tasks/get answers name another task: toolwire keeps asking about the
    task it created, never the one a later answer names, and reads that task's result."""
    result = build().dispatch_sync("c_shifty_sum", {"a": 4, "b": 5})
    assert result.error is None and result.result == "9"
    lines = _lines(events)
    assert lines[0] == "created task-1 shifty_sum" and "result task-1" in lines
    assert {line for line in lines if line.startswith("get ")} == {"get task-1"}


def test_a_timeout_after_the_task_ended_says_no_cancel_was_sent(build: Build, events: Path) -> None:
    """A task that ended but whose result did not come within the server's timeout is not
    said to be cancelled: no tasks/cancel is sent for it, and the timeout says its result was
    late. (The server's own timeout, not the tool's: only the link's deadline is running.)"""
    dispatcher = build(timeout=1)
    result = dispatcher.dispatch_sync("c_late_result", {})
    assert result.error is not None and result.error.kind == "timeout"
    assert "did not come in time" in result.error.message
    assert "cancelled" not in result.error.message
    assert not [line for line in _lines(events) if line.startswith("cancel ")]


def test_failed_task_is_an_execution_error(build: Build) -> None:
    """A task that ends failed answers execution_error with the server's words and the task."""
    result = build().dispatch_sync("c_failing", {})
    assert result.error is not None and result.error.kind == "execution_error"
    assert "failed" in result.error.message and "disk full" in result.error.message
    assert result.error.details == {"task_id": "task-1", "status": "failed"}


def test_optional_task_support_follows_the_task_option(build: Build, events: Path) -> None:
    """taskSupport "optional" is a plain call, and a task when [tools.NAME] task = true."""
    plain = build().dispatch_sync("c_optional_sum", {"a": 1, "b": 2})
    assert plain.result == "plain 3" and _lines(events) == []
    tasked = build(tools={"c_optional_sum": {"task": True}})
    assert tasked.dispatch_sync("c_optional_sum", {"a": 1, "b": 2}).result == "task 3"
    assert _lines(events)[0] == "created task-1 optional_sum"


def test_elicitation_accepted_by_the_callback(build: Build) -> None:
    """The callback gets the server, the call and the schema; accepted content reaches the tool."""
    seen: list[ElicitationRequest] = []

    def ask(request: ElicitationRequest) -> ElicitationAnswer:
        seen.append(request)
        return ElicitationAnswer.accept({"name": "Ada"})

    dispatcher = build(elicitation=ask)
    result = asyncio.run(
        dispatcher.dispatch("c_ask_name", {}, role="analyst", state={"principal": "ada@example"})
    )
    assert result.result == "hello Ada"
    [request] = seen
    assert (request.server, request.message) == ("c", "What is your name?")
    assert request.schema["required"] == ["name"]
    assert request.call is not None
    assert (request.call.tool, request.call.remote_tool) == ("c_ask_name", "ask_name")
    assert (request.call.call_id, request.call.role) == (result.call_id, "analyst")
    assert request.call.principal == "ada@example"


def test_elicitation_declined_by_an_async_callback(build: Build) -> None:
    """An async callback's decline reaches the server's tool as a decline."""

    async def ask(request: ElicitationRequest) -> ElicitationAnswer:
        return ElicitationAnswer.decline()

    assert build(elicitation=ask).dispatch_sync("c_ask_name", {}).result == "decline"


def test_elicitation_declined_at_once_without_a_callback(build: Build) -> None:
    """With no callback, the server's request for input is declined: the call answers, no timeout."""
    result = build(timeout=5).dispatch_sync("c_ask_name", {})
    assert result.error is None and result.result == "decline"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(RuntimeError("token sk-secret"), id="raises"),
        pytest.param("yes", id="not-an-answer"),
        pytest.param(ElicitationAnswer.accept({"name": ""}), id="content-the-schema-refuses"),
        pytest.param(ElicitationAnswer.accept({"name": {"first": "Ada"}}), id="not-mcp-content"),
    ],
)
def test_a_bad_callback_gives_a_decline(
    build: Build, answer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback that raises or answers badly gives a logged decline, never a hang or a secret."""

    def ask(request: ElicitationRequest) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    result = build(elicitation=ask, timeout=5).dispatch_sync("c_ask_name", {})
    assert result.error is None and result.result == "decline"
    declined = [r for r in caplog.records if "elicitation_declined" in r.getMessage()]
    assert declined and "sk-secret" not in caplog.text


def test_a_callback_past_the_deadline_ends_in_a_decline(build: Build) -> None:
    """A callback that does not answer holds the call no longer than its deadline (timeout)."""
    release = threading.Event()

    def ask(request: ElicitationRequest) -> ElicitationAnswer:
        release.wait(30)
        return ElicitationAnswer.accept({"name": "late"})

    try:
        result = build(elicitation=ask, timeout=1).dispatch_sync("c_ask_name", {})
    finally:
        release.set()
    assert result.error is not None and result.error.kind == "timeout"


def test_a_callback_that_is_not_callable_stops_the_host() -> None:
    """McpPlugin(elicitation=...) refuses a value that cannot be called, naming what it takes."""
    with pytest.raises(TypeError, match="ElicitationRequest"):
        toolwire_mcp.McpPlugin(elicitation="ask")  # type: ignore[arg-type]


@pytest.mark.slow
def test_server_everything_task_followed_and_its_elicitation_answered(npm_bin: Path) -> None:
    """server-everything's research task (taskSupport "required") asks for input mid-task: the
    callback answers it, and the task is followed to its report."""
    seen: list[ElicitationRequest] = []

    def ask(request: ElicitationRequest) -> ElicitationAnswer:
        seen.append(request)
        return ElicitationAnswer.accept({"interpretation": "programming"})

    config = {
        "plugins": {
            "autoload": False,
            "mcp": {
                "servers": {
                    "every": {
                        "command": str(npm_bin / "mcp-server-everything"),
                        "args": ["stdio"],
                        "include": ["simulate-research-query", "trigger-elicitation-request"],
                    }
                }
            },
        },
        "tools": {"every_simulate-research-query": {"timeout": 60}},
    }
    plugin = toolwire_mcp.McpPlugin(elicitation=ask)
    dispatcher = toolwire.Dispatcher(config).add(plugin, name="mcp")
    try:
        result = dispatcher.dispatch_sync(
            "every_simulate-research-query", {"topic": "python", "ambiguous": True}
        )
        assert result.error is None, result.output
        assert "programming" in json.dumps(result.result)
        [request] = seen
        assert request.call is not None and request.call.call_id == result.call_id
        assert "interpretation" in request.schema["properties"]
    finally:
        dispatcher.close()


def test_elicitation_on_a_2026_session_reaches_the_callback() -> None:
    """On a 2026-07-28 session (input-required results) the callback answers, tied to its call."""
    seen: list[ElicitationRequest] = []

    def ask(request: ElicitationRequest) -> ElicitationAnswer:
        seen.append(request)
        return ElicitationAnswer.accept({"name": "Ada"})

    table = {"command": sys.executable, "args": [str(SERVERS / "desk.py")], "timeout": 10}
    config = {"plugins": {"autoload": False, "mcp": {"servers": {"desk": table}}}}
    for callback, expected in ((ask, "hello Ada"), (None, "decline")):
        plugin = toolwire_mcp.McpPlugin(elicitation=callback)
        dispatcher = toolwire.Dispatcher(config).add(plugin, name="mcp")
        try:
            result = dispatcher.dispatch_sync("desk_greet", {})
        finally:
            dispatcher.close()
        assert result.error is None and result.result == {"result": expected}
    [request] = seen
    assert request.call is not None and request.call.tool == "desk_greet"
