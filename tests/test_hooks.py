"""Every hookspec, one test each (test_hook_<name>), plus the rules of the per-call walk."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
import toolwire
from toolwire import hookspecs
from toolwire.providers import Provider
from toolwire.testing import registered_plugins

from .conftest import MakeDispatcher, recording_layer, shout_pack

ROOT = Path(__file__).parent.parent

pack = toolwire.Toolset("hooked")


@pack.tool
def echo(text: str) -> str:
    """Echo text.

    Args:
        text: What to echo.
    """
    return text


class Vote:
    """A permission plugin that always gives the same vote."""

    def __init__(self, vote: Any) -> None:
        self.vote = vote

    @toolwire.hookimpl
    def toolwire_check_permission(self, call: toolwire.ToolCall, context: Any) -> Any:
        return self.vote


class Raises:
    """A plugin whose per-call hook raises."""

    def __init__(self, hook: str) -> None:
        def fail(*args: Any) -> None:
            raise RuntimeError("plugin bug")

        setattr(self, hook, toolwire.hookimpl(fail))


def test_hook_toolwire_configure(make: MakeDispatcher) -> None:
    """A plugin's configure hook runs first and reads its own [plugins.NAME] table."""
    seen: dict[str, Any] = {}

    class Configured:
        @toolwire.hookimpl
        def toolwire_configure(self, config: toolwire.Config) -> None:
            seen.update(config.plugin_settings("configured"))

    make(config={"plugins": {"configured": {"greeting": "hi"}}}).add(
        Configured(), name="configured"
    )
    assert seen == {"greeting": "hi"}


def test_hook_toolwire_register_tools(make: MakeDispatcher) -> None:
    """Tools registered by a plugin are callable and attributed to that plugin."""

    class Registers:
        @toolwire.hookimpl
        def toolwire_register_tools(self, register: Callable[[Any], None]) -> None:
            register(pack)

    dispatcher = make().add(Registers(), name="registers")
    assert dispatcher.dispatch_sync("echo", {"text": "x"}).output == "x"
    assert dispatcher.plugin_of(dispatcher.tools()[0].name) == "registers"
    row = next(p for p in dispatcher.plugins() if p.name == "registers")
    assert row.tools == 1 and row.hooks == ("toolwire_register_tools",)


def test_hook_toolwire_register_tool_updates(make: MakeDispatcher) -> None:
    """A plugin replaces its tools while the dispatcher runs: the next call sees the new set;
    a change that a start would refuse is refused, and the tools stay as they were."""
    other = toolwire.Toolset("other")

    @other.tool
    def shout(text: str) -> str:
        """Shout text.

        Args:
            text: What to shout.
        """
        return text.upper()

    class Changing:
        update: Callable[[Any], None]

        @toolwire.hookimpl
        def toolwire_register_tools(self, register: Callable[[Any], None]) -> None:
            register(pack)

        @toolwire.hookimpl
        def toolwire_register_tool_updates(self, update: Callable[[Any], None]) -> None:
            self.update = update

    changing = Changing()
    dispatcher = make(config={"tools": {"echo": {"timeout": 5}}}).add(changing, name="changing")
    assert dispatcher.dispatch_sync("echo", {"text": "x"}).output == "x"
    changing.update([shout, echo])
    assert {t.name for t in dispatcher.tools()} == {"echo", "shout"}
    assert dispatcher.dispatch_sync("shout", {"text": "x"}).output == "X"
    assert dispatcher.policy("echo").timeout == 5
    row = next(p for p in dispatcher.plugins() if p.name == "changing")
    assert row.tools == 2
    # [tools.echo] would name no tool: refused, as at a start; the tools stay.
    with pytest.raises(toolwire.ConfigError, match="echo"):
        changing.update(shout)
    assert dispatcher.dispatch_sync("echo", {"text": "y"}).output == "y"
    # A name another plugin has: refused, naming both.
    dispatcher.add(toolwire.Toolset("taken").add(toolwire.tool(name="taken_name")(lambda: 1)))
    with pytest.raises(toolwire.ConfigError, match="taken_name"):
        changing.update([echo, toolwire.tool(name="taken_name")(lambda: 2)])
    assert {t.name for t in dispatcher.tools()} == {"echo", "shout", "taken_name"}
    with pytest.raises(toolwire.ConfigError, match="registered a int"):
        changing.update([shout, 3])


def test_a_tool_update_handle_is_good_for_its_own_registration_only(make: MakeDispatcher) -> None:
    """update inside the hook is refused (the registration is not done), and the handle of a
    registration that failed stays dead when another plugin takes the same name."""
    kept: list[Callable[[Any], None]] = []

    class Eager:
        @toolwire.hookimpl
        def toolwire_register_tool_updates(self, update: Callable[[Any], None]) -> None:
            update(pack)

    class Fails:
        @toolwire.hookimpl
        def toolwire_register_tool_updates(self, update: Callable[[Any], None]) -> None:
            kept.append(update)
            raise RuntimeError("bug after keeping update")

    class Good:
        @toolwire.hookimpl
        def toolwire_register_tools(self, register: Callable[[Any], None]) -> None:
            register(pack)

    dispatcher = make()
    with pytest.raises(toolwire.ConfigError, match="not done yet"):
        dispatcher.add(Eager(), name="eager")
    with pytest.raises(toolwire.ConfigError):
        dispatcher.add(Fails(), name="same")
    dispatcher.add(Good(), name="same")
    with pytest.raises(toolwire.ConfigError, match="cannot change its tools"):
        kept[0]([])
    assert [t.name for t in dispatcher.tools()] == ["echo"]


async def test_hook_toolwire_register_middleware(make: MakeDispatcher) -> None:
    """Middleware wraps execution, outermost first, and applies_to limits where it goes."""
    order: list[str] = []

    def layer(label: str) -> Any:
        return recording_layer(label, order, wrap=True)

    class Nowhere:
        def applies_to(self, tool: Any, policy: Any) -> bool:
            return False

        async def __call__(self, call: Any, context: Any, call_next: Any) -> Any:
            raise AssertionError("applies_to said no")

    class Registers:
        @toolwire.hookimpl
        def toolwire_register_middleware(self, register: Callable[[Any], None]) -> None:
            register(layer("outer"))
            register(Nowhere())
            register(layer("inner"))

    dispatcher = make(pack).add(Registers(), name="layers")
    result = await dispatcher.dispatch("echo", {"text": "x"})
    assert result.output == "outer(inner(x))"
    assert order == ["outer>", "inner>", "<inner", "<outer"]


def test_hook_toolwire_register_providers(make: MakeDispatcher) -> None:
    """A plugin can add a provider that hosts then name like a built-in one."""

    class Echo(Provider):
        name = "echo-api"

        def detect(self, response: Any) -> bool:
            return response.get("api") == "echo"

        def parse_response(self, response: Any) -> Any:
            from toolwire.providers import ParsedCall, ParsedResponse

            calls = [
                ParsedCall(toolwire.ToolCall(c["tool"], c["args"], c["id"]))
                for c in response["calls"]
            ]
            return ParsedResponse(self.name, calls, response)

        def tool_definition(self, tool: Any) -> Any:
            from toolwire.providers import ToolDefinition

            return ToolDefinition({"tool": tool.name})

        def format_result(self, call: Any, result: Any) -> Any:
            return {"id": call.call_id, "out": result.output}

        def conversation_items(self, parsed: Any, outputs: Any) -> list[Any]:
            return [parsed.response, *outputs]

    class Registers:
        @toolwire.hookimpl
        def toolwire_register_providers(self, register: Callable[[Any], None]) -> None:
            register(Echo())

    dispatcher = make(pack).add(Registers(), name="echo-provider")
    response = {"api": "echo", "calls": [{"tool": "echo", "args": '{"text": "hi"}', "id": "e1"}]}
    items = dispatcher.process_response_sync(response)
    assert items[1:] == [{"id": "e1", "out": "hi"}]
    assert dispatcher.tool_definitions("echo-api") == [{"tool": "echo"}]


@pytest.mark.parametrize(
    ("votes", "default", "allowed"),
    [
        ([], "allow", True),
        ([], "deny", False),
        ([None], "deny", False),
        ([True], "deny", True),
        ([True, False], "allow", False),
        ([False, True], "allow", False),
        ([True, toolwire.Deny("no")], "allow", False),
        (["not a vote"], "allow", False),
    ],
)
def test_hook_toolwire_check_permission(
    make: MakeDispatcher, votes: list[Any], default: str, allowed: bool
) -> None:
    """Any deny wins whatever the order; no vote falls back to the configured default."""
    dispatcher = make(pack, config={"defaults": {"permission": default}})
    for index, vote in enumerate(votes):
        dispatcher.add(Vote(vote), name=f"vote{index}")
    result = dispatcher.dispatch_sync("echo", {"text": "x"})
    assert result.success is allowed
    if not allowed:
        assert result.error is not None and result.error.kind == "permission_denied"


async def test_permission_hooks_fail_closed(make: MakeDispatcher) -> None:
    """A permission hook that raises, or an async one that hangs, denies the call."""

    class Hangs:
        @toolwire.hookimpl(tryfirst=True)
        async def toolwire_check_permission(self, call: Any, context: Any) -> Any:
            await asyncio.sleep(60)

    raising = make(pack).add(Raises("toolwire_check_permission"), name="raising")
    assert (await raising.dispatch("echo", {"text": "x"})).error.kind == "permission_denied"
    hanging = make(pack, config={"defaults": {"permission_timeout": 0.05}})
    hanging.add(Vote(True), name="allow").add(Hangs(), name="hangs")
    result = await hanging.dispatch("echo", {"text": "x"})
    assert result.error is not None and result.error.kind == "permission_denied"


async def test_async_abstaining_hook_cannot_turn_a_deny_into_an_allow(
    make: MakeDispatcher,
) -> None:
    """An async hook that abstains is awaited, so a later deny is still heard."""

    class AsyncAbstain:
        @toolwire.hookimpl(tryfirst=True)
        async def toolwire_check_permission(self, call: Any, context: Any) -> Any:
            return None

    class DenyLast:
        @toolwire.hookimpl(trylast=True)
        def toolwire_check_permission(self, call: Any, context: Any) -> Any:
            return toolwire.Deny("last word")

    dispatcher = make(pack).add(AsyncAbstain(), name="abstain").add(DenyLast(), name="deny")
    result = await dispatcher.dispatch("echo", {"text": "x"})
    assert result.error is not None and result.error.message == "last word"


async def test_hook_toolwire_before_call(make: MakeDispatcher) -> None:
    """A before hook sees validated arguments and may reject the call with a reason."""
    seen: list[Any] = []

    class Gate:
        @toolwire.hookimpl
        async def toolwire_before_call(self, call: Any, context: Any) -> None:
            seen.append(call.arguments)
            if call.arguments["text"] == "stop":
                raise toolwire.Reject("not today")

    dispatcher = make(pack).add(Gate(), name="gate")
    assert (await dispatcher.dispatch("echo", '{"text": "go"}')).output == "go"
    stopped = await dispatcher.dispatch("echo", {"text": "stop"})
    assert stopped.error == toolwire.ToolError("not today", kind="rejected")
    assert seen == [{"text": "go"}, {"text": "stop"}] and stopped.attempts == 0


async def test_hook_toolwire_after_call(make: MakeDispatcher) -> None:
    """An after hook sees the result and may replace it; the replacement is what is sent."""

    class Rewrite:
        @toolwire.hookimpl
        def toolwire_after_call(self, call: Any, result: Any, context: Any) -> Any:
            return toolwire.DispatchResult(
                True,
                result.call_id,
                result.name,
                {"wrapped": result.result},
                attempts=result.attempts,
            )

    dispatcher = make(pack).add(Rewrite(), name="rewrite")
    result = await dispatcher.dispatch("echo", {"text": "x"})
    assert result.result == {"wrapped": "x"} and result.output == '{"wrapped":"x"}'


async def test_hook_toolwire_format_result(make: MakeDispatcher) -> None:
    """A format hook reshapes a result for one provider; passing (None) keeps the built-in shape."""

    class Shape:
        @toolwire.hookimpl
        def toolwire_format_result(
            self, call: Any, result: Any, provider: str, context: Any
        ) -> Any:
            if provider != "openai-chat":
                return None
            return {"role": "tool", "tool_call_id": call.call_id, "content": "shaped"}

    from toolwire.testing import build_response

    dispatcher = make(pack).add(Shape(), name="shape")
    chat = dispatcher.process_response_sync(
        build_response("openai-chat", [("echo", {"text": "x"}, "c1")])
    )
    assert chat[-1] == {"role": "tool", "tool_call_id": "c1", "content": "shaped"}
    responses = dispatcher.process_response_sync(
        build_response("openai-responses", [("echo", {"text": "x"}, "c1")])
    )
    assert responses[-1]["output"] == "x"


async def test_hook_toolwire_call_finished(make: MakeDispatcher) -> None:
    """Every finished call is observed, failures included; an observer's error changes nothing."""
    finished: list[tuple[str, str]] = []

    class Observer:
        @toolwire.hookimpl
        def toolwire_call_finished(self, call: Any, result: Any, context: Any) -> None:
            finished.append((call.call_id, result.error.kind if result.error else "ok"))
            raise RuntimeError("observer bug")

    dispatcher = make(pack).add(Observer(), name="observer")
    await dispatcher.dispatch_many(
        [
            toolwire.ToolCall("echo", {"text": "x"}, "a"),
            toolwire.ToolCall("nope", {}, "b"),
            toolwire.ToolCall("echo", "[", "c"),
        ]
    )
    assert sorted(finished) == [("a", "ok"), ("b", "unknown_tool"), ("c", "invalid_arguments")]


@pytest.mark.parametrize("hook", ["toolwire_before_call", "toolwire_after_call"])
async def test_raising_hooks_end_only_their_call(make: MakeDispatcher, hook: str) -> None:
    """A before/after hook that raises gives internal_error for that call, the plugin in the log."""
    dispatcher = make(pack).add(Raises(hook), name="buggy-plugin")
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch("echo", {"text": "x"})
    assert result.error is not None and result.error.kind == "internal_error"
    assert "buggy-plugin" not in result.output and "plugin bug" not in result.output
    assert any(e.get("plugin") == "buggy-plugin" and e.get("hook") == hook for e in logs)


def test_per_call_hooks_cannot_be_wrappers(make: MakeDispatcher) -> None:
    """A wrapper on a per-call hook is refused when the plugin is added."""

    class Wraps:
        @toolwire.hookimpl(wrapper=True)
        def toolwire_before_call(self, call: Any, context: Any) -> Any:
            return (yield)

    dispatcher = make(pack)
    with pytest.raises(toolwire.ConfigError, match="cannot be a wrapper"):
        dispatcher.add(Wraps(), name="wraps")
    assert "wraps" not in [p.name for p in dispatcher.plugins()]


def test_hook_toolwire_register_tool_options(make: MakeDispatcher) -> None:
    """A plugin claims an option: its check normalises the value at start, or refuses it."""

    class Budget:
        @toolwire.hookimpl
        def toolwire_register_tool_options(self, register: Any) -> None:
            def check(value: Any) -> int:
                if not isinstance(value, int) or value < 1:
                    raise ValueError("a budget is a whole number of at least 1")
                return value * 100

            register("budget", check)

    budgeted = toolwire.Toolset("budgeted")

    @budgeted.tool(budget=3)
    def spend() -> str:
        """Spend."""
        return "spent"

    assert make(budgeted, Budget()).policy("spend").options == {"budget": 300}
    with pytest.raises(toolwire.ConfigError, match="a budget is a whole number"):
        make(budgeted, Budget(), config={"tools": {"spend": {"budget": 0}}}).start()
    with pytest.raises(toolwire.ConfigError, match="'budget' is not a tool option"):
        make(budgeted).start()


def test_hook_toolwire_register_commands(tmp_path: Path) -> None:
    """An installed plugin's command runs as `toolwire NAME`; a disabled one's is not there;
    one whose arguments clash with a global option is left out, saying why, not a crash."""
    import subprocess
    import sys

    script = Path(sys.executable).parent / "toolwire"
    config = tmp_path / "toolwire.toml"
    config.write_text('[plugins]\nautoload = false\nenable = ["commands"]\n')

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *argv], capture_output=True, text=True, cwd=tmp_path, check=False
        )

    ran = run("--config", str(config), "greet", "ada")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"hello ada (config: {config})\n"
    assert run("--config", str(config), "greet", "nobody").returncode == 1
    crashed = run("--config", str(config), "greet", "crash")
    assert crashed.returncode == 1 and "Traceback" not in crashed.stderr
    assert crashed.stderr.strip().splitlines() == [
        "toolwire: error: greet failed: RuntimeError: the greeter broke "
        "(--log-level debug shows where)"
    ]
    assert "greet someone" in run("--config", str(config), "--help").stdout
    # a command whose arguments clash with a global option is dropped and said; the rest run
    clashy = run("--config", str(config), "clashy")
    assert clashy.returncode == 2 and "Traceback" not in clashy.stderr
    assert "command 'clashy' could not set up its arguments" in clashy.stderr
    assert "--config" in clashy.stderr
    (tmp_path / "off.toml").write_text("[plugins]\nautoload = false\n")
    off = run("--config", str(tmp_path / "off.toml"), "greet", "ada")
    assert off.returncode == 2 and "invalid choice: 'greet'" in off.stderr


def test_hook_toolwire_register_plugins(make: MakeDispatcher) -> None:
    """Contributed plugins get rows of their own; a failing one is recorded and skipped."""
    extra = shout_pack()

    class Broken:
        @toolwire.hookimpl
        def toolwire_register_tools(self, register: Any) -> None:
            raise ConnectionError("the server did not start")

    class Parent:
        @toolwire.hookimpl
        def toolwire_register_plugins(self, register: Any) -> None:
            register("parent.extra", extra)
            register("parent.broken", Broken())

    dispatcher = make().add(Parent(), name="parent")
    rows = {row.name: row for row in dispatcher.plugins()}
    assert rows["parent.extra"].status == "enabled" and rows["parent.extra"].tools == 1
    assert rows["parent.broken"].status == "failed"
    assert "the server did not start" in (rows["parent.broken"].error or "")
    assert dispatcher.dispatch_sync("shout", {"text": "hi"}).output == "HI"
    strict = make(config={"plugins": {"strict": True}})
    with pytest.raises(toolwire.PluginError, match=r"parent\.broken"):
        strict.add(Parent(), name="parent")


async def test_hook_toolwire_register_executors(make: MakeDispatcher) -> None:
    """A registered executor receives each validated call with its deadline; close reaches it."""

    class Inline:
        """Runs the function right away and keeps what it was handed."""

        def __init__(self) -> None:
            self.jobs: list[toolwire.types.Job] = []
            self.checked: list[str] = []
            self.events: list[str] = []

        def check(self, tool: toolwire.Tool) -> None:
            self.checked.append(tool.name)

        def start(self) -> None:
            self.events.append("start")

        async def submit(self, job: toolwire.types.Job) -> Any:
            self.jobs.append(job)
            return {"ran": job.tool.function(**job.kwargs)}

        def close(self) -> None:
            self.events.append("close")

    inline = Inline()

    class Registers:
        @toolwire.hookimpl
        def toolwire_register_executors(self, register: Callable[[str, Any], None]) -> None:
            register("inline", inline)

        @toolwire.hookimpl
        def toolwire_close(self) -> None:
            inline.close()

    config = {"tools": {"echo": {"executor": "inline", "timeout": 30}}}
    dispatcher = make(pack, config=config).add(Registers(), name="inline-plugin")
    result = await dispatcher.dispatch("echo", '{"text": "hi"}', call_id="c1", role="user")
    assert result.output == '{"ran":"hi"}'
    job = inline.jobs[0]
    assert (job.call_id, job.tool.name, dict(job.arguments), job.role) == (
        "c1",
        "echo",
        {"text": "hi"},
        "user",
    )
    assert job.timeout == 30 and job.deadline is not None and job.attempt == 1
    assert job.plugin == "hooked" and inline.checked == ["echo"]
    dispatcher.close()
    assert inline.events == ["start", "close"]

    class Twice:
        @toolwire.hookimpl
        def toolwire_register_executors(self, register: Callable[[str, Any], None]) -> None:
            register("process", inline)

    with pytest.raises(toolwire.ConfigError, match=r"two plugins register an executor named"):
        make().add(Twice(), name="twice")

    class NotOne:
        @toolwire.hookimpl
        def toolwire_register_executors(self, register: Callable[[str, Any], None]) -> None:
            register("nothing", object())

    with pytest.raises(toolwire.ConfigError, match=r"without check, start, submit, close"):
        make().add(NotOne(), name="not-one")


def test_hook_toolwire_close(make: MakeDispatcher) -> None:
    """close() tells every plugin to let go; one that raises does not keep the others open."""
    closed: list[str] = []

    class Holder:
        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail = name, fail

        @toolwire.hookimpl
        def toolwire_close(self) -> None:
            closed.append(self.name)
            if self.fail:
                raise OSError("already gone")

    dispatcher = make()
    dispatcher.add(Holder("a", fail=True), name="a").add(Holder("b"), name="b")
    dispatcher.close()
    assert sorted(closed) == ["a", "b"]


def test_every_hookspec_is_documented_and_tested() -> None:
    """Each hookspec appears in docs/hooks.md with its signature and has a test_hook_<name>."""
    docs = (ROOT / "docs" / "hooks.md").read_text()
    specs = [name for name in dir(hookspecs) if name.startswith("toolwire_")]
    assert len(specs) == 15
    tests = {name for name in globals() if name.startswith("test_hook_")}
    for name in specs:
        function = getattr(hookspecs, name)
        signature = f"{name}({', '.join(inspect.signature(function).parameters)})"
        assert signature in docs, f"docs/hooks.md lacks {signature}"
        assert f"test_hook_{name}" in tests, f"no test_hook_{name}"
    documented = set(re.findall(r"`(toolwire_[a-z_]+)\(", docs))
    assert documented <= set(specs), f"docs name hooks that do not exist: {documented - set(specs)}"


def test_plugin_managers_are_per_dispatcher(make: MakeDispatcher) -> None:
    """Two dispatchers never share plugins: each owns its plugin manager."""
    first, second = make(pack), make()
    first.add(Vote(False), name="deny-all")
    assert not first.dispatch_sync("echo", {"text": "x"}).success
    assert "deny-all" not in [p.name for p in second.plugins()]
    assert "deny-all" in registered_plugins(first)
    assert "deny-all" not in registered_plugins(second)


def test_a_plugin_class_gets_an_instance_per_dispatcher(make: MakeDispatcher) -> None:
    """A class added (or named by an entry point) is instantiated for each dispatcher."""
    made: list[Any] = []

    class Counting:
        def __init__(self) -> None:
            made.append(self)

        @toolwire.hookimpl
        def toolwire_before_call(self, call: Any, context: Any) -> None:
            context.state["by"] = id(self)

    first, second = make(pack).add(Counting, name="c"), make(pack).add(Counting, name="c")
    state_one: dict[str, int] = {}
    state_two: dict[str, int] = {}
    first.dispatch_sync("echo", {"text": "x"}, state=state_one)
    second.dispatch_sync("echo", {"text": "x"}, state=state_two)
    assert len(made) == 2 and state_one["by"] != state_two["by"]


def test_a_plugin_refusing_its_settings_stops_the_start(make: MakeDispatcher) -> None:
    """A ConfigError from toolwire_configure is the operator's mistake: adding the plugin fails."""

    class Picky:
        @toolwire.hookimpl
        def toolwire_configure(self, config: toolwire.Config) -> None:
            raise toolwire.ConfigError("unknown key [plugins.picky] colour")

    dispatcher = make(pack)
    with pytest.raises(toolwire.PluginError, match=r"'picky' refused its settings.*colour"):
        dispatcher.add(Picky(), name="picky")
    assert "picky" not in [p.name for p in dispatcher.plugins()]


async def test_middleware_whose_applies_to_raises_is_kept(make: MakeDispatcher) -> None:
    """An applies_to that raises is logged and the middleware still wraps the tool."""

    class Confused:
        def applies_to(self, tool: Any, policy: Any) -> bool:
            raise RuntimeError("bug")

        async def __call__(self, call: Any, context: Any, call_next: Any) -> Any:
            return f"wrapped({await call_next(call, context)})"

    class Registers:
        @toolwire.hookimpl
        def toolwire_register_middleware(self, register: Callable[[Any], None]) -> None:
            register(Confused())

    with structlog.testing.capture_logs() as logs:
        dispatcher = make(pack).add(Registers(), name="confused")
        result = await dispatcher.dispatch("echo", {"text": "x"})
    assert result.output == "wrapped(x)"
    failed = [e for e in logs if e["event"] == "toolwire.applies_to_failed"]
    assert failed and failed[0]["plugin"] == "confused"


async def test_format_hooks_see_parsed_arguments(make: MakeDispatcher) -> None:
    """In process_response, a format hook sees the validated arguments, as every per-call hook."""
    seen: list[Any] = []

    class Peek:
        @toolwire.hookimpl
        def toolwire_format_result(
            self, call: Any, result: Any, provider: str, context: Any
        ) -> Any:
            seen.append(call.arguments)

    from toolwire.testing import build_response

    dispatcher = make(pack).add(Peek(), name="peek")
    await dispatcher.process_response(
        build_response("openai-chat", [("echo", '{"text": "x"}', "c1")])
    )
    assert seen == [{"text": "x"}]
