"""What a call does not use costs it nothing: no walk of a hook stage it does not need, no
task, no thread hop where the call has none to make (issue 26). No test here times anything."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any, TypedDict

import pytest
import toolwire
from toolwire import _hookwalk
from toolwire._threads import ThreadRunner

from .conftest import MakeDispatcher


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hook each walk of a stage served, in order, for dispatchers built after it."""
    seen: list[str] = []
    plain, in_loop = _hookwalk._plain_walk, _hookwalk.Stage._walk_async

    def counted_plain(impls: Any, fold: _hookwalk.Fold, end: Any) -> Any:
        walk = plain(impls, fold, end)

        def counted(*args: Any) -> Any:
            seen.append(fold.hook)
            return walk(*args)

        return counted

    def counted_async(self: _hookwalk.Stage, *args: Any) -> Any:
        seen.append(self.fold.hook)
        return in_loop(self, *args)

    monkeypatch.setattr(_hookwalk, "_plain_walk", counted_plain)
    monkeypatch.setattr(_hookwalk.Stage, "_walk_async", counted_async)
    return seen


def _pack(roles: list[str] | None = None) -> toolwire.Toolset:
    pack = toolwire.Toolset("hot")

    @pack.tool(roles=roles)
    def lookup(city: str) -> dict[str, str]:
        """Look a city up."""
        if city == "nowhere":
            raise ValueError("no such city")
        return {"city": city}

    @pack.tool
    async def lookup_async(city: str) -> str:
        """Look a city up, on the loop."""
        return city

    return pack


class NoOp:
    @toolwire.hookimpl
    def toolwire_before_call(self, call: Any, context: Any) -> None:
        return None

    @toolwire.hookimpl
    def toolwire_after_call(self, call: Any, result: Any, context: Any) -> None:
        return None


class Fails:
    """Turns every success into a failure, after the tool ran."""

    @toolwire.hookimpl
    def toolwire_after_call(self, call: Any, result: Any, context: Any) -> Any:
        error = toolwire.ToolError("refused after the fact", kind="rejected")
        return toolwire.DispatchResult(False, result.call_id, result.name, None, error)


def test_a_call_walks_only_the_stages_something_does_in(
    make: MakeDispatcher, walks: list[str]
) -> None:
    """Dispatcher() defaults, a tool without roles: no before or after hook, and the roles vote
    abstains for such a tool, so only the call log's stage is walked."""
    dispatcher = make(_pack())
    assert dispatcher.dispatch_sync("lookup", {"city": "Oslo"}).success
    assert walks == ["toolwire_call_finished"]


def test_a_tool_with_roles_still_walks_the_roles_vote(
    make: MakeDispatcher, walks: list[str]
) -> None:
    """The vote left out for tools without roles is walked for a tool with them, and denies."""
    dispatcher = make(_pack(roles=["admin"]))
    denied = dispatcher.dispatch_sync("lookup", {"city": "Oslo"}, role="guest")
    assert denied.error is not None and denied.error.kind == "permission_denied"
    assert walks[0] == "toolwire_check_permission"
    assert dispatcher.dispatch_sync("lookup", {"city": "Oslo"}, role="admin").success


def test_a_success_below_the_call_logs_level_walks_no_observer(
    make: MakeDispatcher, walks: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """With [logging] level warning, a success walks neither the call log nor anything else
    after the tool, and a failure is still logged as a warning."""
    dispatcher = make(_pack(), NoOp(), config={"logging": {"level": "warning"}})
    with caplog.at_level(logging.INFO, logger="toolwire"):
        assert dispatcher.dispatch_sync("lookup", {"city": "Oslo"}).success
        assert walks == ["toolwire_before_call", "toolwire_after_call"]
        assert not [r for r in caplog.records if "toolwire.call" in r.getMessage()]
        walks.clear()
        failed = dispatcher.dispatch_sync("lookup", {"city": "nowhere"})
    assert failed.error is not None and failed.error.kind == "execution_error"
    assert walks == ["toolwire_before_call", "toolwire_call_finished"]
    logged = [r for r in caplog.records if r.getMessage().startswith("toolwire.call ")]
    assert [r.levelno for r in logged] == [logging.WARNING]


def test_an_after_hook_that_fails_a_call_is_seen_by_the_call_log(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """Which observers a call walks follows its outcome once the after hooks are done: a
    success an after hook turns into a failure is logged as one."""
    dispatcher = make(_pack(), Fails(), config={"logging": {"level": "warning"}})
    with caplog.at_level(logging.INFO, logger="toolwire"):
        result = dispatcher.dispatch_sync("lookup", {"city": "Oslo"})
    assert result.error is not None and result.error.kind == "rejected"
    logged = [r for r in caplog.records if r.getMessage().startswith("toolwire.call ")]
    assert [r.levelno for r in logged] == [logging.WARNING]


async def test_an_async_call_creates_no_task_and_takes_no_thread_hop(
    make: MakeDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``await dispatch`` of an ``async def`` tool runs in the caller's task: no task is
    created and no thread is asked for."""
    dispatcher = make(_pack(), NoOp())
    hops: list[object] = []
    submit = ThreadRunner._submit
    monkeypatch.setattr(
        ThreadRunner, "_submit", lambda self, work: (hops.append(work), submit(self, work))
    )
    loop = asyncio.get_running_loop()
    created: list[object] = []
    factory = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        created.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        result = await dispatcher.dispatch("lookup_async", {"city": "Oslo"})
    finally:
        loop.set_task_factory(factory)
    assert result.success and result.output == "Oslo"
    assert created == [] and hops == []


async def test_a_plain_function_takes_one_thread_hop_and_no_task(
    make: MakeDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``await dispatch`` of a plain function: exactly one hop to the dispatcher's threads, no
    task, and a failure in it is still the tool's own (execution_error, one attempt)."""
    dispatcher = make(_pack())
    hops: list[object] = []
    submit = ThreadRunner._submit
    monkeypatch.setattr(
        ThreadRunner, "_submit", lambda self, work: (hops.append(work), submit(self, work))
    )
    before = set(asyncio.all_tasks())
    result = await dispatcher.dispatch("lookup", {"city": "Oslo"})
    assert result.success and len(hops) == 1
    failed = await dispatcher.dispatch("lookup", {"city": "nowhere"})
    assert failed.error is not None and failed.error.kind == "execution_error"
    assert failed.attempts == 1 and len(hops) == 2
    assert set(asyncio.all_tasks()) == before


def test_dispatch_sync_inline_starts_no_loop_and_no_thread(
    make: MakeDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no loop running, dispatch_sync of a plain function on a bare route runs in the
    caller's thread: the dispatcher's own loop is never started and no thread is asked for."""
    dispatcher = make(_pack())
    hops: list[object] = []
    monkeypatch.setattr(ThreadRunner, "_submit", lambda self, work: hops.append(work))
    started = threading.active_count()
    for city in ("Oslo", "Paris"):
        assert dispatcher.dispatch_sync("lookup", {"city": city}).result == {"city": city}
    assert hops == [] and dispatcher._loop._loop is None
    assert threading.active_count() == started


class Place(TypedDict):
    city: str


def _results_pack() -> toolwire.Toolset:
    pack = toolwire.Toolset("results")

    @pack.tool
    def untyped(value: str):  # type: ignore[no-untyped-def]  # no return annotation
        """A dict, or NaN inside one."""
        return {"v": float("nan") if value == "nan" else value}

    @pack.tool
    def any_object(value: str) -> dict[str, Any]:
        """A dict, or NaN inside one."""
        return {"v": float("nan") if value == "nan" else value}

    @pack.tool
    def place(value: str) -> Place:
        """A Place, or a dict that is none."""
        return {"city": value} if value != "bad" else {"town": value}  # type: ignore[typeddict-item]

    @pack.tool(output_schema={"type": "object", "required": ["v"]})
    def given(value: str) -> dict[str, Any]:
        """A dict with v, or without."""
        return {"v": value} if value != "bad" else {"w": value}

    return pack


@pytest.mark.parametrize(
    ("tool", "as_json"),
    [("untyped", True), ("any_object", True), ("place", False), ("given", False)],
)
def test_a_dict_result_skips_to_its_json_only_when_nothing_checks_or_reshapes_it(
    make: MakeDispatcher, caplog: pytest.LogCaptureFixture, tool: str, as_json: bool
) -> None:
    """After the first result, a dict result of a tool without an output schema, or with one
    any object matches, is written straight as its JSON; a tool whose schema constrains the
    dict keeps being checked. Either way a result JSON cannot carry is an ``output_error``,
    logged, on every call, not only the first."""
    dispatcher = make(_results_pack())
    for _ in range(2):
        ok = dispatcher.dispatch_sync(tool, {"value": "Oslo"})
        assert ok.success, ok.error
        assert json.loads(ok.output) in ({"v": "Oslo"}, {"city": "Oslo"})
    assert {t.name: t for t in dispatcher.tools()}[tool].dicts_as_json is as_json
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="toolwire"):
            failed = dispatcher.dispatch_sync(tool, {"value": "nan" if as_json else "bad"})
        assert failed.error is not None and failed.error.kind == "output_error"
        assert any("toolwire.output_error" in r.getMessage() for r in caplog.records)


def test_find_tool_answers_as_tools_does_for_one_name(make: MakeDispatcher) -> None:
    """``find_tool(name, role)`` is ``tools(role)`` narrowed to one name: roles, unknown names,
    names that are no text, and ``all_roles``."""
    dispatcher = make(_pack(roles=["admin"]))
    for role in ("admin", "guest", None):
        listed = {t.name: t for t in dispatcher.tools(role)}
        for name in ("lookup", "lookup_async", "missing"):
            assert dispatcher.find_tool(name, role) is listed.get(name)
    assert dispatcher.find_tool("lookup", "guest", all_roles=True) is not None
    assert dispatcher.find_tool(42, "admin") is None  # type: ignore[arg-type]


def _raising_pack() -> toolwire.Toolset:
    pack = toolwire.Toolset("raising")

    @pack.tool
    def first_item(items: list[str]) -> str:
        """The first item (StopIteration when there is none)."""
        return next(iter(items))

    @pack.tool
    def gives_up(reason: str) -> str:
        """Raises CancelledError of its own."""
        raise asyncio.CancelledError(reason)

    return pack


@pytest.mark.parametrize(
    ("tool", "arguments", "kind"),
    [("first_item", {"items": []}, "execution_error"), ("gives_up", {"reason": "no"}, "cancelled")],
)
async def test_a_plain_function_raising_stopiteration_or_cancellederror_is_answered_alike_everywhere(
    make: MakeDispatcher, tool: str, arguments: dict[str, Any], kind: str
) -> None:
    """A plain function that raises StopIteration (which a future refuses) or a CancelledError
    of its own gets one answer of the same kind whether it ran on a thread (``await dispatch``,
    ``dispatch_many``) or inline (``dispatch_sync`` where no loop runs)."""
    dispatcher = make(_raising_pack())
    # The bound only keeps a regression from hanging the run; nothing here is timed.
    one = await asyncio.wait_for(dispatcher.dispatch(tool, arguments), 60)
    many = await asyncio.wait_for(
        dispatcher.dispatch_many([{"name": tool, "arguments": arguments}] * 2), 60
    )
    inline = await asyncio.to_thread(dispatcher.dispatch_sync, tool, arguments)
    for result in (one, *many, inline):
        assert result.error is not None and result.error.kind == kind
    assert dispatcher.stats()["running"] == 0
