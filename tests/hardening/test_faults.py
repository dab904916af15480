"""Tools that hang and crash, plugins that misbehave: one result per call, and the host keeps running."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import structlog
import toolwire
from toolwire.testing import build_response

from ..conftest import MakeDispatcher

runs: Counter[str] = Counter()

pack = toolwire.Toolset("faults")


@pack.tool
def echo(text: str) -> str:
    """Echo text.

    Args:
        text: What to echo.
    """
    runs["echo"] += 1
    return text


@pack.tool
async def aecho(text: str) -> str:
    """Echo text from a coroutine.

    Args:
        text: What to echo.
    """
    runs["aecho"] += 1
    return text


@pack.tool
def crash(n: int) -> int:
    """Raise an unexpected error on 3, else echo n."""
    runs["crash"] += 1
    if n == 3:
        raise RuntimeError("database password=hunter2 at /srv/app/secret.py line 12")
    return n


@pack.tool
def refuse(city: str) -> None:
    """Raise an error meant for the model."""
    runs["refuse"] += 1
    raise toolwire.ToolError(f"City not found: {city}", details={"city": city})


BASE_EXCEPTIONS = {
    "cancelled": asyncio.CancelledError,
    "keyboard_interrupt": KeyboardInterrupt,
    "system_exit": lambda: SystemExit(3),
    "generator_exit": GeneratorExit,
}


@pack.tool
def plain_raises(what: str) -> None:
    """Raise a BaseException from a plain function (on a pool thread)."""
    runs["plain_raises"] += 1
    raise BASE_EXCEPTIONS[what]()


@pack.tool
async def async_raises(what: str) -> None:
    """Raise a BaseException from a coroutine (on the event loop)."""
    runs["async_raises"] += 1
    raise BASE_EXCEPTIONS[what]()


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    runs.clear()
    yield
    runs.clear()


def _kinds(results: list[toolwire.DispatchResult]) -> list[str]:
    return [r.error.kind if r.error is not None else "ok" for r in results]


def _calls(*specs: tuple[str, dict[str, Any]]) -> list[toolwire.ToolCall]:
    return [toolwire.ToolCall(name, args, f"c{i}") for i, (name, args) in enumerate(specs)]


class FailsOn:
    """A plugin whose ``hook`` raises ``exc`` for calls whose text is "boom", and passes otherwise.

    Implementations may take a subset of the spec's arguments; ``call`` is all this one needs.
    """

    def __init__(self, hook: str, exc: BaseException, *, is_async: bool = False) -> None:
        def impl(call: toolwire.ToolCall) -> None:
            # str(): a format hook in process_response sees the arguments as the model sent them.
            if "boom" in str(call.arguments):
                raise exc

        async def async_impl(call: toolwire.ToolCall) -> None:
            await asyncio.sleep(0)
            impl(call)

        setattr(self, hook, toolwire.hookimpl(async_impl if is_async else impl))


# -- permission -----------------------------------------------------------------------------


class Vote:
    def __init__(self, vote: Any) -> None:
        self.vote = vote

    @toolwire.hookimpl
    def toolwire_check_permission(self, call: Any, context: Any) -> Any:
        return self.vote


class FirstVote(Vote):
    @toolwire.hookimpl(tryfirst=True)
    def toolwire_check_permission(self, call: Any, context: Any) -> Any:
        return self.vote


class LastVote(Vote):
    @toolwire.hookimpl(trylast=True)
    def toolwire_check_permission(self, call: Any, context: Any) -> Any:
        return self.vote


class AsyncFirstVote(Vote):
    @toolwire.hookimpl(tryfirst=True)
    async def toolwire_check_permission(self, call: Any, context: Any) -> Any:
        return self.vote


class AsyncLastVote(Vote):
    @toolwire.hookimpl(trylast=True)
    async def toolwire_check_permission(self, call: Any, context: Any) -> Any:
        await asyncio.sleep(0)
        return self.vote


class Hangs:
    @toolwire.hookimpl(tryfirst=True)
    async def toolwire_check_permission(self, call: Any, context: Any) -> Any:
        await asyncio.sleep(3600)
        return True


@pytest.mark.parametrize(
    "exc", [RuntimeError("bug"), SystemExit(1), KeyboardInterrupt(), asyncio.CancelledError()]
)
@pytest.mark.parametrize("is_async", [False, True])
async def test_a_raising_permission_hook_denies(
    make: MakeDispatcher, exc: BaseException, is_async: bool
) -> None:
    """A permission hook that raises anything denies its call (fail closed); siblings run."""
    dispatcher = make(pack).add(Vote(True), name="allow")
    dispatcher.add(FailsOn("toolwire_check_permission", exc, is_async=is_async), name="buggy")
    with structlog.testing.capture_logs() as logs:
        results = await dispatcher.dispatch_many(
            _calls(("echo", {"text": "boom"}), ("echo", {"text": "ok"}))
        )
    assert _kinds(results) == ["permission_denied", "ok"]
    assert runs == Counter(echo=1)
    assert any(e.get("plugin") == "buggy" and e["event"] == "toolwire.plugin_failed" for e in logs)


async def test_a_hanging_async_permission_hook_denies_within_its_bound(
    make: MakeDispatcher,
) -> None:
    """An async permission hook that never answers is cut off at permission_timeout: deny.

    Only an ``async def`` hook can be bounded; a plain-function hook that blocks forever cannot
    be interrupted in Python, and blocks its call (see tests/hardening/README.md).
    """
    dispatcher = make(pack, config={"defaults": {"permission_timeout": 0.05}})
    dispatcher.add(Vote(True), name="allow").add(Hangs(), name="hangs")
    with structlog.testing.capture_logs() as logs:
        results = await asyncio.wait_for(
            dispatcher.dispatch_many(_calls(("echo", {"text": "a"}), ("aecho", {"text": "b"}))), 10
        )
    assert _kinds(results) == ["permission_denied", "permission_denied"]
    assert runs == Counter()
    assert [e.get("plugin") for e in logs if e["event"] == "toolwire.permission_timeout"] == [
        "hangs",
        "hangs",
    ]


@pytest.mark.parametrize(
    "plugins",
    [
        [FirstVote(True), LastVote(False)],
        [FirstVote(True), LastVote(toolwire.Deny("no"))],
        [AsyncFirstVote(True), LastVote(False)],
        [FirstVote(True), AsyncLastVote(False)],
        [LastVote(True), FirstVote(False)],
        [FirstVote(True), Vote(True), LastVote("yes")],  # not a vote: deny
        [FirstVote(True), LastVote(FailsOn)],  # not a vote either
        [FirstVote(True), FailsOn("toolwire_check_permission", RuntimeError("x"))],
    ],
    ids=[
        "tryfirst_allow_trylast_false",
        "tryfirst_allow_trylast_deny",
        "async_tryfirst_allow_trylast_deny",
        "tryfirst_allow_async_trylast_deny",
        "trylast_allow_tryfirst_deny",
        "allows_then_invalid_vote",
        "allow_then_object_vote",
        "allow_then_raising_hook",
    ],
)
async def test_permission_cannot_be_skipped_by_position(
    make: MakeDispatcher, plugins: list[Any]
) -> None:
    """Every permission implementation is asked, whatever its position: an allow never ends the walk."""
    dispatcher = make(pack)
    for index, plugin in enumerate(plugins):
        dispatcher.add(plugin, name=f"p{index}")
    result = await dispatcher.dispatch("echo", {"text": "boom"})
    assert _kinds([result]) == ["permission_denied"]
    assert runs == Counter()


async def test_a_plugin_allow_cannot_override_role_rules(make: MakeDispatcher) -> None:
    """A tryfirst plugin that allows everything does not let a role call what its roles forbid."""
    admin = toolwire.Toolset("admin")

    @admin.tool(roles=["admin"])
    def wipe() -> str:
        """Wipe everything."""
        runs["wipe"] += 1
        return "wiped"

    dispatcher = make(admin).add(FirstVote(True), name="allow-all")
    assert _kinds([await dispatcher.dispatch("wipe", {}, role="guest")]) == ["permission_denied"]
    assert (await dispatcher.dispatch("wipe", {}, role="admin")).success
    assert runs == Counter(wipe=1)


# -- before / after / format ------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [RuntimeError("plugin bug"), SystemExit(1), KeyboardInterrupt(), asyncio.CancelledError()],
    ids=["runtime_error", "system_exit", "keyboard_interrupt", "cancelled"],
)
@pytest.mark.parametrize("hook", ["toolwire_before_call", "toolwire_after_call"])
@pytest.mark.parametrize("is_async", [False, True])
async def test_a_raising_before_or_after_hook_ends_only_its_call(
    make: MakeDispatcher, hook: str, exc: BaseException, is_async: bool
) -> None:
    """A before/after hook that raises gives internal_error to that call only, the plugin logged."""
    dispatcher = make(pack).add(FailsOn(hook, exc, is_async=is_async), name="buggy-plugin")
    calls = _calls(("echo", {"text": "a"}), ("echo", {"text": "boom"}), ("aecho", {"text": "c"}))
    with structlog.testing.capture_logs() as logs:
        results = await dispatcher.dispatch_many(calls)
    assert _kinds(results) == ["ok", "internal_error", "ok"]
    assert [r.call_id for r in results] == ["c0", "c1", "c2"]
    failed = results[1]
    assert "buggy-plugin" not in failed.output and "plugin bug" not in failed.output
    assert "Traceback" not in failed.output
    (event,) = [e for e in logs if e["event"] == "toolwire.plugin_failed"]
    assert event["plugin"] == "buggy-plugin" and event["hook"] == hook
    assert event["call_id"] == "c1" and event["exc_info"] is exc
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "exc", [RuntimeError("plugin bug"), SystemExit(1), asyncio.CancelledError()]
)
@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("provider", ["openai-responses", "openai-chat", "anthropic", "gemini"])
async def test_a_raising_format_hook_ends_only_its_call(
    make: MakeDispatcher, exc: BaseException, is_async: bool, provider: str
) -> None:
    """A format hook that raises gives that call an internal_error in the provider's shape."""
    dispatcher = make(pack).add(
        FailsOn("toolwire_format_result", exc, is_async=is_async), name="bad-format"
    )
    response = build_response(
        provider, [("echo", {"text": "a"}, "c0"), ("echo", {"text": "boom"}, "c1")]
    )
    with structlog.testing.capture_logs() as logs:
        items = await dispatcher.process_response(response, provider)
    text = str(items[-2:] if provider.startswith("openai") else items[-1])
    assert text.count("internal_error") == 1 and "plugin bug" not in text
    (event,) = [e for e in logs if e["event"] == "toolwire.plugin_failed"]
    assert event["plugin"] == "bad-format" and event["hook"] == "toolwire_format_result"
    assert event["call_id"] == "c1"


# -- tools that fail ----------------------------------------------------------------------------


async def test_in_a_batch_of_five_the_third_raising_keeps_four_successes(
    make: MakeDispatcher,
) -> None:
    """Five calls, the third raises: five results in order, the other four successful."""
    results = await make(pack).dispatch_many(_calls(*[("crash", {"n": n}) for n in range(1, 6)]))
    assert [r.call_id for r in results] == [f"c{i}" for i in range(5)]
    assert _kinds(results) == ["ok", "ok", "execution_error", "ok", "ok"]
    assert [r.result for r in results] == [1, 2, None, 4, 5]
    assert runs == Counter(crash=5)


@pytest.mark.parametrize("what", BASE_EXCEPTIONS)
@pytest.mark.parametrize("tool", ["plain_raises", "async_raises"])
async def test_base_exceptions_in_tools_end_only_their_call(
    make: MakeDispatcher, what: str, tool: str
) -> None:
    """CancelledError, KeyboardInterrupt, SystemExit from a tool: an error result, siblings run."""
    dispatcher = make(pack)
    calls = _calls(("echo", {"text": "a"}), (tool, {"what": what}), ("aecho", {"text": "b"}))
    results = await dispatcher.dispatch_many(calls)
    expected = "cancelled" if what == "cancelled" else "execution_error"
    assert _kinds(results) == ["ok", expected, "ok"]
    assert [r.call_id for r in results] == ["c0", "c1", "c2"]
    # The caller was not cancelled, and its loop keeps serving.
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    await asyncio.sleep(0)
    assert (await dispatcher.dispatch("echo", {"text": "again"})).success


async def test_unexpected_exceptions_are_generic_for_the_model_and_logged_in_full(
    make: MakeDispatcher,
) -> None:
    """An unexpected exception sends a generic message; the traceback goes to the log."""
    with structlog.testing.capture_logs() as logs:
        result = await make(pack).dispatch("crash", {"n": 3}, call_id="c9")
    assert result.error is not None and result.error.kind == "execution_error"
    for leak in ("hunter2", "/srv/app", "RuntimeError", "Traceback", "line 12"):
        assert leak not in result.output
    (event,) = [e for e in logs if e["event"] == "toolwire.tool_failed"]
    assert event["call_id"] == "c9" and event["tool"] == "crash"
    exc = event["exc_info"]
    assert isinstance(exc, RuntimeError) and exc.__traceback__ is not None


async def test_a_tool_error_message_is_meant_for_the_model_and_passes(
    make: MakeDispatcher,
) -> None:
    """A tool raising toolwire.ToolError sends exactly its message and details."""
    result = await make(pack).dispatch("refuse", {"city": "Atlantis"})
    assert result.error == toolwire.ToolError(
        "City not found: Atlantis", details={"city": "Atlantis"}
    )
    assert result.output == (
        '{"error":"execution_error","message":"City not found: Atlantis",'
        '"retryable":false,"details":{"city":"Atlantis"}}'
    )


class WeirdResult:
    """A result whose serializer itself raises something no stage expects."""

    model_fields: ClassVar[dict[str, Any]] = {}

    def model_dump(self, **kwargs: Any) -> Any:
        raise LookupError("serializer bug")


async def test_a_result_whose_serializer_crashes_still_answers(make: MakeDispatcher) -> None:
    """A result whose own serializer crashes is one output_error (the serializer stage answers
    for whatever a result does), its exception never echoed; the batch's other call runs."""
    odd = toolwire.Toolset("odd")

    @odd.tool
    def weird() -> Any:
        """Return something that cannot serialize itself."""
        return WeirdResult()

    with structlog.testing.capture_logs() as logs:
        results = await make(pack, odd).dispatch_many(
            _calls(("weird", {}), ("echo", {"text": "fine"}))
        )
    assert _kinds(results) == ["output_error", "ok"]
    assert "serializer bug" not in results[0].output
    assert any(e["event"] == "toolwire.output_error" for e in logs)


# -- blocking and batches ----------------------------------------------------------------------


async def test_blocking_functions_overlap_and_the_loop_keeps_serving(
    make: MakeDispatcher,
) -> None:
    """Four plain functions blocking 0.5 s run at once (a Barrier(4) proves it); the loop beats on."""
    barrier = threading.Barrier(4, timeout=10)
    blocking = toolwire.Toolset("blocking")

    @blocking.tool
    def block(n: int) -> int:
        """Wait for the three others, then block the thread."""
        barrier.wait()  # raises BrokenBarrierError unless all four are running at once
        time.sleep(0.5)
        return n

    beats = 0
    stop = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal beats
        while not stop.is_set():
            beats += 1
            await asyncio.sleep(0.01)

    beating = asyncio.create_task(heartbeat())
    results = await make(blocking).dispatch_many(_calls(*[("block", {"n": n}) for n in range(4)]))
    stop.set()
    await beating
    assert [r.result for r in results] == [0, 1, 2, 3]
    assert not barrier.broken
    # 0.5 s of blocking at 10 ms a beat: a loop that was blocked would have beaten once or twice.
    assert beats >= 10


@pytest.mark.parametrize("provider", ["openai-responses", "openai-chat", "anthropic", "gemini"])
async def test_calls_past_the_batch_maximum_each_get_an_error(
    make: MakeDispatcher, provider: str
) -> None:
    """More calls than [limits] max_batch_calls: each extra call is answered, none dropped or run."""
    dispatcher = make(pack, config={"limits": {"max_batch_calls": 3}})
    calls = [("echo", {"text": str(i)}, f"c{i}") for i in range(7)]
    with structlog.testing.capture_logs() as logs:
        results = await dispatcher.dispatch_many(_calls(*[(n, a) for n, a, _ in calls]))
    assert [r.call_id for r in results] == [f"c{i}" for i in range(7)]
    assert _kinds(results) == ["ok"] * 3 + ["rejected"] * 4
    assert all("max_batch_calls" in r.output for r in results[3:])
    # Every call is observed (and logged), the refused ones too.
    assert sorted(e["call_id"] for e in logs if e["event"] == "toolwire.call") == [
        f"c{i}" for i in range(7)
    ]
    items = await dispatcher.process_response(build_response(provider, calls), provider)
    assert str(items).count("max_batch_calls") == 4
    assert runs == Counter(echo=6)
