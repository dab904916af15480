"""The pipeline's parts on their own: compose, the hook walker, the thread runner, middleware
order and blame, the owned loop of the sync twins, and the stage table in the docs."""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading
from pathlib import Path
from typing import Any

import pluggy
import pytest
import structlog
import toolwire
from toolwire import _pipeline, hookspecs
from toolwire._hookwalk import CallHooks, implementations
from toolwire._middleware import compose
from toolwire._tasks import TaskRunner
from toolwire._threads import ThreadRunner
from toolwire.middleware import Order

from .conftest import MakeDispatcher, recording_layer

ROOT = Path(__file__).resolve().parents[1]
REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")


def _pack() -> toolwire.Toolset:
    pack = toolwire.Toolset("shape")

    @pack.tool
    def where() -> dict[str, Any]:
        """Report the thread and the context variable the tool sees."""
        return {"thread": threading.get_ident(), "request": REQUEST.get()}

    @pack.tool
    def nested() -> str:
        """Run an event loop of its own, as some libraries do."""
        return asyncio.run(asyncio.sleep(0, result="inner loop ran"))

    @pack.tool(retries=2, timeout=5)
    def flaky(context: toolwire.CallContext) -> int:
        """Fail with a transient error on the first attempt."""
        if context.attempt == 1:
            raise ConnectionError("first attempt fails")
        return context.attempt

    return pack


async def test_compose_puts_the_first_layer_outermost() -> None:
    """compose() wraps the innermost handler so that layers run outer to inner and back."""
    seen: list[str] = []

    async def innermost(call: Any, context: Any) -> str:
        seen.append("tool")
        return "value"

    handler = compose([recording_layer("a", seen), recording_layer("b", seen)], innermost)
    assert await handler(None, None) == "value"
    assert seen == ["a>", "b>", "tool", "<b", "<a"]


def test_the_hook_walker_takes_argument_names_from_the_hookspec() -> None:
    """An implementation asking for a subset of the spec's arguments gets exactly those."""

    class Plugin:
        @toolwire.hookimpl
        def toolwire_after_call(self, result: Any) -> None:
            seen.append(result)

    seen: list[Any] = []
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(Plugin(), name="plugin")
    (impl,) = implementations(pm, "toolwire_after_call")
    impl.invoke("call", "result", "context")
    assert seen == ["result"] and impl.plugin == "plugin" and not impl.is_async


async def test_the_hook_walker_has_a_plain_and_an_async_driver() -> None:
    """With plain hooks a stage answers at once; with an async one it returns an awaitable."""

    class Plain:
        @toolwire.hookimpl
        def toolwire_check_permission(self) -> bool:
            return True

    class Async:
        @toolwire.hookimpl
        async def toolwire_check_permission(self) -> toolwire.Deny:
            return toolwire.Deny("no")

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(Plain(), name="plain")
    call = toolwire.ToolCall("t", {}, "c1")
    plain = CallHooks(pm, default_allow=False, permission_timeout=1)
    assert plain.check_permission(call, None) is None  # type: ignore[arg-type]
    pm.register(Async(), name="async")
    mixed = CallHooks(pm, default_allow=False, permission_timeout=1)
    pending = mixed.check_permission(call, None)  # type: ignore[arg-type]
    assert pending is not None
    with pytest.raises(toolwire.ToolError, match="no"):
        await pending


async def test_the_thread_runner_keeps_context_and_counts_abandoned_threads() -> None:
    """A function runs on another thread in the caller's context; a cancelled wait is counted
    as abandoned until the function returns."""
    runner = ThreadRunner(4)
    release = threading.Event()
    REQUEST.set("req-1")
    try:
        seen = await runner.run(lambda: (threading.get_ident(), REQUEST.get()), {})
        assert seen[0] != threading.get_ident() and seen[1] == "req-1"
        waiting = asyncio.ensure_future(runner.run(release.wait, {}))
        while runner.stats()["running"] == 0:
            await asyncio.sleep(0.001)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert runner.stats()["abandoned"] == 1
        release.set()
        while runner.stats()["running"]:
            await asyncio.sleep(0.001)
        assert runner.stats()["abandoned"] == 0
    finally:
        release.set()
        runner.close()


async def test_the_task_runner_awaits_in_place_and_leaves_a_deaf_tool_behind() -> None:
    """A tool runs in the awaiting task, as ``await`` would (values, failures, a cancel it
    honours); one that ignores a cancel is left running after the grace, counted until done."""
    runner = TaskRunner(grace=0.01)
    here = asyncio.current_task()

    async def now(x: int) -> int:
        return x

    async def later(x: int) -> tuple[int, bool]:
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        return x, asyncio.current_task() is here

    async def fails() -> None:
        await asyncio.sleep(0.001)
        raise KeyError("k")

    assert await runner.run(now, {"x": 1}) == 1
    assert await runner.run(later, {"x": 2}) == (2, True)
    with pytest.raises(KeyError):
        await runner.run(fails, {})
    release = asyncio.Event()
    told = []

    async def deaf() -> str:
        while not release.is_set():
            try:
                await release.wait()  # a wait that is still pending whenever a cancel comes
            except asyncio.CancelledError:
                told.append(1)
        return "done"

    async def call(function: Any, **kwargs: Any) -> Any:
        return await runner.run(function, kwargs)

    honest = asyncio.ensure_future(call(later, x=3))
    await asyncio.sleep(0)
    honest.cancel()
    with pytest.raises(asyncio.CancelledError):
        await honest
    assert runner.abandoned() == 0
    stubborn = asyncio.ensure_future(call(deaf))
    try:
        await asyncio.sleep(0.005)
        stubborn.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stubborn
        assert told and runner.abandoned() == 1 and stubborn.cancelling() == 1
        await asyncio.sleep(0.005)
    finally:
        release.set()
    while runner.abandoned():
        await asyncio.sleep(0.001)
    assert len(told) == 2  # by its caller, and once more when the grace ran out


async def test_a_third_party_middleware_places_itself_among_the_built_in_ones(
    make: MakeDispatcher,
) -> None:
    """order=OBSERVE sees a call once; order between RETRY and ADMIT sees every attempt;
    registration order does not matter."""
    seen: list[str] = []

    def watcher(name: str, order: int) -> Any:
        async def run(call: Any, context: Any, call_next: Any) -> Any:
            seen.append(name)
            return await call_next(call, context)

        run.order = order  # type: ignore[attr-defined]
        return run

    class Watchers:
        @toolwire.hookimpl
        def toolwire_register_middleware(self, register: Any) -> None:
            register(watcher("per-attempt", Order.RETRY + 50))
            register(watcher("per-call", Order.OBSERVE))

    dispatcher = make(_pack(), Watchers())
    result = await dispatcher.dispatch("flaky", {})
    assert result.success and result.attempts == 2
    assert seen == ["per-call", "per-attempt", "per-attempt"]


async def test_a_failing_middleware_is_blamed_on_its_plugin(make: MakeDispatcher) -> None:
    """A middleware that raises ends the call with internal_error and the log names its plugin."""

    async def broken(call: Any, context: Any, call_next: Any) -> Any:
        raise LookupError("middleware bug")

    class Broken:
        @toolwire.hookimpl
        def toolwire_register_middleware(self, register: Any) -> None:
            register(broken)

    dispatcher = make(_pack()).add(Broken(), name="broken-mw")
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch("where", {})
    assert result.error is not None and result.error.kind == "internal_error"
    failed = [e for e in logs if e["event"] == "toolwire.plugin_failed"]
    assert failed and failed[0]["plugin"] == "broken-mw" and failed[0]["hook"] == "middleware"


async def test_a_tool_failure_under_middleware_is_still_the_tools(make: MakeDispatcher) -> None:
    """An exception from the tool passes through middleware and is blamed on the tool."""
    pack = toolwire.Toolset("fails")

    @pack.tool(timeout=5)
    def fails() -> None:
        """Fail."""
        raise LookupError("tool bug")

    with structlog.testing.capture_logs() as logs:
        result = await make(pack).dispatch("fails", {})
    assert result.error is not None and result.error.kind == "execution_error"
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["toolwire.tool_failed"]


async def test_a_raising_format_hook_is_what_observers_see(make: MakeDispatcher) -> None:
    """When a format hook raises, call_finished and the call log see internal_error, not ok."""
    finished: list[toolwire.DispatchResult] = []

    class Shapes:
        @toolwire.hookimpl
        def toolwire_format_result(self) -> Any:
            raise RuntimeError("format bug")

        @toolwire.hookimpl
        def toolwire_call_finished(self, result: toolwire.DispatchResult) -> None:
            finished.append(result)

    from toolwire.testing import build_response

    dispatcher = make(_pack(), Shapes())
    with structlog.testing.capture_logs() as logs:
        items = await dispatcher.process_response(
            build_response("openai-chat", [("where", "{}", "c1")])
        )
    assert '"internal_error"' in items[-1]["content"]
    assert [r.error.kind for r in finished if r.error is not None] == ["internal_error"]
    calls = [e for e in logs if e["event"] == "toolwire.call"]
    assert calls and calls[0]["outcome"] == "error" and calls[0]["error_kind"] == "internal_error"


def test_a_pack_added_to_two_dispatchers_is_not_changed() -> None:
    """Adding a Toolset to several dispatchers changes neither it nor what the others report."""
    pack = _pack()
    before = {tool.name: (tool.pack, tool.policy) for tool in pack}
    first = toolwire.Dispatcher().add(pack, name="first-name")
    second = toolwire.Dispatcher().add(pack, name="second-name")
    assert first.plugin_of("where") == "first-name"
    assert second.plugin_of("where") == "second-name"
    assert {tool.name: (tool.pack, tool.policy) for tool in pack} == before
    first.close()
    second.close()


def test_sync_twins_run_on_one_owned_loop(make: MakeDispatcher) -> None:
    """Every sync call that needs a loop runs on the same loop thread, not one loop per call."""
    pack = toolwire.Toolset("loops")

    @pack.tool
    async def loop_thread() -> int:
        """Report the thread the event loop runs on."""
        return threading.get_ident()

    dispatcher = make(pack)
    first = dispatcher.dispatch_sync("loop_thread", {}).result
    second = dispatcher.dispatch_sync("loop_thread", {}).result
    assert first == second != threading.get_ident()
    dispatcher.close()
    assert first not in {t.ident for t in threading.enumerate()}


async def test_a_sync_twin_inside_a_running_loop_never_runs_the_tool_on_its_thread(
    make: MakeDispatcher,
) -> None:
    """Called from a coroutine, dispatch_sync runs the tool elsewhere, keeps the caller's context
    variables, and a tool that calls asyncio.run works."""
    dispatcher = make(_pack())
    REQUEST.set("req-42")
    seen = dispatcher.dispatch_sync("where", {}).result
    assert seen == {"thread": seen["thread"], "request": "req-42"}
    assert seen["thread"] != threading.get_ident()
    nested = dispatcher.dispatch_sync("nested", {})
    assert nested.success and nested.result == "inner loop ran"


def test_a_sync_twin_in_a_plain_thread_takes_the_inline_path(make: MakeDispatcher) -> None:
    """With no loop running, a plain function with nothing async on its path runs in the caller's
    thread, with its context variables."""
    REQUEST.set("req-7")
    seen = make(_pack()).dispatch_sync("where", {}).result
    assert seen == {"thread": threading.get_ident(), "request": "req-7"}


def test_the_docs_table_names_every_stage_and_only_real_ones() -> None:
    """docs/hooks.md shows one call's path as a table; each stage it names is a function of the
    pipeline module, and every stage of the pipeline is in it."""
    docs = (ROOT / "docs" / "hooks.md").read_text()
    table = docs.split("<!-- call-path:start -->")[1].split("<!-- call-path:end -->")[0]
    stages = re.findall(r"^\| \d+\. `(\w+)` \| `(\w+)` \|", table, re.M)
    assert [name for name, _ in stages] == [
        "resolve",
        "parse",
        "validate",
        "check_permission",
        "run_before",
        "execute",
        "run_after",
        "serialize",
        "format_item",
        "finish",
    ]
    for name, module in stages:
        assert module in {"_pipeline", "_hookwalk"}
        if module == "_pipeline":
            assert callable(getattr(_pipeline, name))
        else:  # a stage's driver, chosen per dispatcher: declared on the class, set per instance
            assert "Callable" in toolwire._hookwalk.CallHooks.__annotations__[name]


def test_adjacent_built_in_layers_are_fused_and_others_keep_their_place() -> None:
    """Retry, ConcurrencyLimit and Timeout side by side become one PolicyStack; a third-party
    layer between them splits the run, and nothing is reordered."""
    from toolwire.middleware import ConcurrencyLimit, Retry, Timeout
    from toolwire.middleware._stack import PolicyStack, fuse

    retry, limit, timeout = Retry(), ConcurrencyLimit(), Timeout()

    async def between(call: Any, context: Any, call_next: Any) -> Any:
        return await call_next(call, context)

    whole = fuse([(retry, "policy"), (limit, "policy"), (timeout, "policy")])
    assert len(whole) == 1 and isinstance(whole[0][0], PolicyStack)
    assert (whole[0][0].retry, whole[0][0].limit, whole[0][0].timeout) == (retry, limit, timeout)
    split = fuse(
        [(retry, "policy"), (between, "ratelimit"), (limit, "policy"), (timeout, "policy")]
    )
    assert [layer for layer, _ in split][:2] == [retry, between]
    assert isinstance(split[2][0], PolicyStack) and split[2][0].retry is None
    assert fuse([(timeout, "policy")]) == [(timeout, "policy")]
    assert fuse([(limit, "a"), (timeout, "b")]) == [(limit, "a"), (timeout, "b")]


class _Quota:
    """A middleware with an admission check: ``admit`` where it can, ``__call__`` elsewhere."""

    def __init__(self, allowed: int, order: int = Order.ADMIT, fail: bool = False) -> None:
        self.allowed, self.order, self.fail = allowed, order, fail
        self.admitted = 0

    def admit(self, call: Any, context: Any) -> None:
        if self.fail:
            raise LookupError("quota bug")
        if self.admitted >= self.allowed:
            raise toolwire.ToolError("quota used up", kind="rate_limited")
        self.admitted += 1

    async def __call__(self, call: Any, context: Any, call_next: Any) -> Any:
        self.admit(call, context)
        return await call_next(call, context)


def test_admission_checks_join_the_built_in_layers_in_one_stack() -> None:
    """An ``admit`` middleware between Retry and ConcurrencyLimit is fused with them, whatever
    its plugin; one outside the stack's order keeps its own layer, and the built-in ones are
    still fused."""
    from toolwire.middleware import ConcurrencyLimit, Retry, Timeout
    from toolwire.middleware._stack import PolicyStack, fuse

    retry, limit, timeout = Retry(), ConcurrencyLimit(), Timeout()
    quota, late = _Quota(1), _Quota(1, order=Order.INNER)
    whole = fuse([(retry, "policy"), (quota, "quota"), (limit, "policy"), (timeout, "policy")])
    assert len(whole) == 1 and isinstance(whole[0][0], PolicyStack)
    stack = whole[0][0]
    assert stack.admits == ((quota, "quota"),) and stack.retry is retry
    assert stack.blame()[_Quota.admit.__code__] == "quota"
    assert stack.blame()[PolicyStack.__call__.__code__] == "policy"
    apart = fuse([(retry, "policy"), (limit, "policy"), (timeout, "policy"), (late, "quota")])
    assert isinstance(apart[0][0], PolicyStack) and apart[1] == (late, "quota")
    assert fuse([(quota, "quota")]) == [(quota, "quota")]


async def test_an_admission_check_runs_once_per_attempt_and_can_refuse(
    make: MakeDispatcher,
) -> None:
    """Fused, a check still sees every attempt (a retried call is admitted again), and its
    ``ToolError`` ends the call as a layer's would."""
    quota = _Quota(allowed=3)

    class Quotas:
        @toolwire.hookimpl
        def toolwire_register_middleware(self, register: Any) -> None:
            register(quota)

    dispatcher = make(_pack()).add(Quotas(), name="quota")
    first = await dispatcher.dispatch("flaky", {})
    assert first.success and first.attempts == 2 and quota.admitted == 2
    second = await dispatcher.dispatch("flaky", {})
    assert second.error is not None and second.error.kind == "rate_limited"
    assert quota.admitted == 3


async def test_a_failing_admission_check_is_blamed_on_its_plugin(make: MakeDispatcher) -> None:
    """A check that raises something else than ToolError: internal_error, its plugin named."""

    class Quotas:
        @toolwire.hookimpl
        def toolwire_register_middleware(self, register: Any) -> None:
            register(_Quota(allowed=1, fail=True))

    dispatcher = make(_pack()).add(Quotas(), name="broken-quota")
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch("flaky", {})
    assert result.error is not None and result.error.kind == "internal_error"
    failed = [e for e in logs if e["event"] == "toolwire.plugin_failed"]
    assert failed and failed[0]["plugin"] == "broken-quota"


async def test_a_call_the_caller_cancels_is_still_seen_by_observers(make: MakeDispatcher) -> None:
    """call_finished sees a cancelled call (kind cancelled), and the cancellation goes on."""
    seen: list[toolwire.DispatchResult] = []
    started = asyncio.Event()
    pack = toolwire.Toolset("slow")

    @pack.tool
    async def slow() -> str:
        """Wait."""
        started.set()
        await asyncio.sleep(10)
        return "done"

    class Observer:
        @toolwire.hookimpl
        def toolwire_call_finished(self, result: toolwire.DispatchResult) -> None:
            seen.append(result)

    dispatcher = make(pack, Observer())
    task = asyncio.ensure_future(dispatcher.dispatch("slow", {}, call_id="c9"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(r.call_id, r.error.kind if r.error else None) for r in seen] == [("c9", "cancelled")]


def test_a_middleware_that_could_only_fail_is_refused_at_registration() -> None:
    """An async admit (it would never refuse), a __call__ or admit that cannot take its
    arguments, and an order that is no whole number: ConfigError naming the plugin."""

    class AsyncAdmit(_Quota):
        async def admit(self, call: Any, context: Any) -> None:  # type: ignore[override]
            raise toolwire.ToolError("never seen", kind="rate_limited")

    class ShortAdmit(_Quota):
        def admit(self, call: Any) -> None:  # type: ignore[override]
            return None

    async def no_call_next(call: Any, context: Any) -> Any:
        return None

    odd_order = _Quota(1)
    odd_order.order = 1.5  # type: ignore[assignment]
    for layer, says in [
        (AsyncAdmit(1), "async function"),
        (ShortAdmit(1), "cannot be called with (call, context)"),
        (no_call_next, "cannot be called with (call, context, call_next)"),
        (odd_order, "whole number"),
    ]:

        class Registers:
            @toolwire.hookimpl
            def toolwire_register_middleware(self, register: Any, layer: Any = layer) -> None:
                register(layer)

        with pytest.raises(toolwire.ConfigError, match=re.escape(says)) as raised:
            toolwire.Dispatcher().add(Registers(), name="odd-mw")
        assert "'odd-mw'" in str(raised.value)


async def test_a_retried_failure_of_an_admission_middleware_is_blamed_on_it(
    make: MakeDispatcher,
) -> None:
    """After a retry the attempts go through the middleware's __call__; a failure there is
    still its plugin's, by name."""

    class Gate(_Quota):
        def admit(self, call: Any, context: Any) -> None:
            raise ConnectionError("gate down")

    class Gates:
        @toolwire.hookimpl
        def toolwire_register_middleware(self, register: Any) -> None:
            register(Gate(1))

    dispatcher = make(_pack()).add(Gates(), name="my-gate")
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch("flaky", {})
    assert result.error is not None and result.error.kind == "internal_error"
    failed = [e for e in logs if e["event"] == "toolwire.plugin_failed"]
    assert [e["plugin"] for e in failed] == ["my-gate"]


def test_a_pack_cannot_take_a_plugin_s_name() -> None:
    """A Toolset named like a registered plugin (built-in or added) is refused, not listed in
    its place: names are how operators disable plugins and tell failures apart."""
    dispatcher = toolwire.Dispatcher()
    dispatcher.add(toolwire.Toolset("x"))
    for name in ("roles", "x"):
        with pytest.raises(toolwire.ConfigError, match="already registered"):
            dispatcher.add(toolwire.Toolset(name))
    assert [p.name for p in dispatcher.plugins()].count("roles") == 1
    assert next(p for p in dispatcher.plugins() if p.name == "roles").builtin
    dispatcher.close()


def test_a_hook_name_that_is_no_toolwire_hook_is_refused() -> None:
    """A misspelt permission hook would leave every call allowed: the plugin is refused, with
    the hook it likely meant; an ``optionalhook`` is the plugin's own business."""

    class Guard:
        @toolwire.hookimpl
        def toolwire_check_permision(self, call: Any, context: Any) -> Any:
            return toolwire.Deny("nobody")

    with pytest.raises(toolwire.ConfigError, match="did you mean 'toolwire_check_permission'"):
        toolwire.Dispatcher().add(Guard(), name="guard")

    class Extra:
        @toolwire.hookimpl(optionalhook=True)
        def toolwire_something_later(self) -> None:
            return None

        @toolwire.hookimpl
        def toolwire_before_call(self, call: Any, context: Any) -> None:
            return None

    dispatcher = toolwire.Dispatcher().add(Extra(), name="extra")
    assert any(p.name == "extra" and p.status == "enabled" for p in dispatcher.plugins())
    dispatcher.close()


@pytest.mark.parametrize("timeout", [None, 5])
async def test_a_middleware_that_returns_no_awaitable_is_blamed_on_its_plugin(
    make: MakeDispatcher, timeout: float | None
) -> None:
    """A plain function middleware must return an awaitable (what call_next returns works);
    one that returns a value ends the call with internal_error naming its plugin, not the
    tool and not the layer outside it."""
    pack = toolwire.Toolset("plain-mw")

    @pack.tool(timeout=timeout)
    async def ping() -> str:
        """Pong."""
        return "pong"

    def passes(call: Any, context: Any, call_next: Any) -> Any:
        return call_next(call, context)

    def returns_text(call: Any, context: Any, call_next: Any) -> Any:
        return "not awaitable"

    class Registers:
        def __init__(self, layer: Any) -> None:
            self.layer = layer

        @toolwire.hookimpl
        def toolwire_register_middleware(self, register: Any) -> None:
            register(self.layer)

    good = make(pack).add(Registers(passes), name="passes")
    assert (await good.dispatch("ping")).output == "pong"
    bad = make(pack).add(Registers(returns_text), name="returns-text")
    with structlog.testing.capture_logs() as logs:
        result = await bad.dispatch("ping")
    assert result.error is not None and result.error.kind == "internal_error"
    failed = [e for e in logs if e["event"] == "toolwire.plugin_failed"]
    assert [e["plugin"] for e in failed] == ["returns-text"]


async def test_an_admit_that_returns_something_is_never_taken_for_go_on(
    make: MakeDispatcher,
) -> None:
    """An admit returning an awaitable (meant to be awaited) ends the call with internal_error
    naming its plugin; the tool does not run."""
    ran = []

    class Returns(_Quota):
        def admit(self, call: Any, context: Any) -> Any:
            async def refuse() -> None:
                raise toolwire.ToolError("no", kind="rate_limited")

            return refuse()

    class Registers:
        @toolwire.hookimpl
        def toolwire_register_middleware(self, register: Any) -> None:
            register(Returns(1))

    pack = toolwire.Toolset("guarded")

    @pack.tool(timeout=5, retries=1, max_concurrency=2)
    async def guarded() -> str:
        """Run."""
        ran.append(1)
        return "ran"

    dispatcher = make(pack).add(Registers(), name="returns")
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch("guarded")
    assert result.error is not None and result.error.kind == "internal_error" and not ran
    assert [e["plugin"] for e in logs if e["event"] == "toolwire.plugin_failed"] == ["returns"]


def test_registration_mistakes_are_named_plainly() -> None:
    """The same object under two names, an empty name, every hook that is no toolwire hook,
    and a contributed plugin with a name not its parent's: clear ConfigErrors or rows that
    never take another plugin's place."""

    class Hooks:
        @toolwire.hookimpl
        def toolwire_before_call(self, call: Any, context: Any) -> None:
            return None

    hooks = Hooks()
    dispatcher = toolwire.Dispatcher().add(hooks, name="a")
    with pytest.raises(toolwire.ConfigError, match="already registered, as plugin 'a'"):
        dispatcher.add(hooks, name="b")
    with pytest.raises(toolwire.ConfigError, match="non-empty string"):
        dispatcher.add(Hooks(), name="")

    class Misspelt:
        @toolwire.hookimpl
        def toolwire_befor_call(self, call: Any, context: Any) -> None:
            return None

        @toolwire.hookimpl
        def toolwire_after_cal(self, call: Any, result: Any, context: Any) -> None:
            return None

    with pytest.raises(toolwire.ConfigError) as raised:
        dispatcher.add(Misspelt(), name="typos")
    message = str(raised.value)
    assert type(raised.value) is toolwire.ConfigError and not message.startswith("ConfigError")
    assert "plugin 'typos'" in message
    assert "'toolwire_before_call'" in message and "'toolwire_after_call'" in message

    class Parent:
        @toolwire.hookimpl
        def toolwire_register_plugins(self, register: Any) -> None:
            register("policy", toolwire.Toolset("sub"))

    dispatcher.add(Parent(), name="parent")
    by_name = {p.name: p for p in dispatcher.plugins()}
    assert by_name["policy"].builtin and by_name["policy"].status == "enabled"
    assert by_name["parent.policy"].status == "failed"
    dispatcher.close()


def test_a_batch_s_new_ids_never_repeat_its_own_and_one_call_is_no_batch() -> None:
    """A generated id skips the ids the batch gives; a single call (or text) passed as the
    batch is a TypeError, not one rejected result per key or letter."""
    pack = toolwire.Toolset("ids")

    @pack.tool
    def ping() -> str:
        """Pong."""
        return "pong"

    dispatcher = toolwire.Dispatcher().add(pack)
    results = dispatcher.dispatch_many_sync(
        [{"name": "ping", "call_id": "call_tw1"}, {"name": "ping"}, {"name": "ping"}]
    )
    ids = [r.call_id for r in results]
    assert ids[0] == "call_tw1" and len(set(ids)) == 3
    for wrong in ({"name": "ping"}, toolwire.ToolCall("ping", {}, "x"), "ping", None):
        with pytest.raises(TypeError, match="a batch is an iterable of calls"):
            dispatcher.dispatch_many_sync(wrong)  # type: ignore[arg-type]
    dispatcher.close()
