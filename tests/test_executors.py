"""Executors: the built-in thread, loop and process executors, binding tools to them, and
what each failure of a worker process answers."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import structlog
import toolwire
from toolwire_fixtures import remote

from .conftest import MakeDispatcher


def children() -> set[int]:
    """The ids of this process's living child processes, from the process table."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether a process with that id exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def process_config(**executor: Any) -> dict[str, Any]:
    """Every tool of the remote pack on the process executor, one worker unless said."""
    return {
        "defaults": {"executor": "process"},
        "executors": {"process": {"workers": 1, **executor}},
    }


def with_tools(config: Mapping[str, Any], **tools: Mapping[str, Any]) -> dict[str, Any]:
    return {**config, "tools": dict(tools)}


@pytest.mark.slow
async def test_a_blocking_function_is_killed_at_its_deadline(
    make: MakeDispatcher, tmp_path: Path
) -> None:
    """time.sleep far past the timeout: the call gets timeout, its worker is killed and replaced."""
    dispatcher = make(remote.pack, config=with_tools(process_config(), nap={"timeout": 1}))
    assert (await dispatcher.dispatch("add", {"a": 1, "b": 1})).output == "2"  # a worker is up
    mark = tmp_path / "started"
    result = await dispatcher.dispatch("nap", {"seconds": 600, "mark": str(mark)})
    assert result.error is not None and result.error.kind == "timeout", result.output
    assert result.error.retryable
    killed = int(mark.read_text())
    for _ in range(200):
        if not alive(killed):
            break
        await asyncio.sleep(0.05)
    assert not alive(killed)
    after = await dispatcher.dispatch("where")
    assert after.success and after.result != killed


@pytest.mark.slow
async def test_a_worker_that_exits_gives_executor_lost_and_is_replaced(
    make: MakeDispatcher,
) -> None:
    """os._exit in the tool: the call gets executor_lost (not retryable), the next call runs."""
    dispatcher = make(remote.pack, config=process_config())
    before = (await dispatcher.dispatch("where")).result
    result = await dispatcher.dispatch("exit_now", {"code": 7})
    assert result.error is not None and result.error.kind == "executor_lost"
    assert result.error.retryable is False and result.error.details == {"exit_status": 7}
    assert not alive(before)
    after = await dispatcher.dispatch("where")
    assert after.success and after.result != before


@pytest.mark.slow
async def test_a_worker_that_segfaults_gives_executor_lost(make: MakeDispatcher) -> None:
    """A segmentation fault in the tool: executor_lost naming the signal, and a new worker."""
    dispatcher = make(remote.pack, config=process_config())
    result = await dispatcher.dispatch("crash")
    assert result.error is not None and result.error.kind == "executor_lost"
    assert result.error.details == {"exit_status": -11} and "signal 11" in result.error.message
    assert (await dispatcher.dispatch("add", {"a": 1, "b": 2})).output == "3"


@pytest.mark.slow
async def test_executor_lost_is_retried_only_for_idempotent_tools(make: MakeDispatcher) -> None:
    """retries=2: a lost worker is tried again for an idempotent tool, never for another one."""
    config = process_config()
    plain = make(remote.pack, config=with_tools(config, exit_now={"retries": 2}))
    once = await plain.dispatch("exit_now")
    assert once.error is not None and once.error.kind == "executor_lost" and once.attempts == 1
    safe = make(remote.pack, config=with_tools(config, exit_now={"retries": 2, "idempotent": True}))
    again = await safe.dispatch("exit_now")
    assert again.error is not None and again.error.kind == "executor_lost"
    assert again.attempts == 3 and again.error.retryable is True


@pytest.mark.slow
async def test_a_worker_past_its_memory_cap_answers_and_is_replaced(
    make: MakeDispatcher,
) -> None:
    """max_memory_mb: allocating past the cap is an error for that call; the worker is renewed."""
    dispatcher = make(remote.pack, config=process_config(max_memory_mb=512))
    before = (await dispatcher.dispatch("where")).result
    result = await dispatcher.dispatch("allocate", {"mb": 2048})
    assert result.error is not None and result.error.kind == "execution_error"
    assert "out of memory" in result.error.message
    assert result.error.details == {"max_memory_mb": 512}
    small = await dispatcher.dispatch("allocate", {"mb": 64})
    assert small.result == 64 * 2**20
    assert (await dispatcher.dispatch("where")).result != before


@pytest.mark.slow
async def test_a_worker_that_cannot_load_the_tool_gives_executor_unavailable(
    make: MakeDispatcher,
) -> None:
    """A tool whose import fails in the worker (a 1 MiB cap): executor_unavailable, not retried."""
    dispatcher = make(
        remote.pack, config=with_tools(process_config(max_memory_mb=1), add={"retries": 2})
    )
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch("add", {"a": 1, "b": 2})
    assert result.error is not None and result.error.kind == "executor_unavailable"
    assert result.error.retryable is False and result.attempts == 1
    assert "site-packages" not in result.output  # the traceback is logged, not shown
    assert any(e["event"] == "toolwire.executor_failed" for e in logs)


@pytest.mark.slow
async def test_a_worker_that_dies_while_starting_gives_executor_unavailable(
    make: MakeDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker process that exits before it is ready: executor_unavailable, retried, nothing ran."""
    import toolwire._process

    monkeypatch.setattr(toolwire._process, "_BOOT", "import sys; sys.exit(4)")
    dispatcher = make(remote.pack, config=with_tools(process_config(), add={"retries": 1}))
    result = await dispatcher.dispatch("add", {"a": 1, "b": 2})
    assert result.error is not None and result.error.kind == "executor_unavailable"
    assert result.error.retryable and result.attempts == 2
    assert "status 4" in result.error.message


@pytest.mark.slow
async def test_worker_results_match_the_thread_path(make: MakeDispatcher) -> None:
    """Values, a tool's ToolError, a context parameter and async tools come back as in-thread."""
    on_threads = make(remote.pack)
    in_workers = make(remote.pack, config=process_config(workers=2))
    calls = [
        ("add", {"a": 2, "b": 3}),
        ("refuse", {"city": "Atlantis"}),
        ("wait", {"seconds": 0.01}),
        ("context_seen", {}),
    ]
    for name, arguments in calls:
        here = await on_threads.dispatch(name, arguments, call_id="c1", role="user")
        there = await in_workers.dispatch(name, arguments, call_id="c1", role="user")
        assert (there.success, there.output) == (here.success, here.output), name
    assert json.loads((await in_workers.dispatch("context_seen", call_id="c9")).output) == {
        "call_id": "c9",
        "role": None,
        "attempt": 1,
    }
    assert (await in_workers.dispatch("where")).result != os.getpid()


@pytest.mark.slow
async def test_a_tool_exception_in_a_worker_is_logged_not_shown(make: MakeDispatcher) -> None:
    """An exception raised in a worker: the model reads a generic error, the log has the trace."""
    dispatcher = make(remote.pack, config=process_config())
    with structlog.testing.capture_logs() as logs:
        result = await dispatcher.dispatch("fail")
    assert result.error is not None and result.error.kind == "execution_error"
    assert "42" not in result.output
    failed = [e for e in logs if e["event"] == "toolwire.tool_failed"]
    assert failed and "the secret is 42" in repr(failed[0]["exc_info"].__cause__)
    transient = make(remote.pack, config=with_tools(process_config(), fail={"retries": 1}))
    retried = await transient.dispatch("fail", {"transient": True})
    assert retried.attempts == 2  # the exception's own type crossed back: TransientError


@pytest.mark.slow
async def test_one_result_per_call_in_order_whatever_the_workers_do(
    make: MakeDispatcher,
) -> None:
    """A batch mixing success, exits, deadlines and errors gets one result per call, in order."""
    dispatcher = make(remote.pack, config=with_tools(process_config(workers=2), nap={"timeout": 1}))
    calls = [
        toolwire.ToolCall("add", {"a": 1, "b": 1}, "c0"),
        toolwire.ToolCall("exit_now", {}, "c1"),
        toolwire.ToolCall("nap", {"seconds": 60}, "c2"),
        toolwire.ToolCall("refuse", {"city": "x"}, "c3"),
        toolwire.ToolCall("add", {"a": 2, "b": 2}, "c4"),
    ]
    results = await dispatcher.dispatch_many(calls)
    assert [r.call_id for r in results] == ["c0", "c1", "c2", "c3", "c4"]
    kinds = [r.error.kind if r.error else r.output for r in results]
    assert kinds == ["2", "executor_lost", "timeout", "execution_error", "4"]


@pytest.mark.slow
async def test_close_leaves_no_process_or_thread_behind(
    make: MakeDispatcher, tmp_path: Path
) -> None:
    """close() while a call runs in a worker: no child process and no executor thread remain."""
    dispatcher = make(remote.pack, config=process_config(workers=2))
    before = children()
    assert (await dispatcher.dispatch("add", {"a": 1, "b": 1})).success
    mark = tmp_path / "started"
    running = asyncio.create_task(dispatcher.dispatch("nap", {"seconds": 600, "mark": str(mark)}))
    for _ in range(400):
        if mark.exists():
            break
        await asyncio.sleep(0.05)
    assert children() - before  # the worker running nap
    dispatcher.close()
    result = await running
    assert result.error is not None and result.error.kind == "executor_lost"
    assert children() - before == set()
    assert not [t for t in threading.enumerate() if t.name.startswith("toolwire-process")]
    assert (await dispatcher.dispatch("add", {"a": 2, "b": 2})).output == "4"  # starts again
    dispatcher.close()
    assert children() - before == set()


@pytest.mark.slow
def test_a_worker_writes_nothing_to_the_hosts_stdout(
    make: MakeDispatcher, capfd: pytest.CaptureFixture[str]
) -> None:
    """A tool that prints in a worker process: its line reaches stderr, never stdout."""
    dispatcher = make(remote.pack, config=process_config())
    assert dispatcher.dispatch_sync("speak", {"text": "overheard"}).output == "overheard"
    dispatcher.close()
    captured = capfd.readouterr()
    assert "overheard" not in captured.out
    assert "overheard" in captured.err


def test_a_tool_a_worker_cannot_import_is_refused_at_start(make: MakeDispatcher) -> None:
    """A nested function or a lambda bound to process stops the start, naming the tool."""
    pack = toolwire.Toolset("odd")
    pack.add(remote.nested)
    with pytest.raises(toolwire.ConfigError, match=r"tool 'hidden'.*inside _closure_tool"):
        make(pack, config=process_config()).start()
    lambdas = toolwire.Toolset("lambdas")
    lambdas.add(toolwire.tool(name="anon", schema={"type": "object"})(lambda: 1))
    with pytest.raises(toolwire.ConfigError, match=r"tool 'anon'.*lambda"):
        make(lambdas, config=process_config()).start()


def test_an_executor_no_plugin_registers_stops_the_start(make: MakeDispatcher) -> None:
    """executor = a name nobody registers: the start fails naming the tool (fail closed)."""
    config = with_tools({}, add={"executor": "gpu"})
    with pytest.raises(toolwire.ConfigError, match=r"tool 'add' runs on executor 'gpu'"):
        make(remote.pack, config=config).start()
    remote_kind = {"executors": {"fleet": {"kind": "taskiq", "url": "redis://x"}}}
    with pytest.raises(toolwire.ConfigError, match=r"\[executors\.fleet\].*'taskiq'"):
        make(remote.pack, config=remote_kind).start()
    disabled = {"plugins": {"disable": ["executors"]}, "defaults": {"executor": "thread"}}
    with pytest.raises(toolwire.ConfigError, match=r"executor 'thread'"):
        make(remote.pack, config=disabled).start()


def test_executor_settings_fail_closed(make: MakeDispatcher) -> None:
    """A setting a process executor does not read, or a table for thread, stops the start."""
    with pytest.raises(toolwire.ConfigError, match=r"url is not a setting of a process"):
        make(config={"executors": {"process": {"url": "redis://x"}}})
    with pytest.raises(toolwire.ConfigError, match=r"\[executors\.thread\]"):
        make(config={"executors": {"thread": {}}})
    with pytest.raises(toolwire.ConfigError, match=r"executor"):
        toolwire.tool(executor="")(remote.add.function)


def test_where_a_tool_runs_comes_from_code_then_config_then_defaults(
    make: MakeDispatcher,
) -> None:
    """executor= in code, [tools.NAME] executor and [defaults] executor override in that order."""
    pack = toolwire.Toolset("placed")
    pack.add(toolwire.tool(executor="process")(remote.where.function))
    pack.add(toolwire.tool(remote.add.function))
    dispatcher = make(pack, config={"defaults": {"executor": "thread"}})
    assert dispatcher.policy("where").executor == "process"
    assert dispatcher.policy("add").executor == "thread"
    moved = make(pack, config=with_tools({}, where={"executor": "thread"}))
    assert moved.policy("where").executor == "thread"
    assert moved.dispatch_sync("where").result == os.getpid()


async def test_the_loop_executor_takes_async_tools_only(make: MakeDispatcher) -> None:
    """executor = loop runs an async def on the event loop and refuses a plain function."""
    dispatcher = make(remote.pack, config=with_tools({}, wait={"executor": "loop"}))
    assert (await dispatcher.dispatch("wait", {"seconds": 0})).output == "woke"
    with pytest.raises(toolwire.ConfigError, match=r"tool 'add'.*async def tools only"):
        make(remote.pack, config=with_tools({}, add={"executor": "loop"})).start()


async def test_the_in_process_executors_run_calls_handed_to_them() -> None:
    """thread and loop also serve submit() directly, for executors that compose them."""
    from toolwire._builtins.executors import BuiltinExecutors

    plugin = BuiltinExecutors()
    plugin.toolwire_configure(toolwire.Config())
    registered: dict[str, Any] = {}
    plugin.toolwire_register_executors(registered.__setitem__)
    assert sorted(registered) == ["loop", "process", "thread"]
    job = toolwire.types.Job(
        "c1", remote.add, {"a": 1, "b": 2}, {"a": 1, "b": 2}, None, None, 1, "p", ""
    )
    assert await registered["thread"].submit(job) == 3
    plugin.toolwire_close()


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["traced", "traced_async"])
async def test_a_worker_runs_the_tool_under_the_call_s_trace_context(
    make: MakeDispatcher, tool: str
) -> None:
    """The span current where the host dispatched is the parent of what the tool does in its
    worker process; with no span current, the worker starts no trace of its own."""
    dispatcher = make(remote.pack, config=process_config())
    untraced = await dispatcher.dispatch(tool)
    assert untraced.success and untraced.result == {}
    TracerProvider = pytest.importorskip("opentelemetry.sdk.trace").TracerProvider
    tracer = TracerProvider().get_tracer("host")
    with tracer.start_as_current_span("agent turn") as span:
        result = await dispatcher.dispatch(tool)
    context = span.get_span_context()
    assert result.success, result.output
    version, trace_id, parent_id, _flags = result.result["traceparent"].split("-")
    assert (version, trace_id, parent_id) == (
        "00",
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
    )
    assert (await dispatcher.dispatch("where")).result != os.getpid()


@pytest.mark.slow
async def test_a_failing_propagator_costs_the_trace_never_the_call(
    make: MakeDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host's propagator that raises, or writes something that is not a header: the call to
    a worker runs all the same, carrying no context."""
    propagate = pytest.importorskip("opentelemetry.propagate")

    class Broken:
        fields: frozenset[str] = frozenset()

        def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
            raise RuntimeError("propagator bug")

        def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
            raise RuntimeError("propagator bug")

    class NotAHeader(Broken):
        def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
            carrier["x-trace"] = object()

    dispatcher = make(remote.pack, config=process_config())
    for propagator in (Broken(), NotAHeader()):
        monkeypatch.setattr(propagate, "_HTTP_TEXT_FORMAT", propagator)
        result = await dispatcher.dispatch("traced")
        assert result.success and result.result == {}, result.output


def test_attached_keeps_the_current_context_for_garbage_headers() -> None:
    """A carrier whose headers hold no valid context leaves the current span current, as an
    empty carrier does; a valid one replaces it."""
    trace = pytest.importorskip("opentelemetry.sdk.trace")
    import toolwire.propagation
    from opentelemetry import trace as api

    tracer = trace.TracerProvider().get_tracer("t")
    remote = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with tracer.start_as_current_span("mine") as mine:
        for carrier in (None, {}, {"traceparent": "garbage"}, {1: "x"}, 5):
            with toolwire.propagation.attached(carrier):
                assert api.get_current_span() is mine, carrier
        with toolwire.propagation.attached({"traceparent": remote}):
            assert f"{api.get_current_span().get_span_context().span_id:016x}" == remote[36:52]
