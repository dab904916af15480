"""The call pipeline, stage by stage: each error kind, and one result per call in order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import structlog
import toolwire

from .conftest import MakeDispatcher

pack = toolwire.Toolset("pipeline")


@pack.tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First.
        b: Second.
    """
    return a + b


@pack.tool
async def echo(text: str, times: int = 1) -> str:
    """Repeat text."""
    return text * times


@pack.tool
def explode(secret: str) -> None:
    """Raise an unexpected error that mentions a secret and a path."""
    raise RuntimeError(f"/srv/internal/path.py leaked {secret}")


@pack.tool
def refuse(city: str) -> None:
    """Raise an error meant for the model."""
    raise toolwire.ToolError(f"City not found: {city}")


@pack.tool
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "slept"


@pack.tool(enabled=False)
def hidden() -> str:
    """Disabled in code."""
    return "never"


@pytest.fixture
def dispatcher(make: MakeDispatcher) -> toolwire.Dispatcher:
    return make(pack, config={"tools": {"add": {"roles": ["math"]}, "echo": {}}})


async def test_a_valid_call_runs_and_is_serialized(dispatcher: toolwire.Dispatcher) -> None:
    """A call that passes every stage returns the result and its compact JSON text."""
    result = await dispatcher.dispatch("add", '{"a": 2, "b": 3}', call_id="c1", role="math")
    assert result.success and result.result == 5 and result.output == "5"
    assert result.call_id == "c1" and result.name == "add" and result.attempts == 1
    assert result.error is None and result.elapsed_ms > 0


async def test_unknown_and_disabled_tools_answer_alike(make: MakeDispatcher) -> None:
    """A disabled tool gets exactly the answer an unknown one gets, with close valid names."""
    dispatcher = make(pack, config={"tools": {"slow": {"enabled": False}}})
    for name in ("hidden", "slow", "nothing_like_it"):
        result = await dispatcher.dispatch(name, "{}")
        assert result.error is not None and result.error.kind == "unknown_tool"
        assert result.error.message == f"no tool named {name!r}"
    typo = await dispatcher.dispatch("ech", "{}")
    assert typo.error is not None and typo.error.details == {"closest": ["echo"]}
    assert "hidden" not in [t.name for t in dispatcher.tools()]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ('{"a": 1, "b": ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got an array"),
        ('"text"', "got a string"),
        ("3", "got a number"),
        ("null", "got null"),
        ('{"a": NaN, "b": 1}', "NaN is not valid JSON"),
        ('{"a": Infinity, "b": 1}', "Infinity is not valid JSON"),
    ],
)
async def test_parse_refuses_what_is_not_a_json_object(
    dispatcher: toolwire.Dispatcher, raw: str, fragment: str
) -> None:
    """Malformed or non-object arguments end the call with invalid_arguments."""
    result = await dispatcher.dispatch("add", raw, role="math")
    assert result.error is not None and result.error.kind == "invalid_arguments"
    assert fragment in result.error.message and result.attempts == 0


async def test_unknown_keys_are_rejected_listing_accepted(dispatcher: toolwire.Dispatcher) -> None:
    """Arguments the schema does not declare are an error, never silently dropped."""
    result = await dispatcher.dispatch("add", {"a": 1, "b": 2, "c": 3}, role="math")
    assert result.error is not None and result.error.kind == "invalid_arguments"
    assert "unknown argument(s) 'c'" in result.error.message
    assert result.error.details["accepted"] == ["a", "b"]


async def test_missing_required_keys_are_named(dispatcher: toolwire.Dispatcher) -> None:
    """Each missing required argument is named in the error."""
    result = await dispatcher.dispatch("add", {}, role="math")
    assert result.error is not None
    assert "missing required argument 'a'" in result.error.message
    assert "missing required argument 'b'" in result.error.message


async def test_no_silent_coercion(dispatcher: toolwire.Dispatcher) -> None:
    """A string "5" is not turned into the integer 5."""
    result = await dispatcher.dispatch("add", {"a": "5", "b": 1}, role="math")
    assert result.error is not None and result.error.kind == "invalid_arguments"
    assert "a: expected integer, got a string" in result.error.message


async def test_validation_errors_never_echo_values(dispatcher: toolwire.Dispatcher) -> None:
    """What the model sent is shown back cut to 40 characters, so a long value is never repeated."""
    sent = "hunter2-secret" + "x" * 100
    result = await dispatcher.dispatch("add", {"a": sent, "b": 1}, role="math")
    assert result.error is not None and sent not in result.output
    assert 'got a string (\\"hunter2-secret' in result.output


async def test_strict_mode_nulls_mean_left_out(dispatcher: toolwire.Dispatcher) -> None:
    """A null for a left-out optional argument (OpenAI strict mode) lets the default apply."""
    result = await dispatcher.dispatch("echo", {"text": "ab", "times": None})
    assert result.output == "ab"
    required = await dispatcher.dispatch("echo", {"text": None})
    assert required.error is not None and "text: expected string, got null" in required.output


async def test_permission_denied_by_role(dispatcher: toolwire.Dispatcher) -> None:
    """A role not listed for the tool is denied before the tool runs."""
    result = await dispatcher.dispatch("add", {"a": 1, "b": 2}, role="guest")
    assert result.error is not None and result.error.kind == "permission_denied"
    assert result.attempts == 0 and not result.error.retryable


async def test_unexpected_errors_are_generic_for_the_model(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """An unexpected exception sends a generic message; the traceback goes to the log."""
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch("explode", {"secret": "s3cr3t"})
    assert result.error is not None and result.error.kind == "execution_error"
    assert "s3cr3t" not in result.output and "/srv" not in result.output
    assert "Traceback" not in result.output
    failed = [e for e in logs if e["event"] == "toolwire.tool_failed"]
    # The argument is a secret ([logging] redact): the traceback is logged rendered, masked.
    assert (
        failed and "RuntimeError: /srv/internal/path.py leaked [redacted]" in failed[0]["exception"]
    )


async def test_tool_error_message_reaches_the_model(dispatcher: toolwire.Dispatcher) -> None:
    """A tool raising toolwire.ToolError sends exactly its message."""
    result = await dispatcher.dispatch("refuse", {"city": "Atlantis"})
    assert result.error == toolwire.ToolError("City not found: Atlantis")
    assert json.loads(result.output) == {
        "error": "execution_error",
        "message": "City not found: Atlantis",
        "retryable": False,
    }


async def test_batch_gives_one_result_per_call_in_order(dispatcher: toolwire.Dispatcher) -> None:
    """Failing, slow, denied and unknown calls mixed in still give N results in call order."""
    calls = [
        toolwire.ToolCall("slow", {"seconds": 0.05}, "c0"),
        toolwire.ToolCall("add", {"a": 1, "b": 1}, "c1"),  # denied: no role
        toolwire.ToolCall("explode", {"secret": "x"}, "c2"),
        toolwire.ToolCall("echo", '{"text": "hi", "times": 2}', "c3"),
        toolwire.ToolCall("missing", "{}", "c4"),
        toolwire.ToolCall("echo", "{broken", "c5"),
        {"name": "echo", "arguments": {"text": "dict"}, "call_id": "c6"},
    ]
    results = await dispatcher.dispatch_many(calls)
    assert [r.call_id for r in results] == [f"c{i}" for i in range(7)]
    kinds = [r.error.kind if r.error else "ok" for r in results]
    assert kinds == [
        "ok",
        "permission_denied",
        "execution_error",
        "ok",
        "unknown_tool",
        "invalid_arguments",
        "ok",
    ]
    assert results[3].output == "hihi" and results[6].output == "dict"


async def test_calls_without_ids_get_unique_ids(dispatcher: toolwire.Dispatcher) -> None:
    """A call the model sent without an id still gets one, unique within the dispatcher."""
    results = await dispatcher.dispatch_many([{"name": "echo", "arguments": {"text": "a"}}] * 3)
    ids = [r.call_id for r in results]
    assert all(ids) and len(set(ids)) == 3


def test_sync_twins_match_async(dispatcher: toolwire.Dispatcher) -> None:
    """dispatch_sync and dispatch_many_sync give what their async twins give."""
    single = dispatcher.dispatch_sync("echo", {"text": "x", "times": 3}, call_id="s")
    assert single.output == "xxx" and single.call_id == "s"
    many = dispatcher.dispatch_many_sync([toolwire.ToolCall("echo", {"text": "y"}, "m")])
    assert [r.output for r in many] == ["y"]


async def test_sync_twin_works_inside_a_running_loop(dispatcher: toolwire.Dispatcher) -> None:
    """A sync twin called from inside an event loop still answers (on a loop of its own)."""
    result = dispatcher.dispatch_sync("echo", {"text": "in-loop"})
    assert result.output == "in-loop"


async def test_caller_cancellation_propagates(dispatcher: toolwire.Dispatcher) -> None:
    """Cancelling a batch cancels its calls and re-raises to the caller, never swallowed."""
    task = asyncio.create_task(
        dispatcher.dispatch_many(
            [toolwire.ToolCall("slow", {"seconds": 30}, f"c{i}") for i in range(3)]
        )
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_tool_raising_cancelled_error_is_a_result(make: MakeDispatcher) -> None:
    """A tool that raises CancelledError on its own gets an error result; siblings survive."""
    own = toolwire.Toolset("own")

    @own.tool
    async def self_cancel() -> None:
        raise asyncio.CancelledError

    @own.tool
    def exits() -> None:
        raise SystemExit(3)

    @own.tool
    def interrupt() -> None:
        raise KeyboardInterrupt

    @own.tool
    async def fine() -> str:
        return "fine"

    results = await make(own).dispatch_many(
        [{"name": n} for n in ("self_cancel", "exits", "interrupt", "fine")]
    )
    assert [r.error.kind if r.error else "ok" for r in results] == [
        "cancelled",
        "execution_error",
        "execution_error",
        "ok",
    ]


def test_results_serialize_deterministically(make: MakeDispatcher) -> None:
    """Non-string results become compact UTF-8 JSON; strings pass through."""
    out = toolwire.Toolset("out")

    @out.tool
    def data() -> dict[str, Any]:
        return {"b": 1, "a": ["é", None, 1.5]}

    @out.tool
    def text() -> str:
        return "plain ✓"

    dispatcher = make(out)
    assert dispatcher.dispatch_sync("data").output == '{"b":1,"a":["é",null,1.5]}'
    assert dispatcher.dispatch_sync("text").output == "plain ✓"


def test_batch_items_that_are_no_call_are_answered_with_what_is_wrong() -> None:
    """A mapping with other keys than name, arguments and call_id, or an item of another
    type, gets ``rejected`` naming it, in its place; ids that are not text become text."""
    pack = toolwire.Toolset("batch-items")

    @pack.tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    dispatcher = toolwire.Dispatcher().add(pack)
    results = dispatcher.dispatch_many_sync(
        [
            {"name": "add", "args": {"a": 1, "b": 2}, "id": "q"},
            42,
            {"name": "add", "arguments": {"a": 1, "b": 2}, "call_id": 7},
            toolwire.ToolCall("add", {"a": 2, "b": 2}, "mine"),
        ]
    )
    assert [r.error.kind if r.error else None for r in results] == [
        "rejected",
        "rejected",
        None,
        None,
    ]
    assert "['args', 'id']" in results[0].output and "batch item 0" in results[0].output
    assert "batch item 1 is of type int" in results[1].output
    assert [r.call_id for r in results[2:]] == ["7", "mine"]
    assert dispatcher.dispatch_sync("add", {"a": 1, "b": 1}, call_id=5).call_id == "5"  # type: ignore[arg-type]
    dispatcher.close()
