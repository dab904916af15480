"""toolwire benchmarks: every figure is a ratio to a baseline measured in the same run.

Run with ``nox -s bench`` (or ``python bench/run.py`` where toolwire is installed). Each
line prints the figure, its target and whether it is met. A figure and its baseline are timed
in alternating rounds, and the figure is the median of their per-round ratios: a noisy
neighbour slows a round down but moves the median little.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import toolwire
from toolwire.testing import make_dispatcher

RAW = '{"location": "Paris", "units": "celsius"}'
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tool-schemas.json"
PROVIDERS = ("openai-responses", "openai-chat", "anthropic", "gemini")
ROUNDS = 7
rows: list[tuple[str, float, float, str]] = []


def get_weather(location: str, units: str = "celsius") -> dict[str, Any]:
    return {"location": location, "units": units, "temperature": 21}


async def get_weather_async(location: str, units: str = "celsius") -> dict[str, Any]:
    return {"location": location, "units": units, "temperature": 21}


FUNCS: dict[str, Callable[..., Any]] = {"get_weather": get_weather}


def floor_call() -> str:
    return json.dumps(FUNCS["get_weather"](**json.loads(RAW)))


def best_per_call(run: Callable[[int], None], n: int) -> float:
    """Seconds per call: the best of several rounds of n calls (for figures not divided by
    anything measured alongside, such as the ``limits`` library's own cost, shown for scale)."""
    best = float("inf")
    for _ in range(ROUNDS):
        gc.collect()
        start = time.perf_counter()
        run(n)
        best = min(best, (time.perf_counter() - start) / n)
    return best


#: One figure's round: seconds per call over ``n`` calls.
Round = Callable[[int], float]


def plain_round(call: Callable[[], Any]) -> Round:
    """A round of ``call()`` made in this thread, where no event loop runs."""

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            call()
        return (time.perf_counter() - start) / n

    return run


def loop_round(loop: asyncio.AbstractEventLoop, make_call: Callable[[], Awaitable[Any]]) -> Round:
    """A round of ``await make_call()`` on ``loop``, which runs only while the round does."""

    async def calls(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await make_call()
        return (time.perf_counter() - start) / n

    return lambda n: loop.run_until_complete(calls(n))


def interleaved(rounds: Sequence[Round], n: int, repeats: int = ROUNDS * 3) -> list[list[float]]:
    """Seconds per call of each figure in each repeat, the figures' rounds alternating.

    On a shared machine the load changes from second to second; a baseline measured a while
    before the figure it divides would move the ratio more than the code does. Measured in
    turn, each repeat gives a baseline and a figure that saw the same machine, and the median
    of their ratios (``median_ratio``) is what a noisy neighbour moves least.
    """
    seconds: list[list[float]] = [[] for _ in rounds]
    for _ in range(repeats):
        for index, run in enumerate(rounds):
            gc.collect()
            seconds[index].append(run(n))
    return seconds


def median_ratio(figure: Sequence[float], baseline: Sequence[float]) -> float:
    """The median of the per-repeat ratios of two interleaved figures."""
    return statistics.median(f / b for f, b in zip(figure, baseline, strict=True))


def interleaved_async(
    first: Callable[[], Awaitable[Any]], second: Callable[[], Awaitable[Any]], n: int
) -> tuple[float, float]:
    """Median seconds per call of each, their rounds alternating so both see the same machine.

    A thread hop costs tens of microseconds and varies with the scheduler; measured apart,
    two runs of the same code differ by more than the overhead being measured.
    """
    loop = asyncio.new_event_loop()
    try:
        a, b = interleaved([loop_round(loop, first), loop_round(loop, second)], n)
    finally:
        loop.close()
    return statistics.median(a), statistics.median(b)


def interleaved_sync(
    first: Callable[[], Any], second: Callable[[], Any], n: int
) -> tuple[float, float]:
    """``interleaved_async`` for calls made where no event loop runs."""
    a, b = interleaved([plain_round(first), plain_round(second)], n)
    return statistics.median(a), statistics.median(b)


def report(name: str, value: float, target: float, unit: str = "x", at_least: bool = False) -> None:
    """One figure against its target: at most ``target``, or at least it with ``at_least``."""
    rows.append((name, -value, -target, unit) if at_least else (name, value, target, unit))
    met = value >= target if at_least else value <= target
    verdict = "ok" if met else ("UNDER TARGET" if at_least else "OVER TARGET")
    bound = ">=" if at_least else "<="
    print(
        f"{name:<68} {value:8.2f}{unit:<3} target {bound} {target:g}{unit}  {verdict}", flush=True
    )


class NoOp:
    """One no-op before and after plugin, as the benchmark asks."""

    @toolwire.hookimpl
    def toolwire_before_call(self, call: Any, context: Any) -> None:
        return None

    @toolwire.hookimpl
    def toolwire_after_call(self, call: Any, result: Any, context: Any) -> None:
        return None


def pipeline_dispatcher(
    func: Callable[..., Any], config: dict[str, Any] | None = None, **tool_options: Any
) -> toolwire.Dispatcher:
    pack = toolwire.Toolset("bench")
    pack.tool(name="get_weather", **tool_options)(func)
    settings = {"logging": {"level": "warning"}, "tools": {"get_weather": {"roles": ["user"]}}}
    return make_dispatcher(pack, config={**settings, **(config or {})}).add(NoOp(), name="noop")


def bench_pipeline() -> None:
    """One call through the pipeline, each figure the median of its ratios to the floor
    measured in the rounds between (``interleaved``).

    The sync path is timed as a plain script calls it, where no event loop runs: the async
    figures' loop runs only during their own rounds.
    """
    full = pipeline_dispatcher(get_weather_async)
    sync_d = pipeline_dispatcher(get_weather)
    # What a host gets without configuring anything: Dispatcher(), default config (the call
    # log on, at info), no logging set up, so the host's logging drops the call events.
    assert not logging.getLogger().handlers, "the benchmark must run with logging unconfigured"
    pack = toolwire.Toolset("bench")
    pack.tool(name="get_weather")(get_weather_async)
    plain = toolwire.Dispatcher().add(pack)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(full.dispatch("get_weather", RAW, role="user")).success
        assert loop.run_until_complete(plain.dispatch("get_weather", RAW)).success
        assert sync_d.dispatch_sync("get_weather", RAW, role="user").success
        floor, per_full, per_sync, per_plain = interleaved(
            [
                plain_round(floor_call),
                loop_round(loop, lambda: full.dispatch("get_weather", RAW, role="user")),
                plain_round(lambda: sync_d.dispatch_sync("get_weather", RAW, role="user")),
                loop_round(loop, lambda: plain.dispatch("get_weather", RAW)),
            ],
            5_000,
        )
        print(
            f"floor: json.dumps(FUNCS[name](**json.loads(raw))) = "
            f"{statistics.median(floor) * 1e6:.2f} us; medians a call: full async path "
            f"{statistics.median(per_full) * 1e6:.2f} us, dispatch_sync "
            f"{statistics.median(per_sync) * 1e6:.2f} us, Dispatcher() "
            f"{statistics.median(per_plain) * 1e6:.2f} us"
        )
        report(
            "one async call, roles and a no-op before/after plugin / floor",
            median_ratio(per_full, floor),
            2.0,
        )
        report(
            "one plain-function call via dispatch_sync, no running loop / floor",
            median_ratio(per_sync, floor),
            2.0,
        )
        report(
            "... dispatch_sync / the async call above (it must be the cheaper)",
            median_ratio(per_sync, per_full),
            1.0,
        )
        report(
            "one async call, Dispatcher() defaults, no logging configured / floor",
            median_ratio(per_plain, floor),
            2.2,
        )

        to_thread, threaded, floor = interleaved(
            [
                loop_round(loop, lambda: asyncio.to_thread(floor_call)),
                loop_round(loop, lambda: sync_d.dispatch("get_weather", RAW, role="user")),
                plain_round(floor_call),
            ],
            1_000,
        )
        print(
            f"asyncio.to_thread(floor) = {statistics.median(to_thread) * 1e6:.1f} us, "
            f"dispatch = {statistics.median(threaded) * 1e6:.1f} us"
        )
        report(
            "one plain-function call via await dispatch / floor",
            median_ratio(threaded, floor),
            12.0,
        )
        report(
            "one plain-function call via await dispatch / asyncio.to_thread(floor)",
            median_ratio(threaded, to_thread),
            1.1,
        )
    finally:
        loop.close()
        full.close()
        sync_d.close()
        plain.close()


def bench_policy_stack() -> None:
    """The default middleware stack (timeout, retry, concurrency, rate limit) vs none."""
    bare = pipeline_dispatcher(get_weather_async)
    stacks: dict[str, toolwire.Dispatcher] = {
        "timeout+retry+concurrency (core's own layers)": pipeline_dispatcher(
            get_weather_async, timeout=30, retries=2, max_concurrency=64
        )
    }
    try:
        import toolwire_ratelimit
    except ImportError:
        print("rate limit: toolwire-ratelimit is not installed; measured without it")
    else:
        # A limit the run never reaches: the figure is the cost of counting, not of refusing.
        for strategy in ("moving-window", "fixed-window"):
            stacked = pipeline_dispatcher(
                get_weather_async,
                timeout=30,
                retries=2,
                max_concurrency=64,
                rate_limit="1000000000/hour",
                config={"plugins": {"ratelimit": {"strategy": strategy}}},
            )
            stacks[f"timeout+retry+concurrency+rate limit ({strategy})"] = stacked.add(
                toolwire_ratelimit.plugin, name="ratelimit"
            )
    core_ratio = None
    loop = asyncio.new_event_loop()
    try:
        for label, stacked in stacks.items():
            assert loop.run_until_complete(
                stacked.dispatch("get_weather", RAW, role="user")
            ).success
            per_bare, per_stacked = interleaved(
                [
                    loop_round(loop, lambda: bare.dispatch("get_weather", RAW, role="user")),
                    loop_round(loop, lambda d=stacked: d.dispatch("get_weather", RAW, role="user")),
                ],
                3_000,
            )
            ratio = median_ratio(per_stacked, per_bare)
            if core_ratio is None:
                core_ratio = ratio
                report(f"one async call with {label} / without", core_ratio, 1.3)
            else:
                strategy = label.rsplit("(", 1)[1].rstrip(")")
                floor = core_ratio + limits_hit_seconds(strategy) / statistics.median(per_bare)
                print(
                    f"  for scale: the core's layers plus the limits library's own hit() "
                    f"({strategy}, its memory storage, which toolwire-ratelimit does not use): "
                    f"{floor:.2f}x"
                )
                report(f"one async call with {label} / without", ratio, 1.5)
            stacked.close()
    finally:
        loop.close()
        bare.close()


def limits_hit_seconds(strategy: str) -> float:
    """What one ``limits`` hit costs alone, as toolwire-ratelimit makes it (memory storage)."""
    import limits
    from limits.strategies import STRATEGIES

    limiter = STRATEGIES[strategy](limits.storage.MemoryStorage())
    item = limits.parse("1000000000/hour")
    return best_per_call(
        lambda n: [limiter.hit(item, "get_weather", "user", "*") for _ in range(n)], 20_000
    )


def bench_batches() -> None:
    pack = toolwire.Toolset("sleepers")

    @pack.tool
    def sleep_sync(ms: int) -> int:
        time.sleep(ms / 1000)
        return ms

    @pack.tool
    async def sleep_async(ms: int) -> int:
        await asyncio.sleep(ms / 1000)
        return ms

    dispatcher = make_dispatcher(pack, config={"logging": {"level": "warning"}})
    for name, target in (("sleep_sync", 110.0), ("sleep_async", 55.0)):
        calls = [toolwire.ToolCall(name, {"ms": 50}, f"c{i}") for i in range(100)]

        async def batch(calls: list[toolwire.ToolCall] = calls) -> list[Any]:
            return await dispatcher.dispatch_many(calls)

        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            results = asyncio.run(batch())
            best = min(best, time.perf_counter() - start)
            assert all(r.success for r in results)
        kind = "plain" if name == "sleep_sync" else "async"
        report(
            f"100 {kind} calls sleeping 50 ms, one dispatch_many (ms)", best * 1000, target, " ms"
        )
    dispatcher.close()


def bench_import() -> None:
    """``import toolwire`` in a fresh interpreter, less a bare one, in alternating pairs.

    Each interpreter's CPU time (user and system, from the kernel's accounting of the child)
    is the figure, and its wall time is shown beside it: on a shared machine the wall time
    of a short process is mostly how long it waited for a core.
    """
    import resource

    def one(code: str) -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return cpu, wall

    cpu: list[float] = []
    wall: list[float] = []
    host: list[float] = []
    # What a host that dispatches loads too: the dispatcher and asyncio (for scale, no target;
    # a tool pack that only defines its tools does not load them).
    dispatching = "import toolwire; toolwire.Dispatcher"
    one(dispatching)  # the files read once, as any later start finds them
    for _ in range(ROUNDS * 2):
        bare, with_import = one("pass"), one("import toolwire")
        cpu.append(with_import[0] - bare[0])
        wall.append(with_import[1] - bare[1])
        host.append(one(dispatching)[0] - bare[0])
    print(
        f"import toolwire over a bare interpreter, wall: {statistics.median(wall) * 1000:.0f} ms;"
        f" with the Dispatcher loaded, CPU: {statistics.median(host) * 1000:.0f} ms"
    )
    report(
        "import toolwire over a bare interpreter (CPU ms, median)",
        statistics.median(cpu) * 1000,
        120.0,
        " ms",
    )


def bench_otel() -> None:
    """toolwire-otel in a host that configured no OpenTelemetry SDK, against no plugin at all."""
    try:
        import toolwire_otel
        from opentelemetry import trace
    except ImportError:
        print("otel: toolwire-otel is not installed; skipped")
        return
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)

    bare = pipeline_dispatcher(get_weather)
    traced = pipeline_dispatcher(get_weather).add(toolwire_otel.plugin, name="otel")
    assert traced.dispatch_sync("get_weather", RAW, role="user").success
    per_bare, per_traced = interleaved_sync(
        lambda: bare.dispatch_sync("get_weather", RAW, role="user"),
        lambda: traced.dispatch_sync("get_weather", RAW, role="user"),
        5_000,
    )
    report(
        "one plain-function call via dispatch_sync, toolwire-otel, no SDK / without",
        per_traced / per_bare,
        1.05,
    )
    bare.close()
    traced.close()

    bare_async = pipeline_dispatcher(get_weather_async)
    traced_async = pipeline_dispatcher(get_weather_async).add(toolwire_otel.plugin, name="otel")
    per_bare, per_traced = interleaved_async(
        lambda: bare_async.dispatch("get_weather", RAW, role="user"),
        lambda: traced_async.dispatch("get_weather", RAW, role="user"),
        5_000,
    )
    report(
        "one async call via dispatch, toolwire-otel, no SDK / without", per_traced / per_bare, 1.05
    )
    traced_async.close()

    try:
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        return
    # For scale, not a target: what a recorded span costs once a host does configure an SDK.
    provider = TracerProvider()  # no exporter: each span is made, recorded and dropped
    with_sdk = pipeline_dispatcher(get_weather_async).add(
        toolwire_otel.OtelPlugin(tracer_provider=provider), name="otel"
    )
    per_bare, per_traced = interleaved_async(
        lambda: bare_async.dispatch("get_weather", RAW, role="user"),
        lambda: with_sdk.dispatch("get_weather", RAW, role="user"),
        2_000,
    )
    print(
        f"otel with an SDK tracer provider: {per_traced * 1e6:.1f} us a call, "
        f"{per_bare * 1e6:.1f} us without the plugin"
    )
    bare_async.close()
    with_sdk.close()


def observed_dispatchers(folder: Path) -> tuple[toolwire.Dispatcher, toolwire.Dispatcher, Any]:
    """The full path (roles, a no-op plugin), and the same with an audit trail (its defaults:
    required, fsync at most once a second) and OpenTelemetry spans recorded by an SDK tracer
    provider that hands them, in batches, to an exporter that keeps nothing; and the provider."""
    import toolwire_audit
    import toolwire_otel
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Dropped(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    os.environ.setdefault("TOOLWIRE_AUDIT_KEY", os.urandom(32).hex())
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropped()))
    bare = pipeline_dispatcher(get_weather_async)
    observed = (
        pipeline_dispatcher(
            get_weather_async, config={"plugins": {"audit": {"path": str(folder / "audit.jsonl")}}}
        )
        .add(toolwire_audit.plugin, name="audit")
        .add(toolwire_otel.OtelPlugin(tracer_provider=provider), name="otel")
    )
    return bare, observed, provider


def observed_floor_seconds(provider: Any, folder: Path) -> float:
    """What the least an audited, traced call adds costs alone: the SDK's span for it (started
    with the plugin's attributes, made current, ended) and one record's line appended under the
    trail's lock (``flock``, one ``write``, unlock), the work no plugin can skip."""
    import fcntl

    from opentelemetry import context, trace

    tracer = provider.get_tracer("bench")
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": "c1",
        "toolwire.role": "user",
    }
    line = b"x" * 600 + b"\n"  # about a record's size
    lock = os.open(folder / "floor.lock", os.O_RDWR | os.O_CREAT, 0o600)
    trail = os.open(folder / "floor.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def one() -> None:
        span = tracer.start_span("execute_tool get_weather", attributes=attributes)
        token = context.attach(trace.set_span_in_context(span))
        context.detach(token)
        span.set_attribute("toolwire.attempts", 1)
        span.end()
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.write(trail, line)
        fcntl.flock(lock, fcntl.LOCK_UN)

    try:
        return best_per_call(lambda n: [one() for _ in range(n)], 2_000)
    finally:
        os.close(lock)
        os.close(trail)


def bench_observed() -> None:
    """One async call with an audit trail and OpenTelemetry spans on, against the same call
    without them: the same dispatcher config, rounds alternating, the median of their ratios."""
    try:
        import toolwire_audit  # noqa: F401
        import toolwire_otel  # noqa: F401
        from opentelemetry.sdk.trace import TracerProvider  # noqa: F401
    except ImportError:
        print("audit and otel: toolwire-audit, toolwire-otel or the OpenTelemetry SDK missing")
        return
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as folder:
        bare, observed, provider = observed_dispatchers(Path(folder))
        try:
            assert loop.run_until_complete(
                observed.dispatch("get_weather", RAW, role="user")
            ).success
            per_bare, per_observed = interleaved(
                [
                    loop_round(loop, lambda: bare.dispatch("get_weather", RAW, role="user")),
                    loop_round(loop, lambda: observed.dispatch("get_weather", RAW, role="user")),
                ],
                2_000,
            )
            print(
                f"audit trail and otel spans: {statistics.median(per_observed) * 1e6:.1f} us a "
                f"call, {statistics.median(per_bare) * 1e6:.1f} us without them"
            )
            report(
                "one async call with an audit trail and otel spans (SDK) on / without",
                median_ratio(per_observed, per_bare),
                1.5,
            )
            floor = observed_floor_seconds(provider, Path(folder)) / statistics.median(per_bare)
            print(
                f"  for scale: the call without them plus the SDK's own span (start, made "
                f"current, ended) and one locked append of a record's line: {1 + floor:.2f}x"
            )
        finally:
            loop.close()
            bare.close()
            observed.close()
            provider.shutdown()


def _wrk_rates(urls: dict[str, str], tool: str) -> dict[str, list[float]] | None:
    """Calls per second of each server under ``wrk`` (C, one thread, 32 connections): a load
    generator cheaper per request than any server, so the figure is the server's. Each request
    is a sessionless 2026-07-28 ``tools/call`` of ``tool``; servers alternate, 4 s a round."""
    import re
    import shutil

    if shutil.which("wrk") is None:
        return None
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {
                "name": tool,
                "arguments": {"text": "hi"},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        }
    )
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }
    lines = ["wrk.method = 'POST'", f"wrk.body = {json.dumps(body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    import urllib.request

    for kind, url in urls.items():  # each answers the call itself, not a JSON-RPC error
        request = urllib.request.Request(url, body.encode(), headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read().decode()
        if '"result"' not in text or '"isError":false' not in text.replace(" ", ""):
            raise RuntimeError(f"wrk: {kind} does not answer the call: {text[:300]}")
    rates: dict[str, list[float]] = {kind: [] for kind in urls}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        for _ in range(3):
            for kind, url in urls.items():
                done = subprocess.run(
                    ["wrk", "-t1", "-c32", "-d4s", "-s", script.name, url],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                if "Non-2xx" in done.stdout:
                    raise RuntimeError(f"wrk: {kind} answered errors: {done.stdout}")
                found = re.search(r"Requests/sec:\s+([0-9.]+)", done.stdout)
                assert found, done.stdout
                rates[kind].append(float(found.group(1)))
    finally:
        os.unlink(script.name)
    return rates


def typed_tools(prefix: str, count: int) -> list[Callable[..., Any]]:
    def make_tool(i: int) -> Callable[..., Any]:
        def tool(
            query: str,
            limit: int = 10,
            mode: Literal["fast", "full"] = "fast",
            tags: list[str] | None = None,
            weight: float = 1.0,
        ) -> dict[str, Any]:
            """Search something.

            Args:
                query: What to look for.
                limit: How many results.
                mode: Fast or full search.
                tags: Optional tags.
                weight: Ranking weight.
            """
            return {}

        tool.__name__ = f"{prefix}_{i}"
        return tool

    return [make_tool(i) for i in range(count)]


def register(functions: list[Callable[..., Any]]) -> toolwire.Dispatcher:
    pack = toolwire.Toolset("many")
    for function in functions:
        pack.tool(function)
    dispatcher = make_dispatcher(pack)
    assert len(dispatcher.tool_definitions("openai-responses")) == len(functions)
    return dispatcher


def bench_registration() -> None:
    """1,000 typed tools registered and described; the first tool's imports are timed apart."""
    start = time.perf_counter()
    register(typed_tools("warmup", 1)).close()
    print(
        f"first tool (imports pydantic and docstring_parser once): "
        f"{(time.perf_counter() - start) * 1000:.1f} ms"
    )
    # The process's CPU time: the work is all in this thread, and on a shared machine the wall
    # time of a round is mostly how long it waited for a core. The median of the rounds.
    cpu, wall = [], []
    for round_ in range(ROUNDS):
        functions = typed_tools(f"t{round_}", 1000)
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        dispatcher = register(functions)
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
        dispatcher.close()
    print(f"register 1,000 typed tools, wall: {statistics.median(wall) * 1000:.0f} ms")
    report(
        "register 1,000 typed tools and build their definitions (CPU ms, median)",
        statistics.median(cpu) * 1000,
        200.0,
        " ms",
    )
    functions = typed_tools("mem", 1000)
    gc.collect()
    tracemalloc.start()
    dispatcher = register(functions)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report("... memory at peak while doing it (MiB)", peak / 2**20, 8.0, " MiB")
    dispatcher.close()


def bench_kept_machinery() -> None:
    """What the per-loop machinery the dispatcher keeps costs next to asyncio's own.

    Async calls run on whatever loop the host runs (several, in a host with a loop per
    thread, or pytest's loop per test), so deadlines and slots must work on any loop. The
    deadline wheel is kept because it is cheaper than ``asyncio.timeout``; the slot counter
    because ``asyncio.Semaphore`` belongs to one loop, so a limit shared by several cannot be
    one (its figure is the price of that correctness).
    """
    from toolwire.middleware import ConcurrencyLimit, Timeout

    context = toolwire.CallContext(
        "c1", None, None, policy=toolwire.ToolPolicy(timeout=30.0, max_concurrency=8)
    )
    context.tool = toolwire.Tool(get_weather, name="kept")
    timeout, limit = Timeout(), ConcurrencyLimit()
    semaphore: asyncio.Semaphore | None = None

    async def wheel() -> None:
        armed = timeout.arm(context)
        armed.disarm()

    async def asyncio_timeout() -> None:
        async with asyncio.timeout(30.0):
            pass

    async def slots() -> None:
        counter = limit.slots_for(context)
        if not counter.try_acquire():
            await counter.acquire()
        counter.release()

    async def asyncio_semaphore() -> None:
        nonlocal semaphore
        semaphore = semaphore or asyncio.Semaphore(8)
        async with semaphore:
            pass

    ours, theirs = interleaved_async(wheel, asyncio_timeout, 20_000)
    report("deadline wheel / asyncio.timeout, per call", ours / theirs, 1.0)
    ours, theirs = interleaved_async(slots, asyncio_semaphore, 20_000)
    print(
        f"slot counter shared across loops / asyncio.Semaphore (one loop's): {ours / theirs:.2f}x"
    )


MCP_CLIENTS = 32
MCP_CALLS = 15  # per client and round
MCP_ROUNDS = 9
#: The share of a CPU past which the SDK clients' process, not the server, sets the pace.
CLIENT_BOUND = 0.9


def bench_mcp() -> None:
    """tools/call round trips over streamable HTTP on loopback: 32 concurrent SDK clients, the
    same small tools served by toolwire (whole pipeline), the SDK's MCPServer and FastMCP.

    One tool is ``async``, one a plain function. The servers' rounds alternate (an idle one
    costs nothing) under the same client load, and each figure is the median of its per-round
    ratios to the SDK's MCPServer, as for the per-call figures.

    The clients run in this one process; where it uses a whole CPU (``CLIENT_BOUND``), calls
    per second are the clients' and are shown, not judged: the server-bound figure (``wrk``)
    and the server's CPU per call are.
    """
    try:
        import httpx2
        from mcp import Client
    except ImportError:
        print("mcp: toolwire-mcp is not installed; skipped")
        return
    script = Path(__file__).parent / "mcp_servers.py"

    async def load(url: str, tool: str) -> list[float]:
        async def one_client() -> list[float]:
            latencies = []
            async with Client(url) as client:
                for _ in range(3):
                    await client.call_tool(tool, {"text": "warm"})
                for i in range(MCP_CALLS):
                    start = time.perf_counter()
                    result = await client.call_tool(tool, {"text": f"call {i}"})
                    latencies.append(time.perf_counter() - start)
                    assert result.content[0].text == f"call {i}"  # type: ignore[union-attr]
            return latencies

        per_client = await asyncio.gather(*(one_client() for _ in range(MCP_CLIENTS)))
        return [x for client in per_client for x in client]

    import importlib.util

    kinds = ("sdk", "toolwire", "fastmcp")
    if importlib.util.find_spec("fastmcp") is None:
        print("mcp: fastmcp is not installed; measured without it")
        kinds = kinds[:2]
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for kind in kinds:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            process = subprocess.Popen(
                [sys.executable, str(script), kind, str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "FASTMCP_SHOW_SERVER_BANNER": "false"},
            )
            servers[kind] = (process, f"http://127.0.0.1:{port}/mcp")
        for _, url in servers.values():
            for _ in range(400):
                try:
                    httpx2.get(url, timeout=1.0)
                    break
                except httpx2.HTTPError:
                    time.sleep(0.05)
        for tool, label in (("echo", "an async tool"), ("echo_plain", "a plain-function tool")):
            rates: dict[str, list[float]] = {k: [] for k in kinds}
            cpu: dict[str, list[float]] = {k: [] for k in kinds}
            p50s: dict[str, list[float]] = {k: [] for k in kinds}
            p99s: dict[str, list[float]] = {k: [] for k in kinds}
            client: dict[str, list[float]] = {k: [] for k in kinds}  # the clients' CPU share
            for _ in range(MCP_ROUNDS):
                for kind in kinds:
                    used = _cpu_seconds(servers[kind][0].pid)
                    start, client_start = time.perf_counter(), time.process_time()
                    latencies = sorted(asyncio.run(load(servers[kind][1], tool)))
                    wall = time.perf_counter() - start
                    client[kind].append((time.process_time() - client_start) / wall)
                    used = _cpu_seconds(servers[kind][0].pid) - used
                    rates[kind].append(len(latencies) / wall)
                    cpu[kind].append(used / (len(latencies) + 3 * MCP_CLIENTS))
                    p50s[kind].append(latencies[len(latencies) // 2])
                    p99s[kind].append(latencies[int(len(latencies) * 0.99)])
            for kind in kinds:
                print(
                    f"mcp {label}, {kind:<9} {statistics.median(rates[kind]):6.0f} calls/s  "
                    f"p50 {statistics.median(p50s[kind]) * 1000:6.1f} ms  "
                    f"p99 {statistics.median(p99s[kind]) * 1000:6.1f} ms  server CPU "
                    f"{statistics.median(cpu[kind]) * 1e6:6.0f} us/call, clients' process "
                    f"{statistics.median(client[kind]) * 100:3.0f}% of a CPU  (x"
                    f"{median_ratio(rates[kind], rates['sdk']):.2f} calls/s, x"
                    f"{median_ratio(cpu[kind], cpu['sdk']):.2f} CPU of the SDK's MCPServer)",
                    flush=True,
                )
            name = f"mcp, {label}: toolwire calls/s / SDK MCPServer's ({MCP_CLIENTS} HTTP clients)"
            busiest = max(statistics.median(shares) for shares in client.values())
            if busiest < CLIENT_BOUND:
                report(name, median_ratio(rates["toolwire"], rates["sdk"]), 1.2, at_least=True)
            else:
                # The SDK clients' one process used a whole CPU: the figure is theirs, and
                # the server-bound one below (wrk) is what says how fast each server is.
                print(
                    f"{name:<68} {median_ratio(rates['toolwire'], rates['sdk']):8.2f}x    "
                    f"client-bound (their process used {busiest:.0%} of a CPU): not judged",
                    flush=True,
                )
            # The server's own CPU per call is the figure the shared machine moves least.
            report(
                f"mcp, {label}: toolwire server CPU per call / SDK MCPServer's",
                median_ratio(cpu["toolwire"], cpu["sdk"]),
                1.0,
            )
            wrk_rates = _wrk_rates({k: servers[k][1] for k in ("sdk", "toolwire")}, tool)
            if wrk_rates is None:
                print("mcp: wrk is not installed (apt-get install wrk); the server-bound figure "
                      "is not measured")  # fmt: skip
            else:
                report(
                    f"mcp, {label}: toolwire calls/s / SDK MCPServer's, server-bound (wrk, "
                    "32 connections, sessionless 2026-07-28 POSTs)",
                    median_ratio(wrk_rates["toolwire"], wrk_rates["sdk"]),
                    1.2,
                    at_least=True,
                )
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(10)


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used (Linux ``/proc``)."""
    import os

    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    """A redis-server of the benchmark's own on a free port: its URL, or None without one."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


def start_workers(
    config: Path, count: int, url: str, queue: str, running: int = 0
) -> list[subprocess.Popen[bytes]]:
    """``count`` more ``toolwire worker fleet`` processes, as an operator starts them; back
    once ``running + count`` workers send heartbeats."""
    import redis

    toolwire_cli = Path(sys.executable).with_name("toolwire")
    started = [
        subprocess.Popen(
            [str(toolwire_cli), "--config", str(config), "worker", "fleet", "--concurrency", "2"],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    client = redis.Redis.from_url(url)
    while len(client.keys(f"{queue}:alive:*")) < running + count:
        if any(p.poll() is not None for p in started):
            raise RuntimeError("a worker exited while starting")
        time.sleep(0.05)
    client.close()
    return started


def stop_workers(started: list[subprocess.Popen[bytes]]) -> None:
    for process in started:
        process.send_signal(signal.SIGTERM)
    for process in started:
        process.wait(timeout=30)


def bench_executors() -> None:
    """Where a call runs: process and taskiq against thread, and two taskiq workers against one."""
    try:
        import toolwire_fixtures.remote  # noqa: F401 - the tools a worker imports by reference
        import toolwire_taskiq  # noqa: F401
    except ImportError:
        print("executors: toolwire-taskiq and the fixture tools are not installed; skipped")
        return
    # Jobs are signed: hosts and workers (which inherit the environment) share a key.
    os.environ.setdefault("TOOLWIRE_TASKIQ_KEY", os.urandom(32).hex())
    with tempfile.TemporaryDirectory() as folder, redis_server() as url:
        if url is None:
            print("executors: no redis-server on PATH; skipped")
            return
        queue = f"bench-{os.getpid()}"
        base = (
            '[plugins]\nautoload = false\nenable = ["remote", "taskiq"]\n'
            '[logging]\nlevel = "warning"\n[limits]\nmax_batch_calls = 1000\n'
            f'[executors.fleet]\nkind = "taskiq"\nurl = "{url}"\nqueue = "{queue}"\n'
            "[executors.process]\nworkers = 2\n"
        )
        configs = {}
        for executor in ("thread", "process", "fleet"):
            path = Path(folder) / f"{executor}.toml"
            path.write_text(base + f'[defaults]\nexecutor = "{executor}"\n')
            configs[executor] = path
        on = {name: toolwire.Dispatcher.from_config(path) for name, path in configs.items()}
        workers = start_workers(configs["fleet"], 1, url, queue)
        try:
            arguments = {"a": 1, "b": 2}
            for dispatcher in on.values():  # workers started, connections made
                for _ in range(20):
                    assert asyncio.run(dispatcher.dispatch("add", arguments)).output == "3"
            for name, n in (("process", 300), ("fleet", 60)):
                per_thread, per_other = interleaved_async(
                    lambda: on["thread"].dispatch("add", arguments),
                    lambda d=on[name]: d.dispatch("add", arguments),
                    n,
                )
                label = "taskiq (loopback Redis, one worker)" if name == "fleet" else name
                print(
                    f"add on thread = {per_thread * 1e6:.0f} us, on {label} = "
                    f"{per_other * 1e6:.0f} us"
                )
                target = 25.0 if name == "process" else 150.0
                report(f"one call on {label} / on thread", per_other / per_thread, target)

            calls = [toolwire.ToolCall("burn", {"ms": 20}, f"b{i}") for i in range(80)]

            def batch_seconds() -> float:
                best = float("inf")
                for _ in range(3):
                    start = time.perf_counter()
                    results = asyncio.run(on["fleet"].dispatch_many(calls))
                    best = min(best, time.perf_counter() - start)
                    assert all(r.success for r in results)
                return best

            one = batch_seconds()
            workers += start_workers(configs["fleet"], 1, url, queue, running=1)
            two = batch_seconds()
            print(f"80 calls of 20 ms pure Python: one worker {one:.2f} s, two workers {two:.2f} s")
            report(
                "taskiq throughput, two workers / one (CPU-bound)", one / two, 1.7, at_least=True
            )
        finally:
            for dispatcher in on.values():
                dispatcher.close()
            stop_workers(workers)


def bench_taskiq_signing() -> None:
    """A signed taskiq round trip against the same one whose MACs are not computed.

    One host and one worker, here (the worker on a thread of its own), swap their signer
    between rounds: the figure holds every HMAC of a round trip (the host signs the job and
    checks the reply, the worker checks the job and signs the reply) and nothing else differs.
    """
    try:
        from importlib.metadata import version

        import toolwire_fixtures.remote as remote
        from toolwire_taskiq import Settings, TaskiqExecutor, Worker
        from toolwire_taskiq._wire import Signer
    except ImportError:
        print("taskiq signing: toolwire-taskiq and the fixture tools are not installed; skipped")
        return

    class Unsigned(Signer):
        """The same encoding, with a constant in place of every MAC."""

        def mac(self, domain: bytes, data: bytes) -> bytes:
            return b"0" * 64

    import statistics
    import threading
    from collections.abc import Coroutine

    import redis

    os.environ.setdefault("TOOLWIRE_TASKIQ_KEY", os.urandom(32).hex())
    key = os.environ["TOOLWIRE_TASKIQ_KEY"].encode()
    signed, unsigned = Signer(key), Unsigned(key)
    with tempfile.TemporaryDirectory() as folder, redis_server() as url:
        if url is None:
            print("taskiq signing: no redis-server on PATH; skipped")
            return
        table = {"kind": "taskiq", "url": url, "queue": f"bench-signing-{os.getpid()}"}
        path = Path(folder) / "signing.toml"
        path.write_text(
            '[plugins]\nautoload = false\nenable = ["remote", "taskiq"]\n'
            '[logging]\nlevel = "warning"\n[defaults]\nexecutor = "fleet"\n'
            "[executors.fleet]\n" + "".join(f'{k} = "{v}"\n' for k, v in table.items())
        )
        settings = Settings.from_table("fleet", table, str(path))
        served = toolwire.Dispatcher.from_config(path)
        worker = Worker(served, settings, 8, signer=signed)
        loops: list[asyncio.AbstractEventLoop] = []

        async def serve() -> None:
            loops.append(asyncio.get_running_loop())
            await worker.run()

        thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        thread.start()
        executor = TaskiqExecutor(settings, signer=signed)
        client = redis.Redis.from_url(url)
        while not client.keys(f"{table['queue']}:alive:*"):
            time.sleep(0.05)
        client.close()
        job = toolwire.types.Job(
            call_id="b1",
            tool=remote.add,
            arguments={"a": 1, "b": 2},
            kwargs={},
            timeout=None,
            deadline=None,
            attempt=1,
            plugin="remote",
            version=version("toolwire-fixture-plugins"),
        )

        def round_trip(signer: Signer) -> Coroutine[Any, Any, Any]:
            executor.signer = worker.signer = signer  # no call is in flight between calls
            return executor.submit(job)

        async def pairs(n: int) -> list[tuple[float, float]]:
            """n pairs of back-to-back round trips, one of each, in alternating order: the
            load of a shared machine moves slower than a pair."""
            timed = []
            for i in range(n):
                seconds = {}
                for signer in (signed, unsigned) if i % 2 else (unsigned, signed):
                    start = time.perf_counter()
                    await round_trip(signer)
                    seconds[signer] = time.perf_counter() - start
                timed.append((seconds[signed], seconds[unsigned]))
            return timed

        try:
            for signer in (signed, unsigned):
                for _ in range(50):
                    assert asyncio.run(round_trip(signer)) == 3
            timed = asyncio.run(pairs(1500))
            ratio = statistics.median(a / b for a, b in timed)
            print(
                "taskiq round trip (loopback Redis, worker in this process), medians: signed "
                f"{statistics.median(a for a, _ in timed) * 1e6:.0f} us, unsigned "
                f"{statistics.median(b for _, b in timed) * 1e6:.0f} us"
            )
            report("taskiq round trip: signed / unsigned (median of 1,500 pairs)", ratio, 1.05)
        finally:
            executor.close()
            loops[0].call_soon_threadsafe(worker.stop)
            thread.join(timeout=30)
            served.close()


def schema_tool(**kwargs: Any) -> dict[str, Any]:
    return kwargs


def define_corpus(schemas: list[dict[str, Any]]) -> int:
    """Define a tool per published schema and build every provider's definitions."""
    pack = toolwire.Toolset("corpus")
    for i, entry in enumerate(schemas):
        pack.tool(name=f"t{i}", schema=entry["schema"])(schema_tool)
    dispatcher = make_dispatcher(pack, config={"logging": {"level": "error"}})
    built = sum(len(dispatcher.tool_definitions(provider)) for provider in PROVIDERS)
    dispatcher.close()
    return built


def bench_schemas() -> None:
    """1,311 published tool schemas: defined, validated, and described for all four providers."""
    if not CORPUS.exists():
        print(f"schemas: {CORPUS} is missing; measured nothing")
        return
    schemas = json.loads(CORPUS.read_text(encoding="utf-8"))["schemas"]
    # Definition notes are logged once per tool and provider; the figure is the work, not the log.
    logging.getLogger("toolwire").setLevel(logging.ERROR)
    assert define_corpus(schemas) == len(schemas) * len(PROVIDERS)
    best = float("inf")
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        define_corpus(schemas)
        best = min(best, time.perf_counter() - start)
    report(
        f"define {len(schemas):,} published schemas, build 4 providers' definitions (ms)",
        best * 1000,
        2000.0,
        " ms",
    )
    gc.collect()
    tracemalloc.start()
    define_corpus(schemas)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report("... memory at peak while doing it (MiB)", peak / 2**20, 64.0, " MiB")


def bench_adapters() -> None:
    """Each framework adapter against that framework's own tool, per call (target 1.3x).

    The three scripts beside this one measure it; each needs its framework installed.
    """
    import importlib

    here = str(Path(__file__).parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    figures = {
        "Pydantic AI": ("adapter_pydantic_ai", "pydantic_ai"),
        "OpenAI Agents SDK": ("adapter_openai_agents", "agents"),
        "LangChain": ("adapter_langchain", "langchain"),
    }
    for framework, (script, needs) in figures.items():
        try:
            importlib.import_module(needs)
        except ImportError:
            print(f"{framework} adapter: skipped, {needs!r} is not installed")
            continue
        module = importlib.import_module(script)
        figure = module.figure()
        report(f"{framework} adapter / the framework's own tool, per call", figure, 1.3)


def bench_progress() -> None:
    """Progress reports per second from a tool in a ``process`` worker to an MCP client: the
    official client over stdio, the fixtures' ``count_up`` reporting every 0.5 ms for about a
    second. A worker sends at most one report per 10 ms per call (the latest wins), so the
    ceiling is 100 a second; the figure says how much of it reaches the client."""
    try:
        import toolwire_fixtures  # noqa: F401 - the tool reporting progress
        from mcp import Client, StdioServerParameters
    except ImportError:
        print("progress: toolwire-mcp or the test fixtures are not installed; skipped")
        return
    host = Path(__file__).parent.parent / "plugins/toolwire-mcp/tests/servers/serve_host.py"
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "toolwire.toml"
        config.write_text(
            '[plugins]\nautoload = false\nenable = ["mcp", "remote"]\n'
            '[plugins.remote]\ninclude = ["count_up"]\n[executors.process]\nworkers = 1\n'
            '[tools.count_up]\nexecutor = "process"\n'
        )
        params = StdioServerParameters(
            command=sys.executable, args=[str(host), str(config)], env=dict(os.environ)
        )
        seen: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append(time.perf_counter())

        async def run() -> float:
            async with Client(params) as client:
                await client.call_tool("count_up", {"n": 5, "pause": 0})  # a warm worker
                seen.clear()
                start = time.perf_counter()
                await client.call_tool(
                    "count_up", {"n": 2000, "pause": 0.0005}, progress_callback=on_progress
                )
                return time.perf_counter() - start

        elapsed = asyncio.run(run())
    report(
        "progress reports/s, process worker -> MCP client (cap 100)",
        len(seen) / elapsed,
        50,
        "/s",
        at_least=True,
    )


def bench_scale() -> None:
    """10,000 tools in one dispatcher, measured in a fresh interpreter (``bench/scale.py``):
    absolute figures the issue sets (seconds, MiB, milliseconds), not ratios."""
    sys.path.insert(0, str(Path(__file__).parent))
    import scale

    figures = scale.measure()
    if figures is None:
        print(f"scale: needs the schema corpus {scale.CORPUS}; skipped")
        return
    tools = int(figures["tools"])
    report(f"scale: {tools:,} tools, start (build, add, start())", figures["start_s"], 2, "s")
    print(f"  (its CPU time: {figures['start_cpu_s']:.2f} s)")
    report(
        f"scale: {tools:,} tools, resident memory of the process", figures["rss_mib"], 200, "MiB"
    )
    report(
        "scale: tool_definitions for a role, from the plan",
        figures["definitions_ms"],
        50,
        "ms",
    )
    print(
        f"  (the first tool_definitions, building each definition: "
        f"{figures['definitions_first_ms']:.0f} ms)"
    )
    report("scale: search p99, 3-word queries, for a role", figures["search_p99_ms"], 5, "ms")


def main() -> int:
    only = set(sys.argv[1:])
    benches = {
        "pipeline": bench_pipeline,
        "policy": bench_policy_stack,
        "batches": bench_batches,
        "import": bench_import,
        "registration": bench_registration,
        "kept": bench_kept_machinery,
        "otel": bench_otel,
        "observed": bench_observed,
        "mcp": bench_mcp,
        "executors": bench_executors,
        "progress": bench_progress,
        "signing": bench_taskiq_signing,
        "schemas": bench_schemas,
        "adapters": bench_adapters,
        "scale": bench_scale,
    }
    for name, bench in benches.items():
        if not only or name in only:
            bench()
    over = [r for r in rows if r[1] > r[2]]
    print(f"\n{len(rows) - len(over)} of {len(rows)} figures within target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
